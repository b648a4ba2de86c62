"""The one NIK guard (conversations.validators.nik_spans): every spelling of a NIK that the form
accepts is found in free text, masked in relayed text and logs, and refused where text is kept or
broadcast. Spellings are generated: any separators the form accepts, single, in runs, mixed."""

from __future__ import annotations

import logging
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logging_setup import NikRedactingFilter
from conversations.validators import contains_nik, mask_niks_in, nik_spans, normalize_nik, parse_nik

NIK = "1303071203856200"
SEPARATORS = [" ", "  ", ".", "-", "/", "\u00a0", "\u2013", "\u200b", "\t"]
separator_runs = st.lists(st.sampled_from(SEPARATORS), min_size=0, max_size=4).map("".join)


@st.composite
def spellings(draw: st.DrawFn) -> str:
    """The NIK split anywhere, joined by runs of separators (possibly none)."""
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=15), max_size=15)))
    parts = [NIK[a:b] for a, b in zip([0, *cuts], [*cuts, 16])]
    return "".join(part + (draw(separator_runs) if n < len(parts) - 1 else "") for n, part in enumerate(parts))


words = st.sampled_from(["nik saya", "NIK:", "ini", "tolong cek", "", "Nomor KTP", "(", "ambo"])


@settings(max_examples=300, deadline=None)
@given(spellings(), words, words)
def test_every_spelling_the_form_accepts_is_found_and_masked(spelling: str, before: str, after: str) -> None:
    assert normalize_nik(spelling) == NIK
    assert parse_nik(spelling, date(2026, 11, 28)).nik == NIK  # the form takes it
    text = f"{before} {spelling} {after}"
    assert contains_nik(text), text
    masked = mask_niks_in(text)
    kept = "".join(ch for ch in masked if ch.isdigit())
    assert kept == NIK[:4], masked  # only the regency's 4 digits survive


@settings(max_examples=100, deadline=None)
@given(spellings())
def test_a_log_line_never_carries_a_nik(spelling: str) -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "worker wrote %s", (spelling,), None)
    NikRedactingFilter().filter(record)
    assert normalize_nik(record.getMessage()).find(NIK[4:]) == -1
    assert "[NIK disamarkan]" in record.getMessage()


def test_the_spellings_reported_by_the_attack_are_found() -> None:
    for text in ("nik saya 1303  0712  0385  6200", "1303 . 0712 . 0385 . 6200", "1303 - 0712 - 0385 - 6200",
                 "1303. 0712. 0385. 6200", "1 3 0 3  0 7 1 2  0 3 8 5  6 2 0 0", "1303/0712/0385/6200",
                 "hp 0812 3456 7890 1303 0712 0385 6200", "NIK1303071203856200"):
        assert contains_nik(text), text
        assert sum(ch.isdigit() for ch in mask_niks_in(text)) == 4, mask_niks_in(text)


def test_numbers_that_are_not_a_nik_pass() -> None:
    for text in ("0812-3456-7890", "Rp 1.500.000", "12/03/1985", "RT 003 RW 002", "jorong 2", "2026",
                 "13030712038562001"):  # 17 digits in one group: not a NIK's shape
        assert nik_spans(text) == [], text
        assert mask_niks_in(text) == text
