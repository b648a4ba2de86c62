"""Broadcasts through the simulator: an admin composes from the chat; the chosen segment gets
the message exactly once; stop/start; people in the middle of a conversation wait."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers.outbox import NewMessage, delivery_rules, drain, enqueue
from handlers.roles import grant
from handlers.services import Services
from storage.models import Person
from storage.outbox import Campaign, OutboxMessage
from tests.conftest import START, Chat, register
from tests.fake_platform import SimDriver

ADMIN = "tg:9000"


async def make_admin(svc: Services, user: str = ADMIN) -> None:
    async with svc.db.session() as session:
        await grant(session, user, "admin", None, "test", START)
        await session.commit()


async def outbox_rows(svc: Services, campaign_id: int) -> list[OutboxMessage]:
    async with svc.db.session() as session:
        rows = await session.execute(select(OutboxMessage).where(OutboxMessage.campaign_id == campaign_id))
        return list(rows.scalars().all())


async def latest_campaign(svc: Services) -> Campaign:
    async with svc.db.session() as session:
        return (await session.execute(select(Campaign).order_by(Campaign.id.desc()).limit(1))).scalar_one()


async def broadcast(sim: SimDriver, taps: list[str], text: str | None = None) -> list[dict]:
    """The admin's compose dialogue; returns what the final "send" line put out."""
    opening = await sim.say(ADMIN, "/siaran")
    assert [m["to"] for m in opening] == [ADMIN]
    if text is None:
        await sim.tap(ADMIN, "camp:kkbc")
    else:
        await sim.say(ADMIN, text)
        await sim.tap(ADMIN, "camp:skip")  # no English text
        await sim.tap(ADMIN, "camp:skip")  # no image
    for button in taps:
        await sim.tap(ADMIN, button)
    preview = await sim.tap(ADMIN, "camp:count")
    assert [m["to"] for m in preview] == [ADMIN]
    await sim.tap(ADMIN, "camp:now")
    return await sim.tap(ADMIN, "camp:send")


async def test_a_broadcast_to_a_segment_reaches_exactly_that_segment_once(any_svc: Services, clock) -> None:
    await make_admin(any_svc)
    await register(Chat(any_svc, "tg:3001"))
    await register(Chat(any_svc, "tg:3002"), nik="1303055203850002")
    sim = SimDriver(any_svc, clock)
    await sim.say("tg:3003", "halo")
    await sim.tap("tg:3003", "lang:en")  # started, never finished
    await sim.clock(START + timedelta(hours=1))

    out = await broadcast(sim, ["camp:dim:status", "camp:val:pending"])
    assert sorted(m["to"] for m in out if m["to"] != ADMIN) == ["tg:3001", "tg:3002"]
    assert "Kerja Keras Bebas Cemas" in next(m for m in out if m["to"] == "tg:3001")["text"]
    campaign = await latest_campaign(any_svc)
    assert (campaign.state, campaign.total) == ("running", 2)

    report = await sim.clock(START + timedelta(hours=1, minutes=1))
    assert [m["to"] for m in report] == [ADMIN]
    campaign = await latest_campaign(any_svc)
    assert campaign.state == "done" and campaign.report["counts"] == {"sent": 2}
    assert await sim.clock(START + timedelta(hours=3)) == []
    assert sorted(r.channel_user for r in await outbox_rows(any_svc, campaign.id or 0)) == ["tg:3001", "tg:3002"]

    # "Everyone who started but did not finish", in their language (English here).
    out = await broadcast(sim, ["camp:unfinished"], text="Ayo selesaikan pendaftaran Anda!")
    reached = [m for m in out if m["to"] != ADMIN]
    assert [m["to"] for m in reached] == ["tg:3003"] and reached[0]["text"] == "Ayo selesaikan pendaftaran Anda!"


async def test_someone_in_the_middle_of_registering_gets_the_broadcast_when_they_go_quiet(
        svc: Services, clock) -> None:
    await make_admin(svc)
    sim = SimDriver(svc, clock)
    await sim.say("tg:3010", "halo")
    await sim.tap("tg:3010", "lang:id")
    out = await broadcast(sim, ["camp:dim:channel", "camp:val:tg", "camp:unfinished"])
    assert [m["to"] for m in out if m["to"] != ADMIN] == []
    progress = await sim.clock(START + timedelta(minutes=29))
    assert [m["to"] for m in progress] == [ADMIN]  # the admin's 15-minute progress, nothing else
    later = await sim.clock(START + timedelta(minutes=31))
    assert [m["to"] for m in later if m["to"] != ADMIN] == ["tg:3010"]


