"""The project's WhatsApp templates on Meta's side: pushed, and Meta's review followed.

The templates are defined in the project (bot/whatsapp/templates.py, texts in templates.po), so
the definitions, not WhatsApp Manager, are the truth of what they say. Through pywa's template
API, on the business account WHATSAPP_BUSINESS_ACCOUNT_ID:

- `push` creates each definition in each language the bot speaks, or edits the one Meta has
  when its content differs (Meta edits only APPROVED, REJECTED or PAUSED templates; one that is
  still in review is left until Meta has answered). Meta reviews what it is sent: a template is
  PENDING until the review's answer comes (by webhook, or the next sync).
- `sync` reads every template of the account (Meta pages the list) and records the status of
  those the project defines; a definition Meta does not have was never pushed (or was deleted
  in WhatsApp Manager: a recorded one Meta no longer has becomes DELETED, so it is not sent).
- The server (`TemplateWatch`) syncs at start, then every `whatsapp.template_sync_minutes`, and
  records the `message_template_status_update` webhook events as they come. An event that does
  not say whether the template can be sent (FLAGGED, LOCKED, UNARCHIVED...) is logged and makes
  the next sync come at once instead.

Everything Meta says is recorded by handlers/template_status.py, which tells the administrators
of a template that becomes REJECTED, PAUSED or DISABLED. The sender uses only APPROVED ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from pywa_async import WhatsApp
from pywa_async.errors import WhatsAppError
from pywa_async.types import Pagination, Result
from pywa_async.types.templates import Template, TemplateDetails, TemplateStatusUpdate

from bot.whatsapp.config import BUSINESS_ACCOUNT_VARIABLE, WhatsAppConfig  # noqa: F401  (re-exported)
from bot.whatsapp.templates import LANGUAGE_CODES, TEMPLATES, TemplateDef, graph_body
from conversations.i18n import Catalog
from handlers.services import Services
from handlers.template_status import NOT_A_REASON, Change, TemplateReport, apply
from storage import wa_templates
from storage.wa_templates import WhatsAppTemplate

log = logging.getLogger(__name__)
APPROVED = wa_templates.APPROVED
# What a template Meta no longer has is recorded as (deleted in WhatsApp Manager): not sent.
GONE = "DELETED"
# Meta's list comes in pages; this many templates a page, and never more pages than this (a
# business account holds at most a few hundred templates).
PAGE_SIZE, MAX_PAGES = 100, 50
# Meta edits a template only in these statuses (an approved one once a day, 10 times in 30 days).
EDITABLE = frozenset({"APPROVED", "REJECTED", "PAUSED"})
# Webhook events that are a status under another name.
EVENT_STATUS = {"REINSTATED": APPROVED}
# Webhook events that do not say whether the template can be sent: the next sync reads that.
NOT_A_STATUS = frozenset({"FLAGGED", "LOCKED", "UNLOCKED", "UNARCHIVED", "UNKNOWN"})
DETAIL_MAX = 300


@dataclass(frozen=True)
class Definition:
    """One template of the project in one language, as Graph API's create body."""

    template: TemplateDef
    lang: str  # the bot's language
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def language(self) -> str:
        """Meta's language code (the key of the template on Meta's side, with the name)."""
        return str(self.body["language"])

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.language

    def pywa_template(self) -> Template:
        return Template.from_dict(self.body)


def definitions(catalog: Catalog, languages: Iterable[str]) -> list[Definition]:
    """Every defined template in every language the bot speaks."""
    return [Definition(template, lang, graph_body(template, catalog, lang))
            for template in TEMPLATES for lang in languages if lang in LANGUAGE_CODES]


def components_of(components: Iterable[Any]) -> list[Any]:
    """Template components as plain JSON, whichever side they come from: what Meta has is
    compared with what the project defines in this one shape."""
    return json.loads(json.dumps([c if isinstance(c, dict) else c.to_dict() for c in components]))


def one_line(text: str, limit: int = DETAIL_MAX) -> str:
    return " ".join(text.split())[:limit]


def describe(problem: WhatsAppError) -> str:
    """Meta's refusal in one line: its code and subcode and what it tells the user."""
    code = f"{problem.code}/{problem.subcode}" if problem.subcode else str(problem.code)
    words = " - ".join(part for part in (problem.user_title, problem.user_msg or problem.message) if part)
    return one_line(f"Meta refused it ({code}): {words}")


def report_of(details: TemplateDetails) -> TemplateReport:
    reason = str(details.rejected_reason) if details.rejected_reason is not None else None
    return TemplateReport(details.name, str(details.language), str(details.status), str(details.category),
                          reason=reason, template_id=details.id)


