"""Pure validators and normalisers for what workers type into the chat.

Every parser either returns a clean value or raises :class:`InvalidInput`
carrying a message-catalog key (e.g. ``"nik.length"``) and the placeholders
for that message, so the conversation layer can answer in the user's
language without knowing how the check was done.

This module does no I/O and imports nothing from the bot, handlers, storage
or any channel library: it must stay usable from tests, import scripts and
admin tools alike.  Rules come from ``docs/domain.md`` (the project's domain
brief); the comments below cite them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import phonenumbers

__all__ = [
    "InvalidInput",
    "NikInfo",
    "age_on",
    "contains_nik",
    "format_phone",
    "mask_nik",
    "normalize_name",
    "normalize_nik",
    "normalize_text",
    "parse_date",
    "parse_income",
    "parse_nik",
    "parse_phone",
    "INCOME_MAX",
    "NAME_MIN_LENGTH",
    "NAME_MAX_LENGTH",
]


class InvalidInput(ValueError):
    """A user's answer was refused.

    ``key`` is a message-catalog key (``"nik.length"``, ``"phone.invalid"``
    ...) and ``params`` the placeholders that message may use.  The exception
    text is only meant for logs and therefore never contains the input itself
    (a NIK must never be logged, docs/domain.md "NIK").
    """

    key: str
    params: dict[str, Any]

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"InvalidInput({self.key!r}, **{self.params!r})"


# ---------------------------------------------------------------------------
# Shared character handling
# ---------------------------------------------------------------------------

# Zero-width characters ride along when numbers are copied out of WhatsApp or
# a PDF; they are invisible to the user, so they must never make input fail.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
# Every dash a phone keyboard or word processor may produce.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
# Apostrophe look-alikes: iOS "smart punctuation" turns ' into \u2019.
_APOSTROPHES = "'\u2018\u2019\u02bc\u02b9\u0060\u00b4\u2032\uff07"


def _ascii_digits(text: str) -> str:
    """Map every decimal digit (fullwidth, Arabic-Indic ...) to ASCII.

    Only category Nd is mapped, so superscripts and circled numbers, which
    are not digits a person means to type, stay as they are and are refused.
    """
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif unicodedata.category(ch) == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        else:
            out.append(ch)
    return "".join(out)


def normalize_text(text: str) -> str:
    """Fold text for fuzzy comparison: the one normaliser used everywhere.

    Case-folds, strips accents, removes apostrophes *inside* words (so
    "Jum'at" and "Jumat" compare equal: in Indonesian names the apostrophe
    marks a glottal stop, not a word break), and turns every other run of
    whitespace, punctuation or symbols into a single space.  Letters of any
    script and digits are kept.
    """
    text = _ascii_digits(unicodedata.normalize("NFKD", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    for ch in _APOSTROPHES:
        text = text.replace(ch, "")
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# NIK
# ---------------------------------------------------------------------------

# docs/domain.md "NIK": valid after removing spaces, dots and dashes; people also group it with
# slashes. Any Unicode whitespace (non-breaking spaces included) counts as a space, and runs of
# separators, mixed or not ("1303 . 0712 - 0385"), count as one. The form (normalize_nik) and the
# guard on free text (nik_spans) share this one definition.
_NIK_SEPARATOR = r"[\s./\\" + re.escape(_DASHES + _INVISIBLE) + r"]"
_NIK_SEPARATORS = re.compile(_NIK_SEPARATOR + "+")

NIK_LENGTH = 16
# Ages above this are not a living applicant: used to pick the century.
_MAX_AGE = 110


def normalize_nik(text: str) -> str:
    """Remove the separators people type inside a NIK.

    Spaces (any Unicode whitespace, including non-breaking spaces), dots,
    dashes, slashes and zero-width characters are removed; non-ASCII decimal digits
    are mapped to ASCII.  Nothing else is touched, so a letter typed by
    mistake still shows up in :func:`parse_nik` as ``nik.not_digits``.
    """
    return _NIK_SEPARATORS.sub("", _ascii_digits(text))


@dataclass(frozen=True)
class NikInfo:
    """What a structurally valid NIK says about its holder.

    The regency/kecamatan codes are where the NIK was *first* issued and the
    birth date may be wrong on the card: docs/domain.md says never derive the
    nagari from them and never reject because of them.
    """

    nik: str
    province: str
    regency_prefix: str
    kecamatan_code: str
    sex: Literal["L", "P"]
    birth_date: date
    serial: str
    outside_home: bool


def age_on(birth: date, today: date) -> int:
    """Completed years between ``birth`` and ``today``.

    Someone born on 29 February turns a year older on 1 March in non-leap
    years (the birthday has not happened while (month, day) < (2, 29)).
    """
    had_birthday = (today.month, today.day) >= (birth.month, birth.day)
    return today.year - birth.year - (0 if had_birthday else 1)


def _nik_birth_date(
    day: int, month: int, yy: int, today: date, plausible_age: tuple[int, int]
) -> date:
    """Pick the century of a NIK's two-digit year (docs/domain.md: ambiguous).

    Candidates are 19yy and 20yy.  Dates that do not exist (29 Feb in a
    non-leap year), lie in the future, or give an age over 110 are dropped.
    A candidate whose age lies inside ``plausible_age`` (inclusive) wins;
    otherwise the most recent remaining one.
    """
    candidates: list[date] = []
    for century in (2000, 1900):  # most recent first
        try:
            born = date(century + yy, month, day)
        except ValueError:
            continue
        if born > today or age_on(born, today) > _MAX_AGE:
            continue
        candidates.append(born)
    if not candidates:
        raise InvalidInput("nik.date")
    low, high = plausible_age
    for born in candidates:
        if low <= age_on(born, today) <= high:
            return born
    return candidates[0]


def parse_nik(
    text: str,
    today: date,
    home_prefix: str = "1303",
    plausible_age: tuple[int, int] = (15, 65),
) -> NikInfo:
    """Check a NIK's structure and decode it (docs/domain.md "NIK").

    Raises :class:`InvalidInput` with, in this order of checking:

    - ``nik.not_digits``: something other than digits and separators;
    - ``nik.length`` (``count``: digits found): not 16 digits;
    - ``nik.province`` (``province``): province code outside 11-96;
    - ``nik.month`` (``month``): month outside 01-12;
    - ``nik.date``: day not in 01-31 / 41-71, or no century gives a real,
      past date with an age of at most 110;
    - ``nik.serial``: serial 0000.

    A regency prefix other than ``home_prefix`` is *not* an error (the NIK
    keeps the place of first issue for life): it only sets ``outside_home``
    so the official can be warned.
    """
    nik = normalize_nik(text)
    if nik == "":
        raise InvalidInput("nik.length", count=0)
    if not (nik.isascii() and nik.isdigit()):
        raise InvalidInput("nik.not_digits")
    if len(nik) != NIK_LENGTH:
        raise InvalidInput("nik.length", count=len(nik))

    province = nik[0:2]
    if not 11 <= int(province) <= 96:
        raise InvalidInput("nik.province", province=province)

    raw_day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if not 1 <= month <= 12:
        raise InvalidInput("nik.month", month=nik[8:10])

    # Women have 40 added to the day of birth.
    if 1 <= raw_day <= 31:
        sex: Literal["L", "P"] = "L"
        day = raw_day
    elif 41 <= raw_day <= 71:
        sex = "P"
        day = raw_day - 40
    else:
        raise InvalidInput("nik.date")
    birth = _nik_birth_date(day, month, yy, today, plausible_age)

    serial = nik[12:16]
    if serial == "0000":  # serials start at 0001
        raise InvalidInput("nik.serial")

    return NikInfo(
        nik=nik,
        province=province,
        regency_prefix=nik[0:4],
        kecamatan_code=nik[0:6],
        sex=sex,
        birth_date=birth,
        serial=serial,
        outside_home=nik[0:4] != home_prefix,
    )


# Groups of digits joined by separators: "1303 0552 0385 0001", "1303 . 0552/0385-0001".
_DIGIT_RUN = re.compile(r"[0-9]+(?:" + _NIK_SEPARATOR + r"+[0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")


def nik_spans(text: str) -> list[tuple[int, int]]:
    """Where a text holds something that may be a NIK: each run of digit groups joined by the
    separators the form accepts, in which consecutive groups add up to exactly 16 digits
    ("1303071203856200", "1303  0712  0385  6200", "hp 0812 3456 7890 1303 0712 0385 6200").

    The one NIK guard: the form refuses free text with such a run, help-desk and log text has
    it masked, broadcasts refuse it. It errs on the side of caution: a phone number and a date
    typed together can look like a NIK, and are masked too."""
    digits = _ascii_digits(text)
    if len(digits) != len(text):  # not one character for one: judge the text as a whole
        return [(0, len(text))] if _has_nik_run(digits) else []
    return [run.span() for run in _DIGIT_RUN.finditer(digits) if _holds_nik(run.group(0))]


def _holds_nik(run: str) -> bool:
    sizes = [len(group) for group in _DIGIT_GROUP.findall(run)]
    for start in range(len(sizes)):
        total = 0
        for size in sizes[start:]:
            total += size
            if total >= NIK_LENGTH:
                if total == NIK_LENGTH:
                    return True
                break
    return False


def _has_nik_run(digits: str) -> bool:
    return any(_holds_nik(run.group(0)) for run in _DIGIT_RUN.finditer(digits))


def contains_nik(text: str) -> bool:
    """Whether a free-text answer (a name, a jorong, a reason, a broadcast) holds a number
    shaped like a NIK (`nik_spans`).

    Such text is refused with an explanation and never stored: a NIK may only be kept
    encrypted, in its own field.
    """
    return bool(nik_spans(text))


def mask_niks_in(text: str, replacement: str | None = None) -> str:
    """`text` with every NIK-shaped run (`nik_spans`) masked: its first 4 digits kept, every other
    digit a "*" ("NIK saya 1303 **** **** ****"), or the whole run replaced by `replacement`
    (logs). What a worker writes to an official is passed on and kept, never with a NIK in
    clear."""
    out, last = [], 0
    for start, end in nik_spans(text):
        found = text[start:end]
        if replacement is not None:
            masked = replacement
        else:
            seen, chars = 0, []
            for ch in found:
                if ch.isdigit():
                    seen += 1
                    chars.append(ch if seen <= 4 else "*")
                else:
                    chars.append(ch)
            masked = "".join(chars)
        out.append(text[last:start] + masked)
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_nik(nik: str) -> str:
    """Hide a NIK for display: ``"1303************"``.

    Only the first 4 digits (the regency where it was issued, useful to the official) are shown.
    This satisfies both rules we have: the issue's "at most the first 4 and last 2 digits
    visible" and Kemendagri's request (docs/domain.md) to hide at least the last 4 digits. The worker
    checks their NIK through the birth date and sex derived from it, shown beside the mask.
    Any other input (wrong length, stray characters) is masked completely.
    """
    value = normalize_nik(nik)
    if len(value) != NIK_LENGTH:
        return "*" * len(value)
    return value[:4] + "*" * (NIK_LENGTH - 4)


# ---------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s.()\[\]/" + re.escape(_DASHES + _INVISIBLE) + r"]+")
_PHONE_SHAPE = re.compile(r"\+?[0-9]+")
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# ITU E.164 allows at most 15 digits; a little slack for a trunk "0".
_PHONE_MAX_DIGITS = 17


def parse_phone(text: str, region: str = "ID") -> str:
    """Parse a mobile number and return it in E.164 (``+628...``).

    Accepts ``08...``, ``62...``, ``+62...`` and ``0062...`` with spaces,
    dashes, dots, slashes and brackets.  Letters are refused rather than
    read as phone-keypad letters.

    Raises :class:`InvalidInput`:

    - ``phone.invalid``: not a valid phone number;
    - ``phone.not_indonesian`` (``region``: ISO country code of the number,
      e.g. ``"MY"``; ``"001"`` for non-geographic numbers): a valid number
      outside Indonesia;
    - ``phone.not_mobile``: a valid Indonesian number that is not a mobile
      (landlines cannot receive WhatsApp/Telegram codes; docs/domain.md requires
      a valid MOBILE number).
    """
    compact = _PHONE_SEPARATORS.sub("", _ascii_digits(text))
    if not _PHONE_SHAPE.fullmatch(compact) or len(compact) > _PHONE_MAX_DIGITS + 1:
        raise InvalidInput("phone.invalid")
    if compact.startswith("00"):
        # "00" is how people type the international "+" (0062 ...).
        compact = "+" + compact[2:]
    elif compact.startswith("62") and region == "ID":
        # docs/domain.md trap: "62812345678" parsed under region ID becomes the
        # landline +62 628...; WhatsApp ids come like this without "+".
        compact = "+" + compact
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone.invalid") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone.invalid")
    if number.country_code != 62:
        raise InvalidInput(
            "phone.not_indonesian", region=phonenumbers.region_code_for_number(number)
        )
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidInput("phone.not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """Format a stored E.164 number for people: ``"+62 812-3456-7890"``.

    Raises ``InvalidInput("phone.invalid")`` if ``e164`` cannot be parsed.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone.invalid") from exc
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    # Full Indonesian and English names; any prefix of 3+ letters of these
    # is accepted as well (Agu, Sept, Des, Dec ...).
    1: ("januari", "january"),
    2: ("februari", "february", "pebruari"),
    3: ("maret", "march"),
    4: ("april",),
    5: ("mei", "may"),
    6: ("juni", "june"),
    7: ("juli", "july"),
    8: ("agustus", "august"),
    9: ("september",),
    10: ("oktober", "october"),
    11: ("november", "nopember"),
    12: ("desember", "december"),
}
# Abbreviations that are not a prefix of a full name (Indonesian usage).
_MONTH_EXTRA = {"agt": 8, "ags": 8, "peb": 2, "nop": 11, "jan": 1, "okt": 10}
_MIN_YEAR = 1900  # birth dates and registrations; nothing older is meant


