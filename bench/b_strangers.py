"""Understood at the first answer, per field: people nobody has met yet (tests/data/strangers.yaml).

Each phrasing of the corpus is typed at its step of a fresh conversation, through the pure flow,
in an Indonesian and in an English conversation (people mix languages). A phrasing is understood
at the first answer when that one message does what the corpus expects: stores the right value;
asks the one-tap "Maksud Anda ...?" whose "yes" stores the right value, where the corpus says the
amount or relation must be confirmed (a day's pay, a range, "Ahmad suami"); answers a question
from the FAQ; or refuses with the specific explanation. Reported per field: the phrasings, those
understood at the first answer, those that needed an unplanned tap, those missed (the question
again) and those misread (a wrong value stored: must be 0), and the share understood at the first
answer. tests/test_strangers.py fails on anything short of what the corpus expects.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.b_understanding import WA_USER, World, _check_answers, _stored, context, state_at, turn
from conversations.events import ButtonPress, Reply, Text
from conversations.form import FIELDS

CORPUS = Path(__file__).resolve().parent.parent.joinpath("tests", "data", "strangers").with_suffix(".yaml")


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
    outcome: str  # "understood" (at the first answer), "tapped" (right after an unplanned tap), "missed", "misread"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "understood"


def load(path: Path = CORPUS, lang: str = "id") -> list[Case]:
    cases = []
    for group in yaml.safe_load(path.read_text(encoding="utf-8")):
        if group.get("lang", lang) != lang:
            continue
        user = WA_USER if group.get("user") == "wa" else "tg:1"
        expect = group.get("expect")
        expect = None if expect in (None, "none") else expect
        for text in group["texts"]:
            cases.append(Case(group["step"], lang, user, str(text), expect))
    return cases


def distinct_texts(path: Path = CORPUS) -> set[tuple[str, str | None, str]]:
    """The corpus' (step, user, text) answers, counted once whatever the language."""
    return {(g["step"], g.get("user"), str(t)) for g in yaml.safe_load(path.read_text(encoding="utf-8"))
            for t in g["texts"]}


def _prompted(step: str, replies: list[Reply]) -> bool:
    """Whether the last reply asks the step's question again (after an FAQ answer)."""
    field_ = FIELDS.get(step)
    if not replies:
        return False
    if field_ is None:
        return replies[-1].key == "summary.prompt"
    return replies[-1].text.startswith(("Langkah ", "Step ")) and replies[-1].key not in ("confirm.guess",)


def run_case(case: Case) -> Result:
    start = state_at(case.step, case.lang, case.user)
    ctx = context(case.user)
    world = World()
    after, replies = turn(world, start, Text(case.text), ctx)
    keys = [r.key for r in replies]
    got = _stored(start, after)
    expect = case.expect
    if expect is None or "faq" in expect or "refuse" in expect:
        if got or world.submitted or after.editing is not None or after.step in ("idle", "done"):
            return Result(case, "misread", f"stored {got} step={after.step}")
        if expect is None:
            return Result(case, "understood")
        if "faq" in expect:
            ok = f"faq.{expect['faq']}" in keys and _prompted(case.step, replies)
            return Result(case, "understood" if ok else "missed", f"replies {keys}")
        return Result(case, "understood" if keys and keys[0] == expect["refuse"] else "missed", f"replies {keys}")
    if "confirm" in expect:
        if after.confirm != "guess":
            outcome, detail = _check_answers({"answers": expect["confirm"]}, start, after, replies)
            return Result(case, "misread" if outcome == "misread" else "missed", f"no question asked; {detail}")
        label = after.pending.get("guess", {}).get("label", "")
        confirmed, more = turn(world, after, ButtonPress("guess:yes"), ctx)
        outcome, detail = _check_answers({"answers": expect["confirm"]}, start, confirmed, replies + more)
        if outcome != "understood":
            return Result(case, outcome, f"asked {label!r}; {detail}")
        if expect.get("shows") and expect["shows"] not in label:
            return Result(case, "missed", f"asked {label!r}")
        return Result(case, "understood", f"asked {label!r}")
    if after.confirm == "guess":
        label = after.pending.get("guess", {}).get("label")
        confirmed, more = turn(world, after, ButtonPress("guess:yes"), ctx)
        outcome, detail = _check_answers(expect, start, confirmed, replies + more)
        return Result(case, "tapped" if outcome == "understood" else outcome, f"asked {label!r}; {detail}")
    outcome, detail = _check_answers(expect, start, after, replies)
    return Result(case, outcome, detail)


def run_corpus(path: Path = CORPUS, lang: str = "id") -> list[Result]:
    return [run_case(case) for case in load(path, lang)]


def per_field(results: list[Result]) -> dict[str, dict[str, Any]]:
    """Per step: phrasings, understood at the first answer, after an unplanned tap, missed,
    misread, and the share understood at the first answer."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"phrasings": 0, "first": 0, "tapped": 0, "missed": 0,
                                                            "misread": 0})
    for r in results:
        row = rows[r.case.step]
        row["phrasings"] += 1
        row[{"understood": "first", "tapped": "tapped"}.get(r.outcome, r.outcome)] += 1
    for row in rows.values():
        row["share"] = 100 * row["first"] / row["phrasings"]
    return dict(rows)


async def run(args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    for lang in ("id", "en"):
        results = run_corpus(lang=lang)
        if getattr(args, "verbose", False):
            for r in results:
                if not r.ok:
                    print(f"    {r.outcome}: [{lang} {r.case.step}] {r.case.text!r} {r.detail}")
        fields = per_field(results)
        total = len(results)
        first = sum(r.ok for r in results)
        rows.append({"name": f"strangers, all fields ({lang} conversation)", "phrasings": total,
                     "first_answer": first, "share": f"{100 * first / total:.1f}%",
                     "misread": sum(r.outcome == "misread" for r in results)})
        if lang == "id":
            for step, row in fields.items():
                rows.append({"name": f"  {step}", "phrasings": row["phrasings"], "first_answer": row["first"],
                             "after_a_tap": row["tapped"], "missed": row["missed"], "misread": row["misread"],
                             "share": f"{row['share']:.1f}%"})
    rows[0]["distinct_texts"] = len(distinct_texts())
    return rows


if __name__ == "__main__":
    import asyncio

    ns = argparse.Namespace(verbose=True)
    for row in asyncio.run(run(ns)):
        print(row)
