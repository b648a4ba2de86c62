"""What a broadcast costs is shown before the admin confirms and in the final report.

On WhatsApp a person inside their 24-hour window gets a free message and anyone else a paid
MARKETING template; Telegram and the terminal are free. The composer counts the audience that
way (as of the count) and multiplies by config.yaml's rate, naming its date and that it is
unconfirmed; the report counts the templates the WhatsApp sender recorded, less those Meta
reported failed. Money is rounded half up and written the Indonesian way. Every clock is fixed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.config import DEFAULT_CONFIG, ConfigError, load_config
from conversations.events import Reply
from conversations.pricing import Rate, Recipients, describe, money, price
from handlers.campaign_cost import CAMPAIGN_CATEGORY, campaign_rate
from handlers.campaigns import campaigns_due
from handlers.delivery import DeliveryResult, Priority
from handlers.outbox import drain
from handlers.services import Services
from handlers.settings import PRICING_SOURCE, TemplatePricing
from storage.models import Person
from storage.outbox import Campaign
from storage.whatsapp import Outbox, OutboundMessage
from tests.conftest import START, Chat, RecordingSender
from tests.test_campaigns_sim import ADMIN, latest_campaign, make_admin
from tests.test_programme_withdrawal import set_lang

PRICING = TemplatePricing(currency="IDR", rates={"MARKETING": Decimal("1000.5"), "UTILITY": Decimal("300")},
                          read_on=date(2026, 11, 1), unconfirmed=True)
INSIDE = "wa:6281100000001"  # wrote an hour before the broadcast: window open
OUTSIDE = ("wa:6281100000002", "wa:6281100000003")  # wrote two days before
NEVER = "wa:6281100000004"  # never wrote (registered by an operator, say): no window
TELEGRAM = ("tg:3001", "tg:3002")
TERMINAL = "local:1"
COMPOSED_AT = START + timedelta(hours=1)


def with_pricing(svc: Services, pricing: TemplatePricing = PRICING, **whatsapp: Any) -> None:
    svc.config = svc.config.model_copy(update={"whatsapp": svc.config.whatsapp.model_copy(
        update={"pricing": pricing, **whatsapp})})


async def add_person(svc: Services, user: str, last_inbound_at: datetime | None) -> None:
    async with svc.db.session() as session:
        session.add(Person(channel_user=user, lang="id", created_at=START - timedelta(days=3),
                           last_inbound_at=last_inbound_at))
        await session.commit()


async def audience(svc: Services) -> None:
    """1 person inside the window, 3 outside it on WhatsApp; 2 on Telegram, 1 on the terminal."""
    await add_person(svc, INSIDE, START)
    for user in OUTSIDE:
        await add_person(svc, user, START - timedelta(days=2))
    await add_person(svc, NEVER, None)
    for user in (*TELEGRAM, TERMINAL):
        await add_person(svc, user, START - timedelta(days=30))


async def compose(svc: Services, clock, lang: str = "id") -> tuple[Chat, Reply]:
    """The admin writes a broadcast to everyone and counts it; returns the chat and the preview."""
    await make_admin(svc)
    await set_lang(svc, ADMIN, lang)
    clock.set(COMPOSED_AT)
    admin = Chat(svc, ADMIN)
    await admin("/siaran")
    await admin("Ayo daftar BPJS Ketenagakerjaan, iurannya dibayar nagari!")
    await admin.tap("camp:skip")  # no English text
    await admin.tap("camp:skip")  # no image
    await admin.tap("camp:count")
    assert admin.keys == ["campaign.compose.preview"], admin.keys
    return admin, admin.last


# -- money ------------------------------------------------------------------------------------
def test_money_rounds_half_up_and_is_written_the_indonesian_way() -> None:
    assert money(Decimal("1758.99"), "IDR") == "Rp 1.759"
    assert money(Decimal("1758.49"), "IDR") == "Rp 1.758"
    assert money(Decimal("2.5"), "IDR") == "Rp 3" and money(Decimal("3.5"), "IDR") == "Rp 4"  # never to even
    assert money(Decimal("1234567"), "IDR") == "Rp 1.234.567"
    assert money(Decimal("1234.125"), "USD") == "US$ 1.234,13"
    assert money(Decimal("0"), "IDR") == "Rp 0"
    # A rate keeps its own decimals.
    assert price(Decimal("586.33"), "IDR") == "Rp 586,33" and price(Decimal("500"), "IDR") == "Rp 500"
    assert price(Decimal("1000.5"), "IDR") == "Rp 1.000,50" and price(Decimal("0.0411"), "USD") == "US$ 0,0411"


def test_the_cost_is_count_times_rate_and_free_messages_cost_nothing() -> None:
    rate = Rate("MARKETING", Decimal("586.33"), "IDR", date(2026, 12, 7))
    assert Recipients(window=5, template=3, telegram=9).cost(rate) == Decimal("1758.99")
    assert Recipients(window=5, telegram=9, other=2, held=4).cost(rate) == 0
    # After sending, templates Meta reported failed are not charged.
    assert Recipients(template=3, delivered=1, failed=1).cost(rate) == Decimal("1172.66")
    # Without a price for the category the cost is unknown, not zero, when a template goes.
    assert Recipients(template=1).cost(Rate("MARKETING", None, "IDR")) is None


# -- the settings -----------------------------------------------------------------------------
def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / Path("config").with_suffix(".yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_rates_are_dated_sourced_and_marked_unconfirmed() -> None:
    pricing = load_config(DEFAULT_CONFIG).whatsapp.pricing
    assert pricing.currency == "IDR" and {"MARKETING", "UTILITY", "AUTHENTICATION"} <= set(pricing.rates)
    assert all(rate > 0 for rate in pricing.rates.values())
    assert pricing.read_on is not None and pricing.source == PRICING_SOURCE and pricing.unconfirmed


def test_the_broadcast_is_priced_as_its_template_category() -> None:
    from bot.whatsapp.templates import BY_KIND

    assert BY_KIND["campaign"].category == CAMPAIGN_CATEGORY == "MARKETING"


def test_a_config_without_a_pricing_section_loads_and_the_cost_is_unknown(tmp_path: Path, svc: Services) -> None:
    data = shipped()
    del data["whatsapp"]["pricing"]
    config = load_config(write(tmp_path, data))
    assert config.whatsapp.pricing.rates == {} and config.whatsapp.pricing.unconfirmed
    svc.config = config
    rate = campaign_rate(svc)
    assert rate.amount is None
    text = describe(svc.catalog.text, "id", Recipients(window=1, template=2), rate)
    assert svc.catalog.text("id", "pricing.cost_unknown", category="MARKETING") in text
    # Nothing outside the window: nothing to pay, whatever the rate.
    assert "Rp 0" in describe(svc.catalog.text, "id", Recipients(window=1, telegram=2), rate)


@pytest.mark.parametrize("rates, named", [
    ({"MARKETING": -1}, "whatsapp.pricing.rates"),
    ({"MARKETNG": 586}, "whatsapp.pricing.rates"),  # a misspelt category is not ignored
    ({"MARKETING": "banyak"}, "whatsapp.pricing.rates"),
])
def test_a_wrong_rate_names_its_key(tmp_path: Path, rates: dict[str, Any], named: str) -> None:
    data = shipped()
    data["whatsapp"]["pricing"]["rates"] = rates
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, data))
    assert named in str(raised.value.code)


# -- before sending: the composer ---------------------------------------------------------------
@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_composer_shows_who_is_free_who_gets_a_template_and_the_cost_before_confirm(
        svc: Services, clock, lang: str) -> None:
    with_pricing(svc)
    await audience(svc)
    admin, preview = await compose(svc, clock, lang)
    t = svc.catalog.text
    # 1 inside the window (free), 3 outside (a template each: the one who never wrote too),
    # 2 on Telegram and 1 on the terminal (free); 3 x Rp 1.000,50 = Rp 3.001,50 -> Rp 3.002.
    for line in (t(lang, "pricing.plan.window", count=1),
                 t(lang, "pricing.plan.template", count=3, category="MARKETING", rate="Rp 1.000,50"),
                 t(lang, "pricing.plan.telegram", count=2),
                 t(lang, "pricing.plan.other", count=1),
                 t(lang, "pricing.cost", cost="Rp 3.002"),
                 t(lang, "pricing.rate.unconfirmed", date="01-11-2026")):
        assert line in preview.text, (line, preview.text)
    assert "*7*" in preview.text  # the audience counted as before

    await admin.tap("camp:now")
    assert admin.keys == ["campaign.compose.confirm"]
    assert t(lang, "pricing.cost", cost="Rp 3.002") in admin.last.text
    assert t(lang, "pricing.rate.unconfirmed", date="01-11-2026") in admin.last.text
    await admin.tap("camp:send")
    assert admin.keys == ["campaign.compose.scheduled"]


async def test_a_confirmed_rate_is_not_called_unconfirmed(svc: Services, clock) -> None:
    with_pricing(svc, PRICING.model_copy(update={"unconfirmed": False}))
    await audience(svc)
    _, preview = await compose(svc, clock)
    assert svc.catalog.text("id", "pricing.rate.confirmed", date="01-11-2026") in preview.text
    assert "belum dikonfirmasi" not in preview.text


async def test_with_window_policy_wait_nobody_outside_the_window_gets_a_template(svc: Services, clock) -> None:
    with_pricing(svc, window_policy="wait")
    await audience(svc)
    _, preview = await compose(svc, clock)
    t = svc.catalog.text
    assert t("id", "pricing.plan.held", count=3) in preview.text
    assert t("id", "pricing.plan.template", count=3, category="MARKETING", rate="Rp 1.000,50") not in preview.text
    assert t("id", "pricing.cost", cost="Rp 0") in preview.text


async def test_the_window_is_judged_at_the_count_not_at_the_first_message(svc: Services, clock) -> None:
    """The person who wrote at START is inside the window an hour later, outside it a day later."""
    with_pricing(svc)
    await audience(svc)
    await make_admin(svc)
    clock.set(START + timedelta(hours=24, minutes=1))
    admin = Chat(svc, ADMIN)
    for step in ("/siaran", "Ayo daftar BPJS Ketenagakerjaan, iurannya dibayar nagari!"):
        await admin(step)
    for button in ("camp:skip", "camp:skip", "camp:count"):
        await admin.tap(button)
    t = svc.catalog.text
    assert t("id", "pricing.plan.window", count=0) in admin.last.text
    assert t("id", "pricing.cost", cost="Rp 4.002") in admin.last.text  # 4 x 1.000,50


# -- after sending: the report ----------------------------------------------------------------
class RecordingWhatsApp:
    """Stands in for bot/whatsapp/sender.py as far as the report reads it: every message handed
    to Meta is recorded in whatsapp_outbound with Meta's id, a template with kind "template"
    (storage/whatsapp.py), outside the person's 24-hour window."""

    channel = "wa"

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.templates: list[str] = []
        self.sent = 0

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY, template: str | None = None,
                   replace: str | None = None, lang: str | None = None) -> DeliveryResult:
        now = self.svc.clock.now()
        self.sent += 1
        wamid = f"wamid.cost{self.sent:04d}"
        async with self.svc.db.session() as session:
            outbox = Outbox(session, self.svc.cipher)
            person = await outbox.person(to)
            last = person.last_inbound_at if person else None
            inside = last is not None and now - last < timedelta(hours=self.svc.config.whatsapp.window_hours)
            if not inside:
                self.templates.append(to)
            outbox.record(to, "text" if inside else "template", "accepted", now, message_id=wamid,
                          template=None if inside else "kkbc_masuk_desa", priority=int(priority))
            await session.commit()
        return DeliveryResult(ok=True, message_id=wamid)