def _month_from_name(word: str) -> int | None:
    if word in _MONTH_EXTRA:
        return _MONTH_EXTRA[word]
    if len(word) < 3:
        return None
    found = {m for m, names in _MONTH_NAMES.items() for n in names if n.startswith(word)}
    return found.pop() if len(found) == 1 else None


def parse_date(text: str, today: date) -> date:
    """Parse a date written day first (Indonesian habit; never month first).

    Accepts ``12-03-1985``, ``12/3/1985``, ``12.03.1985``, ``12 03 1985``,
    ``12031985`` (8 digits, DDMMYYYY), ``12 Maret 1985``, ``12 mar 85``,
    ``12-Mar-1985``, ``12 March 1985``: Indonesian and English month names
    and their abbreviations, any case.  A two-digit year takes the latest
    century that does not put the date in the future.  Years before 1900
    are refused.

    Raises :class:`InvalidInput` ``date.invalid`` (unparseable, or not a
    real date) or ``date.future``.
    """
    folded = normalize_text(text)
    # "12maret1985" -> "12 maret 1985"
    folded = re.sub(r"(?<=[0-9])(?=[^\W\d_])|(?<=[^\W\d_])(?=[0-9])", " ", folded)
    parts = folded.split()
    if len(parts) == 1 and re.fullmatch(r"[0-9]{8}", parts[0]):
        parts = [parts[0][:2], parts[0][2:4], parts[0][4:]]
    if len(parts) != 3:
        raise InvalidInput("date.invalid")
    day_s, month_s, year_s = parts
    if not re.fullmatch(r"[0-9]{1,2}", day_s):
        raise InvalidInput("date.invalid")
    if re.fullmatch(r"[0-9]{1,2}", month_s):
        month: int | None = int(month_s)
    else:
        month = _month_from_name(month_s)
    if month is None or not 1 <= month <= 12:
        raise InvalidInput("date.invalid")
    day = int(day_s)

    if re.fullmatch(r"[0-9]{4}", year_s):
        years = [int(year_s)]
    elif re.fullmatch(r"[0-9]{2}", year_s):
        yy = int(year_s)
        years = [2000 + yy, 1900 + yy]  # latest first
    else:
        raise InvalidInput("date.invalid")

    real: list[date] = []
    for year in years:
        if year < _MIN_YEAR:
            continue
        try:
            real.append(date(year, month, day))
        except ValueError:
            continue
    if not real:
        raise InvalidInput("date.invalid")
    for candidate in real:
        if candidate <= today:
            return candidate
    raise InvalidInput("date.future")


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 100
_NAME_PUNCT = frozenset(" .'-")


