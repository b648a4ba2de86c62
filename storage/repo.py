"""Repositories: the only place that reads and writes the tables of the registration core.

All methods work inside the caller's session and never commit: the handler commits once per
inbound message, after the conversation's new state and every effect are written.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.state import State
from storage import hot
from storage.crypto import NikCipher
from storage.identity import addresses_of
from storage.models import NIK_BLOCKING, AuditEvent, Consent, Conversation, Nagari, Person, Registration

# References are read aloud over the phone and typed on small keyboards: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_PREFIX = "SJ-"
# Statuses where the nagari has not decided yet: the worker may still correct or erase.
UNDECIDED = ("pending", "correction", "waiting")
CONSENT_COLUMNS = ("channel_user", "version", "lang", "method", "given_to", "given_at", "withdrawn_at")
CONSENT_INSERT = hot.Prepared(insert(Consent.__table__).returning(Consent.__table__.c.id), CONSENT_COLUMNS)
# The same INSERT written at the end of a turn (storage/hot.Later): its id is not needed there.
CONSENT_LATER = hot.Later("consent", Consent.__table__, CONSENT_COLUMNS)


async def record_consent(where: AsyncSession | hot.Unit, channel_user: str, version: str, lang: str,
                         now: datetime, method: str = "chat", given_to: str | None = None) -> int:
    """Record a consent in the transaction of a session or of a turn's unit; the row's id. A
    prepared INSERT (storage/hot.py): the turn that records one needs no ORM session for it."""
    (row,) = await hot.execute(where, CONSENT_INSERT, {
        "channel_user": channel_user, "version": version, "lang": lang, "method": method,
        "given_to": given_to, "given_at": now, "withdrawn_at": None})
    return int(row[0])


def consent_later(unit: hot.Unit, channel_user: str, version: str, lang: str, now: datetime, method: str = "chat",
                  given_to: str | None = None) -> None:
    """`record_consent` in a turn, written with the turn's last statement (storage/hot.Later)."""
    unit.write_later(CONSENT_LATER, {"channel_user": channel_user, "version": version, "lang": lang, "method": method,
                                     "given_to": given_to, "given_at": now, "withdrawn_at": None})


def new_reference() -> str:
    return REFERENCE_PREFIX + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


