"""Understanding what people type: the one place that maps a typed text to a choice or a value.

People on cheap phones rarely tap buttons: they type "ambo patani sawit", "iyo, satuju", "alun",
"kira2 800rb" or "nama saya Siti Aminah". This module reads such answers, table-driven from
``conversations/data/understanding.yaml`` (synonyms per button id, meanings shared by yes/no
buttons, SMS shorthand and Minang spelling, prefixes people put before an answer, number words),
so that growing the vocabulary is editing data, not code. Every step of every conversation
(registration, officials' and the campaign composer's choices) matches buttons through
:func:`read_choice`.

Pure: no I/O except reading the data file once, at first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml
from rapidfuzz import fuzz

from conversations.events import Button
from conversations.validators import normalize_text

DATA_FILE = Path(__file__).resolve().parent.joinpath("data", "understanding").with_suffix(".yaml")

# Similarity (0-100) of a typed word group to a phrase: at or above SURE the typo is taken, at
# or above ASK the person is asked "Did you mean ...?"; below, it is not read as that choice.
SURE = 90
ASK = 80
# The existing whole-text comparison with button titles (rapidfuzz WRatio), for close spellings.
TITLE_CUTOFF = 82
# Buttons that say no: a "no" in the text is their own word, not a turn-around.
NEGATIVE_SUFFIXES = frozenset({"no", "disagree", "employee", "unknown", "skip", "edit", "restart"})
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


@dataclass(frozen=True)
class Vocabulary:
    """understanding.yaml, every phrase already folded."""

    emoji: dict[str, str]
    words: dict[str, str]
    meanings: dict[str, tuple[str, ...]]
    choices: dict[str, tuple[str, ...]]
    summary_items: dict[int, tuple[str, ...]]
    prefixes: dict[str, tuple[str, ...]]  # longest first
    not_answers: dict[str, frozenset[str]]
    question_words: tuple[str, ...]
    numbers: dict[str, Any]
    relations_leading: dict[str, tuple[str, ...]]  # longest first
    leading_only: frozenset[str]
    # Asking for a person: the whole message, or a phrase within it; going back to the form.
    person_whole: frozenset[str]
    person_within: tuple[str, ...]
    back_to_form: frozenset[str]


def _strings(items: Iterable[Any]) -> tuple[str, ...]:
    # YAML reads a bare yes/no as a boolean; the data file quotes them, this keeps a slip visible.
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{DATA_FILE.name}: {item!r} must be quoted text")
        out.append(item)
    return tuple(out)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    raw = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    emoji = {str(k): str(v) for k, v in raw["emoji"].items()}
    words = {normalize_text(str(k)): str(v) for k, v in raw["words"].items()}

    # Phrases are folded with the same rules as what people type, so the two always compare.
    def folded(phrases: Any) -> tuple[str, ...]:
        return tuple(_fold(emoji, words, p) for p in _strings(phrases or []))

    def longest_first(phrases: Any) -> tuple[str, ...]:
        return tuple(sorted(set(folded(phrases)), key=lambda p: (-len(p.split()), p)))

    return Vocabulary(
        emoji=emoji,
        words=words,
        meanings={str(k): folded(v) for k, v in raw["meanings"].items()},
        choices={str(k): folded(v) for k, v in raw["choices"].items()},
        summary_items={int(k): folded(v) for k, v in raw["summary_items"].items()},
        prefixes={str(k): longest_first(v) for k, v in raw["prefixes"].items()},
        not_answers={str(k): frozenset(folded(v)) for k, v in raw["not_answers"].items()},
        question_words=folded(raw["question_words"]),
        numbers=raw["numbers"],
        relations_leading={str(k): longest_first(v) for k, v in raw["heir_relations_leading"].items()},
        leading_only=frozenset(folded(raw["leading_only"])),
        person_whole=frozenset(folded(raw["ask_for_person"]["whole"])),
        person_within=longest_first(raw["ask_for_person"]["within"]),
        back_to_form=frozenset(folded(raw["back_to_form"])),
    )


# ---------------------------------------------------------------------------------------------
# Folding
def _fold(emoji: dict[str, str], vocabulary_words: dict[str, str], text: str) -> str:
    for symbol, meaning in emoji.items():
        text = text.replace(symbol, meaning)
    words = normalize_text(text).split()
    out: list[str] = []
    for word in words:
        word = _REPEATS.sub(r"\1", word)
        # SMS doubling: "kira2", "rata2", "anak2" are the word said twice.
        if re.fullmatch(r"[^\W\d_]{2,}2", word):
            word = word[:-1]
        out.extend(vocabulary_words.get(word, word).split())
    return " ".join(out)


def fold(text: str) -> str:
    """Fold a text for understanding: normalize_text, emoji with a meaning (👍 -> "iya"),
    letters repeated 3+ times once ("iyaaa" -> "iya"), and every word in its common spelling
    ("tdk" -> "tidak", "ambo" -> "saya", "patani" -> "petani")."""
    vocab = vocabulary()
    return _fold(vocab.emoji, vocab.words, text)


def _contains(words: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {words} "


def _found(words: str, phrase: str) -> bool:
    """`phrase` in `words`; a word that is also a particle ("nanti dulu ya") only at the start."""
    if phrase in vocabulary().leading_only:
        return f"{words} ".startswith(f"{phrase} ")
    return _contains(words, phrase)


# ---------------------------------------------------------------------------------------------
# Choices
@dataclass(frozen=True)
class Reading:
    """What a typed text means among the buttons shown: `sure`, or worth a one-tap question."""

    button: Button
    sure: bool = True


def _suffix(button: Button) -> str:
    return button.id.split(":")[-1]


def phrases_of(button: Button) -> tuple[str, ...]:
    """Every folded phrase that names `button`: its title (and each part of "A/B" titles), its
    id, the synonyms listed for its id and the meanings of its id's ending (yes, no)."""
    vocab = vocabulary()
    title = fold(button.title)
    parts = [fold(p) for p in re.split(r"[/–,()]", button.title) if fold(p)]
    suffix = _suffix(button)
    listed = vocab.choices.get(button.id, ())
    meaning = vocab.meanings.get(suffix, ())
    return tuple(dict.fromkeys([title, *parts, fold(suffix.replace("_", " ")), *listed, *meaning]))