def normalize_name(text: str) -> str:
    """Clean a person's name as it should appear on the registration.

    Whitespace is collapsed, spaces around hyphens are removed, and every
    apostrophe/dash look-alike becomes ``'``/``-``.  Casing: the first
    letter of each word and each letter after ``-`` or ``.`` is upper case
    (``"al-fatih"`` -> ``"Al-Fatih"``, ``"m.yusuf"`` -> ``"M.Yusuf"``), all
    others lower case.  After an apostrophe the letter stays lower case
    (``"siti nur'aini"`` -> ``"Siti Nur'aini"``, ``"MA'RUF"`` -> ``"Ma'ruf"``)
    because in Indonesian names it marks a glottal stop inside one word.

    Raises :class:`InvalidInput`:

    - ``name.chars`` (``chars``: the refused characters): anything but
      letters (any script), spaces, ``.``, ``'`` and ``-``;
    - ``name.length`` (``min``, ``max``): shorter than 2 or longer than 100
      characters, or fewer than 2 letters.
    """
    text = unicodedata.normalize("NFC", text)
    for ch in _APOSTROPHES:
        text = text.replace(ch, "'")
    for ch in _DASHES:
        text = text.replace(ch, "-")
    for ch in _INVISIBLE:
        text = text.replace(ch, "")
    text = " ".join(text.split())
    text = re.sub(r" ?- ?", "-", text)

    bad = []
    previous = " "
    for ch in text:
        # Combining marks NFC could not fold are part of the letter before.
        is_mark = unicodedata.category(ch).startswith("M") and (
            previous.isalpha() or unicodedata.category(previous).startswith("M")
        )
        if not (ch.isalpha() or ch in _NAME_PUNCT or is_mark):
            bad.append(ch)
        previous = ch
    if bad:
        raise InvalidInput("name.chars", chars="".join(dict.fromkeys(bad)))
    letters = sum(ch.isalpha() for ch in text)
    if letters < 2 or not NAME_MIN_LENGTH <= len(text) <= NAME_MAX_LENGTH:
        raise InvalidInput("name.length", min=NAME_MIN_LENGTH, max=NAME_MAX_LENGTH)

    out: list[str] = []
    upper_next = True
    for ch in text:
        out.append(ch.upper() if upper_next else ch.lower())
        if ch.isalpha():
            upper_next = False
        elif ch in " -.":
            upper_next = True
        # after "'" keep upper_next False: "Nur'aini"
    result = "".join(out)
    # Upper-casing can lengthen a string ("ß" -> "SS"); keep the limit true.
    if len(result) > NAME_MAX_LENGTH:
        raise InvalidInput("name.length", min=NAME_MIN_LENGTH, max=NAME_MAX_LENGTH)
    return result


