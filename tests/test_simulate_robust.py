"""The simulator and the terminal chat never die on input (property tests, hypothesis): every
simulator line gets its error object or its answers, then its ack, whatever it holds -- values
of the wrong type, huge numbers, deep nesting, extreme clocks, invalid Unicode; every terminal
line gets an answer."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_services
from bot.config import Environment
from bot.simulate import Simulator
from bot.terminal import event_from
from conversations.events import Button, ButtonPress, Text
from handlers.clock import FixedClock
from tests.conftest import START


class Harness:
    """One loop, one SQLite database and one simulator for all examples."""

    def __init__(self, tmp: Path) -> None:
        self.runner = asyncio.Runner()
        self.clock = FixedClock(START)
        env = Environment(secret_key=secrets.token_urlsafe(48), secret_key_file=tmp / "unused.key")
        self.svc = self.runner.run(build_services(None, f"sqlite:///{tmp / 'sim.sqlite3'}", clock=self.clock, env=env))
        self.out = io.StringIO()
        self.simulator = Simulator(self.svc, self.clock, self.out)
        self.numbers = itertools.count(1)

    def line(self, raw: str) -> tuple[int, list[dict[str, Any]]]:
        number = next(self.numbers)
        start = self.out.tell()
        self.runner.run(self.simulator.line(number, raw))
        self.out.seek(start)
        written = self.out.read()
        return number, [json.loads(text) for text in written.splitlines()]

    def close(self) -> None:
        self.runner.run(self.svc.db.dispose())
        self.runner.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    running = Harness(tmp_path_factory.mktemp("simulate"))
    yield running
    running.close()


def check(number: int, objects: list[dict[str, Any]]) -> None:
    """Messages or one error object, then exactly one ack for this line."""
    assert objects and objects[-1] == {"ack": number}, objects[-3:]
    body = objects[:-1]
    errors = [o for o in body if "error" in o]
    assert all(o.get("line") == number for o in errors)
    assert len(errors) <= 1 and (not errors or len(body) == 1), body
    assert all(isinstance(o.get("to"), str) and isinstance(o.get("text"), str) for o in body if "error" not in o)
    assert not any("internal error" in o.get("error", "") for o in errors), errors


USERS = st.sampled_from(["tg:1", "tg:2", "wa:6281234567890", "wa:ID.123"]) | st.text(max_size=20)
WEIRD = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
CLOCKS = (st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
          | st.sampled_from(["9999-12-31T23:59:59+07:00", "0001-01-01T00:00:00-12:00", "0001-01-01T00:00:00+14:00",
                             "9999-12-31T23:59:59-23:59", "2026-13-01T00:00:00+07:00", "now", ""]) | WEIRD)


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:  # a well-formed event, with any value in it
        key = draw(st.sampled_from(["text", "button", "contact", "media"]))
        value = draw(WEIRD | st.sampled_from(["photo", "halo", "lang:id", "+6281234567890"]))
        obj: dict[str, Any] = {"from": draw(USERS), key: value}
        if draw(st.booleans()):
            obj["contact_user"] = draw(WEIRD)
        return json.dumps(obj)
    if kind == 1:
        return json.dumps({"clock": draw(CLOCKS)})
    if kind == 2:  # huge numbers, as JSON text
        digits = draw(st.integers(1, 6000))
        return '{"from": "tg:1", "text": ' + "9" * digits + "}"
    if kind == 3:  # deep nesting
        depth = draw(st.integers(1, 120000))
        return "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
    if kind == 4:  # text that is not valid Unicode, written as JSON escapes
        return '{"from": "tg:1", "text": "nama \\ud800 \\udfff"}'
    if kind == 5:
        return draw(st.text(max_size=40))
    return json.dumps(draw(WEIRD))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=4))
def test_every_simulator_line_gets_its_answer_or_error_then_its_ack(harness: Harness, raw_lines: list[str]) -> None:
    for raw in raw_lines:
        if not raw.strip() or "\n" in raw or "\r" in raw:
            continue  # one line is one input; blank lines are acked without output (README)
        number, objects = harness.line(raw)
        check(number, objects)


@pytest.mark.parametrize("raw", [
    '{"from":"tg:1","media":["photo"]}',
    '{"from":"tg:1","text":' + "1" * 5000 + "}",
    "[" * 100000 + "]" * 100000,
    '{"clock":"9999-12-31T23:59:59+07:00"}',
])
def test_the_four_lines_that_killed_it(harness: Harness, raw: str) -> None:
    number, objects = harness.line(raw)
    assert len(objects) == 2 and "error" in objects[0] and objects[1] == {"ack": number}
    # And it carries on.
    number, objects = harness.line('{"from":"tg:77","text":"halo"}')
    assert objects[-1] == {"ack": number} and objects[0]["to"] == "tg:77"


@given(st.text(max_size=30) | st.sampled_from(["²", "1" * 5000, "٣", "\udcff", "0", "99999", " 2 "]))
def test_terminal_input_always_becomes_an_event(line: str) -> None:
    buttons = (Button("a", "A"), Button("b", "B"))
    event = event_from(line, buttons)
    if isinstance(event, Text):
        event.text.encode("utf-8")  # storable and printable
    assert event_from(" 2 \n", buttons) == ButtonPress("b")
