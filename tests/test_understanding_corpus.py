"""The corpus of natural answers (tests/data/understanding_corpus.yaml), run through the pure flow
in an Indonesian and an English conversation: every answer gives the value it must, at the first
message (or after the one-tap question the corpus expects), and no "not an answer" case is ever
stored. `python -m bench --only understanding` prints the share understood first time.
"""

from __future__ import annotations

import pytest
import yaml

from bench.b_understanding import (
    CORPUS,
    Text,
    World,
    context,
    distinct_texts,
    load_corpus,
    run_case,
    run_corpus,
    state_at,
    summarise,
    turn,
)
from conversations.form import FORM


def test_the_corpus_is_large_and_covers_every_step() -> None:
    groups = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    assert distinct_texts() >= 400
    steps = {g["step"] for g in groups}
    assert {f.key for f in FORM} | {"language", "summary", "summary_which"} <= steps
    # Every answer step has "not an answer" cases too.
    refused = {g["step"] for g in groups if g.get("expect") in (None, "none")}
    assert {f.key for f in FORM} - {"birth_date"} <= refused | {"birth_date"}
    texts = " ".join(str(t) for g in groups for t in g["texts"]).lower()
    # Minang, SMS shorthand and English are in it, not only textbook Indonesian.
    for word in ("ambo", "iyo", "alun", "karajo surang", "indak", "patani", "tdk", "kira2", "i'm a farmer",
                 "looks good, send it", "bini", "amak"):
        assert word in texts, word


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_answer_in_the_corpus_is_understood(lang: str) -> None:
    results = run_corpus(lang=lang)
    misses = [f"{r.outcome}: [{r.case.step}] {r.case.text!r} {r.detail}" for r in results if not r.ok]
    assert misses == []
    summary = summarise(results, lang)
    assert summary["misread"] == 0 and summary["missed"] == 0


@pytest.mark.parametrize("lang", ["id", "en"])
def test_not_an_answer_is_never_stored(lang: str) -> None:
    cases = [c for c in load_corpus(lang=lang) if c.expect is None]
    assert len(cases) >= 100
    for case in cases:
        start = state_at(case.step, case.lang, case.user)
        world = World()
        after, replies = turn(world, start, Text(case.text), context(case.user))
        assert after.answers == start.answers, case
        assert world.submitted == [] and after.editing is None, case
        assert replies, case  # always a kind answer
        # Nothing NIK-shaped typed in a free-text answer is echoed back.
        if case.text.replace(" ", "").isdigit() and len(case.text.replace(" ", "")) == 16:
            assert all(case.text.replace(" ", "") not in r.text.replace(" ", "") for r in replies), case


def test_a_miss_is_reported_not_hidden() -> None:
    """The runner itself can fail: a wrong expectation is a miss or a misreading."""
    from bench.b_understanding import Case

    wrong = run_case(Case("category", "id", "tg:1", "saya petani", {"answers": {"category": "nelayan"}}))
    assert wrong.outcome == "misread" and not wrong.ok
    stored = run_case(Case("name", "id", "tg:1", "Siti Aminah", None))
    assert stored.outcome == "misread" and not stored.ok
    missed = run_case(Case("category", "id", "tg:1", "zzz", {"answers": {"category": "petani"}}))
    assert missed.outcome == "missed"
