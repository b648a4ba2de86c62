"""Broadcasts and the programme: a broadcast to 0 people cannot be confirmed; the ready KKBC
invitation does not go to people already approved or enrolled unless the admin chooses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from handlers.services import Services
from storage.models import Registration
from tests.conftest import START, Chat, register
from tests.fake_platform import SimDriver
from tests.test_campaigns_sim import ADMIN, make_admin
from tests.test_programme_withdrawal import set_lang


async def compose_kkbc(sim: SimDriver, taps: list[str]) -> list[dict]:
    await sim.say(ADMIN, "/siaran")
    await sim.tap(ADMIN, "camp:kkbc")
    for button in taps:
        await sim.tap(ADMIN, button)
    return await sim.tap(ADMIN, "camp:count")


async def test_kkbc_skips_the_covered_unless_chosen(any_svc: Services, clock) -> None:
    await make_admin(any_svc)
    covered = await register(Chat(any_svc, "tg:3101"))
    await register(Chat(any_svc, "tg:3102"), nik="1303055203850002")  # pending: on the way already
    await Chat(any_svc, "tg:3103")("halo")  # wrote, never registered
    async with any_svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == covered).values(status="enrolled"))
        await session.commit()
    sim = SimDriver(any_svc, clock)
    await sim.clock(START + timedelta(hours=1))
    preview = await compose_kkbc(sim, [])
    # Only who is neither covered nor registering, and no official unless chosen.
    assert "*1*" in preview[0]["text"]
    await sim.tap(ADMIN, "camp:now")
    out = await sim.tap(ADMIN, "camp:send")
    assert [m["to"] for m in out if m["to"] != ADMIN] == ["tg:3103"]
    # Chosen by status: the enrolled get it.
    await sim.clock(START + timedelta(hours=2))
    await compose_kkbc(sim, ["camp:dim:status", "camp:val:enrolled"])
    await sim.tap(ADMIN, "camp:now")
    out = await sim.tap(ADMIN, "camp:send")
    assert [m["to"] for m in out if m["to"] != ADMIN] == ["tg:3101"]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_broadcast_to_nobody_cannot_be_confirmed(svc: Services, clock, lang: str) -> None:
    await make_admin(svc)
    await set_lang(svc, ADMIN, lang)
    sim = SimDriver(svc, clock)
    preview = await compose_kkbc(sim, ["camp:dim:status", "camp:val:rejected"])
    assert "*0*" in preview[0]["text"]
    assert "camp:now" not in [b["id"] for b in preview[0].get("buttons", [])]
    out = await sim.line({"from": ADMIN, "button": "camp:now"})
    assert svc.catalog.text(lang, "campaign.compose.empty") in "\n".join(m["text"] for m in out)
    async with svc.db.session() as session:
        from sqlalchemy import func, select

        from storage.outbox import Campaign

        states = (await session.execute(select(Campaign.state))).scalars().all()
    assert not set(states) & {"scheduled", "running", "done"}, states


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_broadcast_held_by_quiet_hours_says_until_when(svc: Services, clock, lang: str) -> None:
    from datetime import datetime

    from handlers.clock import LOCAL_TZ

    await make_admin(svc)
    await set_lang(svc, ADMIN, lang)
    await Chat(svc, "tg:3201")("halo")  # wrote, not registered yet: the KKBC invitation is for them
    sim = SimDriver(svc, clock)
    await sim.clock(datetime(2026, 11, 28, 22, 0, tzinfo=LOCAL_TZ))
    await compose_kkbc(sim, [])
    await sim.tap(ADMIN, "camp:now")
    out = await sim.tap(ADMIN, "camp:send")
    assert "tg:3201" not in [m["to"] for m in out]
    status = await sim.say(ADMIN, "/siaran status")
    held = svc.catalog.text(lang, "campaign.progress.held", time="07:00")
    assert any(held in m["text"] for m in status), [m["text"] for m in status]
    out = await sim.clock(datetime(2026, 11, 29, 7, 1, tzinfo=LOCAL_TZ))
    assert "tg:3201" in [m["to"] for m in out]


async def test_officials_are_left_out_unless_chosen_and_the_audience_is_shown_by_status_and_language(
        any_svc: Services, clock) -> None:
    from tests.officials_support import add_officials

    await make_admin(any_svc)
    await add_officials(any_svc)  # four more officials, who all wrote
    for official in ("tg:9001", "tg:9002", "tg:9003", "tg:9004"):
        await Chat(any_svc, official)("halo")
    await Chat(any_svc, "tg:3301")("halo")
    english = Chat(any_svc, "tg:3302")
    await english("hello")
    await english.tap("lang:en")
    sim = SimDriver(any_svc, clock)
    preview = await compose_kkbc(sim, [])
    text = preview[0]["text"]
    assert "*2*" in text and "Belum mendaftar 2" in text
    names = [any_svc.catalog.text(lang, "language.name") for lang in ("id", "en")]
    assert all(f"{name} 1" in text for name in names), text
    preview = await compose_kkbc(sim, ["camp:officials"])
    assert "*7*" in preview[0]["text"]  # the admin and the four officials too, once chosen
