"""Understood first time: the share of natural answers the registration takes right at once.

The answers are tests/data/understanding_corpus.yaml, run through the pure flow.

Reported: the corpus size, answers understood first time (stored right, or the right action at
the summary), answers settled with one "Did you mean ...?" tap, answers misread (stored with a
wrong value: must be 0), "not an answer" cases correctly left unstored, and the share understood
first time among the answer cases. `python -m bench --only understanding` prints it; the corpus
test (tests/test_understanding_corpus.py) fails on any miss.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.app import load_wilayah
from bot.config import load_config
from conversations import registration as flow
from conversations.events import (
    ButtonPress,
    CheckNik,
    CorrectField,
    DataDeleted,
    DeleteMyData,
    Effect,
    Event,
    FieldCorrected,
    Inbound,
    LoadMyData,
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
from handlers.clock import LOCAL_TZ

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "understanding_corpus.yaml"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)
NIK = "1303055203850001"
WA_USER, WA_PHONE = "wa:6281234567890", "+6281234567890"

# How to reach each step from a fresh conversation: the answers before it, tapped or typed.
_BASE: list[tuple[str, str]] = [("say", "halo")]
_ROUTE: dict[str, list[tuple[str, str]]] = {}
_ORDER = [
    ("language", None), ("consent", ("tap", "lang:{lang}")), ("elig_domicile", ("tap", "consent:yes")),
    ("elig_member", ("tap", "yn:yes")), ("elig_work", ("tap", "member:no")), ("category", ("tap", "work:own")),
    ("name", ("tap", "cat:petani")), ("nik", ("say", "Siti Rahmah")), ("birth_confirm", ("say", NIK)),
    ("nagari", ("tap", "yn:yes")), ("jorong", ("say", "Muaro")), ("phone", ("say", "Koto Tuo")),
    ("income", ("say", "0812-3456-7890")), ("heir_name", ("tap", "inc:1000000")),
    ("heir_relation", ("say", "Ahmad Yani")), ("summary", ("tap", "rel:suami_istri")),
]
_steps: list[tuple[str, str]] = list(_BASE)
for _step, _action in _ORDER:
    if _action:
        _steps.append(_action)
    _ROUTE[_step] = list(_steps)
_ROUTE["category_other"] = _ROUTE["name"][:-1] + [("tap", "cat:lainnya")]
_ROUTE["birth_date"] = _ROUTE["nagari"][:-1] + [("tap", "yn:no")]
_ROUTE["summary_which"] = _ROUTE["summary"] + [("tap", "sum:edit")]
_STEP_OF = {"summary_which": "summary"}


@dataclass
class World:
    """The handler's effects, in memory (nothing is registered yet)."""

    submitted: list[dict[str, Any]] = field(default_factory=list)

    def resolve(self, effect: Effect, state: State) -> Event | None:
        if isinstance(effect, RecordConsent):
            return None
        if isinstance(effect, CheckNik):
            return NikChecked(status=None, own=False)
        if isinstance(effect, Submit):
            self.submitted.append(dict(state.answers))
            return Submitted(reference="SJ-TEST01")
        if isinstance(effect, LoadMyData):
            return MyData(records=(), consent_given_at=None)
        if isinstance(effect, DeleteMyData):
            return DataDeleted(erased=0, requested=())
        if isinstance(effect, CorrectField):
            return FieldCorrected(effect.reference, ok=True)
        raise AssertionError(f"unexpected effect {effect!r}")


@lru_cache(maxsize=1)
def _world_parts() -> tuple[Any, Catalog, Any]:
    config = load_config()
    rules = config.flow_rules()
    return rules, Catalog.load(rules.languages), load_wilayah(config)


def context(user: str) -> Ctx:
    rules, catalog, wilayah = _world_parts()
    return Ctx(rules, catalog, wilayah, NOW, user, known_phone=WA_PHONE if user == WA_USER else None)


def turn(world: World, state: State, event: Event, ctx: Ctx) -> tuple[State, list[Reply]]:
    outcome = flow.handle(state, event, ctx)
    replies = list(outcome.replies)
    for _ in range(5):
        if not outcome.effects:
            break
        results = [r for e in outcome.effects if (r := world.resolve(e, outcome.state))]
        outcome.effects = []
        for result in results:
            outcome = flow.handle(outcome.state, result, ctx)
            replies.extend(outcome.replies)
    return (State() if outcome.forget else outcome.state), replies


def state_at(step: str, lang: str, user: str) -> State:
    """A conversation standing at `step`, reached through the pure flow."""
    ctx = context(user)
    world, state = World(), State()
    for kind, value in _ROUTE[step]:
        event: Inbound = ButtonPress(value.format(lang=lang)) if kind == "tap" else Text(value)
        state, _ = turn(world, state, event, ctx)
    expected = _STEP_OF.get(step, step)
    if state.step != expected:
        raise AssertionError(f"the route to {step} ended at {state.step}")
    return state


@dataclass(frozen=True)
class Case:
    step: str
    lang: str
    user: str
    text: str
    expect: Any  # dict, or None for "not an answer"


@dataclass(frozen=True)
class Result:
    case: Case
    outcome: str  # "understood", "confirmed", "unstored" (not-an-answer kept out), "missed", "misread"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("understood", "unstored") or (
            self.outcome == "confirmed" and isinstance(self.case.expect, dict) and "ask" in self.case.expect)


