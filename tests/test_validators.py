"""Table-driven tests for conversations.validators (rules: docs/domain.md)."""

from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.validators import (
    INCOME_MAX,
    InvalidInput,
    NikInfo,
    age_on,
    format_phone,
    mask_nik,
    normalize_name,
    normalize_nik,
    normalize_text,
    parse_date,
    parse_income,
    parse_nik,
    parse_phone,
)

TODAY = date(2025, 6, 1)


def _key(call, *args, **kwargs) -> tuple[str, dict]:
    with pytest.raises(InvalidInput) as info:
        call(*args, **kwargs)
    return info.value.key, info.value.params


# ---------------------------------------------------------------- InvalidInput


def test_invalid_input_carries_key_and_params() -> None:
    err = InvalidInput("nik.length", count=15)
    assert isinstance(err, ValueError)
    assert err.key == "nik.length"
    assert err.params == {"count": 15}
    assert str(err) == "nik.length"  # never the user's input (could be a NIK)


# ------------------------------------------------------------------------ NIK


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1303 0312 0385 0001", "1303031203850001"),
        ("1303.0312.0385.0001", "1303031203850001"),
        ("1303-0312-0385-0001", "1303031203850001"),
        ("1303/0312/0385/0001", "1303031203850001"),
        ("1303 . 0312 - 0385  /  0001", "1303031203850001"),
        ("1303\u00a00312\u202f0385\u20130001", "1303031203850001"),
        ("  1303031203850001\n", "1303031203850001"),
        ("\u200b1303031203850001", "1303031203850001"),
        ("\uff11\uff13\uff10\uff13", "1303"),  # fullwidth digits
        ("13O3", "13O3"),  # letters are left for parse_nik to refuse
    ],
)
def test_normalize_nik(text: str, expected: str) -> None:
    assert normalize_nik(text) == expected


@pytest.mark.parametrize(
    ("text", "sex", "birth", "outside_home"),
    [
        # male, 19yy
        ("1303031203850001", "L", date(1985, 3, 12), False),
        # female: 40 added to the day
        ("1303035203850002", "P", date(1985, 3, 12), False),
        ("1303037112900003", "P", date(1990, 12, 31), False),
        ("1303034101950004", "P", date(1995, 1, 1), False),
        # 29 Feb of leap years (2000 is leap; 1900 would not be)
        ("1303032902000005", "L", date(2000, 2, 29), False),
        ("1303036902840006", "P", date(1984, 2, 29), False),
        # century: 2008 is plausible (17), 1908 over 110 -> 20yy
        ("1303031505080007", "L", date(2008, 5, 15), False),
        # 2030 would be in the future -> 19yy even though 95 is implausible
        ("1303030101300008", "L", date(1930, 1, 1), False),
        # 2020 (5) and 1920 (105): neither plausible -> the most recent
        ("1303030101200009", "L", date(2020, 1, 1), False),
        # a NIK first issued in Kota Sawahlunto (1371): a warning, not an error
        ("1371011501850010", "L", date(1985, 1, 15), True),
        ("1304011501850011", "L", date(1985, 1, 15), True),
        # province bounds 11 and 96 are valid
        ("1101011501850012", "L", date(1985, 1, 15), True),
        ("9601011501850013", "L", date(1985, 1, 15), True),
        # separators accepted
        ("1303 0312 0385 0001", "L", date(1985, 3, 12), False),
        ("1303.0312.0385.0001", "L", date(1985, 3, 12), False),
        ("1303-0352-0385-0002", "P", date(1985, 3, 12), False),
        ("1303/0312/0385/0001", "L", date(1985, 3, 12), False),
        ("1303 . 0312 . 0385 . 0001", "L", date(1985, 3, 12), False),
    ],
)
def test_parse_nik_valid(text: str, sex: str, birth: date, outside_home: bool) -> None:
    info = parse_nik(text, TODAY)
    digits = normalize_nik(text)
    assert info == NikInfo(
        nik=digits,
        province=digits[:2],
        regency_prefix=digits[:4],
        kecamatan_code=digits[:6],
        sex=sex,  # type: ignore[arg-type]
        birth_date=birth,
        serial=digits[12:],
        outside_home=outside_home,
    )