# ---------------------------------------------------------------------------
# Income
# ---------------------------------------------------------------------------

INCOME_MAX = 1_000_000_000

_UNITS: dict[str, int] = {
    "miliar": 1_000_000_000,
    "milyar": 1_000_000_000,
    "juta": 1_000_000,
    "jt": 1_000_000,
    "jta": 1_000_000,
    "ribu": 1_000,
    "rb": 1_000,
    "rbu": 1_000,
    "rebu": 1_000,
    "k": 1_000,
}
# Bare "m" is left out on purpose: Indonesian "M" is miliar, English "m" is
# million, and guessing wrong is off by a factor of 1000.
_UNIT_PATTERN = "|".join(sorted(_UNITS, key=len, reverse=True))
_TERM = re.compile(rf"([0-9][0-9.,]*)\s*({_UNIT_PATTERN})?(?![a-z])\s*")
_CURRENCY_PREFIX = re.compile(r"^(rp|idr)\.?\s*")
_PER_MONTH_SUFFIX = re.compile(
    r"\s*(/\s*|per\s*|se)?(bulan|bln|bl)\.?$"
)
_CURRENCY_SUFFIX = re.compile(r"\s*(rupiah|rp|idr)\.?$")
_MAX_INCOME_TEXT = 80


def _number(token: str, has_unit: bool) -> Decimal:
    """Read a number typed with "." or "," as thousands or decimal mark.

    Indonesians write 1.500.000,00 and English keyboards 1,500,000.00, so
    the role of a mark is inferred from its position:

    - both marks present: the last one is the decimal mark;
    - one mark, repeated: thousands separators (1.500.000);
    - one mark, once: a decimal mark when a unit follows ("1,5 juta",
      "1.5 jt") or when fewer than 3 digits follow it; otherwise a
      thousands separator ("800.000", "1,500").
    """
    if not re.fullmatch(r"[0-9]+([.,][0-9]+)*", token):
        raise InvalidInput("income.invalid")
    marks = [ch for ch in token if ch in ".,"]
    if not marks:
        return Decimal(token)
    if len(set(marks)) == 2:
        decimal_mark = marks[-1]
        if marks.count(decimal_mark) > 1:
            raise InvalidInput("income.invalid")
        integer, fraction = token.rsplit(decimal_mark, 1)
        groups = re.split(r"[.,]", integer)
    elif len(marks) > 1:
        integer, fraction = token, ""
        groups = re.split(r"[.,]", token)
    else:
        integer, fraction = token.split(marks[0])
        if has_unit or len(fraction) != 3:
            groups = [integer]
        else:
            groups = [integer, fraction]
            fraction = ""
    # Thousands groups must be 3 digits after the first (1.50.000 is a typo
    # we should not silently read as 150 000).
    if len(groups) > 1 and (
        not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
    ):
        raise InvalidInput("income.invalid")
    return Decimal("".join(groups) + ("." + fraction if fraction else ""))


