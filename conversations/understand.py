"""Understanding what people type: the one place that maps a typed text to a choice or a value.

People on cheap phones rarely tap buttons: they type "ambo patani sawit", "iyo, satuju", "alun",
"kira2 800rb" or "nama saya Siti Aminah". This module reads such answers, table-driven from
``conversations/data/understanding.yaml`` (synonyms per button id, meanings shared by yes/no
buttons, SMS shorthand and Minang spelling, prefixes people put before an answer, number words,
amounts per day, week or year, particles and titles around an answer, questions the FAQ answers),
so that growing the vocabulary is editing data, not code. Every step of every conversation
(registration, officials' and the campaign composer's choices) matches buttons through
:func:`read_choice`.

Pure: no I/O except reading the data file once, at first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml
from rapidfuzz import fuzz

from conversations.events import Button
from conversations.validators import InvalidInput, normalize_text, parse_income, parse_phone

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
    # Phrases that suggest a choice without naming it for sure (asked, never taken).
    unsure: dict[str, tuple[str, ...]]
    # Particles after an answer (normalized, not folded: "lah" here is no "sudah").
    particles: frozenset[str]
    particles_not_after: dict[str, frozenset[str]]
    leading_address: frozenset[str]
    leading_yes: frozenset[str]
    name_titles: frozenset[str]
    relations_trailing: dict[str, tuple[str, ...]]  # longest first
    amounts: "AmountWords"
    faq: dict[str, tuple[frozenset[str], ...]]
    commands_in_text: frozenset[str]


@dataclass(frozen=True)
class AmountWords:
    """understanding.yaml `amounts`, every phrase normalized (amounts are read word by word,
    without the folding of answers: "lah" is a particle here, "hr" a day)."""

    periods: dict[str, tuple[Fraction, tuple[str, ...]]]  # period -> (months in one, phrases)
    range_between: tuple[str, ...]
    range_lead: tuple[str, ...]
    range_and: tuple[str, ...]
    sometimes: tuple[str, ...]
    vague: tuple[str, ...]
    fillers: tuple[str, ...]
    harvest: tuple[str, ...]
    uncertain: tuple[str, ...]


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
        unsure={str(k): folded(v) for k, v in raw["choices_unsure"].items()},
        particles=frozenset(normalized(raw["particles"]["trailing"])),
        particles_not_after={normalize_text(str(k)): frozenset(normalized(v))
                             for k, v in raw["particles"]["not_after"].items()},
        leading_address=frozenset(normalized(raw["particles"]["leading"])),
        leading_yes=frozenset(normalized(raw["particles"]["leading_yes"])),
        name_titles=frozenset(normalized(raw["name_titles"])),
        relations_trailing={str(k): longest_first(v) for k, v in raw["heir_relations_trailing"].items()},
        amounts=_amount_words(raw["amounts"]),
        faq={str(topic): tuple(frozenset(normalized(words)) for words in entries)
             for topic, entries in raw["faq"].items()},
        commands_in_text=frozenset(folded(raw["commands_in_text"])),
    )


def normalized(phrases: Any) -> tuple[str, ...]:
    """Phrases compared without folding (only normalize_text): particles, titles, amounts."""
    return tuple(p for p in (normalize_text(x) for x in _strings(phrases or [])) if p)


def _amount_words(raw: dict[str, Any]) -> AmountWords:
    def longest(key: str) -> tuple[str, ...]:
        return tuple(sorted(set(normalized(raw[key])), key=lambda p: (-len(p.split()), p)))

    periods = {}
    for name, entry in raw["periods"].items():
        phrases = tuple(sorted(set(normalized(entry["words"])), key=lambda p: (-len(p.split()), p)))
        periods[str(name)] = (Fraction(str(entry["per_month"])), phrases)
    return AmountWords(periods=periods, range_between=longest("range_between"), range_lead=longest("range_lead"),
                       range_and=longest("range_and"), sometimes=longest("sometimes"), vague=longest("vague"),
                       fillers=longest("fillers"), harvest=longest("harvest"), uncertain=longest("uncertain"))


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
    unsure = _unsure(words, buttons)
    if unsure is not None:
        return unsure
    if not fuzzy:
        return None
    return _typo(words, text, buttons)


def _unsure(words: str, buttons: Sequence[Button]) -> Reading | None:
    """A choice suggested by a word of `choices_unsure` ("tukang", "ikan"): worth one tap to
    confirm, never taken as it is; None when two choices are suggested alike or a "no" is said."""
    vocab = vocabulary()
    hits: list[tuple[int, int, str]] = []
    for i, button in enumerate(buttons):
        found = [p for p in vocab.unsure.get(button.id, ()) if _found(words, p)]
        if found:
            best = max(found, key=lambda p: (len(p.split()), len(p)))
            hits.append((len(best.split()), i, best))
    if not hits:
        return None
    hits.sort(reverse=True)
    size, index, phrase = hits[0]
    if len(hits) > 1 and hits[1][0] == size:
        return None
    if any(_found(words, no) and not _contains(phrase, no) for no in vocab.meanings.get("no", ())):
        return None
    return Reading(buttons[index], sure=False)


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


# ---------------------------------------------------------------------------------------------
# Particles: "sejuta lah pak" -> "sejuta", "pak, nama saya Rusli" -> "nama saya Rusli"
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[0-9]+")


def strip_particles(text: str, *, leading_yes: bool = False) -> str:
    """The text without the particles and forms of address people put around an answer ("lah",
    "dong", "ya", "pak", "bu", "da" ...), original spelling kept; at least one word stays, so a
    lone "ya" is still "yes". A form of address leads only before a comma ("pak, 0812 ..."), and
    with `leading_yes` (steps that ask for text) a "ya, " or "ok " before the answer goes too."""
    vocab = vocabulary()
    spans = [(m.start(), m.end(), normalize_text(m.group(0))) for m in _TOKEN.finditer(text)]
    end = len(spans)
    while end > 1:
        word = spans[end - 1][2]
        before = spans[end - 2][2]
        if word not in vocab.particles or before in vocab.particles_not_after.get(word, ()):
            break
        end -= 1
    start = 0
    while start < end - 1:
        word = spans[start][2]
        gap = text[spans[start][1]:spans[start + 1][0]]
        if word in vocab.leading_address and any(ch in gap for ch in ",:;!"):
            start += 1
        elif leading_yes and word in vocab.leading_yes:
            start += 1
        else:
            break
    if not spans or (start, end) == (0, len(spans)):
        return text.strip()
    stop = spans[end - 1][1] if end < len(spans) else len(text)
    return text[spans[start][0]:stop].strip().rstrip(",;:")


# ---------------------------------------------------------------------------------------------
# Names: "Bapak H. Ahmad Yani" -> "Ahmad Yani"
def strip_titles(text: str) -> str:
    """The name without the titles and kinship words before it (Bapak, Pak, Ibu, Uda, Uni, Mak,
    Etek, Buya, Ustadz, Haji, H., Hj. ...): a title is how people are addressed, not the name on
    the KTP. Empty when the text is only titles."""
    titles = vocabulary().name_titles
    rest = text.strip()
    while True:
        match = _TOKEN.match(rest)
        if not match or normalize_text(match.group(0)) not in titles:
            return rest
        rest = rest[match.end():].lstrip(" \t.,:;-")


def relation_suffix(text: str) -> tuple[str, str] | None:
    """("suami_istri", "Ahmad") for "Ahmad suami", ("anak", "Rina") for "Rina anak saya": an
    heir's relation said after the name (confirmed with the person: "Putri" may be a name, and
    so it is not listed). None when no relation ends the text, or nothing is left before it."""
    tokens = list(_TOKEN.finditer(text))
    words = [fold(m.group(0)) for m in tokens]
    for relation, phrases in vocabulary().relations_trailing.items():
        for phrase in phrases:
            size = len(phrase.split())
            for take in range(1, min(len(tokens), size + 1) + 1):
                if " ".join(words[-take:]) == phrase and take < len(tokens):
                    name = text[:tokens[-take].start()].strip(" \t,-:;(")
                    if any(ch.isalpha() for ch in name):
                        return relation, name
    return None


def only_relation(text: str) -> str | None:
    """The relation when the whole text is one ("suami saya", "anak ambo"): no name was given."""
    words = fold(text)
    for relation, phrases in vocabulary().relations_trailing.items():
        if words in phrases:
            return relation
    return None


# ---------------------------------------------------------------------------------------------
# Questions in the middle of the form: "berapa iurannya?" -> "contribution"
_SUFFIXES = ("nya", "ny", "kah", "lah", "pun", "nyo")


def _stems(words: str) -> set[str]:
    out = set()
    for word in words.split():
        out.add(word)
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                out.add(word[: -len(suffix)])
    return out


def is_question(text: str) -> bool:
    """A "?", a question word anywhere ("iuran berapa"), a word ending in "-kah", or a trailing
    "tidak" ("gratis gak", "aman nggak")."""
    words = fold(text)
    if not words:
        return False
    tokens = words.split()
    question = set(w for q in vocabulary().question_words for w in q.split()) - {"is", "do", "does", "can", "boleh"}
    return (text.strip().endswith("?") or bool(question & set(tokens))
            or any(t.endswith("kah") and len(t) > 5 for t in tokens) or len(tokens) > 1 and tokens[-1] == "tidak"
            or any(_starts(words, q) for q in vocabulary().question_words))


def faq_topic(text: str) -> str | None:
    """The topic of a question about the programme ("ini gratis?" -> "free", "untuk apa NIK
    saya?" -> "nik"), or None: not a question, or one the catalogs do not answer."""
    if not is_question(text):
        return None
    stems = _stems(fold(text))
    for topic, entries in vocabulary().faq.items():
        if any(words <= stems for words in entries):
            return topic
    return None


# ---------------------------------------------------------------------------------------------
# Answers that belong elsewhere: a phone number in a name, a command as the heir's relation
_PHONE_RUN = re.compile(r"\+?[0-9][0-9 .\-()\u2013]{7,}[0-9]")


def phone_in(text: str) -> bool:
    """Whether the text holds an Indonesian mobile number ("0812 3456 7890", "+62 812...")."""
    for run in _PHONE_RUN.finditer(text):
        found = run.group(0).strip()
        if not re.match(r"(\+?62|0)", found):
            continue
        try:
            parse_phone(found)
        except InvalidInput:
            continue
        return True
    return False


def command_in_text(text: str) -> str | None:
    """The word when a whole free-text answer is a command or another step's button ("lewati",
    "kirim", "tidak ada"), as folded; else None."""
    words = fold(text)
    return words if words in vocabulary().commands_in_text else None


# ---------------------------------------------------------------------------------------------
# Amounts with a period, ranges and estimates: "50rb sehari", "kadang 500 kadang sejuta"
@dataclass(frozen=True)
class Amount:
    """What a typed income says: `figure` rupiah per `period` (the middle of `low`-`high` for a
    range), `monthly` that figure as a month's, and whether the person must confirm it (`sure`:
    a month's single amount, stated plainly)."""

    monthly: int
    figure: int
    period: str  # day | week | month | year
    per_month: Fraction
    low: int | None = None
    high: int | None = None
    sure: bool = True


_UNIT_WORDS = {"ribu": 1000, "rb": 1000, "rbu": 1000, "rebu": 1000, "k": 1000, "ribuan": 1000, "rbuan": 1000,
               "thousand": 1000, "juta": 1_000_000, "jt": 1_000_000, "jta": 1_000_000, "jutaan": 1_000_000,
               "jtan": 1_000_000, "million": 1_000_000, "millions": 1_000_000, "mio": 1_000_000}
# Units that say "about": "700 ribuan", "2 jutaan".
_ABOUT_UNITS = frozenset({"ribuan", "rbuan", "jutaan", "jtan"})


def _amount_tokens(text: str) -> list[str]:
    """Words and numbers of an amount, numbers with their "." and "," ("1.500.000", "1,5"),
    a dash between numbers kept as "-" ("500-1jt"), "s/d" as "sampai", "/" as "per"."""
    raw = re.sub(r"[.,]-(?=\s|$)", " ", text.casefold())  # "Rp 1.500.000,-"
    raw = re.sub(r"(?<=[^\W\d_]{2})2\b", "", raw)  # SMS doubling: "kira2", "rata2"
    raw = raw.replace("\u00b1", " sekitar ").replace("~", " sekitar ")
    raw = re.sub(r"(?<=[0-9a-z])\s*[-\u2013\u2014]\s*(?=[0-9a-z])", " - ", raw)
    raw = re.sub(r"\bs\s*/\s*d\b|\bs\.d\b\.?", " sampai ", raw)
    raw = raw.replace("/", " per ")
    tokens: list[str] = []
    negations = {w for w, meaning in vocabulary().words.items() if meaning == "tidak"}
    for m in re.finditer(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+|-", raw):
        piece = m.group(0)
        word = piece if piece[0].isdigit() or piece == "-" else normalize_text(piece)
        tokens.append("tidak" if word in negations else word)  # "ga tentu", "ndak tantu"
    return [t for t in tokens if t]


def _take_phrases(tokens: list[str], phrases: Iterable[str]) -> tuple[list[str], bool]:
    """`tokens` with every occurrence of the phrases (longest first) replaced by "|" marks
    of the same length; whether any was found."""
    found = False
    out = list(tokens)
    for phrase in phrases:
        words = phrase.split()
        n = len(words)
        i = 0
        while i + n <= len(out):
            if out[i:i + n] == words:
                out[i:i + n] = ["|"] * n
                found = True
                i += n
            else:
                i += 1
    return out, found


@lru_cache(maxsize=1)
def _number_words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(spelled numbers, words the number reader skips, se-/sa- words that carry a unit)."""
    numbers = vocabulary().numbers
    spelled = {normalize_text(str(w)) for key in ("digits", "one_of") for w in numbers[key]} | {
        normalize_text(w) for key in ("half", "teen", "tens", "hundreds") for w in numbers[key]}
    ignore = {normalize_text(w) for w in numbers["ignore"]}
    units = {normalize_text(str(w)) for w, v in numbers["one_of"].items() if v in ("juta", "ribu")}
    return frozenset(spelled), frozenset(ignore), frozenset(units)


def _chunk_value(chunk: list[str]) -> tuple[int, bool] | None:
    """The rupiah of one amount's tokens, and whether it carried a unit ("500" is bare)."""
    spelled, ignore, unit_words = _number_words()
    unit = any(t in _UNIT_WORDS or t in unit_words for t in chunk)
    mapped = ["juta" if _UNIT_WORDS.get(t) == 1_000_000 else "ribu" if _UNIT_WORDS.get(t) == 1000 else t for t in chunk]
    if any(t in spelled for t in mapped):
        text = amount_text(" ".join(mapped))
    else:
        text = " ".join(t for t in mapped if t not in ignore)
    try:
        return parse_income(text), unit
    except InvalidInput:
        return None


def read_amount(text: str) -> Amount | None:
    """An income as people say it, with its period ("50rb sehari", "350 ribu seminggu", Minang
    "sapakan", "10 juta setahun"), as a range ("500rb - 1jt", "antara 500 ribu sampai 1 juta",
    "kadang 500 kadang sejuta": the middle) or an estimate ("tidak tentu, kira-kira 300 ribu",
    "700 ribuan", "sejuta lebih": the figure stated), in digits, SMS units or number words of
    Indonesian, Minang and English; particles and hedges ("lah", "pak", "kira-kira") change
    nothing. The month's amount is the day's x 25 working days, the week's x 4 or the year's / 12
    (understanding.yaml `amounts`); anything but a plain month's amount is `sure=False` (the
    person confirms). None when no amount is read, two periods are named, or it is per harvest."""
    vocab = vocabulary()
    words = vocab.amounts
    tokens = _amount_tokens(text)
    if not tokens or len(tokens) > 40:
        return None
    tokens = [t for t in tokens if t not in vocab.particles]
    tokens, harvest = _take_phrases(tokens, words.harvest)
    if harvest:
        return None
    periods: set[str] = set()
    for name, (_, phrases) in words.periods.items():
        tokens, found = _take_phrases(tokens, phrases)
        if found:
            periods.add(name)
    if len(periods) > 1:
        return None
    period = periods.pop() if periods else "month"
    # Hedges of several words first: "kurang lebih" is "about", not "more than".
    tokens, _ = _take_phrases(tokens, [f for f in words.fillers if " " in f])
    tokens, vague = _take_phrases(tokens, words.vague)
    tokens, sometimes = _take_phrases(tokens, words.sometimes)
    tokens, lead = _take_phrases(tokens, words.range_lead)
    tokens, _ = _take_phrases(tokens, list(words.range_between) + (list(words.range_and) if lead else []))
    spelled, ignore, unit_words = _number_words()
    fillers = set(words.fillers)
    chunks: list[list[str]] = [[]]
    loose = False
    for token in tokens:
        if token[0].isdigit() or token in _UNIT_WORDS or token in spelled or token in unit_words:
            vague = vague or token in _ABOUT_UNITS
            chunks[-1].append(token)
        elif token == "an" and chunks[-1]:
            vague = True  # "500an", "1 jt-an"
        elif token in ignore and chunks[-1]:
            chunks[-1].append(token)
        else:
            loose = loose or not (token in ("|", "-") or token in fillers or token in ignore)
            if chunks[-1]:
                chunks.append([])
    for chunk in chunks:
        while chunk and chunk[-1] in ignore:
            chunk.pop()
    chunks = [c for c in chunks if c]
    if not 1 <= len(chunks) <= 2:
        return None
    values = [_chunk_value(c) for c in chunks]
    amounts = [v for v in values if v is not None]
    if len(amounts) != len(values):
        return None
    low = high = None
    if len(amounts) == 2:
        (low, low_unit), (high, high_unit) = amounts
        if not low_unit and high_unit:
            low = _borrow_unit(low, high, chunks[1])
        elif low_unit and not high_unit:
            high = _borrow_unit(high, low, chunks[0], upper=True)
        low, high = min(low, high), max(low, high)
        if low == high:
            return None
        figure = _round_thousand(Fraction(low + high, 2))
        bare = not (low_unit or high_unit)
    else:
        figure, unit = amounts[0]
        bare = not unit and figure < 1000
        if bare:
            # "50 sehari" is fifty thousand; a month's "2" two million, "800" eight hundred thousand.
            figure = figure * 1000 if period != "month" or figure >= 100 else figure * 1_000_000 if figure <= 20 else 0
    if figure <= 0 or bare and loose:
        return None
    per_month = words.periods[period][0]
    monthly = figure if period == "month" else _round_thousand(figure * per_month)
    sure = period == "month" and low is None and not (vague or sometimes or loose or bare)
    return Amount(monthly=monthly, figure=figure, period=period, per_month=per_month, low=low, high=high, sure=sure)


def _borrow_unit(bare: int, other: int, other_chunk: list[str], upper: bool = False) -> int:
    """A range's bare side takes the unit of the other ("500 - 1 juta" is 500 ribu to 1 juta,
    "1-2 juta" 1 juta to 2 juta); a low end that would pass the high one is thousands."""
    if bare >= 1000:
        return bare
    unit = max((_UNIT_WORDS.get(t, 0) for t in other_chunk), default=0) or (1_000_000 if other >= 1_000_000 else 1000)
    guess = bare * unit
    if not upper and guess > other:
        return bare * 1000
    return guess


def _round_thousand(value: Fraction | int) -> int:
    """To the nearest thousand rupiah, halves up (an estimate, shown for confirmation)."""
    return int(Fraction(value) / 1000 + Fraction(1, 2)) * 1000


def income_uncertain(text: str) -> bool:
    """Whether the text only says that the income varies ("tidak tentu", "kadang ada kadang tidak"),
    with no amount in it."""
    tokens = _amount_tokens(text)
    if any(t[0].isdigit() for t in tokens if t != "-"):
        return False
    rest, found = _take_phrases([t for t in tokens if t not in vocabulary().particles], vocabulary().amounts.uncertain)
    return found


def harvest_amount(text: str) -> bool:
    """Whether an amount is given per harvest ("panen 6 juta"): a month's cannot be known from it."""
    tokens = _amount_tokens(text)
    _, found = _take_phrases(tokens, vocabulary().amounts.harvest)
    return found and any(t[0].isdigit() or t in _UNIT_WORDS for t in tokens if t != "-")