async def meta_says(svc: Services, to: str, status: str) -> None:
    """A status webhook for the message sent to `to`."""
    async with svc.db.session() as session:
        wamid = (await session.execute(select(OutboundMessage.message_id).where(
            OutboundMessage.channel_user == to))).scalar_one()
        assert await Outbox(session, svc.cipher).apply_status(wamid, status, svc.clock.now())
        await session.commit()


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_report_counts_the_templates_sent_and_what_they_cost(any_svc: Services, clock, lang: str) -> None:
    svc = any_svc  # SQLite and PostgreSQL count alike
    senders: dict[str, Any] = {"wa": RecordingWhatsApp(svc), "tg": RecordingSender("tg"),
                               "local": RecordingSender("local")}
    svc.senders.update(senders)
    with_pricing(svc)
    await audience(svc)
    admin, preview = await compose(svc, clock, lang)
    assert svc.catalog.text(lang, "pricing.cost", cost="Rp 3.002") in preview.text
    await admin.tap("camp:now")
    await admin.tap("camp:send")
    outcomes = await drain(svc)
    assert sorted(o.state for o in outcomes) == ["sent"] * 7
    assert sorted(senders["wa"].templates) == sorted([*OUTSIDE, NEVER])
    # Meta: one template delivered, one read (delivered too), one failed (not charged).
    await meta_says(svc, OUTSIDE[0], "delivered")
    await meta_says(svc, OUTSIDE[1], "read")
    await meta_says(svc, NEVER, "failed")

    clock.advance(timedelta(minutes=1))
    await campaigns_due(svc, clock.now())
    campaign = await latest_campaign(svc)
    assert campaign.state == "done"
    cost = campaign.report["cost"]
    assert {k: cost[k] for k in ("window", "template", "held", "telegram", "other", "delivered", "failed")} == {
        "window": 1, "template": 3, "held": 0, "telegram": 2, "other": 1, "delivered": 2, "failed": 1}
    # 2 templates that may be charged x Rp 1.000,50.
    assert (cost["category"], cost["currency"], cost["rate"], cost["estimate"]) == ("MARKETING", "IDR", "1000.5",
                                                                                   "2001.0")

    await drain(svc)
    report = next(o.reply for o in senders["tg"].sent if o.to == ADMIN and o.reply.key == "campaign.report")
    t = svc.catalog.text
    for line in (t(lang, "pricing.sent.window", count=1),
                 t(lang, "pricing.sent.template", count=3, category="MARKETING", delivered=2, failed=1,
                   rate="Rp 1.000,50"),
                 t(lang, "pricing.sent.telegram", count=2),
                 t(lang, "pricing.sent.other", count=1),
                 t(lang, "pricing.cost_sent", cost="Rp 2.001"),
                 t(lang, "pricing.rate.unconfirmed", date="01-11-2026")):
        assert line in report.text, (line, report.text)