def read_choice(text: str, buttons: Sequence[Button], *, numbers_shown: bool = True,
                fuzzy: bool = True) -> Reading | None:
    """The button a typed text most plausibly means, or None.

    In order: a number (only when the person was shown numbers beside the choices), the exact
    title or id, the longest phrase of one button found inside the text ("saya petani", "jual
    sayur di pasar", "tidak setuju" beats "setuju"), then, with `fuzzy`, typos: a close spelling
    of one button is taken when clearly closest, or offered for confirmation (``sure=False``)
    when only fairly close. Two buttons equally well named mean None: we ask, never guess.
    """
    if not buttons:
        return None
    words = fold(text)
    if not words:
        return None
    if words.isdigit():
        index = int(words) - 1
        return Reading(buttons[index]) if numbers_shown and 0 <= index < len(buttons) else None
    for button in buttons:
        if words in (fold(button.title), fold(_suffix(button).replace("_", " "))):
            return Reading(button)
    if any(ch.isdigit() for ch in words):
        return None  # amounts, dates, numbers: read by the step's own parser, never as a phrase
    scored: list[tuple[tuple[int, int], int, str]] = []
    for i, button in enumerate(buttons):
        found = [p for p in phrases_of(button) if _found(words, p)]
        if found:
            best = max(found, key=lambda p: (len(p.split()), len(p)))
            scored.append(((len(best.split()), len(best)), i, best))
    if scored:
        scored.sort(reverse=True)
        _, index, phrase = scored[0]
        # "bukan petani", "jangan yang ini", "saya tidak tinggal di sijunjung": a "no" outside
        # the phrase that named a choice that is not itself a "no" turns it around: into the
        # "no" choice when one was named too, else we cannot know into what, and ask.
        if _suffix(buttons[index]) not in NEGATIVE_SUFFIXES and any(
                _found(words, no) and not _contains(phrase, no) for no in vocabulary().meanings.get("no", ())):
            negative = [s for s in scored if _suffix(buttons[s[1]]) in NEGATIVE_SUFFIXES]
            if not negative:
                return None
            scored = negative
            _, index, phrase = scored[0]
        # Two choices named by equally long phrases ("petani dan pedagang"): ask, never guess.
        if len(scored) > 1 and scored[0][0][0] == scored[1][0][0] and scored[0][1] != scored[1][1]:
            return None
        return Reading(buttons[index])
    if not fuzzy:
        return None
    return _typo(words, text, buttons)


def _typo(words: str, text: str, buttons: Sequence[Button]) -> Reading | None:
    # 1. The whole text against each title (close spellings: "petan", "guru mengaji/tpq").
    typed = normalize_text(text)
    # Only for a text about as long as a title: in a sentence, partial matching finds anything.
    titles = sorted(((fuzz.WRatio(typed, normalize_text(b.title))
                      if len(typed.split()) <= len(normalize_text(b.title).split()) + 1 else 0, i)
                     for i, b in enumerate(buttons)), reverse=True)
    best, index = titles[0]
    runner_up = titles[1][0] if len(titles) > 1 else 0
    if best >= TITLE_CUTOFF and best - runner_up >= 5 and len(typed) >= 3:
        return Reading(buttons[index])
    # 2. Word groups of the text against each phrase of 4+ letters.
    tokens = words.split()
    per_button: list[tuple[float, int]] = []
    for i, button in enumerate(buttons):
        top = 0.0
        for phrase in phrases_of(button):
            n = len(phrase.split())
            if len(phrase) < 4 or n > len(tokens):
                continue
            for start in range(len(tokens) - n + 1):
                top = max(top, fuzz.ratio(" ".join(tokens[start:start + n]), phrase))
        per_button.append((top, i))
    per_button.sort(reverse=True)
    best_score, index = per_button[0]
    second = per_button[1][0] if len(per_button) > 1 else 0.0
    if best_score < ASK or best_score - second < 5:
        return None
    return Reading(buttons[index], sure=best_score >= SURE)


