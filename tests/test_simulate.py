"""`python -m bot simulate`, the contract for end-to-end tests: one JSON object per input line,
one per message sent, {"ack": N} after line N's output, {"error": ..., "line": N} for a malformed
line, exit 0 at the end. In-process tests check the details; one subprocess run (plus one of
`export` on its database) checks the real command, since each process pays aiogram's import.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handlers.clock import FixedClock
from handlers.services import Services
from bot.simulate import simulate
from tests.conftest import GOOD_NIK

ROOT = Path(__file__).resolve().parent.parent


def registration_script(user: str, lang: str, nik: str) -> list[dict[str, Any]]:
    """A whole registration as simulator input; buttons by id and, in places, by title."""
    def say(text: str) -> dict[str, Any]:
        return {"from": user, "text": text}

    def tap(button: str) -> dict[str, Any]:
        return {"from": user, "button": button}

    phone = tap("phone:known") if user.startswith("wa:") else {"from": user, "contact": "+6281234567890",
                                                                 "contact_user": user}
    return [
        say("halo"), tap("English" if lang == "en" else "Bahasa Indonesia"), tap("consent:yes"), tap("yn:yes"),
        tap("member:no"), tap("work:own"), tap("cat:lainnya"), say("Penjahit keliling"), say("Siti Rahmah"),
        say(nik), tap("yn:yes"), say("Muaro"), say("Koto Tuo"), phone, tap("inc:1000000"), tap("heir:skip"),
        tap("sum:send"),
    ]


MALFORMED = [
    "this is not json",
    "[1, 2, 3]",
    json.dumps({"from": "sms:123", "text": "halo"}),
    json.dumps({"from": "tg:1001"}),
    json.dumps({"from": "tg:1001", "media": "hologram"}),
    json.dumps({"clock": "yesterday"}),
    json.dumps({"clock": "2020-01-01T00:00:00+07:00"}),  # the clock only moves forward
    json.dumps({"clock": "2026-12-01T09:00:00"}),        # no UTC offset
]


STALE_BUTTON = json.dumps({"from": "tg:1001", "button": "no-such-button"})
STICKER = json.dumps({"from": "tg:1001", "media": "sticker"})


def full_input() -> list[str]:
    lines = [json.dumps(o) for o in registration_script("tg:1001", "id", GOOD_NIK)]
    lines += MALFORMED
    lines += [STALE_BUTTON, STICKER, ""]
    english = [json.dumps(o) for o in registration_script("wa:6281234567890", "en", "1303050102900002")]
    lines += english[:9]
    lines += [json.dumps({"from": "wa:6281234567890", "media": "voice"}),
              json.dumps({"clock": "2026-11-29T12:00:00+07:00"})]
    lines.append(english[9])  # answered after a day: asked whether to continue
    lines.append(json.dumps({"from": "wa:6281234567890", "button": "Continue"}))
    lines += english[9:]
    return lines


def parse_output(text: str, line_count: int) -> list[dict[str, Any]]:
    """Every output line is JSON; every input line gets exactly one ack, in order, after its output."""
    objects = [json.loads(line) for line in text.splitlines()]
    acks = [o["ack"] for o in objects if "ack" in o]
    assert acks == list(range(1, line_count + 1))
    current = 1
    for obj in objects:
        if "ack" in obj:
            current = obj["ack"] + 1
        elif "error" in obj:
            assert obj["line"] == current
        else:
            assert set(obj) >= {"to", "text", "buttons", "request_contact"}, obj
    return objects


def replies_to(objects: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("to") == user]


def check_transcript(objects: list[dict[str, Any]], lines: list[str]) -> None:
    errors = [o for o in objects if "error" in o]
    malformed_at = [lines.index(m) + 1 for m in MALFORMED]
    assert [e["line"] for e in errors] == malformed_at
    indonesian, english = replies_to(objects, "tg:1001"), replies_to(objects, "wa:6281234567890")
    assert any("SJ-" in o["text"] and "Terima kasih" in o["text"] for o in indonesian)
    assert any("SJ-" in o["text"] and "Thank you" in o["text"] for o in english)
    assert any("Welcome back" in o["text"] for o in english)
    assert any(o["text"].startswith("Step 10 of 13") and o["buttons"] == [
        {"id": "phone:known", "title": "Use this number"}] for o in english)
    assert any(o["request_contact"] for o in indonesian)
    assert GOOD_NIK not in json.dumps(objects)


async def test_simulator_in_process(svc: Services, clock: FixedClock) -> None:
    lines = full_input()
    out = io.StringIO()
    await simulate(svc, clock, io.StringIO("\n".join(lines) + "\n"), out)
    objects = parse_output(out.getvalue(), len(lines))
    check_transcript(objects, lines)
    # A stale button: the explanation, then the question again. A sticker: one kind answer with
    # the step's buttons (the question is just above).
    for line, expected, count in ((STALE_BUTTON, svc.catalog.text("id", "button.stale"), 2),
                                  (STICKER, svc.catalog.text("id", "media.unsupported"), 1)):
        number = lines.index(line) + 1
        assert output_of(objects, number)[0]["text"].startswith(expected)
        assert len(output_of(objects, number)) == count


def output_of(objects: list[dict[str, Any]], number: int) -> list[dict[str, Any]]:
    """The messages sent because of input line `number`."""
    start = next(i for i, o in enumerate(objects) if o.get("ack") == number - 1) + 1 if number > 1 else 0
    end = next(i for i, o in enumerate(objects) if o.get("ack") == number)
    return objects[start:end]


async def test_a_clock_line_runs_what_is_due(svc: Services, clock: FixedClock) -> None:
    lines = [json.dumps(o) for o in registration_script("tg:5", "id", GOOD_NIK)[:8]]
    lines.append(json.dumps({"clock": "2027-01-15T09:00:00+07:00"}))  # 48 days later: draft purged
    lines.append(json.dumps({"from": "tg:5", "text": "Siti"}))
    out = io.StringIO()
    await simulate(svc, clock, io.StringIO("\n".join(lines)), out)
    objects = parse_output(out.getvalue(), len(lines))
    assert clock.now().isoformat() == "2027-01-15T09:00:00+07:00"
    last = [o for o in objects if o.get("to") == "tg:5"][-1]
    assert [b["id"] for b in last["buttons"]] == ["lang:id", "lang:en"]  # started afresh


@pytest.mark.slow
def test_simulate_then_export_as_subprocesses(tmp_path: Path) -> None:
    database = tmp_path / "sim.sqlite3"
    env = {**os.environ, "BOT_SECRET_KEY": "k" * 48, "BOT_SECRET_KEY_FILE": str(tmp_path / "unused.key"),
           "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    lines = full_input()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "simulate", "--db", f"sqlite:///{database}", "--now",
         "2026-11-28T10:00:00+07:00"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    check_transcript(parse_output(done.stdout, len(lines)), lines)
    assert not (tmp_path / "unused.key").exists()  # the key came from BOT_SECRET_KEY

    exported = subprocess.run(
        [sys.executable, "-m", "bot", "export", "--db", str(database), "--format", "csv", "--status", "all"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout.removeprefix("\ufeff"), newline="")))
    assert sorted(r["NIK"] for r in rows) == sorted([GOOD_NIK, "1303050102900002"])
    assert len({r["REFERENSI"] for r in rows}) == 2
    assert all(r["PEKERJAAN"] == "Lainnya: Penjahit keliling" for r in rows)