async def test_stop_ends_campaigns_and_reminders_and_start_turns_them_back_on(svc: Services, clock) -> None:
    await make_admin(svc)
    worker = Chat(svc, "tg:4001")
    await worker("halo")
    await worker.tap("lang:id")
    await worker("berhenti")
    assert worker.keys == ["optout.done"]
    sim = SimDriver(svc, clock)
    await sim.clock(START + timedelta(hours=1))
    out = await broadcast(sim, [])
    assert [m["to"] for m in out if m["to"] != ADMIN] == []
    rows = await outbox_rows(svc, (await latest_campaign(svc)).id or 0)
    assert [(r.channel_user, r.state, r.reason) for r in rows if r.channel_user == "tg:4001"] == [
        ("tg:4001", "skipped", "opted_out")]
    # No "unfinished registration" reminder either, 24 h later.
    assert [m for m in await sim.clock(START + timedelta(hours=25)) if m["to"] == "tg:4001"] == []

    # Messages about their own registration still go.
    async with svc.db.session() as session:
        await enqueue(session, [NewMessage("tg:4001", "status.pending", "Pendaftaran Anda sedang diperiksa.")],
                      clock.now(), delivery_rules(svc))
        await session.commit()
    assert [o.state for o in await drain(svc)] == ["sent"]

    await worker("mulai")
    assert worker.keys[0] == "optout.resumed" and len(worker.keys) > 1  # the flow answers "mulai" too
    async with svc.db.session() as session:
        person = (await session.execute(select(Person).where(Person.channel_user == "tg:4001"))).scalar_one()
        assert person.opted_out is False
    await sim.clock(START + timedelta(hours=26))
    out = await broadcast(sim, [])
    assert "tg:4001" in [m["to"] for m in out]


async def test_only_admins_may_broadcast(svc: Services) -> None:
    someone = Chat(svc, "tg:5001")
    await someone("/siaran")
    assert someone.keys == ["campaign.not_allowed"]


async def test_a_paused_campaign_waits_and_a_cancelled_one_skips_what_is_left(svc: Services, clock) -> None:
    await make_admin(svc)
    for n in range(3):
        await Chat(svc, f"tg:60{n}")("halo")
    sim = SimDriver(svc, clock)
    await sim.clock(START + timedelta(hours=1))
    admin = Chat(svc, ADMIN)
    await admin("/siaran")
    for button in ("camp:kkbc", "camp:count", "camp:later"):
        await admin.tap(button)
    await admin("28-11-2026 12:00")
    await admin.tap("camp:send")
    assert admin.keys == ["campaign.compose.scheduled"]
    campaign = await latest_campaign(svc)
    await admin(f"/siaran jeda {campaign.id}")
    assert admin.keys == ["campaign.progress"]
    assert await sim.clock(START + timedelta(hours=2, minutes=5)) == []  # due at 12:00, paused
    await admin.tap(f"camp:resume:{campaign.id}")
    launched = await sim.clock(START + timedelta(hours=2, minutes=6))
    # Everyone who ever wrote to the bot and is not covered; officials (the admin) only when chosen.
    assert sorted(m["to"] for m in launched) == ["tg:600", "tg:601", "tg:602"]

    # A campaign in progress: one person is busy registering, so their message waits; stopping
    # the campaign skips it.
    await sim.tap("tg:601", "lang:id")
    out = await broadcast(sim, [])
    assert "tg:601" not in [m["to"] for m in out]
    campaign = await latest_campaign(svc)
    await admin(f"/siaran batal {campaign.id}")
    assert admin.keys == ["campaign.progress"]
    assert [m for m in await sim.clock(START + timedelta(hours=3)) if m["to"] == "tg:601"] == []
    rows = await outbox_rows(svc, campaign.id or 0)
    assert [(r.state, r.reason) for r in rows if r.channel_user == "tg:601"] == [("skipped", "cancelled")]
    assert (await latest_campaign(svc)).state == "cancelled"