def means(text: str, meaning: str) -> bool:
    """Whether the whole text is one way of saying `meaning` ("yes", "no")."""
    words = fold(text)
    phrases = vocabulary().meanings.get(meaning, ())
    other = "no" if meaning == "yes" else "yes"
    found = [p for p in phrases if _found(words, p)]
    against = [p for p in vocabulary().meanings.get(other, ()) if _found(words, p)]
    if not found:
        return False
    return not against or max(len(p.split()) for p in found) > max(len(p.split()) for p in against)


# Trailing words that change nothing in a short answer ("lanjut aja ya").
_PARTICLES = frozenset({"saja", "aja", "ya", "iya", "dong", "deh", "lagi", "pak", "bu", "please"})


def asks_for_person(text: str) -> bool:
    """Whether the person asks to talk to a person ("petugas", "saya mau bicara dengan petugas",
    "mau tanya ...", "talk to someone"). A bare title ("operator") counts only as the whole text."""
    words = fold(text)
    vocab = vocabulary()
    return bool(words) and (words in vocab.person_whole or any(_contains(words, p) for p in vocab.person_within))


# Words around a request that carry no question ("tolong", "saya", "pak").
_FILLERS = frozenset({"saya", "tolong", "mohon", "pak", "bu", "ibu", "ayah", "bang", "uda", "kak", "boleh", "bisa",
                      "ingin", "mau", "minta", "dong", "ya", "iya", "sebentar", "please", "i", "want", "to", "would",
                      "like", "can", "could", "a", "with", "dengan", "sama", "ke", "oke", "halo", "hai"})


def person_question(text: str) -> str | None:
    """The question in a request for a person ("mau tanya kapan kartu saya jadi?" -> the whole
    text), or None when it is only the request ("petugas", "saya mau bicara dengan petugas")."""
    words = fold(text)
    vocab = vocabulary()
    if not words or words in vocab.person_whole:
        return None
    rest = f" {words} "
    for phrase in vocab.person_within:
        rest = rest.replace(f" {phrase} ", " ")
    left = [w for w in rest.split() if w not in _FILLERS and w not in vocab.person_whole]
    return text.strip() if len(left) >= 2 else None


def back_to_form(text: str) -> bool:
    """Whether the whole text means "back to the registration" ("lanjut", "selesai")."""
    words = fold(text).removeprefix("saya ").split()
    while len(words) > 1 and words[-1] in _PARTICLES:
        words.pop()
    return " ".join(words) in vocabulary().back_to_form


def summary_item(text: str) -> int | None:
    """The summary item (form group) a text names: "ubah nomor hp", "hp salah", "nama"."""
    words = fold(text)
    hits: list[tuple[int, int]] = []
    for group, phrases in vocabulary().summary_items.items():
        found = [len(p.split()) for p in phrases if _contains(words, p)]
        if found:
            hits.append((max(found), group))
    if not hits:
        return None
    hits.sort(reverse=True)
    if len(hits) > 1 and hits[0][0] == hits[1][0]:
        return None
    return hits[0][1]


# ---------------------------------------------------------------------------------------------
# Answers that are not answers
def not_an_answer(text: str) -> str | None:
    """"greeting", "thanks", "question" or "unknown" when the whole text is no answer to a
    question ("halo", "makasih", "ini untuk apa?", "tidak tahu"), else None."""
    words = fold(text)
    if not words:
        return None
    for kind in ("greeting", "thanks", "unknown"):
        if words in vocabulary().not_answers.get(kind, ()):
            return kind
    if text.strip().endswith("?") or any(_starts(words, q) and len(words.split()) > len(q.split())
                                         for q in vocabulary().question_words):
        return "question"
    return None


def _starts(words: str, phrase: str) -> bool:
    return f"{words} ".startswith(f"{phrase} ")