async def meta_templates(wa: WhatsApp, waba_id: str) -> dict[tuple[str, str], TemplateDetails]:
    """Every template of the business account, page after page, by (name, language)."""
    found: dict[tuple[str, str], TemplateDetails] = {}
    page: Result[TemplateDetails] = await wa.get_templates(waba_id=waba_id, pagination=Pagination(limit=PAGE_SIZE))
    for _ in range(MAX_PAGES):
        for details in page:
            found[(details.name, str(details.language))] = details
        if not page.has_next:
            break
        page = await page.next()
    else:
        log.warning("WhatsApp templates: more than %d pages of templates; the rest were not read", MAX_PAGES)
    return found


# -- push -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pushed:
    """What `push` did with one definition."""

    definition: Definition
    action: str  # created | updated | unchanged | waiting | refused | unreachable
    status: str | None = None  # Meta's status afterwards (None: Meta has no such template)
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action in ("refused", "unreachable", "waiting")


async def push(svc: Services, wa: WhatsApp, waba_id: str) -> list[Pushed]:
    """Create what Meta lacks, edit what differs, record Meta's answers. Meta refusing one
    template does not stop the others; the token or the account id refused stops at the first
    call (WhatsAppError from the listing)."""
    have = await meta_templates(wa, waba_id)
    done: list[Pushed] = []
    reports: list[TemplateReport] = []
    for definition in definitions(svc.catalog, svc.rules.languages):
        meta = have.get(definition.key)
        try:
            pushed, report = await _push_one(wa, waba_id, definition, meta)
        except WhatsAppError as problem:
            pushed, report = Pushed(definition, "refused", str(meta.status) if meta else None, describe(problem)), None
            if meta is not None:
                report = report_of(meta)
        except httpx.HTTPError as problem:
            pushed, report = Pushed(definition, "unreachable", None,
                                    f"the Graph API cannot be reached ({type(problem).__name__})"), None
        done.append(pushed)
        if report is not None:
            reports.append(report)
    async with svc.db.session() as session:
        await apply(svc, session, reports, svc.clock.now())
        await session.commit()
    return done


async def _push_one(wa: WhatsApp, waba_id: str, definition: Definition,
                    meta: TemplateDetails | None) -> tuple[Pushed, TemplateReport | None]:
    if meta is None:
        created = await wa.create_template(definition.pywa_template(), waba_id=waba_id)
        return (Pushed(definition, "created", str(created.status)),
                TemplateReport(definition.name, definition.language, str(created.status), str(created.category),
                               template_id=created.id))
    status = str(meta.status)
    if components_of(meta.components) == components_of(definition.pywa_template().components):
        detail = (f"Meta's category is {meta.category} (defined {definition.template.category})"
                  if str(meta.category) != definition.template.category else "")
        return Pushed(definition, "unchanged", status, detail), report_of(meta)
    if status not in EDITABLE:
        return (Pushed(definition, "waiting", status, f"Meta edits a template only once it is approved, rejected or "
                                                      f"paused: push again after Meta's review ({status})"),
                report_of(meta))
    await wa.update_template(meta.id, new_components=definition.pywa_template().components)
    # Meta reviews the edited template again: its status now, from Meta.
    after = await wa.get_template(meta.id)
    return Pushed(definition, "updated", str(after.status)), report_of(after)


# -- sync -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Synced:
    meta: dict[tuple[str, str], TemplateDetails]  # the project's templates Meta has
    missing: list[Definition]  # those it does not have (never pushed, or deleted)
    changes: list[Change]


async def sync(svc: Services, wa: WhatsApp, waba_id: str) -> Synced:
    """Read Meta's templates and record the status of ours."""
    have = await meta_templates(wa, waba_id)
    ours = definitions(svc.catalog, svc.rules.languages)
    reports = [report_of(have[d.key]) for d in ours if d.key in have]
    missing = [d for d in ours if d.key not in have]
    async with svc.db.session() as session:
        for definition in missing:
            held = await wa_templates.row(session, definition.name, definition.language)
            if held is not None and held.status != GONE:
                reports.append(TemplateReport(definition.name, definition.language, GONE,
                                              reason="no longer among the business account's templates"))
        changes = await apply(svc, session, reports, svc.clock.now())
        await session.commit()
    return Synced({d.key: have[d.key] for d in ours if d.key in have}, missing, changes)


# -- what we hold, beside the definitions (/readyz, `templates list`) --------------------------------
def states(ours: list[Definition], held: list[WhatsAppTemplate]) -> list[tuple[Definition, WhatsAppTemplate | None]]:
    by_key = {(row.name, row.language): row for row in held}
    return [(definition, by_key.get(definition.key)) for definition in ours]


def readiness_report(ours: list[Definition], held: list[WhatsAppTemplate]) -> dict[str, Any]:
    """The templates that cannot be sent now (not APPROVED, with Meta's reason), and those Meta
    has told us nothing of."""
    not_approved, unknown = [], []
    for definition, row in states(ours, held):
        if row is None:
            unknown.append({"name": definition.name, "language": definition.language})
        elif row.status != APPROVED:
            not_approved.append({"name": row.name, "language": row.language, "status": row.status,
                                 "reason": row.reason})
    return {"not_approved": not_approved, "unknown_to_meta": unknown}