class Repository:
    def __init__(self, session: AsyncSession, cipher: NikCipher) -> None:
        self.session = session
        self.cipher = cipher

    # -- people and conversation state --------------------------------------------------------
    async def person(self, channel_user: str, now: datetime, lang: str = "id") -> Person:
        person = (await self.session.execute(select(Person).where(Person.channel_user == channel_user))).scalar_one_or_none()
        if person is None:
            person = Person(channel_user=channel_user, lang=lang, created_at=now)
            self.session.add(person)
            await self.session.flush()
        return person

    def decode_state(self, stored: str) -> State:
        return decode_state(self.cipher, stored)

    def encode_state(self, state: State) -> str:
        return encode_state(self.cipher, state)

    async def load_state(self, channel_user: str) -> State:
        stored = (await self.session.execute(
            select(Conversation.state).where(Conversation.channel_user == channel_user))).scalar_one_or_none()
        return State() if stored is None else self.decode_state(stored)

    async def save_state(self, channel_user: str, state: State, now: datetime) -> None:
        payload = self.encode_state(state)
        row = await self.session.get(Conversation, channel_user)
        if row is None:
            self.session.add(Conversation(channel_user=channel_user, step=state.step, state=payload, updated_at=now))
        else:
            row.step, row.state, row.updated_at = state.step, payload, now

    async def forget_state(self, channel_user: str) -> None:
        await self.session.execute(delete(Conversation).where(Conversation.channel_user == channel_user))

    async def forget_person(self, person: Person) -> None:
        await self.session.delete(person)

    # -- consent ------------------------------------------------------------------------------
    async def record_consent(self, channel_user: str, version: str, lang: str, now: datetime,
                             method: str = "chat", given_to: str | None = None) -> int:
        """The consent's row id (see `record_consent`, the function)."""
        return await record_consent(self.session, channel_user, version, lang, now, method, given_to)

    async def latest_consent(self, channel_user: str) -> Consent | None:
        query = (select(Consent).where(Consent.channel_user == channel_user, Consent.withdrawn_at.is_(None))
                 .order_by(Consent.given_at.desc(), Consent.id.desc()).limit(1))
        return (await self.session.execute(query)).scalar_one_or_none()

    # -- registrations ------------------------------------------------------------------------
    async def registration_by_nik(self, nik: str) -> Registration | None:
        """The registration that blocks this NIK (undecided, approved, enrolled, to withdraw),
        else None: a rejected, withdrawn or ended one does not stop a new registration."""
        query = select(Registration).where(Registration.nik_hash == self.cipher.lookup_hash(nik),
                                           Registration.status.in_(NIK_BLOCKING))
        return (await self.session.execute(query)).scalars().first()

    async def earlier_registrations(self, registration: Registration) -> Sequence[Registration]:
        """Other registrations of the same NIK (e.g. an earlier rejection), newest first."""
        query = (select(Registration).where(Registration.nik_hash == registration.nik_hash,
                                            Registration.id != registration.id)
                 .order_by(Registration.created_at.desc()))
        return (await self.session.execute(query)).scalars().all()

    async def registration(self, reference: str) -> Registration | None:
        query = select(Registration).where(Registration.reference == reference.upper())
        return (await self.session.execute(query)).scalar_one_or_none()

    async def registrations_of(self, channel_user: str) -> Sequence[Registration]:
        """The registrations made from this chat or from any chat linked to it (storage/identity.py)."""
        addresses = await addresses_of(self.session, channel_user)
        query = select(Registration).where(Registration.channel_user.in_(addresses)).order_by(Registration.id)
        return (await self.session.execute(query)).scalars().all()

    async def owns(self, channel_user: str, registration: Registration) -> bool:
        """Whether the registration was made from this chat or a chat linked to it."""
        return registration.channel_user in await addresses_of(self.session, channel_user)

    async def unused_reference(self) -> str:
        while True:
            reference = new_reference()
            taken = await self.session.execute(select(Registration.id).where(Registration.reference == reference))
            if taken.first() is None:
                return reference

    async def create_registration(self, answers: dict[str, Any], channel_user: str, lang: str,
                                  consent_id: int | None, now: datetime) -> Registration:
        registration = Registration(
            reference=await self.unused_reference(),
            status="pending",
            nik_enc=self.cipher.encrypt(answers["nik"]),
            nik_hash=self.cipher.lookup_hash(answers["nik"]),
            channel_user=channel_user,
            lang=lang,
            consent_id=consent_id,
            created_at=now,
            updated_at=now,
            **registration_fields(answers),
        )
        self.session.add(registration)
        await self.session.flush()
        return registration

    def apply_fields(self, registration: Registration, answers: dict[str, Any], now: datetime) -> list[str]:
        """Copy answered fields onto a registration; returns the names of changed columns."""
        changed = []
        values = registration_fields(answers, partial=True)
        if "nik" in answers:
            values["nik_enc"] = self.cipher.encrypt(answers["nik"])
            values["nik_hash"] = self.cipher.lookup_hash(answers["nik"])
        for column, value in values.items():
            if getattr(registration, column) != value:
                if column != "nik_enc":  # re-encryption of the same NIK changes the ciphertext
                    changed.append(column)
                setattr(registration, column, value)
        registration.updated_at = now
        return [c for c in changed if c != "nik_hash"] + (["nik"] if "nik_hash" in changed else [])

    def answers_of(self, registration: Registration) -> dict[str, Any]:
        """A registration in the conversation's answer vocabulary (NIK in clear, in memory only)."""
        return {
            "nik": self.cipher.decrypt(registration.nik_enc),
            "name": registration.name,
            "sex": registration.sex,
            "birth_date": registration.birth_date.isoformat(),
            "birth_date_nik": registration.birth_date_nik.isoformat(),
            "nagari_code": registration.nagari_code,
            "jorong": registration.jorong,
            "phone": registration.phone,
            "category": registration.category,
            "category_other": registration.category_other,
            "income": registration.income,
            "income_base": registration.income_base,
            "monthly_contribution": registration.monthly_contribution,
            "heir_name": registration.heir_name,
            "heir_relation": registration.heir_relation,
            "flags": list(registration.flags or []),
            # Answered in the original conversation; kept so the flow sees a complete form.
            "consent": True, "elig_domicile": True, "elig_member": "no", "elig_work": "own",
            "birth_confirm": "yes" if registration.birth_date == registration.birth_date_nik else "no",
        }

    async def delete_registrations(self, registrations: Iterable[Registration]) -> int:
        count = 0
        for registration in registrations:
            await self.session.delete(registration)
            count += 1
        await self.session.flush()
        return count

    # -- audit --------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, now: datetime, reference: str | None = None,
                    **details: Any) -> None:
        if "nik" in details:
            raise ValueError("a NIK must never be written to the audit trail in clear")
        self.session.add(AuditEvent(at=now, actor=actor, action=action, reference=reference, details=details))

    # -- reference data -----------------------------------------------------------------------
    async def ensure_nagari(self, rows: Iterable[Nagari]) -> int:
        """Insert or update the village reference table (idempotent, run at start)."""
        existing = {n.code: n for n in (await self.session.execute(select(Nagari))).scalars().all()}
        changed = 0
        for row in rows:
            current = existing.get(row.code)
            if current is None:
                self.session.add(row)
                changed += 1
            elif (current.name, current.kecamatan, current.kecamatan_code, current.bps_code) != (
                    row.name, row.kecamatan, row.kecamatan_code, row.bps_code):
                current.name, current.kecamatan = row.name, row.kecamatan
                current.kecamatan_code, current.bps_code = row.kecamatan_code, row.bps_code
                changed += 1
        await self.session.flush()
        return changed


