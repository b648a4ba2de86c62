"""What one message costs the database, counted with SQLAlchemy's own events: every statement
the driver executes (`before_cursor_execute`, savepoints included) and every commit.

A Telegram text message, from the webhook's accept to its reply marked sent, must stay within
8 statements and 3 committed transactions (accept; the turn: state, person, inbox, reply; the
"sent" mark; on PostgreSQL the turn's writes are one statement). The turn's statements run on
the driver's connection (storage/hot.py), which announces them to the same events: the test
checks that it still sees them. A WhatsApp message the same, plus the row that tracks its delivery status (one
insert when Meta accepts it, one update per status webhook). These numbers
are the turn path's budget: a change that adds a query to every message shows here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event

from handlers.services import Services
from tests.fake_graph import fixture, message, whatsapp_harness
from tests.fake_telegram import FakeTelegram, running_bot

MAX_STATEMENTS = 8
MAX_COMMITS = 3


@dataclass
class Counts:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0

    def __str__(self) -> str:
        listing = "\n  ".join(s.split("\n")[0][:100] for s in self.statements)
        return f"{len(self.statements)} statements, {self.commits} commits, {self.rollbacks} rollbacks:\n  {listing}"


@contextmanager
def counting(svc: Services) -> Iterator[Counts]:
    counts = Counts()
    engine = svc.db.engine.sync_engine

    def statement(_conn, _cursor, sql: str, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        counts.statements.append(sql)

    def commit(_conn) -> None:  # type: ignore[no-untyped-def]
        counts.commits += 1

    def rollback(_conn) -> None:  # type: ignore[no-untyped-def]
        counts.rollbacks += 1

    listeners = (("before_cursor_execute", statement), ("commit", commit), ("rollback", rollback))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


async def test_a_telegram_text_message_costs_at_most_8_statements_and_3_commits(
        any_svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(any_svc, fake, webhook=True) as bot:
        person = bot.person()
        await person.say("halo")
        await person.tap("lang:id")
        await person.tap("consent:yes")  # now at the first eligibility question: a plain step
        with counting(any_svc) as counts:
            keys = await person.say("ya")
        assert keys, "the message was answered"
    assert len(counts.statements) <= MAX_STATEMENTS, str(counts)
    assert counts.commits <= MAX_COMMITS, str(counts)
    assert not any(s.lstrip().upper().startswith("SAVEPOINT") for s in counts.statements), str(counts)
    # The statements run on the driver's connection are counted too: the preload, the reply's
    # INSERT (with the turn's other writes on PostgreSQL) and its "sent" mark.
    seen = [s.lstrip().split(None, 3)[:3] for s in counts.statements]
    assert any(words[:3] == ["SELECT", "person.id,", "person.lang,"] for words in seen), str(counts)
    assert any("INSERT INTO outbox" in s for s in counts.statements), str(counts)
    assert any(s.lstrip().startswith("UPDATE outbox SET") for s in counts.statements), str(counts)


async def test_a_button_tap_costs_the_same(any_svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(any_svc, fake, webhook=True) as bot:
        person = bot.person()
        await person.say("halo")
        with counting(any_svc) as counts:
            await person.tap("lang:id")
    assert len(counts.statements) <= MAX_STATEMENTS, str(counts)
    assert counts.commits <= MAX_COMMITS, str(counts)


async def test_a_whatsapp_message_costs_the_same_plus_its_status(any_svc: Services) -> None:
    async with whatsapp_harness(any_svc) as wa:
        await wa.send(message(text="halo"))
        with counting(any_svc) as counts:
            sent = await wa.send(message("button_reply", choice="lang:id"))
        assert sent, "the tap was answered"
        # Meta then reports the reply delivered.
        status = fixture("statuses")
        value = status["entry"][0]["changes"][0]["value"]
        value["statuses"] = [dict(value["statuses"][0], id=f"wamid.FAKE{len(wa.graph.sent):08d}")]
        with counting(any_svc) as status_counts:
            response = await wa.meta.post(status)
            assert response.status == 200
    # Plus the row that tracks the message's delivery status, written when Meta accepts it ...
    assert len(counts.statements) <= MAX_STATEMENTS + 1, str(counts)
    assert counts.commits <= MAX_COMMITS + 1, str(counts)
    # ... and updated (read, then written) when Meta reports it delivered.
    assert len(status_counts.statements) <= 2 and status_counts.commits <= 1, str(status_counts)


async def test_a_first_message_and_a_consent_cost_the_same_and_are_stored(
        any_svc: Services, fake: FakeTelegram) -> None:
    """A new person, their new conversation and a consent are written with the turn's last
    statement (storage/hot.Later): on PostgreSQL the turn is the preload and one statement, with
    no transaction of its own; on SQLite the same rows, in the turn's one transaction."""
    from sqlalchemy import select

    from storage.models import Consent, Conversation, Person

    async with running_bot(any_svc, fake, webhook=True) as bot:
        await bot.person(user_id=1001).say("halo")  # the bot's own start-up reads are done
        person = bot.person(user_id=1002)
        with counting(any_svc) as first:
            assert await person.say("halo")
        await person.tap("lang:id")
        with counting(any_svc) as consent:
            assert await person.tap("consent:yes")
        who = f"tg:{person.user_id}"
    for counts in (first, consent):
        assert len(counts.statements) <= MAX_STATEMENTS, str(counts)
        assert counts.commits <= MAX_COMMITS, str(counts)
        if not any_svc.db.is_sqlite:
            turn = [s for s in counts.statements
                    if not s.lstrip().startswith(("INSERT INTO inbound_update", "UPDATE outbox SET", "SELECT"))]
            assert len(turn) == 1 and turn[0].lstrip().startswith("WITH"), str(counts)
            # The update's record, the preload, the turn and the "sent" mark: four statements,
            # each atomic on its own, with no BEGIN or COMMIT among them.
            assert len(counts.statements) == 4 and counts.commits == 0, str(counts)
    async with any_svc.db.session() as session:
        stored = (await session.execute(select(Consent).where(Consent.channel_user == who))).scalars().all()
        assert [(c.method, c.given_to, c.withdrawn_at, c.version) for c in stored] == [
            ("chat", None, None, any_svc.rules.consent_version)]
        assert (await session.execute(select(Person.lang).where(Person.channel_user == who))).scalar_one() == "id"
        assert (await session.get(Conversation, who)).step not in (None, "consent")