@pytest.mark.parametrize(
    ("text", "key", "params"),
    [
        ("", "nik.length", {"count": 0}),
        ("   ", "nik.length", {"count": 0}),
        ("130303120385000", "nik.length", {"count": 15}),
        ("13030312038500011", "nik.length", {"count": 17}),
        ("130303120385000A", "nik.not_digits", {}),
        ("NIK 1303031203850001", "nik.not_digits", {}),
        ("1303,0312,0385,0001", "nik.not_digits", {}),
        ("0003031203850001", "nik.province", {"province": "00"}),
        ("1003031203850001", "nik.province", {"province": "10"}),
        ("9703031203850001", "nik.province", {"province": "97"}),
        ("1303031200850001", "nik.month", {"month": "00"}),
        ("1303031213850001", "nik.month", {"month": "13"}),
        ("1303030003850001", "nik.date", {}),  # day 00
        ("1303033203850001", "nik.date", {}),  # day 32
        ("1303034003850001", "nik.date", {}),  # day 40
        ("1303037203850001", "nik.date", {}),  # day 72 (female 32)
        ("1303033104850001", "nik.date", {}),  # 31 April
        ("1303037104850001", "nik.date", {}),  # female 31 April
        ("1303032902010001", "nik.date", {}),  # 29 Feb 1901/2001
        ("1303036902930001", "nik.date", {}),  # female 29 Feb 1993/2093
        ("1303031203850000", "nik.serial", {}),
    ],
)
def test_parse_nik_invalid(text: str, key: str, params: dict) -> None:
    assert _key(parse_nik, text, TODAY) == (key, params)


def test_parse_nik_no_century_left() -> None:
    # In 2150 both 1930 and 2030 give ages over 110.
    assert _key(parse_nik, "1303030101300001", date(2150, 1, 1)) == ("nik.date", {})


def test_parse_nik_future_century_dropped() -> None:
    # On 1 Jan 2000, yy=99 can only be 1999 (2099 is in the future).
    info = parse_nik("1303033112990001", date(2000, 1, 1))
    assert info.birth_date == date(1999, 12, 31)


def test_parse_nik_plausible_age_is_configurable() -> None:
    # With an elderly range the 1920 candidate wins over 2020.
    info = parse_nik("1303030101200001", TODAY, plausible_age=(80, 110))
    assert info.birth_date == date(1920, 1, 1)


def test_parse_nik_home_prefix_is_configurable() -> None:
    assert not parse_nik("1371011501850010", TODAY, home_prefix="1371").outside_home
    assert parse_nik("1303031203850001", TODAY, home_prefix="1371").outside_home


def test_parse_nik_birth_today_is_not_future() -> None:
    assert parse_nik("1303030106250001", TODAY).birth_date == TODAY


@pytest.mark.parametrize(
    ("nik", "masked"),
    [
        ("1303031203850001", "1303************"),
        ("1303 0312 0385 0001", "1303************"),
        ("1371015203850042", "1371************"),
        ("12345", "*****"),
        ("13030312038500011", "*****************"),
        ("", ""),
    ],
)
def test_mask_nik(nik: str, masked: str) -> None:
    assert mask_nik(nik) == masked
    # Kemendagri: hide at least the last 4 digits; the issue: at most the first 4 visible.
    assert sum(ch.isdigit() for ch in mask_nik(nik)) <= 4


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1985, 3, 12), date(2025, 3, 11), 39),
        (date(1985, 3, 12), date(2025, 3, 12), 40),
        (date(2000, 2, 29), date(2025, 2, 28), 24),
        (date(2000, 2, 29), date(2025, 3, 1), 25),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2025, 6, 1), date(2025, 6, 1), 0),
    ],
)
def test_age_on(birth: date, today: date, age: int) -> None:
    assert age_on(birth, today) == age