def load_corpus(path: Path = CORPUS, lang: str = "id") -> list[Case]:
    """The corpus' cases for a conversation in `lang`: every group without a language of its
    own, and the groups written for that language (the language choice itself only in "id",
    where it is asked before any language is known)."""
    cases = []
    for group in yaml.safe_load(path.read_text(encoding="utf-8")):
        if group["step"] == "language" and lang != "id" or group.get("lang", lang) != lang:
            continue
        user = WA_USER if group.get("user") == "wa" else "tg:1"
        expect = group.get("expect")
        expect = None if expect in (None, "none") else expect
        for text in group["texts"]:
            cases.append(Case(group["step"], lang, user, str(text), expect))
    return cases


def distinct_texts(path: Path = CORPUS) -> int:
    """How many (step, text) answers the corpus holds, counted once whatever the language."""
    return len({(g["step"], g.get("user"), str(t)) for g in yaml.safe_load(path.read_text(encoding="utf-8"))
                for t in g["texts"]})


def _stored(before: State, after: State) -> dict[str, Any]:
    return {k: v for k, v in after.answers.items() if k != "flags" and before.answers.get(k, object()) != v}


def _check_answers(want: dict[str, Any], before: State, after: State, replies: list[Reply]) -> tuple[str, str]:
    got = _stored(before, after)
    if "lang" in want:
        return ("understood", "") if after.lang == want["lang"] and after.step == "consent" else (
            "missed", f"lang={after.lang} step={after.step}")
    if "stop" in want:
        keys = [r.key for r in replies]
        return ("understood", "") if want["stop"] in keys else ("missed", f"replies {keys}")
    if "submit" in want:
        return ("understood", "") if after.step == "done" and after.reference else ("missed", f"step={after.step}")
    if "edit" in want:
        return ("understood", "") if after.editing == want["edit"] else (
            "misread" if after.editing is not None else "missed", f"editing={after.editing} step={after.step}")
    answers = want["answers"]
    if all(got.get(k, after.answers.get(k, "<none>")) == v for k, v in answers.items()) and all(k in after.answers for k in answers):
        return "understood", ""
    wrong = {k: got[k] for k in answers if k in got and got[k] != answers[k]}
    return ("misread" if wrong else "missed", f"stored {got}; replies {[r.key for r in replies]}")


def run_case(case: Case) -> Result:
    start = state_at(case.step, case.lang, case.user)
    ctx = context(case.user)
    world = World()
    after, replies = turn(world, start, Text(case.text), ctx)
    if case.expect is None:
        got = _stored(start, after)
        if (got or world.submitted or after.editing is not None or after.step in ("idle", "done")
                or after.lang != start.lang and start.lang):
            # An answer was taken (or the summary left) from something that is no answer.
            return Result(case, "misread", f"stored {got} step={after.step}")
        return Result(case, "unstored")
    if "ask" in case.expect:
        if after.confirm != "guess":
            outcome, detail = _check_answers(case.expect["then"], start, after, replies)
            return Result(case, "misread" if outcome == "misread" else "missed", detail or "no question asked")
        label = after.pending.get("guess", {}).get("label")
        if label != case.expect["ask"][case.lang]:
            return Result(case, "missed", f"asked about {label!r}")
        confirmed, more = turn(world, after, ButtonPress("guess:yes"), ctx)
        outcome, detail = _check_answers(case.expect["then"], start, confirmed, replies + more)
        return Result(case, "confirmed" if outcome == "understood" else outcome, detail)
    if after.confirm == "guess":
        label = after.pending.get("guess", {}).get("label")
        confirmed, more = turn(world, after, ButtonPress("guess:yes"), ctx)
        outcome, detail = _check_answers(case.expect, start, confirmed, replies + more)
        return Result(case, "confirmed" if outcome == "understood" else "misread", f"asked {label!r}; {detail}")
    outcome, detail = _check_answers(case.expect, start, after, replies)
    return Result(case, outcome, detail)


def run_corpus(path: Path = CORPUS, lang: str = "id") -> list[Result]:
    return [run_case(case) for case in load_corpus(path, lang)]


def summarise(results: list[Result], lang: str = "id") -> dict[str, Any]:
    answers = [r for r in results if r.case.expect is not None]
    first = sum(r.outcome == "understood" for r in answers)
    return {
        "name": f"understood first time ({lang} conversation)",
        "corpus": len(results),
        "answers": len(answers),
        "understood_first_time": first,
        "confirmed_with_one_tap": sum(r.outcome == "confirmed" for r in answers),
        "missed": sum(r.outcome == "missed" for r in answers),
        "misread": sum(r.outcome == "misread" for r in results),
        "not_answers_unstored": f"{sum(r.outcome == 'unstored' for r in results)}/{len(results) - len(answers)}",
        "share_first_time": f"{100 * first / len(answers):.1f}%" if answers else "-",
    }


async def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    for lang in ("id", "en"):
        results = run_corpus(lang=lang)
        if getattr(args, "verbose", False):
            for r in results:
                if not r.ok:
                    print(f"    {r.outcome}: [{lang} {r.case.step}] {r.case.text!r} {r.detail}")
        rows.append(summarise(results, lang))
    rows[0]["distinct_texts"] = distinct_texts()
    return rows


if __name__ == "__main__":
    import asyncio

    ns = argparse.Namespace(verbose=True)
    for row in asyncio.run(run(ns)):
        print(row)
