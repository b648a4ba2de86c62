"""Use-cases of broadcasts ("Kerja Keras Bebas Cemas"): compose, launch, control, report.

An admin types `/siaran` (or `/broadcast`) and walks the compose dialogue
(conversations/campaign_compose.py); the draft lives in its Campaign row (state "draft").
`/siaran status` shows progress; `/siaran jeda|lanjut|batal <id>` (or the buttons on a progress
message) pause, resume or cancel. Only admins may broadcast (handlers/roles.py: "broadcast").

Launching inserts one outbox row per person of the audience in a single INSERT ... SELECT, in
the same transaction that moves the campaign from "scheduled" to "running": a campaign is
launched exactly once even when several workers tick at the same moment. The scheduler job
(`campaigns_due`) launches due campaigns, sends progress to the admin every
`progress_every_minutes` -- one message with pause/resume/cancel buttons, edited in place where
the platform allows (Campaign.progress_message_id) -- and the final report (delivered, failed,
skipped with reasons) once nothing is left to send. Before the admin confirms and in the final
report, the cost on WhatsApp is shown: free messages inside the 24-hour window, paid templates
outside it (handlers/campaign_cost.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import String, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import campaign_compose as compose
from conversations.events import ButtonPress, Inbound, Reply, Text
from conversations.state import IDLE_STEPS
from handlers import campaign_cost
from handlers.clock import LOCAL_TZ
from handlers.delivery import Priority
from handlers.outbox import (
    OUTBOX,
    NewMessage,
    counts_by_state,
    deliverable_at,
    delivery_rules,
    enqueue,
    template_kind,
)
from handlers.roles import allowed, grants_of
from handlers.services import Services
from handlers.turn import Turn
from storage.models import Conversation, Nagari, Person, Registration
from storage.officials import Official
from storage.outbox import Campaign
from storage.types import AwareDateTime

log = logging.getLogger(__name__)
CONTROL_WORDS = {"jeda": "pause", "pause": "pause", "lanjut": "resume", "resume": "resume",
                 "batal": "stop", "cancel": "stop", "stop": "stop", "status": "status"}
# How far back the send rate of a running campaign is measured.
RATE_WINDOW = timedelta(minutes=5)


def content_of(svc: Services) -> compose.CampaignContent | None:
    return getattr(svc.config, "campaigns", None)


# -- audience ---------------------------------------------------------------------------------
def audience_query(audience: dict[str, Any]) -> Any:
    """People (channel_user, lang) matching every chosen dimension (values within one: any).
    Registration dimensions match people with at least one such registration; "unfinished"
    matches people whose registration conversation stopped before submission."""
    query = select(Person.channel_user, Person.lang)
    registration = [Registration.channel_user == Person.channel_user]
    if audience.get("kecamatan"):
        registration.append(Registration.nagari_code.in_(
            select(Nagari.code).where(Nagari.kecamatan_code.in_(audience["kecamatan"]))))
    for dim, column in (("nagari", Registration.nagari_code), ("category", Registration.category),
                        ("status", Registration.status)):
        if audience.get(dim):
            registration.append(column.in_(audience[dim]))
    if len(registration) > 1:
        query = query.where(exists().where(and_(*registration)))
    if audience.get("channel"):
        query = query.where(func.substr(Person.channel_user, 1, 2).in_(audience["channel"]))
    if audience.get("lang"):
        query = query.where(Person.lang.in_(audience["lang"]))
    if audience.get("unfinished"):
        query = query.where(exists().where(
            Conversation.channel_user == Person.channel_user, Conversation.step.not_in(IDLE_STEPS)))
    if audience.get("not_covered") and not audience.get("status"):
        # The KKBC invitation: not to people already covered, nor to those whose registration
        # is under way (pending, a correction asked, on the waiting list).
        query = query.where(~exists().where(Registration.channel_user == Person.channel_user,
                                            Registration.status.in_(LIVE_STATUSES)))
    if not audience.get("officials"):
        # Officials are in a workers' broadcast only when the admin chooses them.
        query = query.where(Person.channel_user.not_in(
            select(Official.channel_user).where(Official.revoked_at.is_(None))))
    return query


# A registration in these states means the person is covered or on the way to it.
LIVE_STATUSES = ("pending", "correction", "waiting", "approved", "enrolled", "deletion_requested")


async def audience_breakdown(session: AsyncSession, audience: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The audience by the status of each person's latest registration ("none" without one) and
    by language: what the composer shows before the admin sends."""
    people = audience_query(audience).subquery()
    latest = (select(Registration.status).where(Registration.channel_user == people.c.channel_user)
              .order_by(Registration.created_at.desc(), Registration.id.desc()).limit(1).scalar_subquery())
    status = func.coalesce(latest, "none")
    by_status = dict((await session.execute(select(status, func.count()).select_from(people)
                                            .group_by(status))).all())
    by_lang = dict((await session.execute(select(people.c.lang, func.count()).group_by(people.c.lang))).all())
    return {str(k): int(v) for k, v in by_status.items()}, {str(k): int(v) for k, v in by_lang.items()}