# ---------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("081234567890", "+6281234567890"),  # Telkomsel
        ("0812-3456-7890", "+6281234567890"),
        ("0812 3456 7890", "+6281234567890"),
        ("0812.3456.7890", "+6281234567890"),
        ("(0812) 3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("+62-812-3456-7890", "+6281234567890"),
        ("+62 (0)812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0062 812 3456 7890", "+6281234567890"),
        ("62812345678", "+62812345678"),  # the trap: not +62 628...
        ("6285712345678", "+6285712345678"),  # WhatsApp sender id form
        ("085712345678", "+6285712345678"),  # Indosat
        ("087812345678", "+6287812345678"),  # XL
        ("089612345678", "+6289612345678"),  # Tri
        ("088212345678", "+6288212345678"),  # Smartfren
        ("083112345678", "+6283112345678"),  # Axis
        ("0811234567", "+62811234567"),  # 10-digit old Telkomsel number
        ("\uff10\uff18\uff11\uff12-3456-7890", "+6281234567890"),  # fullwidth
        (" 0812\u00a03456\u00a07890 ", "+6281234567890"),
    ],
)
def test_parse_phone_valid(text: str, e164: str) -> None:
    assert parse_phone(text) == e164
    number = phonenumbers.parse(e164)
    assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


@pytest.mark.parametrize(
    ("text", "key", "params"),
    [
        ("0751-123456", "phone.not_mobile", {}),  # Padang landline
        ("021-5551234", "phone.not_mobile", {}),  # Jakarta landline
        ("(0754) 20123", "phone.not_mobile", {}),  # Muaro Sijunjung landline
        ("+62 751 123456", "phone.not_mobile", {}),
        ("+60 12-345 6789", "phone.not_indonesian", {"region": "MY"}),
        ("0060123456789", "phone.not_indonesian", {"region": "MY"}),
        ("+65 9123 4567", "phone.not_indonesian", {"region": "SG"}),
        ("", "phone.invalid", {}),
        ("halo", "phone.invalid", {}),
        ("0812-ABCD-7890", "phone.invalid", {}),
        ("0812 3456 7890 (WA)", "phone.invalid", {}),
        ("081234567", "phone.invalid", {}),  # too short
        ("08123456789012345", "phone.invalid", {}),  # too long
        ("0812+34567890", "phone.invalid", {}),
        ("++6281234567890", "phone.invalid", {}),
        ("1303031203850001", "phone.invalid", {}),  # a NIK
        ("+", "phone.invalid", {}),
    ],
)
def test_parse_phone_invalid(text: str, key: str, params: dict) -> None:
    assert _key(parse_phone, text) == (key, params)


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+6281234567890", "+62 812-3456-7890"),
        ("+6285712345678", "+62 857-1234-5678"),
        ("+62811234567", "+62 811-234-567"),
    ],
)
def test_format_phone(e164: str, shown: str) -> None:
    assert format_phone(e164) == shown


def test_format_phone_garbage() -> None:
    assert _key(format_phone, "not a number") == ("phone.invalid", {})


