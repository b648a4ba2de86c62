"""Chaos: the real server (`python -m bot run`, Telegram webhook, fake Bot API) is SIGKILLed at
random moments while 30 people each send 12 messages; it is restarted at once, and every update
that did not get its 200 is sent again, as Telegram does. At the end:

- no update is lost or handled twice (inbox, final conversation step, the replies' sequence);
- each person's replies came in order;
- every committed turn's reply was delivered (the in-flight ones at most twice).

One run per database (SQLite file, PostgreSQL) serves the three tests; what was lost or repeated
is reported exactly (person, step, message), and printed with -s."""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest

from conversations.events import ButtonPress
from conversations.i18n import Catalog
from handlers.clock import FixedClock
from storage.repo import Repository
from tests.bot_process import BotProcess, post, write_config
from tests.conftest import GOOD_NIK, POSTGRES_URL, START, Chat, _admin, _run_aside, make_services, need
from tests.fake_telegram import FakeTelegram, TgPerson, template_pattern

pytestmark = pytest.mark.slow
PEOPLE, KILLS, SEED = 30, 2, 20261201
# Twelve messages of a registration: each one moves the conversation on, so an update lost or
# handled twice shows as a wrong next question (or a "stale button" / invalid answer).
SCRIPT: list[tuple[str, str]] = [
    ("say", "halo"), ("tap", "lang:id"), ("tap", "consent:yes"), ("tap", "yn:yes"), ("tap", "member:no"),
    ("tap", "work:own"), ("tap", "cat:petani"), ("say", "Siti Rahmah"), ("say", GOOD_NIK), ("tap", "yn:yes"),
    ("say", "Muaro"), ("say", "Koto Tuo"),
]
# The most messages one step of the script is answered with (checked against the reference run).
LONGEST_ANSWER = 3


@dataclass
class Report:
    """What one chaos run saw."""

    database: str
    kills: int = 0
    starts: list[float] = field(default_factory=list)  # seconds each start took
    updates: int = 0
    resent: int = 0  # POSTs repeated because no 200 came back
    unrecorded: list[str] = field(default_factory=list)  # updates not in the inbox
    unhandled: list[str] = field(default_factory=list)  # recorded, never handled
    wrong_final_step: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # expected replies never delivered
    unexpected: list[str] = field(default_factory=list)  # replies not in the expected sequence
    duplicates: int = 0  # a reply delivered again right after itself (in flight at a kill)
    seconds: float = 0.0
    exit_code: int | None = None

    def summary(self) -> str:
        return (f"{self.database}: {self.updates} updates, {self.kills} kills, starts "
                f"{', '.join(f'{s:.1f}' for s in self.starts)} s, {self.resent} re-sent, "
                f"{len(self.unrecorded)} unrecorded, {len(self.unhandled)} unhandled, "
                f"{len(self.wrong_final_step)} wrong final steps, {len(self.lost)} replies lost {self.lost[:10]}, "
                f"{len(self.unexpected)} unexpected {self.unexpected[:10]}, {self.duplicates} duplicates, "
                f"{self.seconds:.0f} s, exit {self.exit_code}")


async def reference(tmp_path: Path) -> tuple[list[list[str]], str]:
    """The catalog keys each step's turn answers, and the step reached, from an undisturbed
    in-process run of the same script."""
    svc = await make_services(f"sqlite:///{tmp_path / 'reference.sqlite3'}", FixedClock(START), tmp_path)
    try:
        chat = Chat(svc, user="tg:1")
        steps = []
        for kind, value in SCRIPT:
            await (chat(value) if kind == "say" else chat.send(ButtonPress(value)))
            steps.append(chat.keys)
        async with svc.db.session() as session:
            final = (await Repository(session, svc.cipher).load_state("tg:1")).step
        assert max(map(len, steps)) <= LONGEST_ANSWER, steps
        return steps, final
    finally:
        await svc.db.dispose()


def updates_of(person: TgPerson) -> list[dict[str, Any]]:
    return [person.text_update(value) if kind == "say" else person.tap_update(value) for kind, value in SCRIPT]


async def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return connection.execute(sql).fetchall()
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def collapse_resent(texts: list[str], longest: int, duplicates: int = 0) -> tuple[list[str], int]:
    """The texts without those delivered twice because they were in flight at a kill: a run of
    messages (one turn's: at most `longest`) that repeats the run right before it, as when a
    turn's messages went out, the process died before marking them sent, and the restart sent
    them again. Anything else stays, so a reply of a later turn that came before a resent one
    is still out of order. Returns the texts kept and `duplicates` plus those dropped."""
    kept: list[str] = []
    for text in texts:
        kept.append(text)
        for length in range(1, longest + 1):
            if len(kept) >= 2 * length and kept[-length:] == kept[-2 * length:-length]:
                del kept[-length:]
                duplicates += length
                break
    return kept, duplicates


def test_a_turn_resent_whole_is_a_duplicate_not_out_of_order() -> None:
    assert collapse_resent(["a", "b", "a", "b", "c"], longest=2) == (["a", "b", "c"], 2)
    assert collapse_resent(["a", "a", "b"], longest=2) == (["a", "b"], 1)
    # Longer than one turn's answer: not a resend.
    assert collapse_resent(["a", "b", "a", "b"], longest=1) == (["a", "b", "a", "b"], 0)
    # A later turn's reply ahead of a resent one is not a resend: it stays, to be reported.
    assert collapse_resent(["a", "b", "c", "b"], longest=2) == (["a", "b", "c", "b"], 0)