def registration_fields(answers: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Registration columns from conversation answers (all of them, or only those present)."""
    mapping: dict[str, Any] = {
        "name": lambda a: a["name"],
        "sex": lambda a: a["sex"],
        "birth_date": lambda a: date.fromisoformat(a["birth_date"]),
        "birth_date_nik": lambda a: date.fromisoformat(a["birth_date_nik"]),
        "nagari_code": lambda a: a["nagari_code"],
        "jorong": lambda a: a["jorong"],
        "phone": lambda a: a["phone"],
        "category": lambda a: a["category"],
        "category_other": lambda a: a.get("category_other") if a.get("category") == "lainnya" else None,
        "income": lambda a: int(a["income"]),
        "income_base": lambda a: int(a["income_base"]),
        "monthly_contribution": lambda a: int(a["monthly_contribution"]),
        "heir_name": lambda a: a.get("heir_name"),
        "heir_relation": lambda a: a.get("heir_relation") if a.get("heir_name") else None,
        "flags": lambda a: sorted(set(a.get("flags", []))),
    }
    sources = {
        "birth_date": "birth_date", "birth_date_nik": "birth_date_nik", "category_other": "category",
        "heir_relation": "heir_name",
    }
    result = {}
    for column, get in mapping.items():
        if partial and sources.get(column, column) not in answers:
            continue
        result[column] = get(answers)
    return result


def decode_state(cipher: NikCipher, stored: str) -> State:
    """A conversation's stored JSON back into its State (the NIK decrypted)."""
    data = json.loads(stored)
    _crypt_nik(cipher, data, decrypt=True)
    return State.from_dict(data)


def encode_state(cipher: NikCipher, state: State) -> str:
    """A State as stored: JSON with every NIK in it encrypted."""
    data = state.to_dict()
    _crypt_nik(cipher, data, decrypt=False)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _crypt_nik(cipher: NikCipher, data: dict[str, Any], decrypt: bool) -> None:
    """Encrypt/decrypt every NIK the state may hold: answers, backup, pending check."""
    containers = [data.get("answers"), data.get("backup"), (data.get("pending") or {}).get("values")]
    for container in containers:
        if not isinstance(container, dict):
            continue
        if decrypt and container.get("nik_enc"):
            container["nik"] = cipher.decrypt(container.pop("nik_enc"))
        elif not decrypt and container.get("nik"):
            container["nik_enc"] = cipher.encrypt(container.pop("nik"))
