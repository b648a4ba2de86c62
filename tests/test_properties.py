"""Property tests (hypothesis): whatever a person sends, at whatever step -- random text (huge,
unicode, empty, commands), button ids (valid, stale, garbage), contacts and media -- the flow
never raises, answers every input, and its state round-trips through JSON.

The main property drives the pure flow (conversations.registration.handle) with an in-memory
resolver for its effects, for speed; a smaller one goes through handlers.inbound on SQLite.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_services, load_wilayah
from bot.config import Environment, load_config
from conversations import registration as flow
from conversations.events import (
    ButtonPress,
    CheckNik,
    ContactShared,
    CorrectField,
    DataDeleted,
    DeleteMyData,
    Effect,
    Event,
    FieldCorrected,
    Inbound,
    LoadMyData,
    Media,
    MyData,
    NikChecked,
    RecordConsent,
    Reply,
    Submit,
    Submitted,
    Text,
)
from conversations.form import Ctx
from conversations.i18n import Catalog
from conversations.state import State
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.inbound import MAX_EFFECT_ROUNDS
from handlers.router import dispatch
from handlers.services import Services
from tests.conftest import GOOD_NIK, REGISTRATION

CONFIG = load_config()
RULES = CONFIG.flow_rules()
CATALOG = Catalog.load(RULES.languages)
WILAYAH = load_wilayah(CONFIG)
START = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)

# Every button id the flow can show, for "stale" presses from an earlier message.
KNOWN_IDS = sorted({v for k, v in REGISTRATION if k == "tap"} | {
    "lang:en", "consent:no", "yn:no", "member:yes", "member:unknown", "work:employee", "cat:lainnya", "inc:more",
    "heir:skip", "rel:anak", "sum:send", "sum:edit", "cmd:cancel", "cmd:start", "cmd:status", "cmd:help",
    "resume:continue", "resume:restart", "confirm:yes", "confirm:no", "phone:known", "kec:13.03.04",
    "nag:13.03.04.2001", "nag:99.99.99.9999", "kec:", "cmd:", "cmd:delete", "cmd:mydata",
})
COMMAND_WORDS = sorted(itertools.chain.from_iterable(flow.COMMANDS.values()))

texts = st.one_of(
    st.text(max_size=40),
    st.text(min_size=990, max_size=1010),                      # around the length limit
    st.just(""), st.just("   "), st.just("\u200b"),
    st.sampled_from(COMMAND_WORDS).map(lambda w: w.upper() if len(w) % 2 else "/" + w),
    st.sampled_from(["1", "2", "3", "10", "0", "-1", "99999999999999999999", "ya", "tidak", "yes", "no",
                     GOOD_NIK, "1303 0552 0385 0001", "12-03-1985", "Muaro", "Sijunjung", "0812-3456-7890",
                     "1 juta", "800rb", "Siti Rahmah", "{name}", "%s", "{0}"]),
    st.from_regex(r"[0-9 .\-]{1,25}", fullmatch=True),
)
media = st.sampled_from(["photo", "sticker", "voice", "audio", "video", "location", "document", "reaction",
                         "unsupported", "hologram"]).map(Media)
contacts = st.builds(ContactShared, st.sampled_from(["+6281234567890", "081234567890", "12", "", "+1 202 555 0100"]),
                     st.booleans())


def inbound_events(current_ids: list[str]) -> st.SearchStrategy[Inbound]:
    buttons = st.one_of(
        st.sampled_from(current_ids or ["none"]),             # valid for this step
        st.sampled_from(KNOWN_IDS),                            # stale
        st.text(max_size=70),                                  # garbage
    ).map(ButtonPress)
    return st.one_of(texts.map(Text), buttons, media, contacts)


@dataclass
class World:
    """The handler's effects, in memory: registrations by NIK, per person."""

    registered: dict[str, tuple[str, str]] = field(default_factory=dict)  # nik -> (user, reference)
    counter: itertools.count = field(default_factory=itertools.count)

    def resolve(self, effect: Effect, state: State, user: str) -> Event | None:
        if isinstance(effect, RecordConsent):
            return None
        if isinstance(effect, CheckNik):
            owner = self.registered.get(effect.nik)
            if owner is None:
                return NikChecked(status=None, own=False)
            return NikChecked(status="pending", own=owner[0] == user, reference=owner[1])
        if isinstance(effect, Submit):
            nik = state.answers["nik"]
            if nik in self.registered:
                return Submitted(reference=None, error="duplicate_nik")
            reference = f"SJ-T{next(self.counter):05d}"
            self.registered[nik] = (user, reference)
            return Submitted(reference=reference)
        if isinstance(effect, LoadMyData):
            return MyData(records=(), consent_given_at=None)
        if isinstance(effect, DeleteMyData):
            return DataDeleted(erased=0, requested=())
        if isinstance(effect, CorrectField):
            return FieldCorrected(effect.reference, ok=True)
        raise AssertionError(f"unexpected effect {effect!r}")


