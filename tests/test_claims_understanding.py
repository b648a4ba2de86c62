"""The claim helper understands people in distress, and gets the facts right.

- Every phrasing in tests/data/claims_phrasings.yaml (short, misspelt, Minang, English) is read
  as the event it names; the texts listed as `none`, the whole registration corpus and the
  desk's phrasings are not read as a claim (the other routes keep them).
- What an heir types to find the worker (a NIK, however spaced; a reference) and the day of the
  event ("kemarin", "3 des") are read as meant, never a future date.
- The facts come from config.yaml in one place: the Solok branch (no Sawahlunto branch), the
  amounts; no message names JMO as a claim channel.
- Every catalog key the helper builds from a value exists in both languages.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from conversations import claims
from conversations.claims import KINDS, NEXT_STATUS, STATUSES, USES, identifier_of, parse_event_date, read_intent
from conversations.i18n import LOCALES_DIR, Catalog
from conversations.validators import InvalidInput

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PHRASINGS = yaml.safe_load(DATA.joinpath("claims_phrasings").with_suffix(".yaml").read_text(encoding="utf-8"))
EXPECTED = [(text, group["expect"]) for group in PHRASINGS if "expect" in group for text in group["texts"]]
NOT_CLAIMS = [text for group in PHRASINGS if "none" in group for text in group["none"]]


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*strings(key), *strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


@pytest.mark.parametrize(("text", "expect"), EXPECTED, ids=[text for text, _ in EXPECTED])
def test_each_phrasing_is_understood(text: str, expect: dict[str, Any]) -> None:
    intent = read_intent(text)
    assert intent is not None, text
    seen = {"kind": intent.kind, "hint": intent.hint, "self": intent.about_self, "info": intent.info}
    assert {key: seen[key] for key in expect} == expect, (text, intent)
    if "info" not in expect:
        assert not intent.info, (text, intent)


def test_the_corpus_is_big_enough_to_mean_something() -> None:
    assert len(EXPECTED) >= 75
    assert {e.get("kind") for _, e in EXPECTED} >= set(KINDS)


@pytest.mark.parametrize("text", NOT_CLAIMS)
def test_other_messages_are_not_claims(text: str) -> None:
    assert read_intent(text) is None


@pytest.mark.parametrize("corpus", ["understanding_corpus", "desk_phrasings"])
def test_no_answer_of_the_form_and_no_desk_phrasing_is_read_as_a_claim(corpus: str) -> None:
    texts = strings(yaml.safe_load(DATA.joinpath(corpus).with_suffix(".yaml").read_text(encoding="utf-8")))
    assert len(texts) > 100
    assert [t for t in texts if read_intent(t) is not None] == []


@pytest.mark.parametrize(("typed", "found"), [
    ("1303055203850001", ("nik", "1303055203850001")),
    ("1303 0552 0385 0001", ("nik", "1303055203850001")),
    ("nik suami saya 1303.0552.0385.0001", ("nik", "1303055203850001")),
    ("SJ-7K4M9Q", ("reference", "SJ-7K4M9Q")),
    ("sj 7k4m9q", ("reference", "SJ-7K4M9Q")),
    ("no pendaftarannya SJ-7K4M9Q pak", ("reference", "SJ-7K4M9Q")),
    ("7k4m9q", ("reference", "SJ-7K4M9Q")),
    ("niknya", None),
    ("suami saya", None),
    ("0812 3456 7890", None),
])
def test_what_an_heir_types_to_find_the_worker(typed: str, found: tuple[str, str] | None) -> None:
    assert identifier_of(typed) == found


TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(("typed", "day"), [
    ("hari ini", TODAY), ("tadi pagi", TODAY), ("kemarin", date(2026, 11, 27)), ("semalam", date(2026, 11, 27)),
    ("yesterday", date(2026, 11, 27)), ("3 hari lalu", date(2026, 11, 25)), ("tiga hari yang lalu", date(2026, 11, 25)),
    ("27-11-2026", date(2026, 11, 27)), ("27/11", date(2026, 11, 27)), ("3 des", date(2025, 12, 3)),
    ("tgl 20 november 2026", date(2026, 11, 20)), ("1 Nov 26", date(2026, 11, 1)),
])
def test_the_day_of_the_event(typed: str, day: date) -> None:
    assert parse_event_date(typed, TODAY) == day


@pytest.mark.parametrize(("typed", "key"), [
    ("30-11-2026", "claims.date.future"), ("besok", "date.invalid"), ("1-1-2010", "claims.date.too_old"),
    ("kapan ya", "date.invalid"),
])
def test_days_that_cannot_be_the_event(typed: str, key: str) -> None:
    with pytest.raises(InvalidInput) as problem:
        parse_event_date(typed, TODAY)
    assert problem.value.key == key


def test_a_stored_conversation_that_cannot_be_read_starts_afresh() -> None:
    assert claims.Dialog.from_json({"step": "date", "kind": "work_accident", "unknown": 1}).step == "date"
    assert claims.Dialog.from_json("rubbish") == claims.Dialog()
    assert claims.Dialog.from_json({"tries": {"no": "int"}, "step": 3}) is not None


# -- the facts, in one place -----------------------------------------------------------------

def test_the_branch_is_solok_in_one_place(svc: Any) -> None:
    config = svc.config
    assert config.claims.branch.name == "BPJS Ketenagakerjaan Kantor Cabang Solok"
    assert svc.rules.help.bpjs_branch == config.claims.branch.name
    assert config.claims.branch.sources and config.claims.branch.read_on is not None
    assert config.claims.call_centre == "175"
    assert config.claims.benefits.jkm_total == 42_000_000
    assert config.claims.benefits.jkk_death(1_000_000) == 70_000_000
    assert config.claims.report_within_hours == 48 and config.claims.claim_years == 5
    assert config.claims.unconfirmed
    text = ROOT.joinpath("config").with_suffix(".yaml").read_text(encoding="utf-8")
    assert "Kantor Cabang Sawahlunto" not in text


def test_a_second_branch_name_is_refused(svc: Any) -> None:
    from handlers.settings import AppConfig

    raw = svc.config.model_dump()
    raw["help"]["bpjs_branch"] = "BPJS Ketenagakerjaan Kantor Cabang Sawahlunto"
    with pytest.raises(ValidationError, match="claims.branch.name"):
        AppConfig.model_validate(raw)


def test_no_message_names_jmo_or_another_branch_as_the_claim_channel() -> None:
    catalog = Catalog.load(("id", "en"))
    for lang in ("id", "en"):
        for key, text in catalog.messages[lang].items():
            assert "Sawahlunto" not in text, key
            lowered = text.lower()
            if "jmo" in lowered and ("klaim" in lowered or "claim" in lowered):
                # Only to say that a claim is NOT made in the app.
                assert "bukan lewat aplikasi jmo" in lowered or "not in the jmo app" in lowered, (key, text)


def test_every_key_built_from_a_value_exists_in_both_languages() -> None:
    catalog = Catalog.load(("id", "en"))
    keys = {f"claims.kind.{k}" for k in KINDS} | {f"btn.claim.kind.{k}" for k in KINDS}
    keys |= {f"claims.checklist.{k}" for k in KINDS} | {f"claims.documents.{k}" for k in KINDS}
    keys |= {f"claims.status.{s}" for s in STATUSES} | {f"claims.family.{s}" for s in STATUSES if s != "new"}
    keys |= {f"btn.claim.status.{s}" for s in NEXT_STATUS.values()}
    keys |= {f"claims.use.{u}" for u in USES} | {f"btn.claim.use.{u}" for u in (*USES, "skip")}
    keys |= {"official.help.claims", "telegram.desk.case", "official.action.claim_opened",
             "official.action.claim_status"}
    for lang in ("id", "en"):
        missing = sorted(k for k in keys if k not in catalog.messages[lang])
        assert missing == [], (lang, missing)
    assert LOCALES_DIR.joinpath("id", "LC_MESSAGES", "claims").with_suffix(".po").exists()


def test_buttons_fit_whatsapp() -> None:
    catalog = Catalog.load(("id", "en"))
    for lang in ("id", "en"):
        for key, text in catalog.messages[lang].items():
            if key.startswith("btn.claim."):
                assert len(text.replace("{code}", "K1234")) <= 20, (key, text)
