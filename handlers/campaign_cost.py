"""What a broadcast costs on WhatsApp, counted before it is sent and after (the words are in
conversations/pricing.py).

Meta charges per delivered template, by category; a broadcast's template is a MARKETING one
(bot/whatsapp/templates.py, kind "campaign"). A free-form message inside the person's 24-hour
window is free, and Telegram (and the terminal) costs nothing. So:

- **Before sending** (the composer's preview), the audience is counted by channel and, on
  WhatsApp, by whether each person's window is open *now*: their last message
  (`Person.last_inbound_at`) less than `whatsapp.window_hours` ago, the test the WhatsApp
  sender applies. Outside it the broadcast goes as a template -- or, with window policy
  "wait", is held until the person writes (free). It is an estimate as of the count: a window
  may close before a scheduled broadcast goes out, and people who unsubscribed are skipped.
- **After sending** (the final report), nothing is estimated from windows: the WhatsApp sender
  records every message it hands to Meta (storage/whatsapp.py, whatsapp_outbound), a template
  with kind "template", and the outbox row of the campaign keeps the message id Meta returned.
  A sent campaign message went as a template exactly when its message id is a recorded
  template; a sent one with no message id was held for the person's window (window policy
  "wait"), free. Status webhooks later mark templates delivered or failed: Meta charges only
  delivered ones, so failed ones are left out of the cost, which is therefore an upper bound
  until every status has arrived. A sender that records nothing (the simulator, test fakes)
  sends no template, so its messages count as free -- as they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.pricing import Rate, Recipients
from handlers.outbox import OUTBOX
from handlers.services import Services
from handlers.settings import TemplatePricing, WhatsAppConfig
from storage.models import Person
from storage.whatsapp import OutboundMessage

# The category of the broadcast's template (bot/whatsapp/templates.py: kind "campaign"; the
# handlers may not import bot/, and tests/test_campaign_cost.py keeps the two equal).
CAMPAIGN_CATEGORY = "MARKETING"
WHATSAPP_OUTBOUND = OutboundMessage.__table__


def whatsapp_config(svc: Services) -> WhatsAppConfig:
    return getattr(svc.config, "whatsapp", None) or WhatsAppConfig()


def rate_of(pricing: TemplatePricing, category: str) -> Rate:
    return Rate(category, pricing.rates.get(category), pricing.currency, pricing.read_on,
                pricing.unconfirmed)


def campaign_rate(svc: Services) -> Rate:
    """The price of one delivered broadcast template, as config.yaml `whatsapp.pricing` says."""
    return rate_of(whatsapp_config(svc).pricing, CAMPAIGN_CATEGORY)


def channel_of_column(channel_user: Any) -> Any:
    """"wa", "tg" or "other" of a channel_user column ("wa:628...", "tg:123", "local:...")."""
    return case((channel_user.like("wa:%"), "wa"), (channel_user.like("tg:%"), "tg"), else_="other")


async def planned(session: AsyncSession, svc: Services, people: Any, now: datetime) -> Recipients:
    """Before sending: the people of an audience (a subquery with their channel_user) by what
    their broadcast message will cost, judged by their 24-hour window as of `now`."""
    config = whatsapp_config(svc)
    opened = Person.last_inbound_at > now - timedelta(hours=config.window_hours)
    each = (select(channel_of_column(people.c.channel_user).label("channel"),
                   case((opened, 1), else_=0).label("open"))
            .select_from(people.join(Person, Person.channel_user == people.c.channel_user)).subquery())
    rows = (await session.execute(select(each.c.channel, each.c.open, func.count())
                                  .group_by(each.c.channel, each.c.open))).all()
    counts = {"window": 0, "outside": 0, "telegram": 0, "other": 0}
    for channel, open_, count in rows:
        if channel == "wa":
            counts["window" if open_ else "outside"] += count
        else:
            counts["telegram" if channel == "tg" else "other"] += count
    outside = counts.pop("outside")
    waits = config.window_policy == "wait"
    return Recipients(template=0 if waits else outside, held=outside if waits else 0, **counts)


async def sent(session: AsyncSession, campaign_id: int) -> Recipients:
    """After sending: the campaign's sent messages by what they cost, from what the WhatsApp
    sender recorded of each (see the module's docstring)."""
    wa = WHATSAPP_OUTBOUND
    joined = OUTBOX.outerjoin(wa, and_(OUTBOX.c.channel_user.like("wa:%"), wa.c.message_id == OUTBOX.c.message_id,
                                       wa.c.channel_user == OUTBOX.c.channel_user))
    how = case((wa.c.kind == "template", "template"), (OUTBOX.c.message_id.is_(None), "held"), else_="free")
    each = (select(channel_of_column(OUTBOX.c.channel_user).label("channel"), how.label("how"),
                   wa.c.status.label("status"))
            .select_from(joined).where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.state == "sent").subquery())
    rows = (await session.execute(select(each.c.channel, each.c.how, each.c.status, func.count())
                                  .group_by(each.c.channel, each.c.how, each.c.status))).all()
    counts = {"window": 0, "template": 0, "held": 0, "telegram": 0, "other": 0, "delivered": 0, "failed": 0}
    for channel, kind, status, count in rows:
        if channel == "tg":
            counts["telegram"] += count
        elif channel != "wa":
            counts["other"] += count
        elif kind == "template":
            counts["template"] += count
            if status in ("delivered", "read"):
                counts["delivered"] += count
            elif status == "failed":
                counts["failed"] += count
        else:
            counts["held" if kind == "held" else "window"] += count
    return Recipients(**counts)