# ----------------------------------------------------------------------- date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12-03-1985", date(1985, 3, 12)),
        ("12/3/1985", date(1985, 3, 12)),
        ("12.03.1985", date(1985, 3, 12)),
        ("12 03 1985", date(1985, 3, 12)),
        ("12031985", date(1985, 3, 12)),
        ("1-1-2000", date(2000, 1, 1)),
        ("12 Maret 1985", date(1985, 3, 12)),
        ("12 maret 1985", date(1985, 3, 12)),
        ("12 MARET 1985", date(1985, 3, 12)),
        ("12 mar 85", date(1985, 3, 12)),
        ("12-Mar-1985", date(1985, 3, 12)),
        ("12 Mar. 1985", date(1985, 3, 12)),
        ("12 March 1985", date(1985, 3, 12)),
        ("12Maret1985", date(1985, 3, 12)),
        ("12 Maret, 1985", date(1985, 3, 12)),
        ("1 Januari 1990", date(1990, 1, 1)),
        ("1 jan 1990", date(1990, 1, 1)),
        ("1 January 1990", date(1990, 1, 1)),
        ("1 Februari 1990", date(1990, 2, 1)),
        ("1 Feb 1990", date(1990, 2, 1)),
        ("1 Peb 1990", date(1990, 2, 1)),
        ("1 Pebruari 1990", date(1990, 2, 1)),
        ("1 April 1990", date(1990, 4, 1)),
        ("1 apr 1990", date(1990, 4, 1)),
        ("1 Mei 1990", date(1990, 5, 1)),
        ("1 May 1990", date(1990, 5, 1)),
        ("1 Juni 1990", date(1990, 6, 1)),
        ("1 Jun 1990", date(1990, 6, 1)),
        ("1 June 1990", date(1990, 6, 1)),
        ("1 Juli 1990", date(1990, 7, 1)),
        ("1 Jul 1990", date(1990, 7, 1)),
        ("17 Agustus 1945", date(1945, 8, 17)),
        ("17 Agu 1990", date(1990, 8, 17)),
        ("17 Agt 1990", date(1990, 8, 17)),
        ("17 Ags 1990", date(1990, 8, 17)),
        ("17 Aug 1990", date(1990, 8, 17)),
        ("17 August 1990", date(1990, 8, 17)),
        ("1 September 1990", date(1990, 9, 1)),
        ("1 Sep 1990", date(1990, 9, 1)),
        ("1 Sept 1990", date(1990, 9, 1)),
        ("1 Oktober 1990", date(1990, 10, 1)),
        ("1 Okt 1990", date(1990, 10, 1)),
        ("1 Oct 1990", date(1990, 10, 1)),
        ("1 October 1990", date(1990, 10, 1)),
        ("1 November 1990", date(1990, 11, 1)),
        ("1 Nov 1990", date(1990, 11, 1)),
        ("1 Nop 1990", date(1990, 11, 1)),
        ("1 Nopember 1990", date(1990, 11, 1)),
        ("25 Desember 1990", date(1990, 12, 25)),
        ("25 Des 1990", date(1990, 12, 25)),
        ("25 Dec 1990", date(1990, 12, 25)),
        ("25 December 1990", date(1990, 12, 25)),
        # two-digit years: the latest century not in the future
        ("12-03-85", date(1985, 3, 12)),
        ("01-06-25", date(2025, 6, 1)),  # today
        ("02-06-25", date(1925, 6, 2)),  # tomorrow in 2025 -> 1925
        ("12/3/05", date(2005, 3, 12)),
        ("29-02-00", date(2000, 2, 29)),
        ("29 Feb 2024", date(2024, 2, 29)),
    ],
)
def test_parse_date_valid(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "date.invalid"),
        ("kemarin", "date.invalid"),
        ("12-1985", "date.invalid"),
        ("12-25-1985", "date.invalid"),  # month first is never assumed
        ("31-04-1990", "date.invalid"),
        ("29-02-2023", "date.invalid"),
        ("29 feb 01", "date.invalid"),  # 1901 and 2001 are not leap years
        ("00-01-1990", "date.invalid"),
        ("12 Foo 1990", "date.invalid"),
        ("12 Ju 1990", "date.invalid"),  # Juni or Juli?
        ("12-03-985", "date.invalid"),
        ("12-03-1850", "date.invalid"),
        ("1985-03-12", "date.invalid"),  # ISO order is not day first
        ("12-03-1985 10:00", "date.invalid"),
        ("02-06-2025", "date.future"),
        ("1 Januari 2030", "date.future"),
    ],
)
def test_parse_date_invalid(text: str, key: str) -> None:
    assert _key(parse_date, text, TODAY) == (key, {})