async def test_a_message_held_for_the_window_is_free_in_the_report(svc: Services, clock) -> None:
    """Window policy "wait": the sender holds the message (ok, no message id) until the person
    writes; nothing is paid for it."""

    class Holding(RecordingSender):
        async def send(self, to: str, reply: Reply, *args: Any, **kwargs: Any) -> DeliveryResult:
            await super().send(to, reply)
            return DeliveryResult(ok=True)

    svc.senders.update({"wa": Holding("wa"), "tg": RecordingSender("tg"), "local": RecordingSender("local")})
    with_pricing(svc, window_policy="wait")
    await audience(svc)
    admin, _ = await compose(svc, clock)
    await admin.tap("camp:now")
    await admin.tap("camp:send")
    await drain(svc)
    await campaigns_due(svc, clock.now())
    cost = (await latest_campaign(svc)).report["cost"]
    assert (cost["held"], cost["template"], cost["window"], cost["estimate"]) == (4, 0, 0, "0")


async def test_the_report_of_the_real_whatsapp_sender(svc: Services, clock) -> None:
    """The real sender against the fake Graph API: the person who wrote gets the broadcast as a
    text, the one whose window closed as the approved MARKETING template, which the report
    prices; the admin on Telegram is free."""
    from storage.wa_templates import APPROVED, record
    from tests.fake_graph import WA_ID, message, whatsapp_harness

    with_pricing(svc)
    async with svc.db.session() as session:
        await record(session, "kkbc_masuk_desa", "id", APPROVED, START, category="MARKETING")
        await session.commit()
    await add_person(svc, OUTSIDE[0], START - timedelta(days=2))
    async with whatsapp_harness(svc) as wa:
        await wa.send(message(text="halo", at=START))  # WA_ID writes: their window opens
        svc.senders["tg"] = RecordingSender("tg")
        await make_admin(svc)
        clock.set(START + timedelta(minutes=31))  # no longer busy with the registration's first step
        admin = Chat(svc, ADMIN)
        await admin("/siaran")
        await admin("Ayo daftar BPJS Ketenagakerjaan, iurannya dibayar nagari!")
        for button in ("camp:skip", "camp:skip", "camp:count"):
            await admin.tap(button)
        t = svc.catalog.text
        assert t("id", "pricing.plan.window", count=1) in admin.last.text
        assert t("id", "pricing.cost", cost="Rp 1.001") in admin.last.text
        await admin.tap("camp:now")
        await admin.tap("camp:send")
        wa.graph.sent.clear()
        await drain(svc)
        kinds = {r.to: r.type for r in wa.graph.sent}
        assert kinds == {WA_ID: "text", OUTSIDE[0].split(":", 1)[1]: "template"}, kinds
        await campaigns_due(svc, clock.now())
    cost = (await latest_campaign(svc)).report["cost"]
    assert (cost["window"], cost["template"], cost["estimate"]) == (1, 1, "1000.5")
    async with svc.db.session() as session:
        assert (await session.execute(select(Campaign.state))).scalars().all() == ["done"]
