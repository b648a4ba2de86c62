"""The regency's side: quotas per nagari and year, invitations, the help."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import (
    Command,
    QuotaView,
    render_quota,
)
from handlers import quota
from handlers.roles import allowed, grant, grants_of, scope
from storage.crypto import who as pseudonym
from storage.models import AuditEvent
from storage.officials import ROLES, Invitation
from storage.repo import REFERENCE_ALPHABET

from handlers.officials.desk import INVITATION_CODE_LENGTH, NAGARI_CODE, Desk
from handlers.officials.deciding import promote

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Quota

async def nagari_code_of(desk: Desk, text: str) -> str | None:
    """A nagari typed as a Kemendagri code or a name (any spelling the wilayah matcher knows;
    an exact name first). A name that is also a kecamatan's means the nagari, and the answer
    says so."""
    text = text.strip()
    if NAGARI_CODE.match(text):
        return text if await desk.nagari(text) else None
    nagari, shared = desk.svc.wilayah.nagari_argument(text)
    if nagari is not None and shared:
        desk.note("official.nagari.shared_name", nagari=nagari.name, code=nagari.code)
    return nagari.code if nagari else None



async def chosen_nagari(desk: Desk, text: str, action: str, usage_key: str) -> str | None:
    """The nagari an official's command names (code or name), else their only nagari for
    `action`; None once the official has been told why (unknown name, or say which)."""
    if text:
        code = await nagari_code_of(desk, text)
        if code is None:
            desk.answer("official.quota.unknown_nagari")
        return code
    codes = scope(desk.grants, action)
    if codes is not None and len(codes) == 1:
        return next(iter(codes))
    desk.answer(usage_key)
    return None

async def show_or_set_quota(desk: Desk, command: Command) -> None:
    """`/kuota [NAGARI]`: used, free and waiting; `/kuota NAGARI 120 [YEAR]` (admin) sets it."""
    words = list(command.args)
    numbers: list[int] = []
    while words and words[-1].isdigit():
        numbers.insert(0, int(words.pop()))
    code = await chosen_nagari(desk, " ".join(words), "view", "official.usage.quota")
    if code is None:
        return
    year = numbers[1] if len(numbers) > 1 else quota.budget_year(desk.now)
    if numbers:
        if not allowed(desk.grants, "set_quota", code):
            desk.not_allowed()
            return
        if not 2000 <= year <= 2100:
            desk.answer("official.usage.quota")
            return
        row = await quota.lock(desk.session, code, year)
        row.limit_override, row.set_by, row.set_at = numbers[0], desk.who, desk.now
        await desk.session.flush()
        await desk.audit("quota_set", None, nagari=code, year=year, limit=numbers[0])
        if year == quota.budget_year(desk.now):
            await promote(desk, row)
    elif not allowed(desk.grants, "view", code):
        desk.not_allowed()
        return
    usage = await quota.usage(desk.session, desk.rules.quota, code, year)
    desk.send(render_quota(desk.say, QuotaView(
        nagari=await desk.nagari_label(code), year=year, limit=usage["limit"], used=usage["used"],
        waiting=usage["waiting"], carried=usage["carried"])))


# ---------------------------------------------------------------------------------------------
# Officials: invitations, help

async def invite(desk: Desk, command: Command) -> None:
    """`/undang operator NAGARI` | `/undang viewer` | `/undang admin`: a one-time code;
    `/undang cabut KODE` revokes an unused one."""
    if not allowed(desk.grants, "invite"):
        desk.not_allowed()
        return
    word = command.args[0].lower() if command.args else ""
    if word in ("cabut", "revoke") and len(command.args) > 1:
        await revoke_invitation(desk, command.args[1].upper())
        return
    if word not in ROLES:
        desk.answer("official.usage.invite")
        return
    nagari_code = None
    if word == "operator":
        nagari_code = await nagari_code_of(desk, " ".join(command.args[1:])) if len(command.args) > 1 else None
        if nagari_code is None:
            desk.answer("official.usage.invite")
            return
    code = await unused_code(desk.session)
    expires = desk.now + timedelta(hours=desk.rules.invitation_expiry_hours)
    invitation = Invitation(code=code, role=word, nagari_code=nagari_code, created_by=desk.who,
                            created_at=desk.now, expires_at=expires)
    desk.session.add(invitation)
    await desk.session.flush()
    # The code itself is a credential: the trail names the invitation, not its code.
    await desk.audit("invitation_created", None, invitation=invitation.id, role=word, nagari=nagari_code)
    desk.answer("official.invite.created", code=code, role=word,
                nagari=await desk.nagari_label(nagari_code) if nagari_code else "-", expires=desk.local(expires))


async def unused_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(INVITATION_CODE_LENGTH))
        if (await session.execute(select(Invitation.id).where(Invitation.code == code))).first() is None:
            return code


async def revoke_invitation(desk: Desk, code: str) -> None:
    result = await desk.session.execute(
        update(Invitation).where(Invitation.code == code, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=desk.now))
    if result.rowcount != 1:
        desk.answer("official.invite.unknown")
        return
    await desk.audit("invitation_revoked", None)
    desk.answer("official.invite.revoked")


async def take_invitation(desk: Desk, command: Command) -> bool:
    """`/kode KODE`: anyone may try; an unknown, used, revoked or expired code gets the same
    answer. The conditional UPDATE lets only one of two simultaneous takers succeed. True when
    the code was taken (the command table's row then shows the new official the help).

    Guessing is limited: after `limits.invite_guesses_per_hour` wrong codes in the last hour the
    person is locked out until the oldest of them is an hour old (logged when it starts). A code
    whose maker can no longer invite (removed since) is as invalid as an unknown one."""
    code = command.args[0].upper()
    limit = desk.svc.config.limits.invite_guesses_per_hour
    since = desk.now - timedelta(hours=1)
    wrong = (await desk.session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor == desk.who, AuditEvent.action == "invitation_guess_failed", AuditEvent.at > since))).scalar_one()
    if wrong >= limit:
        desk.answer("official.code.locked")
        return False
    invitation = (await desk.session.execute(select(Invitation).where(Invitation.code == code))).scalar_one_or_none()
    if invitation is not None and ":" in invitation.created_by and not allowed(
            await grants_of(desk.session, invitation.created_by), "invite"):
        invitation = None  # its maker was removed: the code went with them
    if invitation is None or invitation.expires_at <= desk.now:
        await invitation_guess_failed(desk, wrong + 1, limit)
        return False
    result = await desk.session.execute(
        update(Invitation).where(Invitation.id == invitation.id, Invitation.used_at.is_(None),
                                 Invitation.revoked_at.is_(None)).values(used_by=desk.who, used_at=desk.now))
    if result.rowcount != 1:
        await invitation_guess_failed(desk, wrong + 1, limit)
        return False
    await grant(desk.session, desk.who, invitation.role, invitation.nagari_code, invitation.created_by, desk.now)
    desk.roles_changed = True
    await desk.audit("official_added", None, role=invitation.role, nagari=invitation.nagari_code,
                     invited_by=invitation.created_by)
    nagari = await desk.nagari_label(invitation.nagari_code) if invitation.nagari_code else "-"
    desk.answer("official.code.ok", role=invitation.role, nagari=nagari)
    desk.grants = await grants_of(desk.session, desk.who)
    return True


async def invitation_guess_failed(desk: Desk, count: int, limit: int) -> None:
    """A wrong code: counted (the audit trail, shared by every process), answered; the guess
    that reaches the limit starts a lock-out, logged once."""
    await desk.audit("invitation_guess_failed", None)
    if count >= limit:
        log.warning("invitation codes: %s locked out for an hour after %d wrong codes", pseudonym(desk.who), count)
        desk.answer("official.code.locked")
        return
    desk.answer("official.code.invalid")
