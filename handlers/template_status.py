"""What Meta says of our WhatsApp templates: recorded, and the administrators told when one of
them stops working.

The WhatsApp sender uses a template only while Meta has it APPROVED (storage/wa_templates.py).
Meta's word reaches us three ways -- `templates push` (Meta's answer to a create or an edit),
`templates sync` (at the server's start and then every `whatsapp.template_sync_minutes`) and the
webhook's `message_template_status_update` events -- and all three end here, so that a template
becoming REJECTED, PAUSED or DISABLED is treated the same whichever way it was learnt:

- it is logged (ERROR for rejected and disabled: a kind of message cannot reach anyone outside
  the 24-hour window until someone acts; WARNING for paused: Meta lifts a pause by itself), with
  Meta's reason;
- every administrator is sent one notice through the outbox, in their language. "Once per
  change": only a status that differs from the recorded one is a change, so a webhook event Meta
  delivers twice, or a sync that finds what the webhook already recorded, tells nobody again;
  and the notice's dedupe key (name, language, status, day) stops a second process that
  records the same change at the same moment from telling it twice (so a template rejected,
  edited and rejected again within one day is told once that day).

A webhook event older than what we hold of the template (an event delivered late, after a sync
read the newer state; or a replayed old body) is not applied: it would put back a state Meta has
already left.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.delivery import Priority
from handlers.handover import langs_of
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.roles import admins
from handlers.services import Services
from storage import wa_templates

log = logging.getLogger(__name__)

APPROVED = wa_templates.APPROVED
# Statuses in which a template cannot be sent, and what administrators are told of each.
NOTICES = {
    "REJECTED": "template_admin.rejected",
    "PAUSED": "template_admin.paused",
    "DISABLED": "template_admin.disabled",
}
NO_REASON = "template_admin.no_reason"
# Meta's reason when there is none to give ("NONE"): not a reason to show anyone.
NOT_A_REASON = {"", "NONE", "UNKNOWN"}
STATUS_MAX, REASON_MAX, ID_MAX, DEDUPE_MAX = 30, 500, 40, 160


@dataclass(frozen=True)
class TemplateReport:
    """What Meta says of one template in one language."""

    name: str
    language: str  # Meta's language code ("id", "en")
    status: str  # Meta's word: APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
    category: str | None = None
    reason: str | None = None
    template_id: str | None = None
    # When Meta says it happened (webhook events); None: as read now (push, sync).
    at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """A report that changed what we hold: the status before (None: nothing held) and now."""

    name: str
    language: str
    before: str | None
    status: str
    reason: str | None


def reason_of(text: str | None) -> str | None:
    """Meta's reason as worth keeping and showing (None for Meta's "NONE")."""
    text = " ".join((text or "").split())
    return text[:REASON_MAX] if text.upper() not in NOT_A_REASON else None


async def apply(svc: Services, session: AsyncSession, reports: list[TemplateReport], now: datetime) -> list[Change]:
    """Record what Meta says of each template (caller commits); the changes, of which those to a
    status that cannot be sent are logged and told to the administrators."""
    changes: list[Change] = []
    for report in reports:
        held = await wa_templates.row(session, report.name, report.language)
        if report.at is not None and held is not None and held.checked_at > report.at:
            log.info("WhatsApp template %s (%s): Meta's %s of %s is older than what we read at %s: not applied",
                     report.name, report.language, report.status, report.at.isoformat(), held.checked_at.isoformat())
            continue
        status, reason = report.status.upper()[:STATUS_MAX], reason_of(report.reason)
        before = await wa_templates.record(
            session, report.name, report.language, status, report.at or now,
            category=(report.category or None) and report.category[:STATUS_MAX], reason=reason,
            template_id=(report.template_id or None) and report.template_id[:ID_MAX])
        if before == status:
            continue
        change = Change(report.name, report.language, before, status, reason)
        changes.append(change)
        if status in NOTICES:
            level = logging.WARNING if status == "PAUSED" else logging.ERROR
            log.log(level, "WhatsApp template %s (%s) is %s (was %s): %s", report.name, report.language, status,
                    before or "unknown", reason or "Meta gave no reason")
            await tell_admins(svc, session, change, now)
        else:
            log.info("WhatsApp template %s (%s) is %s (was %s)", report.name, report.language, status,
                     before or "unknown")
    return changes


def dedupe_key(change: Change, day: str, admin: str) -> str:
    """The outbox key of one notice (at most 160 characters: a long name is put as its digest)."""
    key = f"wa-template:{change.name}:{change.language}:{change.status}:{day}:{admin}"
    if len(key) <= DEDUPE_MAX:
        return key
    digest = hashlib.sha256(f"{change.name}:{change.language}".encode()).hexdigest()[:32]
    return f"wa-template:{digest}:{change.status}:{day}:{admin}"[:DEDUPE_MAX]


async def tell_admins(svc: Services, session: AsyncSession, change: Change, now: datetime) -> None:
    """One notice to each administrator, in their language, through the outbox (caller commits)."""
    key = NOTICES[change.status]
    people = await langs_of(session, await admins(session), svc.rules.default_language)
    if not people:
        log.warning("no administrator to tell that WhatsApp template %s (%s) is %s", change.name, change.language,
                    change.status)
        return
    day = now.date().isoformat()
    messages = []
    for admin, lang in people.items():
        reason = change.reason or svc.catalog.text(lang, NO_REASON)
        text = svc.catalog.text(lang, key, name=change.name, language=change.language, reason=reason)
        messages.append(NewMessage(admin, key, text, "transactional", lang,
                                   dedupe_key(change, day, admin), Priority.NOTIFY))
    await enqueue(session, messages, now, delivery_rules(svc))