def parse_income(text: str, minimum: int = 1) -> int:
    """Read a monthly income in rupiah.

    Accepts ``"1 juta"``, ``"1,5 juta"``, ``"1.5 jt"``, ``"2jt"``,
    ``"1.500.000"``, ``"1,500,000"``, ``"Rp 1.200.000"``, ``"Rp1200000"``,
    ``"Rp 1.500.000,-"``, ``"1.500.000,00"``, ``"800rb"``, ``"800 ribu"``,
    ``"800k"``, ``"800.000"``, ``"750000"``, ``"1 500 000"`` and compound
    amounts with decreasing units (``"1 juta 200 ribu"``, ``"1jt200rb"``),
    optionally followed by "rupiah" and/or "per bulan", "/bln", "sebulan".

    A bare small number such as ``"2"`` is read literally (Rp 2); pass
    ``minimum`` to refuse implausibly small amounts.

    Raises :class:`InvalidInput`:

    - ``income.invalid``: unreadable, zero, negative, or a fraction of a
      rupiah without a unit;
    - ``income.too_low`` (``min``): below ``minimum`` (only when
      ``minimum`` > 1);
    - ``income.too_high`` (``max``): above Rp 1,000,000,000.
    """
    if len(text) > _MAX_INCOME_TEXT:
        raise InvalidInput("income.invalid")
    s = _ascii_digits(unicodedata.normalize("NFKC", text)).casefold().strip()
    s = " ".join(s.split())
    s = _CURRENCY_PREFIX.sub("", s)
    s = _PER_MONTH_SUFFIX.sub("", s).strip()
    s = _CURRENCY_SUFFIX.sub("", s)
    s = re.sub(r"[.,]-$", "", s)  # "Rp 1.500.000,-" is the formal notation
    # "1 500 000": spaces as thousands separators.
    s = re.sub(r"(?<=[0-9]) (?=[0-9]{3}(?![0-9]))", "", s)
    if not s:
        raise InvalidInput("income.invalid")

    total = Decimal(0)
    pos = 0
    last_unit: int | None = None
    terms = 0
    while pos < len(s):
        m = _TERM.match(s, pos)
        if not m or m.end() == pos:
            raise InvalidInput("income.invalid")
        number, unit_word = m.group(1), m.group(2)
        unit = _UNITS[unit_word] if unit_word else 1
        # Compound amounts must go down: "1 juta 200 ribu", not "200 ribu 1
        # juta" nor "1 juta 200" (ambiguous: 1,000,200 or 1,200,000?).
        if terms and (last_unit is None or unit_word is None or unit >= last_unit):
            raise InvalidInput("income.invalid")
        total += _number(number.rstrip(".,"), unit_word is not None) * unit
        if number[-1] in ".," and unit_word is None:
            raise InvalidInput("income.invalid")
        last_unit = unit if unit_word else None
        terms += 1
        pos = m.end()

    if total != total.to_integral_value():
        if last_unit is None and terms == 1:
            raise InvalidInput("income.invalid")  # Rp 1500,5 is not money
    if total > INCOME_MAX + 1:  # before quantize: huge values overflow it
        raise InvalidInput("income.too_high", max=INCOME_MAX)
    rupiah = total.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if rupiah <= 0:
        raise InvalidInput("income.invalid")
    if rupiah > INCOME_MAX:
        raise InvalidInput("income.too_high", max=INCOME_MAX)
    if rupiah < minimum:
        raise InvalidInput("income.too_low", min=minimum)
    return int(rupiah)