# -- the server's side ------------------------------------------------------------------------------
class TemplateWatch:
    """Keeps whatsapp_template up to date while the server runs: `run` (a channel task, only
    with a business account id) syncs at start and then periodically; `on_events` records the
    webhook's template status updates; `readiness` is the /readyz part."""

    def __init__(self, svc: Services, wa: WhatsApp, waba_id: str | None, config: WhatsAppConfig) -> None:
        self.svc, self.wa, self.waba_id = svc, wa, waba_id
        self.interval = config.template_sync_minutes * 60
        self.ours = definitions(svc.catalog, svc.rules.languages)
        self._keys = {d.key for d in self.ours}
        self._wake = asyncio.Event()
        self._foreign_reported: set[str] = set()
        self._missing_reported: frozenset[tuple[str, str]] | None = None
        # Called after each sync or recorded event: the sender reads the approvals again at once
        # (it would within a minute anyway).
        self.on_change: Callable[[], Awaitable[None]] | None = None

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    async def sync_once(self) -> Synced | None:
        """One sync; a failure is logged (one line) and left to the next one."""
        if self.waba_id is None:
            return None
        try:
            synced = await sync(self.svc, self.wa, self.waba_id)
        except WhatsAppError as problem:
            log.warning("WhatsApp templates: Meta refused the template list (%s); %s", describe(problem),
                        f"check {BUSINESS_ACCOUNT_VARIABLE} and the token's whatsapp_business_management permission")
            return None
        except httpx.HTTPError as problem:
            log.warning("WhatsApp templates: the Graph API cannot be reached (%s); next try in %d min",
                        type(problem).__name__, self.interval // 60)
            return None
        missing = frozenset(d.key for d in synced.missing)
        if missing and missing != self._missing_reported:
            log.warning("WhatsApp templates Meta does not have (run `python -m bot templates push`): %s",
                        ", ".join(f"{name} ({language})" for name, language in sorted(missing)))
        self._missing_reported = missing
        await self._changed()
        return synced

    async def run(self) -> None:
        """Sync now, then every `template_sync_minutes`, or sooner when an event asks."""
        while True:
            self._wake.clear()
            try:
                await self.sync_once()
            except Exception:  # noqa: BLE001 - a channel task that ends stops the server
                log.exception("WhatsApp template sync failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def on_events(self, updates: list[TemplateStatusUpdate]) -> None:
        """Record the status each event gives (caller: the webhook, before it answers 200)."""
        reports = [report for report in map(self._report_of, updates) if report is not None]
        if not reports:
            return
        async with self.svc.db.session() as session:
            await apply(self.svc, session, reports, self.svc.clock.now())
            await session.commit()
        await self._changed()

    def _report_of(self, update: TemplateStatusUpdate) -> TemplateReport | None:
        name, language, event = update.template_name, str(update.template_language), str(update.new_status)
        if self.waba_id is not None and str(update.id) != self.waba_id:
            if update.id not in self._foreign_reported:
                self._foreign_reported.add(update.id)
                log.warning("WhatsApp template updates of business account %s, not ours (%s), are ignored: check %s "
                            "(logged once per id)", update.id, self.waba_id, BUSINESS_ACCOUNT_VARIABLE)
            return None
        if (name, language) not in self._keys:
            log.info("WhatsApp template %s (%s) is %s: not a template of this project, ignored", name, language, event)
            return None
        reason = reason_of_event(update)
        if event in NOT_A_STATUS:
            level = logging.WARNING if event == "FLAGGED" else logging.INFO
            log.log(level, "WhatsApp template %s (%s): %s (%s); reading its status again", name, language, event,
                    reason or "Meta gave no reason")
            self._wake.set()
            return None
        return TemplateReport(name, language, EVENT_STATUS.get(event, event),
                              str(update.category) if update.category else None, reason, update.template_id,
                              at=update.timestamp)

    async def readiness(self) -> dict[str, Any]:
        async with self.svc.db.session() as session:
            held = await wa_templates.rows(session)
        return {"whatsapp_templates": readiness_report(self.ours, held)}


def reason_of_event(update: TemplateStatusUpdate) -> str | None:
    """Meta's reason, as an event gives it: the reason's code (INVALID_FORMAT...), then its
    explanation (rejection_info) or the pause's description (other_info)."""
    parts = [str(update.reason) if update.reason is not None else "",
             update.rejection_info.reason if update.rejection_info is not None else "",
             update.other_info.description if update.other_info is not None else ""]
    found = [one_line(part or "") for part in parts if (part or "").strip().upper() not in NOT_A_REASON]
    return ": ".join(found) or None
