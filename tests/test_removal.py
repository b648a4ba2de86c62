"""Removal means out: a removed official's unused invitation codes die with their rights, the
tickets they held go back to the queue with a note, and nothing reaches them any more.
Invitation codes cannot be guessed without limit."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from handlers.removal import remove_official
from handlers.roles import grant, grants_of
from handlers.services import Services
from storage.outbox import OutboxMessage
from tests import conftest
from tests.conftest import Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, OPERATOR, add_officials
from tests.test_handover import ASK, WORKER, text_to, tickets, walk

ADMIN2 = "tg:9100"


async def make_admin(svc: Services, who: str) -> None:
    async with svc.db.session() as session:
        await grant(session, who, "admin", None, "test", svc.clock.now())
        await session.commit()


async def code_from(chat: Chat, command: str) -> str:
    await chat(command)
    assert chat.keys == ["official.invite.created"]
    return chat.text.split("*")[1]


async def queued_to(svc: Services, who: str) -> list[str]:
    async with svc.db.session() as session:
        return list((await session.execute(select(OutboxMessage.key).where(OutboxMessage.channel_user == who)
                                           .order_by(OutboxMessage.id))).scalars())


async def test_a_removed_admin_cannot_come_back_and_their_codes_bring_nobody_in(any_svc: Services) -> None:
    await add_officials(any_svc)
    await make_admin(any_svc, ADMIN2)
    leaving = Chat(any_svc, ADMIN2)
    own_way_back = await code_from(leaving, "/undang admin")
    for_someone = await code_from(leaving, "/undang operator Muaro")
    kept_by_admin = await code_from(Chat(any_svc, ADMIN), "/undang viewer")

    async with any_svc.db.session() as session:
        removed = await remove_official(any_svc, session, ADMIN2, None, None, "cli", any_svc.clock.now())
        await session.commit()
    assert (removed.grants, removed.invitations) == (1, 2)

    await leaving(f"/kode {own_way_back}")
    assert leaving.keys == ["official.code.invalid"]
    stranger = Chat(any_svc, "tg:9200")
    await stranger(f"/kode {for_someone}")
    assert stranger.keys == ["official.code.invalid"]
    async with any_svc.db.session() as session:
        assert await grants_of(session, ADMIN2) == [] and await grants_of(session, "tg:9200") == []
    # Another admin's code is untouched.
    await stranger(f"/kode {kept_by_admin}")
    assert stranger.keys[0] == "official.code.ok"


@pytest.mark.parametrize("lang", ["id"])
async def test_a_removed_operators_ticket_goes_back_to_the_queue_and_they_receive_nothing(
        any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, ASK[lang])
    (ticket,) = await tickets(any_svc)
    await sim.tap(OPERATOR, f"tk:take:{ticket.id}")
    out = await sim.say(WORKER, "alamat saya Jorong Koto Tuo, hp 0812 3456 7890")
    assert {m["to"] for m in out} == {OPERATOR}
    before = len(await queued_to(any_svc, OPERATOR))

    async with any_svc.db.session() as session:
        removed = await remove_official(any_svc, session, OPERATOR, None, None, "cli", clock.now())
        await session.commit()
    assert removed.tickets == [ticket.code]
    (back,) = await tickets(any_svc)
    assert (back.holder, back.status) == (None, "open")
    # Muaro has no operator left: the admins get the note, with buttons to take it.
    assert "handover.official.handed_back" in await queued_to(any_svc, ADMIN)

    clock.advance(timedelta(minutes=1))  # past the one-push-a-minute limit of the ticket
    out = await sim.say(WORKER, "halo, masih ada yang bisa bantu?")
    assert OPERATOR not in {m["to"] for m in out} and ADMIN in {m["to"] for m in out}
    assert "masih ada" in text_to(out, ADMIN)
    # Reminders, digests, escalations: nothing more for the removed operator, days later.
    await sim.clock(clock.now() + timedelta(days=3))
    assert len(await queued_to(any_svc, OPERATOR)) == before


async def test_the_command_line_removal_does_the_same(svc: Services, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    await add_officials(svc)
    await make_admin(svc, ADMIN2)
    code = await code_from(Chat(svc, ADMIN2), "/undang viewer")
    monkeypatch.setenv("BOT_SECRET_KEY", conftest.test_env(tmp_path).secret_key or "")
    url = str(svc.db.engine.url)
    await svc.db.dispose()
    assert await _cli(["officials", "remove", ADMIN2, "--db", url]) == 0
    out = capsys.readouterr().out
    assert "1 role(s)" in out and "1 unused invitation" in out
    stranger = Chat(svc, "tg:9300")
    await stranger(f"/kode {code}")
    assert stranger.keys == ["official.code.invalid"]


async def _cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_guessing_codes_is_locked_out_after_a_few_tries_an_hour(svc: Services, clock: Any,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await add_officials(svc)
    real = await code_from(Chat(svc, ADMIN), "/undang viewer")
    guesser = Chat(svc, "wa:6281299990000")
    limit = svc.config.limits.invite_guesses_per_hour
    for n in range(limit):
        await guesser(f"/kode WRONG{n:03d}")
    assert guesser.keys == ["official.code.locked"]
    # Locked: even the right code is not looked at now.
    await guesser(f"/kode {real}")
    assert guesser.keys == ["official.code.locked"]
    for n in range(20):
        await guesser(f"/kode MORE{n:04d}")
        assert guesser.keys == ["official.code.locked"]
    assert len([r for r in caplog.records if "locked out" in r.getMessage()]) == 1
    assert "6281299990000" not in caplog.text
    # Another person is not locked by it.
    other = Chat(svc, "tg:9400")
    await other("/kode NOPE0000")
    assert other.keys == ["official.code.invalid"]
    # An hour after the wrong guesses, the right code works.
    clock.advance(timedelta(hours=1, minutes=1))
    await guesser(f"/kode {real}")
    assert guesser.keys[0] == "official.code.ok"


async def test_a_removed_admin_gets_no_more_news_of_their_campaign(any_svc: Services) -> None:
    from conversations.events import Reply
    from handlers.campaigns import notify_admin
    from storage.outbox import Campaign

    await make_admin(any_svc, ADMIN2)
    now = any_svc.clock.now()
    async with any_svc.db.session() as session:
        campaign = Campaign(created_by=ADMIN2, created_at=now, updated_at=now, state="running")
        session.add(campaign)
        await session.flush()
        await notify_admin(session, any_svc, campaign, Reply("campaign.progress", "50%"), "p:1", "id", now)
        await remove_official(any_svc, session, ADMIN2, None, None, "cli", now)
        await notify_admin(session, any_svc, campaign, Reply("campaign.progress", "100%"), "p:2", "id", now)
        await session.commit()
    assert await queued_to(any_svc, ADMIN2) == ["campaign.progress"]  # the one from before the removal