def compare(report: Report, catalog: Catalog, person: TgPerson, texts: list[str], expected: list[list[str]]) -> None:
    """Walk the delivered texts along the expected keys: a turn's messages sent again right after
    themselves are duplicates; an expected message with no match is lost; a text that matches
    nothing is unexpected (a turn handled twice, or out of order)."""
    templates = catalog.messages["id"]
    collapsed, report.duplicates = collapse_resent(texts, LONGEST_ANSWER, report.duplicates)
    position = 0
    for step, keys in enumerate(expected):
        for key in keys:
            pattern = template_pattern(templates.get(key, ""))
            found = next((i for i in range(position, len(collapsed))
                          if pattern is None or pattern.search(collapsed[i])), None)
            if found is None:
                report.lost.append(f"{person.channel_user} step {step + 1} {key}")
                continue
            report.unexpected.extend(f"{person.channel_user} before step {step + 1}: {collapsed[i][:40]!r}"
                                     for i in range(position, found))
            position = found + 1
    report.unexpected.extend(f"{person.channel_user} at the end: {text[:40]!r}" for text in collapsed[position:])


async def chaos(database: str, url: str, tmp_path: Path) -> Report:
    report = Report(database)
    began = time.monotonic()
    expected, final_step = await reference(tmp_path)
    rng = random.Random(SEED)
    fake = FakeTelegram()
    await fake.start()
    catalog = Catalog.load()
    config = write_config(tmp_path / "config.yaml", telegram={
        "per_chat_interval_seconds": 0.01, "per_chat_burst": 20, "messages_per_second": 1000,
        "backoff_seconds": 0.1, "backoff_max_seconds": 1.0})
    bot = BotProcess(fake, url, secrets.token_urlsafe(48), config, tmp_path / f"bot-{database}.log")
    people = [TgPerson(fake, catalog, settle=None, user_id=710000000 + n) for n in range(PEOPLE)]
    scripts = {person.user_id: updates_of(person) for person in people}
    report.updates = sum(len(s) for s in scripts.values())
    acknowledged = [0]

    async def talk(session: aiohttp.ClientSession, person: TgPerson) -> None:
        for update in scripts[person.user_id]:
            await asyncio.sleep(rng.uniform(0, 0.3))
            while await post(session, bot.webhook, update, timeout=5) != 200:
                report.resent += 1
                await asyncio.sleep(rng.uniform(0.2, 0.5))  # Telegram tries again a little later
            acknowledged[0] += 1

    try:
        report.starts.append(await bot.start())
        async with aiohttp.ClientSession() as session:
            talking = asyncio.gather(*(talk(session, person) for person in people))
            for _ in range(KILLS):
                # A random moment while messages are still coming in.
                target = acknowledged[0] + rng.randint(30, report.updates // (KILLS + 1))
                while acknowledged[0] < min(target, report.updates - 20) and not talking.done():
                    await asyncio.sleep(0.01)
                await asyncio.sleep(rng.uniform(0, 0.2))
                await bot.kill()
                report.kills += 1
                report.starts.append(await bot.start())
            await asyncio.wait_for(talking, 120)
        # Everything recorded is handled; then give the last replies a moment to arrive.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (await rows(
                url, "SELECT count(*) FROM inbound_update WHERE handled_at IS NULL"))[0][0]:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        bot.signal(signal.SIGTERM)
        report.exit_code = await bot.wait(timeout=20)
    finally:
        await bot.kill()
        await fake.stop()
    recorded = {key: handled for key, handled in await rows(
        url, "SELECT update_key, handled_at IS NOT NULL FROM inbound_update WHERE channel = 'tg'")}
    steps = dict(await rows(url, "SELECT channel_user, step FROM conversation"))
    for person in people:
        for update in scripts[person.user_id]:
            key = str(update["update_id"])
            if key not in recorded:
                report.unrecorded.append(f"{person.channel_user} {key}")
            elif not recorded[key]:
                report.unhandled.append(f"{person.channel_user} {key}")
        if steps.get(person.channel_user) != final_step:
            report.wrong_final_step.append(f"{person.channel_user}: {steps.get(person.channel_user)}")
        texts = [call.text for call in fake.answered if call.chat_id == person.user_id]
        compare(report, catalog, person, texts, expected)
    report.seconds = time.monotonic() - began
    print("\nchaos", report.summary())
    return report


RUNS: dict[str, Report] = {}


@pytest.fixture(params=["sqlite", "postgres"])
async def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One chaos run per database, shared by the tests below."""
    database = request.param
    if database not in RUNS:
        tmp_path = tmp_path_factory.mktemp(f"chaos-{database}")
        if database == "sqlite":
            RUNS[database] = await chaos(database, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path)
        else:
            need(POSTGRES_URL, 5432, "PostgreSQL")
            name = f"t_chaos_{secrets.token_hex(6)}"
            _run_aside(_admin(f'CREATE DATABASE "{name}"'))
            try:
                url = urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
                RUNS[database] = await chaos(database, url, tmp_path)
            finally:
                _run_aside(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return RUNS[database]


async def test_no_update_is_lost_or_handled_twice(run: Report) -> None:
    assert run.kills == KILLS
    assert run.unrecorded == [] and run.unhandled == [], run.summary()
    assert run.wrong_final_step == [], run.summary()
    assert run.exit_code == 0, run.summary()


async def test_each_persons_replies_come_in_order(run: Report) -> None:
    # Nothing out of place: no reply of a turn handled twice, none ahead of its turn.
    assert run.unexpected == [], run.summary()


async def test_every_committed_turns_reply_is_delivered(run: Report) -> None:
    assert run.lost == [], run.summary()
    # At most the replies in flight at each kill come twice: one turn's messages per person.
    assert run.duplicates <= run.kills * PEOPLE * LONGEST_ANSWER, run.summary()
