"""What an official means by a message that is no command, pure: the desk's phrasings
(conversations/data/desk.yaml) read after the same folding as the workers' answers.

`desk_intent("tolong kirim daftar yang sudah disetujui")` -> "approved_list"; None when nothing
matches (the desk then answers with what waits for the official). An action ("approve_all",
"register_self") is never read from a message that negates it ("jangan setujui semua dulu").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from conversations.understand import fold

DATA_FILE = Path(__file__).resolve().parent.joinpath("data", "desk").with_suffix(".yaml")
INTENTS = ("links", "register_self", "approve_all", "how_approve", "approved_list", "queue", "stats", "help", "new")
ACTIONS = frozenset({"register_self", "approve_all"})


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # folded; a word ending in "*" matches any word it begins

    def found_in(self, words: set[str]) -> bool:
        return all(_word_in(word, words) for word in self.words)


def _word_in(word: str, words: set[str]) -> bool:
    if word.endswith("*"):
        stem = word[:-1]
        return any(w.startswith(stem) for w in words)
    return word in words


@dataclass(frozen=True)
class DeskVocabulary:
    exact: dict[str, frozenset[str]]
    intents: dict[str, tuple[Phrase, ...]]
    negations: tuple[Phrase, ...]


def _phrase(words: list[object]) -> Phrase:
    folded = []
    for word in words:
        text = str(word)
        star = text.endswith("*")
        base = fold(text.rstrip("*")) if text.rstrip("*") else text.rstrip("*")
        folded.extend(f"{w}*" if star and i == len(base.split()) - 1 else w for i, w in enumerate(base.split()))
    return Phrase(tuple(folded))


@lru_cache(maxsize=1)
def desk_vocabulary() -> DeskVocabulary:
    raw = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    unknown = (set(raw["intents"]) | set(raw["exact"])) - set(INTENTS)
    if unknown:
        raise ValueError(f"{DATA_FILE.name}: unknown intents {sorted(unknown)}")
    return DeskVocabulary(
        exact={str(k): frozenset(fold(str(v)) or str(v) for v in values) for k, values in raw["exact"].items()},
        intents={name: tuple(_phrase(p) for p in raw["intents"].get(name, [])) for name in INTENTS},
        negations=tuple(_phrase(p) for p in raw["negations"]),
    )


def desk_intent(text: str) -> str | None:
    """The intent of an official's message, or None."""
    vocab = desk_vocabulary()
    folded = fold(text) or text.strip()
    words = set(folded.split())
    negated = any(phrase.found_in(words) for phrase in vocab.negations)
    for name in INTENTS:
        if name in ACTIONS and negated:
            continue
        if folded in vocab.exact.get(name, ()) or any(p.found_in(words) for p in vocab.intents[name]):
            return name
    return None
