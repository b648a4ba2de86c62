"""Use-case: one person, many doors -- linking chats, and workers registered in person.

Linking two chats ("hubungkan" / "link"):
- on one chat the person says "hubungkan": they get a 6-character code, valid
  `LINK_CODE_MINUTES` and single-use (a newer code replaces an unused older one);
- on the other chat they type "hubungkan <code>": the two chats are one person from then on
  (storage/identity.py): status, "data saya", "ubah data" and "hapus data" reach the
  registration from either. Both chats are told; "putuskan" / "unlink" on either undoes it.
- A link never joins two different NIKs: if both chats have registrations of different NIKs,
  the link is refused.
- Guessing is limited: after `limits.link_guesses_per_hour` wrong codes in the last hour the
  chat is told to wait (audit `link_code_failed`), so a takeover by guessing 32^6 codes is out
  of reach.

A worker registered in person by an operator ("/daftarkan") is told on WhatsApp, at the number
given at the registration. When that number writes to the bot and has no registration of its
own, it is shown the registration with its NIK masked and asked to confirm with one tap; a tap
on the notice's own quick reply ("Lihat status") is that tap already (the template went to that
number). Confirmed, the registration belongs to that chat: the operator's placeholder key is
replaced by the worker's own, and every right of the data-protection law works from there.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select

from conversations.events import Button, ButtonPress, Reply, Text
from conversations.officials import ASSIST_PREFIX
from conversations.validators import mask_nik, normalize_text
from handlers.inbound import converse
from handlers.turn import Turn
from storage.identity import LinkCode, addresses_of, link, person_of, unlink
from storage.models import AuditEvent, Nagari, Registration

LINK_WORDS = frozenset({"hubungkan", "link", "sambungkan", "hubungkan akun", "link account", "tautkan"})
UNLINK_WORDS = frozenset({"putuskan", "unlink", "putuskan hubungan", "lepas hubungan", "unlink account"})
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed on a cheap phone
CODE_LENGTH = 6
LINK_CODE_MINUTES = 15
CLAIM_YES, CLAIM_NO = "claim:yes", "claim:no"
# Registrations a worker can still see and manage (an erased one is gone).
CLAIMABLE = ("pending", "correction", "waiting", "approved", "enrolled", "rejected", "deletion_requested",
             "withdrawn", "ended")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(turn: Turn, code: str) -> str:
    # The keyed hash the NIK lookup uses: a stolen database does not give live codes away.
    return turn.svc.cipher.lookup_hash(f"link:{code.upper()}")


def words_of(event: object) -> tuple[str, str | None] | None:
    """("link", code or None) / ("unlink", None) for the linking words, else None."""
    if not isinstance(event, Text):
        return None
    typed = normalize_text(event.text.lstrip("/"))
    if typed in UNLINK_WORDS:
        return ("unlink", None)
    if typed in LINK_WORDS:
        return ("link", None)
    first, _, rest = typed.partition(" ")
    rest = rest.replace(" ", "").replace("-", "")
    if first in LINK_WORDS and 4 <= len(rest) <= 10 and rest.isalnum():
        return ("link", rest.upper())
    return None


async def route(turn: Turn) -> bool:
    """Linking words on any chat; a WhatsApp number given at an in-person registration."""
    words = words_of(turn.event)
    if words is not None:
        action, code = words
        if action == "unlink":
            await unlink_chat(turn)
        elif code is None:
            await give_code(turn)
        else:
            await redeem(turn, code)
        return True
    return await in_person(turn)


# -- linking ------------------------------------------------------------------------------------
async def give_code(turn: Turn) -> None:
    session, now = turn.session, turn.now
    # One live code per chat: an older unused one stops working.
    older = (await session.execute(select(LinkCode).where(LinkCode.person == turn.who, LinkCode.used_at.is_(None),
                                                          LinkCode.expires_at > now))).scalars().all()
    for row in older:
        row.expires_at = now
    code = new_code()
    session.add(LinkCode(code_hash=code_hash(turn, code), person=turn.who, created_at=now,
                         expires_at=now + timedelta(minutes=LINK_CODE_MINUTES)))
    await turn.repo.audit(turn.who, "link_code_given", now)
    turn.reply(turn.say("identity.code", code=code, minutes=LINK_CODE_MINUTES))


async def recent_failures(turn: Turn) -> int:
    since = turn.now - timedelta(hours=1)
    return (await turn.session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor == turn.who, AuditEvent.action == "link_code_failed", AuditEvent.at > since))).scalar_one()


async def nik_hashes(turn: Turn, addresses: list[str]) -> set[str]:
    rows = await turn.session.execute(select(Registration.nik_hash).where(Registration.channel_user.in_(addresses)))
    return set(rows.scalars())


async def redeem(turn: Turn, code: str) -> None:
    session, now, limit = turn.session, turn.now, turn.svc.config.limits.link_guesses_per_hour
    failures = await recent_failures(turn)
    if failures >= limit:
        turn.reply(turn.say("identity.too_many", minutes=60))
        return
    row = (await session.execute(select(LinkCode).where(LinkCode.code_hash == code_hash(turn, code)))).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        await turn.repo.audit(turn.who, "link_code_failed", now)
        left = limit - failures - 2  # the failure just recorded, and the one after it
        turn.reply(turn.say("identity.code_wrong", minutes=LINK_CODE_MINUTES) if left > 0
                   else turn.say("identity.too_many", minutes=60))
        return
    mine, theirs = await addresses_of(session, turn.who), await addresses_of(session, row.person)
    if await person_of(session, turn.who) == await person_of(session, row.person):
        turn.reply(turn.say("identity.already"))
        return
    a, b = await nik_hashes(turn, theirs), await nik_hashes(turn, mine)
    if a and b and a != b:
        row.used_at, row.used_by = now, turn.who
        await turn.repo.audit(turn.who, "link_refused_other_nik", now, other=row.person)
        turn.reply(turn.say("identity.other_nik"))
        return
    row.used_at, row.used_by = now, turn.who
    await link(session, row.person, turn.who, "code", now)
    await turn.repo.audit(turn.who, "chats_linked", now, other=row.person)
    turn.reply(turn.say("identity.linked", other=channel_name(turn, row.person)))
    # The other chat hears of it at once: a link it did not make can be undone there.
    other_lang = (await turn.repo.person(row.person, now, turn.language)).lang
    turn.reply(Reply("identity.linked_other", turn.svc.catalog.text(other_lang, "identity.linked_other",
                                                                     other=channel_name(turn, turn.who, other_lang))),
               to=row.person)


def channel_name(turn: Turn, address: str, lang: str | None = None) -> str:
    channel = address.split(":", 1)[0]
    return turn.svc.catalog.text(lang or turn.language, f"identity.channel.{channel}"
                                 if channel in ("wa", "tg") else "identity.channel.other")


async def unlink_chat(turn: Turn) -> None:
    others = await unlink(turn.session, turn.who)
    if not others:
        turn.reply(turn.say("identity.not_linked"))
        return
    await turn.repo.audit(turn.who, "chats_unlinked", turn.now, others=others)
    turn.reply(turn.say("identity.unlinked"))
    for other in others:
        lang = (await turn.repo.person(other, turn.now, turn.language)).lang
        turn.reply(Reply("identity.unlinked_other", turn.svc.catalog.text(
            lang, "identity.unlinked_other", other=channel_name(turn, turn.who, lang))), to=other)


# -- workers registered in person ------------------------------------------------------------------
async def unclaimed(turn: Turn) -> list[Registration]:
    """In-person registrations given this WhatsApp number, not yet reached from it."""
    digits = turn.who[3:]
    if not turn.who.startswith("wa:") or not digits.isdigit():
        return []
    rows = await turn.session.execute(select(Registration).where(
        Registration.phone == "+" + digits, Registration.channel_user.like(ASSIST_PREFIX + "%"),
        Registration.status.in_(CLAIMABLE)).order_by(Registration.id))
    return list(rows.scalars())


async def declined(turn: Turn) -> bool:
    return (await turn.session.execute(select(AuditEvent.id).where(
        AuditEvent.actor == turn.who, AuditEvent.action == "in_person_claim_declined").limit(1))).first() is not None


async def in_person(turn: Turn) -> bool:
    # Cheap first: only a WhatsApp chat with no registration of its own, not an official.
    if not turn.who.startswith("wa:") or turn.pre.registered or turn.pre.is_official:
        return False
    event = turn.event
    pressed = event.button_id if isinstance(event, ButtonPress) else None
    if pressed not in (CLAIM_YES, CLAIM_NO) and turn.state().in_form:
        return False  # registering themselves: the offer waits until they are done
    found = await unclaimed(turn)
    if not found or (pressed is None and await declined(turn)):
        return False
    if pressed == CLAIM_NO:
        await turn.repo.audit(turn.who, "in_person_claim_declined", turn.now,
                              references=[r.reference for r in found])
        turn.reply(turn.say("identity.claim.declined"))
        return True
    if pressed == CLAIM_YES or (isinstance(event, Text) and event.tapped):
        await claim(turn, found)
        return True
    await offer(turn, found)
    return True


async def offer(turn: Turn, found: list[Registration]) -> None:
    lines = []
    for registration in found:
        nagari = await turn.session.get(Nagari, registration.nagari_code)
        lines.append(turn.svc.catalog.text(
            turn.language, "identity.claim.line", reference=registration.reference,
            nik=mask_nik(turn.svc.cipher.decrypt(registration.nik_enc)),
            nagari=nagari.name if nagari else registration.nagari_code,
            status=turn.svc.catalog.text(turn.language, f"status.{registration.status}")))
    turn.reply(Reply("identity.claim.offer", turn.svc.catalog.text(turn.language, "identity.claim.offer",
                                                                   lines="\n".join(lines)),
                     (Button(CLAIM_YES, turn.svc.catalog.text(turn.language, "identity.claim.yes")),
                      Button(CLAIM_NO, turn.svc.catalog.text(turn.language, "identity.claim.no")))))


async def claim(turn: Turn, found: list[Registration]) -> None:
    """The registrations become this chat's: its rights work from here on."""
    for registration in found:
        operator = registration.channel_user
        registration.channel_user = turn.who
        registration.updated_at = turn.now
        await turn.repo.audit(turn.who, "in_person_registration_reached", turn.now, registration.reference,
                              registered_by=operator.removeprefix(ASSIST_PREFIX))
    # The chat's conversation now knows its registration (the flow works on a copy of it and
    # saves the result below).
    state = turn.state()
    state.reference = found[-1].reference
    if not state.in_form:
        state.step = "done"
    state.lang = state.lang or found[-1].lang
    turn.reply(turn.say("identity.claim.done"), *await converse(turn, event=Text("status")))