async def count_audience(session: AsyncSession, audience: dict[str, Any]) -> int:
    return (await session.execute(select(func.count()).select_from(audience_query(audience).subquery()))).scalar_one()


async def launch(session: AsyncSession, svc: Services, campaign_id: int, now: datetime) -> int:
    """scheduled -> running, and one outbox row per person of the audience, atomically (caller
    commits). Returns the number of messages, or -1 if the campaign was not (any longer) due."""
    moved = await session.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.state == "scheduled")
                                  .values(state="running", started_at=now, updated_at=now))
    if moved.rowcount != 1:
        return -1
    campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    rules = delivery_rules(svc)
    people = audience_query(campaign.audience).subquery()
    when = literal(deliverable_at(now, rules), AwareDateTime())
    rows = select(
        literal("campaign"), literal(campaign_id), people.c.channel_user, people.c.lang, literal("campaign.message"),
        literal(template_kind("campaign")),
        literal(int(Priority.BULK)), literal("queued"), literal(0), when, literal(now, AwareDateTime()),
        literal(f"campaign:{campaign_id}:", String()) + people.c.channel_user,
    )
    columns = ["kind", "campaign_id", "channel_user", "lang", "key", "template", "priority", "state", "attempts",
               "not_before", "created_at", "dedupe_key"]
    await session.execute(insert(OUTBOX).from_select(columns, rows))
    total = (await session.execute(select(func.count()).where(OUTBOX.c.campaign_id == campaign_id))).scalar_one()
    campaign.total = total
    await session.flush()
    log.info("campaign %d launched: %d messages", campaign_id, total)
    return total


# -- progress and reports ---------------------------------------------------------------------
async def progress_of(session: AsyncSession, campaign: Campaign, now: datetime) -> compose.Progress:
    assert campaign.id is not None
    counts = await counts_by_state(session, campaign.id)
    recent = (await session.execute(select(func.count()).where(
        OUTBOX.c.campaign_id == campaign.id, OUTBOX.c.state == "sent",
        OUTBOX.c.sent_at > now - RATE_WINDOW))).scalar_one()
    # Quiet hours defer a running broadcast: say until when, instead of a rate of 0.
    first_due = (await session.execute(select(func.min(OUTBOX.c.not_before)).where(
        OUTBOX.c.campaign_id == campaign.id, OUTBOX.c.state == "queued"))).scalar_one()
    held = None
    if first_due is not None:
        first_due = first_due if first_due.tzinfo else first_due.replace(tzinfo=timezone.utc)
        if first_due > now:
            held = first_due.astimezone(LOCAL_TZ).strftime("%H:%M")
    return compose.Progress(campaign.id, campaign.state, campaign.total, counts.get("sent", 0),
                            counts.get("failed", 0), counts.get("skipped", 0),
                            recent / (RATE_WINDOW.total_seconds() / 60), held)