# ----------------------------------------------------------------------- name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AHMAD   yani", "Ahmad Yani"),
        ("  budi  ", "Budi"),
        ("siti nur'aini", "Siti Nur'aini"),
        ("SITI NUR\u2019AINI", "Siti Nur'aini"),  # iOS curly apostrophe
        ("ma'ruf amin", "Ma'ruf Amin"),
        ("al-fatih", "Al-Fatih"),
        ("Al-Fatih", "Al-Fatih"),
        ("muhammad al - fatih", "Muhammad Al-Fatih"),
        ("m. yusuf", "M. Yusuf"),
        ("m.yusuf", "M.Yusuf"),
        ("yusuf s.pd", "Yusuf S.Pd"),
        ("Jo", "Jo"),
        ("zoë", "Zoë"),
        ("zoe\u0308", "Zoë"),  # decomposed accent is folded (NFC)
        ("a\u0330di", "A\u0330di"),  # a mark with no composed form is kept
        ("ROSMAWATI\tDT.\nPANGHULU", "Rosmawati Dt. Panghulu"),
        ("a" * 100, "A" + "a" * 99),
    ],
)
def test_normalize_name_valid(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


@pytest.mark.parametrize(
    ("text", "key", "params"),
    [
        ("", "name.length", {"min": 2, "max": 100}),
        ("   ", "name.length", {"min": 2, "max": 100}),
        ("A", "name.length", {"min": 2, "max": 100}),
        ("A.", "name.length", {"min": 2, "max": 100}),
        ("'-.", "name.length", {"min": 2, "max": 100}),
        ("a" * 101, "name.length", {"min": 2, "max": 100}),
        ("Ahmad 2", "name.chars", {"chars": "2"}),
        ("1303031203850001", "name.chars", {"chars": "130285"}),
        ("Budi@Santoso!", "name.chars", {"chars": "@!"}),
        ("Budi 😀", "name.chars", {"chars": "😀"}),
        ("Budi, Ani", "name.chars", {"chars": ","}),
        ("\u0301Budi", "name.chars", {"chars": "\u0301"}),  # a mark alone
    ],
)
def test_normalize_name_invalid(text: str, key: str, params: dict) -> None:
    assert _key(normalize_name, text) == (key, params)


# --------------------------------------------------------------------- income


@pytest.mark.parametrize(
    ("text", "rupiah"),
    [
        ("1 juta", 1_000_000),
        ("1juta", 1_000_000),
        ("1,5 juta", 1_500_000),
        ("1.5 jt", 1_500_000),
        ("2jt", 2_000_000),
        ("2 JT", 2_000_000),
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("1 500 000", 1_500_000),
        ("Rp 1.200.000", 1_200_000),
        ("Rp. 1.200.000", 1_200_000),
        ("Rp1200000", 1_200_000),
        ("rp1.200.000,-", 1_200_000),
        ("IDR 1,200,000", 1_200_000),
        ("1.500.000,00", 1_500_000),
        ("1,500,000.00", 1_500_000),
        ("800rb", 800_000),
        ("800 ribu", 800_000),
        ("800 rebu", 800_000),
        ("800k", 800_000),
        ("800K", 800_000),
        ("800.000", 800_000),
        ("750000", 750_000),
        ("1 juta 200 ribu", 1_200_000),
        ("1jt200rb", 1_200_000),
        ("1 jt 250 rb", 1_250_000),
        ("2 juta per bulan", 2_000_000),
        ("2jt/bln", 2_000_000),
        ("2 juta sebulan", 2_000_000),
        ("Rp 2.000.000,- per bulan", 2_000_000),
        ("1,2 juta rupiah", 1_200_000),
        ("1.200.000 rupiah / bulan", 1_200_000),
        ("1,25 juta", 1_250_000),
        ("1,2345675 juta", 1_234_568),  # rounded half up to the rupiah
        ("1 miliar", 1_000_000_000),  # the maximum itself is allowed
        ("2", 2),  # literal; see parse_income's minimum parameter
    ],
)
def test_parse_income_valid(text: str, rupiah: int) -> None:
    assert parse_income(text) == rupiah


@pytest.mark.parametrize(
    ("text", "key", "params"),
    [
        ("", "income.invalid", {}),
        ("tidak tahu", "income.invalid", {}),
        ("0", "income.invalid", {}),
        ("0 juta", "income.invalid", {}),
        ("Rp 0", "income.invalid", {}),
        ("-500000", "income.invalid", {}),
        ("-1 juta", "income.invalid", {}),
        ("1-2 juta", "income.invalid", {}),
        ("1 juta 200", "income.invalid", {}),  # 1,000,200 or 1,200,000?
        ("200 ribu 1 juta", "income.invalid", {}),
        ("1500,5", "income.invalid", {}),  # a fraction of a rupiah
        ("1.50.000", "income.invalid", {}),
        ("1..5 juta", "income.invalid", {}),
        ("800 kg", "income.invalid", {}),
        ("1,5m", "income.invalid", {}),  # "m" is miliar or million: refused
        ("1.000.000.001", "income.too_high", {"max": INCOME_MAX}),
        ("1001 juta", "income.too_high", {"max": INCOME_MAX}),
        ("2 miliar", "income.too_high", {"max": INCOME_MAX}),
        ("9" * 60, "income.too_high", {"max": INCOME_MAX}),
        ("9" * 200, "income.invalid", {}),
    ],
)
def test_parse_income_invalid(text: str, key: str, params: dict) -> None:
    assert _key(parse_income, text) == (key, params)


def test_parse_income_minimum() -> None:
    assert _key(parse_income, "2", minimum=10_000) == ("income.too_low", {"min": 10_000})
    assert parse_income("10 rb", minimum=10_000) == 10_000


# ---------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Lubuak   Tarok ", "lubuak tarok"),
        ("AIE-AMO", "aie amo"),
        ("Kec. Koto VII, Sijunjung!", "kec koto vii sijunjung"),
        ("Café Ñandú", "cafe nandu"),
        ("Jum'at", "jumat"),
        ("Nur\u2019aini", "nuraini"),
        ("a_b", "a b"),
        ("...", ""),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


# ----------------------------------------------------------------- hypothesis

_messy = st.text(
    alphabet=st.sampled_from(list("0123456789 .,-+/()'rpjutaribkmRJ\u00a0\u2019") + ["\u0660"]),
    max_size=40,
)
_anything = st.one_of(st.text(max_size=120), _messy)


def _only_invalid_input(call, *args) -> None:
    try:
        call(*args)
    except InvalidInput as err:
        assert isinstance(err.key, str) and err.key
        assert isinstance(err.params, dict)


@settings(max_examples=300)
@given(_anything)
def test_parse_nik_never_crashes(text: str) -> None:
    _only_invalid_input(parse_nik, text, TODAY)


@settings(max_examples=300)
@given(_anything)
def test_parse_phone_never_crashes(text: str) -> None:
    _only_invalid_input(parse_phone, text)


@settings(max_examples=300)
@given(_anything)
def test_parse_date_never_crashes(text: str) -> None:
    _only_invalid_input(parse_date, text, TODAY)


@settings(max_examples=300)
@given(_anything)
def test_normalize_name_never_crashes(text: str) -> None:
    _only_invalid_input(normalize_name, text)


@settings(max_examples=300)
@given(_anything)
def test_parse_income_never_crashes(text: str) -> None:
    try:
        value = parse_income(text)
    except InvalidInput:
        return
    assert 0 < value <= INCOME_MAX


@given(st.text(max_size=120))
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "  " not in once and once == once.strip()


@given(st.text(max_size=40))
def test_mask_never_shows_more_than_four_digits(text: str) -> None:
    assert sum(ch.isdigit() for ch in mask_nik(text)) <= 4


@given(
    st.dates(min_value=date(1961, 1, 1), max_value=date(2010, 1, 1)),
    st.sampled_from(["L", "P"]),
    st.integers(min_value=1, max_value=9999),
)
def test_parse_nik_round_trip(born: date, sex: str, serial: int) -> None:
    day = born.day + (40 if sex == "P" else 0)
    nik = f"130308{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    info = parse_nik(nik, TODAY)
    assert (info.birth_date, info.sex, info.serial) == (born, sex, f"{serial:04d}")