def turn(world: World, state: State, event: Event, ctx: Ctx) -> tuple[State, list[Reply]]:
    """One inbound event, effects resolved as handlers.inbound.Turn does."""
    outcome = flow.handle(state, event, ctx)
    replies = list(outcome.replies)
    for _ in range(MAX_EFFECT_ROUNDS):
        if not outcome.effects:
            break
        results = [r for e in outcome.effects if (r := world.resolve(e, outcome.state, ctx.channel_user))]
        outcome.effects = []
        for result in results:
            outcome = flow.handle(outcome.state, result, ctx)
            replies.extend(outcome.replies)
    return (State() if outcome.forget else outcome.state), replies


def script_events(count: int) -> Iterator[Inbound]:
    yield Text("halo")
    for kind, value in REGISTRATION[:count]:
        yield ButtonPress(value) if kind == "tap" else Text(value)


def check_replies(replies: list[Reply], event: Event | None = None) -> None:
    if isinstance(event, Media) and event.kind == "reaction":
        assert replies == [], "a reaction is not a message: it gets no answer"
        return
    assert replies, "every input gets at least one reply"
    for reply in replies:
        assert CATALOG.has(reply.key), reply.key
        assert reply.text and reply.text != reply.key
        assert len(reply.text) <= 4096  # Telegram's limit for one message
        assert all(b.id and b.title for b in reply.buttons)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(min_value=0, max_value=len(REGISTRATION)),
       st.sampled_from(["tg:1", "wa:6281234567890", "wa:BSUID.abc"]), st.booleans())
def test_the_pure_flow_answers_anything_at_any_step(data: st.DataObject, start: int, user: str,
                                                    with_registered_nik: bool) -> None:
    world = World()
    if with_registered_nik:
        world.registered[GOOD_NIK] = ("tg:other", "SJ-OTHER1")
    now = START
    state = State()
    for event in script_events(start):
        ctx = Ctx(RULES, CATALOG, WILAYAH, now, user, known_phone="+6281234567890" if user[3:].isdigit() else None)
        state, replies = turn(world, state, event, ctx)
        check_replies(replies)
    last_buttons: list[str] = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=12), label="events")):
        if data.draw(st.integers(0, 9), label="time passes") == 0:
            now += timedelta(minutes=RULES.conversation.resume_after_minutes + 1)
        ctx = Ctx(RULES, CATALOG, WILAYAH, now, user, known_phone="+6281234567890" if user[3:].isdigit() else None)
        event = data.draw(inbound_events(last_buttons), label="event")
        state, replies = turn(world, state, event, ctx)
        check_replies(replies, event)
        last_buttons = [b.id for b in replies[-1].buttons] if replies else last_buttons
        assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state


# -- the same, through the handler and the database -----------------------------------------------
class Harness:
    """One event loop and one SQLite database for all examples (hypothesis reruns the body)."""

    def __init__(self, tmp: Path) -> None:
        self.runner = asyncio.Runner()
        self.clock = FixedClock(START)
        env = Environment(secret_key=secrets.token_urlsafe(48), secret_key_file=tmp / "unused.key")
        self.svc: Services = self.runner.run(
            build_services(None, f"sqlite:///{tmp / 'prop.sqlite3'}", clock=self.clock, env=env))
        self.users = itertools.count()

    def send(self, user: str, event: Inbound) -> list[Reply]:
        return [o.reply for o in self.runner.run(dispatch(self.svc, user, event))]

    def close(self) -> None:
        self.runner.run(self.svc.db.dispose())
        self.runner.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    running = Harness(tmp_path_factory.mktemp("properties"))
    yield running
    running.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data(), st.integers(min_value=0, max_value=len(REGISTRATION)))
def test_the_handler_answers_anything_and_stores_a_loadable_state(harness: Harness, data: st.DataObject,
                                                                   start: int) -> None:
    user = f"tg:{next(harness.users)}"
    for event in script_events(start):
        harness.send(user, event)
    last_buttons: list[str] = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=6), label="events")):
        if data.draw(st.integers(0, 5), label="time passes") == 0:
            harness.clock.advance(timedelta(hours=2))
        event = data.draw(inbound_events(last_buttons), label="event")
        replies = harness.send(user, event)
        check_replies(replies, event)
        assert "error.internal" not in [r.key for r in replies]
        last_buttons = [b.id for b in replies[-1].buttons] if replies else last_buttons