# ---------------------------------------------------------------------------------------------
# Prefixes: "nama saya Siti Aminah" -> "Siti Aminah"
def _cut(text: str, phrases: Iterable[str]) -> tuple[str, str] | None:
    """The first of `phrases` (folded, longest first) that starts `text`, and the rest of the
    text after it in its original spelling and case."""
    tokens = [(m.end(), fold(m.group(0)).split()) for m in _WORD.finditer(text)]
    flat: list[tuple[str, int]] = [(w, end) for end, ws in tokens for w in ws]
    for phrase in phrases:
        pwords = phrase.split()
        if pwords and len(flat) >= len(pwords) and [w for w, _ in flat[:len(pwords)]] == pwords:
            cut = flat[len(pwords) - 1][1]
            return phrase, text[cut:].lstrip(" \t:;,.-=\u2013\u2014>").strip()
    return None


def strip_prefix(kind: str, text: str) -> str:
    """The answer without the words people put before it, original spelling and case kept.
    The longest prefix listed for `kind` wins; a text that is only a prefix is returned empty."""
    found = _cut(text, vocabulary().prefixes.get(kind, ()))
    return found[1] if found else text.strip()


def relation_prefix(text: str) -> tuple[str, str] | None:
    """("suami_istri", "Siti") for "istri saya Siti": an heir's relation said before the name."""
    for relation, phrases in vocabulary().relations_leading.items():
        found = _cut(text, phrases)
        if found and found[1]:
            return relation, found[1]
    return None


# ---------------------------------------------------------------------------------------------
# Amounts: "dua setengah juta", "sejuta", "kira2 800rb", "1.5 million"
def amount_text(text: str) -> str:
    """Rewrite an amount as ``parse_income`` reads it: prefixes and number words turned into
    digits and "juta"/"ribu" ("dua setengah juta" -> "2500000", "1.5 million" -> "1.5 juta",
    "kira2 800rb" -> "800rb"). A text without number words is returned with prefixes removed."""
    rest = strip_prefix("income", text)
    numbers = vocabulary().numbers
    unit_words = {**{normalize_text(u): "juta" for u in numbers["millions"]},
                  **{normalize_text(u): "ribu" for u in numbers["thousands"]}}
    tokens = normalize_text(rest.replace("-", " ")).split() if _has_number_words(rest) else None
    if tokens is None:
        # Only English unit words to translate: "1.5 million" -> "1.5 juta".
        out = re.sub(r"(?i)\b(millions?|mio)\b", "juta", rest)
        out = re.sub(r"(?i)\b(thousand)\b", "ribu", out)
        out = re.sub(r"(?i)\s*\b(a month|per month|monthly|sebulan)\b\.?$", "", out)
        return out.strip()
    value = _words_value(tokens, numbers, unit_words)
    return str(value) if value is not None else rest


def _has_number_words(text: str) -> bool:
    numbers = vocabulary().numbers
    words = set(normalize_text(text).split())
    known = set(numbers["digits"]) | set(numbers["one_of"]) | set(numbers["half"]) | set(numbers["teen"]) \
        | set(numbers["tens"]) | set(numbers["hundreds"])
    return bool(words & {normalize_text(str(w)) for w in known})


def _words_value(tokens: list[str], numbers: dict[str, Any], units: dict[str, str]) -> int | None:
    digits = {normalize_text(str(k)): v for k, v in numbers["digits"].items()}
    one_of = {normalize_text(str(k)): str(v) for k, v in numbers["one_of"].items()}
    half = {normalize_text(w) for w in numbers["half"]}
    teen = {normalize_text(w) for w in numbers["teen"]}
    tens = {normalize_text(w) for w in numbers["tens"]}
    hundreds = {normalize_text(w) for w in numbers["hundreds"]}
    ignore = {normalize_text(w) for w in numbers["ignore"]}
    total, group, small = Decimal(0), Decimal(0), Decimal(0)
    last_unit = 0
    seen = False
    for token in tokens:
        if token in one_of:
            small = small or Decimal(1)
            token = one_of[token]
        if re.fullmatch(r"[0-9]+", token):
            small += Decimal(token)
            seen = True
        elif token in digits:
            small += Decimal(digits[token])
            seen = True
        elif token in half:
            if not small and not group and last_unit:
                total += Decimal(last_unit) / 2  # "sejuta setengah": one and a half million
            else:
                small += Decimal("0.5")
            seen = True
        elif token in teen:
            small += 10
        elif token in tens:
            group += small * 10
            small = Decimal(0)
        elif token in hundreds or token == "ratus":
            group += (small or 1) * 100
            small = Decimal(0)
            seen = True
        elif units.get(token) in ("ribu", "juta") or token in ("ribu", "juta"):
            unit = 1000 if (units.get(token) or token) == "ribu" else 1_000_000
            total += ((group + small) or 1) * unit
            group, small = Decimal(0), Decimal(0)
            last_unit = unit
            seen = True
        elif token in ignore:
            continue
        else:
            return None
    total += group + small
    return int(total) if seen and total > 0 and total == total.to_integral_value() else None
