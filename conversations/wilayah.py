"""Kecamatan and nagari of Kabupaten Sijunjung, and matching typed names.

Everything is keyed on Kemendagri codes (``13.03.CC.NNNN``); BPS numbers the
regency 1304, a different code system (docs/domain.md "Administrative areas").

People type village names in Minangkabau or Indonesian spelling ("Lubuak" /
"Lubuk", "Aie" / "Air"), with or without "nagari"/"desa", and with typos.
Matching therefore works on a *canonical key*: :func:`canonical` folds the
text (:func:`~conversations.validators.normalize_text`), drops the prefix
words, and maps every spelling variant of a word to one canonical word.
Names are compared on these keys, first exactly, then by edit distance.

The only I/O is :meth:`Wilayah.load`, which reads the two CSV files shipped
in ``data/``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from conversations.validators import normalize_text

__all__ = [
    "Kecamatan",
    "Nagari",
    "NagariMatch",
    "Wilayah",
    "canonical",
    "MAX_CANDIDATES",
    "CANDIDATE_CUTOFF",
]

MAX_CANDIDATES = 5
# rapidfuzz.fuzz.ratio (0-100) a name must reach to be offered as a
# "did you mean" candidate.  70 keeps two-letter typos of short names
# ("Kumanih") and drops unrelated words (e.g. "Jakarta" vs "Kamang" = 46).
CANDIDATE_CUTOFF = 70.0
# Score given to a name whose words start with every word typed ("Sumpur"
# -> "Sumpur Kudus", "Sumpur Kudus Selatan"): enough to be a candidate,
# never a confident match.
_PREFIX_SCORE = 80.0
# Below this many characters a typed key is too short to guess from.
_MIN_FUZZY_LENGTH = 3

# Minangkabau / Indonesian / older-spelling variants -> one canonical word.
# The canonical side is arbitrary but must be used consistently; mostly the
# Indonesian form.  Sources: the two spellings in data/sijunjung_*.csv, the
# 2018 Kemendagri spellings (data/SOURCES.md) and docs/domain.md.
_WORD_VARIANTS: dict[str, str] = {
    # Minang -> Indonesian sound changes (-uak/-uk, -uang/-ung, -ik/-it ...)
    "lubuak": "lubuk",
    "aie": "air",
    "aia": "air",
    "guguak": "guguk",
    "tanjuang": "tanjung",
    "tanjong": "tanjung",
    "parik": "parit",
    "batuang": "batung",
    "takuang": "takung",
    "buluah": "buluh",
    "sibusuak": "sibusuk",
    "manjulua": "manjulur",
    "labuah": "labuh",
    "kampuang": "kampung",
    "bukik": "bukit",
    "muaro": "muara",
    "pamatang": "pematang",
    "teratak": "taratak",
    "tuo": "tua",
    "limo": "lima",
    "lansek": "langsat",
    "kaliang": "kaling",
    "paruh": "paru",
    "mangganti": "manganti",
    "mengganti": "manganti",
    "sungai": "sungai",
    "sei": "sungai",
    "sungi": "sungai",
    # Numbers in kecamatan names: Koto VII = Koto Tujuh, IV Nagari = Empat.
    "vii": "tujuh",
    "7": "tujuh",
    "iv": "empat",
    "4": "empat",
    "v": "lima",
    "5": "lima",
}

# Phrases that name a village differently from its official name, beyond
# the BPS spelling loaded from the crosswalk.
_EXTRA_NAGARI_ALIASES: dict[str, tuple[str, ...]] = {
    "13.03.04.2003": ("Muaro Silokek",),
    "13.03.09.2001": ("Sepakat Silantai",),
    "13.03.06.2004": ("Aia Amo",),  # Kemendagri 2018 spelling
    "13.03.09.2008": ("Mangganti",),  # Kemendagri 2018 spelling
}

_NAGARI_PREFIXES = frozenset({"nagari", "desa", "kenagarian", "kanagarian", "nag", "ds"})
_KECAMATAN_PREFIXES = frozenset({"kecamatan", "kec", "kc"})

_CODE_NAGARI = re.compile(r"13\.03\.[0-9]{2}\.[0-9]{4}")


@dataclass(frozen=True)
class Kecamatan:
    """A district, e.g. ``Kecamatan("13.03.03", "Tanjung Gadang")``."""

    code: str
    name: str


@dataclass(frozen=True)
class Nagari:
    """A village (61 nagari and one desa) with its BPS counterpart if known."""

    code: str
    name: str
    kecamatan: Kecamatan
    bps_code: str | None = None
    bps_name: str | None = None


@dataclass(frozen=True)
class NagariMatch:
    """Result of :meth:`Wilayah.match`.

    Exactly one of these situations holds:

    - ``nagari`` set: a single confident match (``candidates`` empty);
    - ``nagari`` None, ``candidates`` non-empty: ambiguous or a close typo,
      best first, at most :data:`MAX_CANDIDATES`; the flow should ask;
    - ``kecamatan`` set: the text names a kecamatan (alone, or together
      with candidates when a kecamatan and a nagari share the name);
    - everything empty: nothing recognised.
    """

    nagari: Nagari | None = None
    candidates: tuple[Nagari, ...] = ()
    kecamatan: Kecamatan | None = None

    @property
    def confident(self) -> bool:
        return self.nagari is not None


_Kind = Literal["nagari", "kecamatan"]


def _strip_prefix(words: list[str]) -> tuple[list[str], _Kind | None]:
    """Drop leading "nagari"/"desa"/"kecamatan"... words, report the first.

    Repeated prefixes ("Nagari Desa Kampung Baru") are all dropped; a text
    made of prefix words only leaves nothing to match.
    """
    kind: _Kind | None = None
    while words and words[0] in _NAGARI_PREFIXES | _KECAMATAN_PREFIXES:
        if kind is None:
            kind = "nagari" if words[0] in _NAGARI_PREFIXES else "kecamatan"
        words = words[1:]
    return words, kind


def _canonical_words(text: str) -> tuple[list[str], _Kind | None]:
    words, kind = _strip_prefix(normalize_text(text).split())
    return [_WORD_VARIANTS.get(w, w) for w in words], kind


def canonical(text: str) -> str:
    """Canonical matching key of a place name.

    >>> canonical("Nagari Lubuak Tarok") == canonical("lubuk  tarok")
    True
    """
    return " ".join(_canonical_words(text)[0])


def _allowed_typos(key: str) -> int:
    """Edit distance still treated as a sure typo, by length of the name.

    One slip in a short name ("Kumanih", "Palangky"), two in names of eight
    or more letters; nothing for names under four letters, where one letter
    already makes another word.
    """
    n = len(key)
    if n < 4:
        return 0
    if n < 8:
        return 1
    return 2


_Place = TypeVar("_Place", Nagari, Kecamatan)


@dataclass(frozen=True)
class _Entry(Generic[_Place]):
    key: str  # canonical key with spaces
    compact: str  # same without spaces ("lubuktarok")
    target: _Place


class Wilayah:
    """The regency's kecamatan and nagari, with name matching.

    Build it with :meth:`load`; instances are immutable after that and safe
    to share between conversations.
    """

    def __init__(self, kecamatan: Sequence[Kecamatan], nagari: Sequence[Nagari]) -> None:
        self._kecamatan = sorted(kecamatan, key=lambda k: k.code)
        self._nagari = sorted(nagari, key=lambda n: n.code)
        self._by_code = {n.code: n for n in self._nagari}
        self._kec_by_code = {k.code: k for k in self._kecamatan}
        self._in_kec: dict[str, list[Nagari]] = {k.code: [] for k in self._kecamatan}
        for n in self._nagari:
            self._in_kec[n.kecamatan.code].append(n)

        # Pre-computed keys (docs/domain.md: names are typed many ways).
        self._nagari_entries: list[_Entry[Nagari]] = []
        for n in self._nagari:
            names = [n.name, *(_EXTRA_NAGARI_ALIASES.get(n.code, ()))]
            if n.bps_name:
                names.append(n.bps_name)
            self._nagari_entries.extend(self._entries(names, n))
        self._kec_entries: list[_Entry[Kecamatan]] = []
        for k in self._kecamatan:
            self._kec_entries.extend(self._entries([k.name], k))
        self._nagari_exact = self._index(self._nagari_entries)
        self._kec_exact = self._index(self._kec_entries)

    @staticmethod
    def _entries(names: Iterable[str], target: _Place) -> list[_Entry[_Place]]:
        seen: set[str] = set()
        out = []
        for name in names:
            key = canonical(name)
            if key and key not in seen:
                seen.add(key)
                out.append(_Entry(key, key.replace(" ", ""), target))
        return out

    @staticmethod
    def _index(entries: list[_Entry[_Place]]) -> dict[str, list[_Place]]:
        index: dict[str, list[_Place]] = {}
        for e in entries:
            for k in (e.key, e.compact):
                bucket = index.setdefault(k, [])
                if e.target not in bucket:
                    bucket.append(e.target)
        return index

    # ------------------------------------------------------------------ load

    @classmethod
    def load(cls, wilayah_csv: Path, crosswalk_csv: Path | None = None) -> Wilayah:
        """Read ``sijunjung_wilayah.csv`` and, optionally, the BPS crosswalk.

        Raises ``ValueError`` when the files disagree with each other or a
        code is malformed: bad reference data must stop the bot at start-up,
        not mis-file registrations.
        """
        kecamatan: dict[str, Kecamatan] = {}
        rows: list[tuple[str, Kecamatan, str]] = []
        with Path(wilayah_csv).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                code = row["kode"].strip()
                if not _CODE_NAGARI.fullmatch(code):
                    raise ValueError(f"{wilayah_csv}: malformed kode {code!r}")
                kec_code = code[:8]
                kec_name = row["kecamatan"].strip()
                kec = kecamatan.setdefault(kec_code, Kecamatan(kec_code, kec_name))
                if kec.name != kec_name:
                    raise ValueError(f"{wilayah_csv}: {kec_code} has two names")
                rows.append((code, kec, row["nagari"].strip()))
        codes = [code for code, _, _ in rows]
        if len(set(codes)) != len(codes):
            raise ValueError(f"{wilayah_csv}: duplicate kode")

        bps: dict[str, tuple[str, str]] = {}
        if crosswalk_csv is not None:
            names = {code: name for code, _, name in rows}
            with Path(crosswalk_csv).open(encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f):
                    code = row["kode"].strip()
                    if code not in names:
                        raise ValueError(f"{crosswalk_csv}: unknown kode {code!r}")
                    if row["nama_kemendagri"].strip() != names[code]:
                        raise ValueError(f"{crosswalk_csv}: name of {code} differs")
                    bps[code] = (row["kode_bps"].strip(), row["nama_bps"].strip())

        nagari = [
            Nagari(code, name, kec, *bps.get(code, (None, None)))
            for code, kec, name in rows
        ]
        return cls(list(kecamatan.values()), nagari)

    # --------------------------------------------------------------- lookups

    @property
    def kecamatan(self) -> list[Kecamatan]:
        """All kecamatan, ordered by code."""
        return list(self._kecamatan)

    @property
    def all_nagari(self) -> list[Nagari]:
        """All villages, ordered by code."""
        return list(self._nagari)

    def nagari_in(self, kecamatan_code: str) -> list[Nagari]:
        """Villages of one kecamatan, ordered by code (empty if unknown)."""
        return list(self._in_kec.get(kecamatan_code, ()))

    def by_code(self, code: str) -> Nagari | None:
        """The village with this Kemendagri code ("13.03.08.2005")."""
        return self._by_code.get(code.strip())

    def kecamatan_by_code(self, code: str) -> Kecamatan | None:
        """The kecamatan with this Kemendagri code ("13.03.08")."""
        return self._kec_by_code.get(code.strip())

    # -------------------------------------------------------------- matching

    def match_kecamatan(self, text: str) -> Kecamatan | None:
        """The kecamatan ``text`` names, exactly or with a small typo."""
        words, _ = _canonical_words(text)
        key = " ".join(words)
        exact = self._exact(self._kec_exact, key)
        if exact:
            return exact[0]
        if len(key) < _MIN_FUZZY_LENGTH:
            return None
        winners = self._sure_typo(key, self._kec_entries)
        return winners[0] if len(winners) == 1 else None

    def nagari_argument(self, text: str) -> tuple[Nagari | None, bool]:
        """A nagari named by an official in a command (`/kuota Sijunjung 120`, `officials add
        --nagari Muara`): an exact name wins over any fuzzy match, and where a kecamatan and a
        nagari share the name the nagari is meant (an official's argument is always a nagari).
        Returns the nagari and whether the name is also a kecamatan's (the answer says so)."""
        words, _ = _canonical_words(text)
        key = " ".join(words)
        if not key:
            return None, False
        exact = self._exact(self._nagari_exact, key)
        if len(exact) == 1:
            return exact[0], bool(self._exact(self._kec_exact, key))
        found = self.match(text)
        return found.nagari, False

    def match(self, text: str) -> NagariMatch:
        """Match what someone typed against the villages (and kecamatan).

        Order of rules:

        1. exact canonical match of a nagari and/or a kecamatan.  When both
           match ("Sijunjung", "Tanjung Gadang", "Sumpur Kudus", and
           "Lubuk Tarok", whose nagari is "Lubuak Tarok") the answer is
           ambiguous: no nagari, the nagari of that name (and the longer
           names starting with it, e.g. "Sumpur Kudus Selatan") as
           candidates, and the kecamatan.  A "nagari"/"desa" prefix settles
           it for the nagari, a "kecamatan"/"kec" prefix for the kecamatan.
           An exact match of a short name ("Padang Laweh") is confident
           even though a longer name starts with it.
        2. "<nagari> <kecamatan>" or "<kecamatan> <nagari>" where the nagari
           lies in that kecamatan ("Muaro, Sijunjung"): confident.
        3. a sure typo: within :func:`_allowed_typos` edit operations
           (optimal string alignment, so swapped letters count once) of one
           name only, and strictly closer than any other place.
        4. otherwise candidates: up to 5 villages by ``fuzz.ratio`` at or
           above :data:`CANDIDATE_CUTOFF`, or whose words start with the
           words typed.
        """
        words, kind = _canonical_words(text)
        key = " ".join(words)
        if not key:
            return NagariMatch()

        # 1. exact
        nag = self._exact(self._nagari_exact, key)
        kec = self._exact(self._kec_exact, key)
        # The prefix settles a shared name; if it names the wrong kind of
        # place ("Nagari Koto VII") the other kind is still the answer.
        if kind == "nagari" and nag:
            kec = []
        elif kind == "kecamatan" and kec:
            nag = []
        if nag or kec:
            return self._resolve(nag, kec)

        # 2. nagari + kecamatan in one message
        combined = self._split_match(words)
        if combined is not None:
            return NagariMatch(nagari=combined)

        # 3. sure typo
        if len(key.replace(" ", "")) >= _MIN_FUZZY_LENGTH:
            nag = [] if kind == "kecamatan" else self._sure_typo(key, self._nagari_entries)
            kec = [] if kind == "nagari" else self._sure_typo(key, self._kec_entries)
            # Both pools compete: a typo is only sure if no place of the
            # other kind is as close, unless both carry the same name.
            if nag and kec:
                nag_d, nag_name = self._closest(key, self._nagari_entries)
                kec_d, kec_name = self._closest(key, self._kec_entries)
                if nag_name != kec_name:
                    if nag_d < kec_d:
                        kec = []
                    elif kec_d < nag_d:
                        nag = []
                    else:
                        nag, kec = [], []
            if nag or kec:
                return self._resolve(nag, kec)
            if kind == "kecamatan":
                return NagariMatch()

        # 4. candidates
        return NagariMatch(candidates=self._candidates(key))

    # ----------------------------------------------------------- internals

    @staticmethod
    def _exact(index: dict[str, list[_Place]], key: str) -> list[_Place]:
        return index.get(key) or index.get(key.replace(" ", "")) or []

    def _resolve(self, nag: list[Nagari], kec: list[Kecamatan]) -> NagariMatch:
        if len(nag) == 1 and not kec:
            return NagariMatch(nagari=nag[0])
        if not nag:
            return NagariMatch(kecamatan=kec[0] if len(kec) == 1 else None)
        # A nagari and a kecamatan share the name: the flow must ask.
        first = nag[0]
        extended = [
            n
            for n in self._nagari
            if n not in nag
            and any(
                e.target == n and e.key.startswith(canonical(first.name) + " ")
                for e in self._nagari_entries
            )
        ]
        cands = tuple([*nag, *extended][:MAX_CANDIDATES])
        return NagariMatch(candidates=cands, kecamatan=kec[0] if len(kec) == 1 else None)

    def _split_match(self, words: list[str]) -> Nagari | None:
        for i in range(1, len(words)):
            tail_words, _ = _strip_prefix(words[i:])
            tail_key = " ".join(tail_words)
            head_words, _ = _strip_prefix(words[:i])
            head_key = " ".join(head_words)
            for nag_key, kec_key in ((head_key, tail_key), (tail_key, head_key)):
                kecs = self._exact(self._kec_exact, kec_key)
                nags = self._exact(self._nagari_exact, nag_key)
                inside = [n for n in nags if n.kecamatan in kecs]
                if len(inside) == 1:
                    return inside[0]
        return None

    @staticmethod
    def _closest(key: str, pool: Sequence[_Entry[_Place]]) -> tuple[int, str]:
        """Smallest edit distance from ``key`` to any alias, and that alias."""
        compact = key.replace(" ", "")
        return min((OSA.distance(compact, e.compact), e.compact) for e in pool)

    @staticmethod
    def _sure_typo(key: str, pool: Sequence[_Entry[_Place]]) -> list[_Place]:
        """Places of ``pool`` that are a sure typo of ``key``, or nothing.

        The closest alias must be within its :func:`_allowed_typos` and no
        other place may be as close (a village's own aliases do not
        compete with each other).
        """
        compact = key.replace(" ", "")
        best: dict[_Place, tuple[int, str]] = {}
        for e in pool:
            d = OSA.distance(compact, e.compact)
            if e.target not in best or d < best[e.target][0]:
                best[e.target] = (d, e.compact)
        if not best:
            return []
        top = min(d for d, _ in best.values())
        winners = [t for t, (d, _) in best.items() if d == top]
        if len(winners) != 1 or top > _allowed_typos(best[winners[0]][1]):
            return []
        return winners

    def _candidates(self, key: str) -> tuple[Nagari, ...]:
        if len(key.replace(" ", "")) < _MIN_FUZZY_LENGTH:
            return ()
        typed = key.split()
        scores: dict[Nagari, float] = {}
        for e in self._nagari_entries:
            score = max(
                fuzz.ratio(key, e.key),
                fuzz.ratio(key.replace(" ", ""), e.compact),
            )
            name_words = e.key.split()
            if len(typed) <= len(name_words) and all(
                any(w.startswith(t) for w in name_words) for t in typed
            ):
                score = max(score, _PREFIX_SCORE)
            if score >= CANDIDATE_CUTOFF and score > scores.get(e.target, -1.0):
                scores[e.target] = score
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0].code))
        return tuple(n for n, _ in ranked[:MAX_CANDIDATES])