async def reasons_of(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    rows = await session.execute(select(OUTBOX.c.reason, func.count()).where(
        OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.state.in_(("failed", "skipped"))).group_by(OUTBOX.c.reason))
    reasons: Counter[str] = Counter()
    for reason, count in rows.all():
        reasons[(reason or "error").split(":", 1)[0]] += count
    return dict(reasons)


async def lang_of(session: AsyncSession, channel_user: str, default: str) -> str:
    lang = (await session.execute(select(Person.lang).where(Person.channel_user == channel_user))).scalar_one_or_none()
    return lang or default


async def notify_admin(session: AsyncSession, svc: Services, campaign: Campaign, reply: Reply, dedupe: str,
                       lang: str, now: datetime, replaces: str | None = None) -> None:
    if not allowed(await grants_of(session, campaign.created_by), "broadcast"):
        return  # its admin was removed: the campaign goes on, nothing more reaches them
    await enqueue(session, [NewMessage(campaign.created_by, reply.key, reply.text, "transactional", lang, dedupe,
                                       buttons=reply.buttons, replaces=replaces)],
                  now, delivery_rules(svc))


def progress_dedupe(campaign_id: int, bucket: int | str) -> str:
    return f"campaign-progress:{campaign_id}:{bucket}"


async def progress_message_id(session: AsyncSession, campaign: Campaign) -> str | None:
    """The platform id of the campaign's first delivered progress message, remembered on the
    campaign once known (the outbox worker learns it when the message is sent)."""
    assert campaign.id is not None
    if campaign.progress_message_id is None:
        # The admin's own rows (indexed by channel_user), not a scan of the broadcast's.
        first = await session.execute(select(OUTBOX.c.message_id).where(
            OUTBOX.c.channel_user == campaign.created_by, OUTBOX.c.key == "campaign.progress",
            OUTBOX.c.dedupe_key.like(progress_dedupe(campaign.id, "%")), OUTBOX.c.state == "sent",
            OUTBOX.c.message_id.is_not(None)).order_by(OUTBOX.c.id).limit(1))
        campaign.progress_message_id = first.scalar_one_or_none()
    return campaign.progress_message_id


async def campaigns_due(svc: Services, now: datetime) -> list[Any]:
    """Scheduler job: launch due campaigns, tell admins the progress, finish and report."""
    content = content_of(svc)
    every = content.progress_every_minutes if content else 0
    async with svc.db.session() as session:
        due = (await session.execute(select(Campaign.id).where(
            Campaign.state == "scheduled", Campaign.scheduled_at <= now))).scalars().all()
        for campaign_id in due:
            await launch(session, svc, campaign_id, now)
        running = (await session.execute(select(Campaign).where(Campaign.state.in_(("running", "paused"))))).scalars().all()
        for campaign in running:
            await follow_up(session, svc, campaign, now, every)
        await session.commit()
    return []


async def follow_up(session: AsyncSession, svc: Services, campaign: Campaign, now: datetime, every: int) -> None:
    """Progress every `every` minutes; the final report when nothing is queued or in flight."""
    assert campaign.id is not None
    lang = await lang_of(session, campaign.created_by, svc.rules.default_language)
    progress = await progress_of(session, campaign, now)
    if campaign.state == "running" and progress.done >= campaign.total:
        counts = await counts_by_state(session, campaign.id)
        reasons = await reasons_of(session, campaign.id)
        campaign.state, campaign.finished_at, campaign.updated_at = "done", now, now
        recipients = await campaign_cost.sent(session, campaign.id)
        rate = campaign_cost.campaign_rate(svc)
        cost = recipients.cost(rate)
        campaign.report = {"counts": counts, "reasons": reasons, "cost": {
            **recipients.to_dict(), "category": rate.category, "currency": rate.currency,
            "rate": None if rate.amount is None else str(rate.amount),
            "estimate": None if cost is None else str(cost)}}
        reply = compose.render_report(svc.catalog.text, lang, campaign.id, counts, reasons, recipients, rate)
        await notify_admin(session, svc, campaign, reply, f"campaign-report:{campaign.id}", lang, now)
    elif campaign.state == "running" and every and campaign.started_at is not None:
        bucket = int((now - campaign.started_at).total_seconds() // (every * 60))
        if bucket > 0:
            reply = compose.render_progress(svc.catalog.text, lang, progress)
            await notify_admin(session, svc, campaign, reply, progress_dedupe(campaign.id, bucket), lang, now,
                               replaces=await progress_message_id(session, campaign))


async def control(session: AsyncSession, campaign_id: int, action: str, now: datetime) -> Campaign | None:
    """Pause, resume or cancel (stop) a campaign; None if it does not exist or is finished."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.state in ("done", "cancelled", "draft"):
        return None
    if action == "pause" and campaign.state in ("running", "scheduled"):
        campaign.state = "paused"
    elif action == "resume" and campaign.state == "paused":
        campaign.state = "running" if campaign.started_at else "scheduled"
    elif action == "stop":
        campaign.state = "cancelled"
        campaign.finished_at = now
        # Messages still waiting are skipped; those in flight finish normally.
        await session.execute(update(OUTBOX).where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.state == "queued")
                              .values(state="skipped", reason="cancelled"))
    campaign.updated_at = now
    return campaign


# -- the admin's chat -------------------------------------------------------------------------
class AdminTurn:
    """One message of an admin about broadcasts, inside one transaction."""

    def __init__(self, svc: Services, session: AsyncSession, admin: str, lang: str, now: datetime) -> None:
        self.svc, self.session, self.admin, self.lang, self.now = svc, session, admin, lang, now

    def t(self, key: str, **params: Any) -> str:
        return self.svc.catalog.text(self.lang, key, **params)

    def reply(self, key: str, **params: Any) -> Reply:
        return Reply(key, self.t(key, **params))

    def ctx(self) -> compose.ComposeCtx:
        content = content_of(self.svc)
        assert content is not None, "the broadcast route runs only with a campaigns section"
        categories = {c.id: c.title(self.lang) for c in self.svc.rules.categories}
        return compose.ComposeCtx(self.lang, self.svc.catalog.text, self.svc.wilayah, content, categories,
                                  self.now.astimezone(LOCAL_TZ), campaign_cost.campaign_rate(self.svc))

    async def draft(self) -> Campaign | None:
        return (await self.session.execute(select(Campaign).where(
            Campaign.created_by == self.admin, Campaign.state == "draft"))).scalar_one_or_none()

    async def start(self) -> list[Reply]:
        """`/siaran`: a fresh draft (an older unfinished draft of this admin is replaced)."""
        await self.session.execute(delete(Campaign).where(Campaign.created_by == self.admin, Campaign.state == "draft"))
        outcome = compose.start(self.ctx())
        self.session.add(Campaign(created_by=self.admin, created_at=self.now, updated_at=self.now,
                                  draft=outcome.state.to_dict()))
        return outcome.replies

    async def step(self, campaign: Campaign, event: Inbound) -> list[Reply]:
        """Feeds one input to the compose dialogue and performs the effect it asks for."""
        ctx = self.ctx()
        outcome = compose.handle(compose.ComposeState.from_dict(campaign.draft or {}), event, ctx)
        replies = list(outcome.replies)
        if isinstance(outcome.effect, compose.CountAudience):
            count = await count_audience(self.session, outcome.effect.audience)
            by_status, by_lang = await audience_breakdown(self.session, outcome.effect.audience)
            recipients = await campaign_cost.planned(
                self.session, self.svc, audience_query(outcome.effect.audience).subquery(), self.now)
            outcome = compose.handle(outcome.state, compose.AudienceCounted(count, by_status, by_lang, recipients),
                                     ctx)
            replies.extend(outcome.replies)
        if isinstance(outcome.effect, compose.Discard):
            await self.session.delete(campaign)
            return replies
        campaign.draft, campaign.updated_at = outcome.state.to_dict(), self.now
        if isinstance(outcome.effect, compose.Schedule):
            replies.append(await self.schedule(campaign, outcome.state, outcome.effect.at))
        return replies

    async def schedule(self, campaign: Campaign, state: compose.ComposeState, at: datetime) -> Reply:
        campaign.text_id, campaign.text_en, campaign.image = state.text_id, state.text_en, state.image
        campaign.audience = state.audience
        campaign.state, campaign.scheduled_at, campaign.draft = "scheduled", at, None
        await self.session.flush()
        assert campaign.id is not None
        if at <= self.now:
            await launch(self.session, self.svc, campaign.id, self.now)
        return self.reply("campaign.compose.scheduled", id=campaign.id,
                          when=compose.format_moment(at, self.now.astimezone(LOCAL_TZ)))

    async def status(self) -> list[Reply]:
        campaigns = (await self.session.execute(select(Campaign).where(
            Campaign.state.in_(("scheduled", "running", "paused"))).order_by(Campaign.id.desc()).limit(5))).scalars().all()
        if not campaigns:
            return [self.reply("campaign.status.none")]
        return [compose.render_progress(self.svc.catalog.text, self.lang, await progress_of(self.session, c, self.now))
                for c in campaigns]

    async def control(self, action: str, campaign_id: int | None) -> list[Reply]:
        if action == "status":
            return await self.status()
        campaign = await control(self.session, campaign_id, action, self.now) if campaign_id else None
        if campaign is None:
            return [self.reply("campaign.control.unknown")]
        await self.session.flush()
        return [compose.render_progress(self.svc.catalog.text, self.lang, await progress_of(self.session, campaign, self.now))]


def parse_command(svc: Services, event: Inbound) -> tuple[str, int | None] | None:
    """("compose"|"status"|"pause"|"resume"|"stop", campaign id) for a broadcast command or a
    control button; None for anything else."""
    if isinstance(event, ButtonPress) and event.button_id.count(":") == 2:
        _, action, ident = event.button_id.split(":")
        if event.button_id.startswith("camp:") and action in ("pause", "resume", "stop") and ident.isdigit():
            return action, int(ident)
    content = content_of(svc)
    if not isinstance(event, Text) or content is None:
        return None
    words = event.text.strip().lower().split()
    if not words or words[0] not in content.commands:
        return None
    if len(words) == 1:
        return "compose", None
    action = CONTROL_WORDS.get(words[1])
    number = int(words[2]) if len(words) > 2 and words[2].isdigit() else None
    return (action, number) if action else ("compose", None)


async def route(turn: Turn) -> bool:
    """Handles an admin's broadcast commands and compose dialogue; everything else passes.
    Without a `campaigns:` section in config.yaml, broadcasts are off."""
    svc, event = turn.svc, turn.event
    if content_of(svc) is None:
        return False
    command = parse_command(svc, event)
    compose_button = isinstance(event, ButtonPress) and event.button_id.startswith("camp:")
    if command is None and not compose_button and not turn.pre.composing_broadcast:
        return False
    admin = AdminTurn(svc, turn.session, turn.who, turn.language, turn.now)
    campaign = None if command else await admin.draft()
    if command is None and campaign is None and not compose_button:
        return False
    if not allowed(await turn.grants(), "broadcast"):
        if command is None and not compose_button:
            return False
        replies = [admin.reply("campaign.not_allowed")]
    elif command is not None:
        action, ident = command
        replies = await (admin.start() if action == "compose" else admin.control(action, ident))
    elif campaign is not None:
        replies = await admin.step(campaign, event)
    else:
        replies = [admin.reply("campaign.compose.expired")]
    turn.reply(*replies)
    return True
