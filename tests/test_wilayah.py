"""Table-driven tests for conversations.wilayah (rules: docs/domain.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.wilayah import (
    MAX_CANDIDATES,
    Kecamatan,
    Nagari,
    NagariMatch,
    Wilayah,
    canonical,
)

DATA = Path(__file__).resolve().parent.parent / "data"
WILAYAH_CSV = DATA / "sijunjung_wilayah.csv"
CROSSWALK_CSV = DATA / "sijunjung_bps_crosswalk.csv"


@pytest.fixture(scope="module")
def wilayah() -> Wilayah:
    return Wilayah.load(WILAYAH_CSV, CROSSWALK_CSV)


def _crosswalk_rows() -> list[dict[str, str]]:
    with CROSSWALK_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _assert_names(wilayah: Wilayah, result: NagariMatch, code: str) -> None:
    """A confident match of ``code``, or the "which one?" answer when a
    kecamatan bears the same name (docs/domain.md: the flow must ask)."""
    expected = wilayah.by_code(code)
    assert expected is not None
    if result.nagari is not None:
        assert result.nagari == expected
    else:
        assert expected in result.candidates
        assert result.kecamatan == expected.kecamatan


# ----------------------------------------------------------------- loading


def test_load_counts_and_order(wilayah: Wilayah) -> None:
    codes = [k.code for k in wilayah.kecamatan]
    assert codes == [f"13.03.{i:02d}" for i in range(3, 11)]
    assert len(wilayah.all_nagari) == 62
    assert [n.code for n in wilayah.all_nagari] == sorted(n.code for n in wilayah.all_nagari)
    assert sum(len(wilayah.nagari_in(c)) for c in codes) == 62
    assert all(n.bps_code and n.bps_name for n in wilayah.all_nagari)


@pytest.mark.parametrize(
    ("kecamatan_code", "count", "first"),
    [
        ("13.03.03", 9, "Timbulun"),
        ("13.03.04", 9, "Muaro"),
        ("13.03.05", 5, "Palangki"),
        ("13.03.06", 11, "Sungai Lansek"),
        ("13.03.07", 6, "Lubuak Tarok"),
        ("13.03.08", 7, "Limo Koto"),
        ("13.03.09", 11, "Silantai"),
        ("13.03.10", 4, "Batu Manjulur"),
        ("13.04", 0, None),
    ],
)
def test_nagari_in(wilayah: Wilayah, kecamatan_code: str, count: int, first: str | None) -> None:
    inside = wilayah.nagari_in(kecamatan_code)
    assert len(inside) == count
    if first:
        assert inside[0].name == first
        assert all(n.kecamatan.code == kecamatan_code for n in inside)


def test_by_code(wilayah: Wilayah) -> None:
    tanjung = wilayah.by_code("13.03.08.2005")
    assert tanjung == Nagari(
        "13.03.08.2005",
        "Tanjung",
        Kecamatan("13.03.08", "Koto VII"),
        "1304100003",
        "TANJUNG",
    )
    assert wilayah.by_code("13.04.08.2005") is None
    assert wilayah.kecamatan_by_code("13.03.10") == Kecamatan("13.03.10", "Kupitan")
    assert wilayah.kecamatan_by_code("13.03.01") is None


def test_load_without_crosswalk() -> None:
    w = Wilayah.load(WILAYAH_CSV, None)
    assert len(w.all_nagari) == 62
    assert all(n.bps_code is None and n.bps_name is None for n in w.all_nagari)
    assert w.match("Aie Amo").nagari == w.by_code("13.03.06.2004")


@pytest.mark.parametrize(
    ("wilayah_rows", "crosswalk_rows"),
    [
        (["13.03.3.2001,Tanjung Gadang,Timbulun"], None),
        (["13.04.03.2001,Tanjung Gadang,Timbulun"], None),
        (["13.03.03.2001,Tanjung Gadang,Timbulun"] * 2, None),
        (["13.03.03.2001,Tanjung Gadang,Timbulun", "13.03.03.2002,Tanjuang Gadang,X"], None),
        (["13.03.03.2001,Tanjung Gadang,Timbulun"], ["13.03.03.2002,1304060007,Timbulun,TIMBULUN,"]),
        (["13.03.03.2001,Tanjung Gadang,Timbulun"], ["13.03.03.2001,1304060007,Timbuluan,TIMBULUN,"]),
    ],
)
def test_load_rejects_inconsistent_data(
    tmp_path: Path, wilayah_rows: list[str], crosswalk_rows: list[str] | None
) -> None:
    w_csv = tmp_path / "w.csv"
    w_csv.write_text("kode,kecamatan,nagari\n" + "\n".join(wilayah_rows) + "\n", encoding="utf-8")
    c_csv = None
    if crosswalk_rows is not None:
        c_csv = tmp_path / "c.csv"
        c_csv.write_text(
            "kode,kode_bps,nama_kemendagri,nama_bps,catatan\n" + "\n".join(crosswalk_rows) + "\n",
            encoding="utf-8",
        )
    with pytest.raises(ValueError):
        Wilayah.load(w_csv, c_csv)


# ------------------------------------------------------------ crosswalk names


@pytest.mark.parametrize("row", _crosswalk_rows(), ids=lambda r: r["nama_bps"])
def test_every_bps_spelling_matches_its_village(wilayah: Wilayah, row: dict[str, str]) -> None:
    _assert_names(wilayah, wilayah.match(row["nama_bps"]), row["kode"])
    _assert_names(wilayah, wilayah.match(row["nama_bps"].lower()), row["kode"])
    # With a "nagari" prefix there is no kecamatan to confuse it with.
    assert wilayah.match("Nagari " + row["nama_bps"]).nagari == wilayah.by_code(row["kode"])


@pytest.mark.parametrize("row", _crosswalk_rows(), ids=lambda r: r["nama_kemendagri"])
def test_every_official_name_matches_its_village(wilayah: Wilayah, row: dict[str, str]) -> None:
    _assert_names(wilayah, wilayah.match(row["nama_kemendagri"]), row["kode"])


# ---------------------------------------------------------- spelling variants


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Lubuak Tarantang", "13.03.06.2010"),
        ("Lubuk Tarantang", "13.03.06.2010"),
        ("Aie Amo", "13.03.06.2004"),
        ("Aia Amo", "13.03.06.2004"),
        ("Air Amo", "13.03.06.2004"),
        ("Aie Angek", "13.03.04.2008"),
        ("Aia Angek", "13.03.04.2008"),
        ("Air Angek", "13.03.04.2008"),
        ("Guguak", "13.03.08.2003"),
        ("Guguk", "13.03.08.2003"),
        ("Tanjuang Labuah", "13.03.09.2010"),
        ("Tanjung Labuh", "13.03.09.2010"),
        ("Tanjuang Lolo", "13.03.03.2007"),
        ("Tanjuang Kaliang", "13.03.06.2007"),
        ("Tanjuang", "13.03.08.2005"),
        ("Kunangan Parik Rantang", "13.03.06.2006"),
        ("Kunangan Parit Rantang", "13.03.06.2006"),
        ("Sungai Batuang", "13.03.06.2005"),
        ("Sungai Batung", "13.03.06.2005"),
        ("Muaro Takuang", "13.03.06.2003"),
        ("Muaro Takung", "13.03.06.2003"),
        ("Muara Takung", "13.03.06.2003"),
        ("Buluah Kasok", "13.03.07.2003"),
        ("Buluh Kasok", "13.03.07.2003"),
        ("Padang Sibusuak", "13.03.10.2003"),
        ("Padang Sibusuk", "13.03.10.2003"),
        ("Batu Manjulua", "13.03.10.2001"),
        ("Batu Manjulur", "13.03.10.2001"),
        ("Tanjung Labuah", "13.03.09.2010"),
        ("Manganti", "13.03.09.2008"),
        ("Mangganti", "13.03.09.2008"),
        ("Mengganti", "13.03.09.2008"),
        ("Paru", "13.03.04.2006"),
        ("Paruh", "13.03.04.2006"),
        ("Muaro Silokek", "13.03.04.2003"),
        ("Silokek", "13.03.04.2003"),
        ("Sepakat Silantai", "13.03.09.2001"),
        ("Silantai", "13.03.09.2001"),
        ("Kampung Baru", "13.03.10.2004"),
        ("Desa Kampung Baru", "13.03.10.2004"),
        ("Kampuang Baru", "13.03.10.2004"),
        ("Limo Koto", "13.03.08.2001"),
        ("Lima Koto", "13.03.08.2001"),
        ("Koto Tuo", "13.03.05.2005"),
        ("Koto Tua", "13.03.05.2005"),
        ("Muara Bodi", "13.03.05.2003"),
        ("Pamatang Panjang", "13.03.04.2004"),
        ("Bukik Bual", "13.03.08.2006"),
        ("Sungai Langsat", "13.03.06.2001"),
        ("Kampuang Dalam", "13.03.07.2004"),
        # prefixes and layout
        ("nagari aie amo", "13.03.06.2004"),
        ("Nagari Aie Amo", "13.03.06.2004"),
        ("desa aia amo", "13.03.06.2004"),
        ("Kenagarian Aie Amo", "13.03.06.2004"),
        ("Kanagarian Aie Amo", "13.03.06.2004"),
        ("Nagari Desa Kampung Baru", "13.03.10.2004"),
        ("Kecamatan Muaro", "13.03.04.2001"),  # wrong prefix, still a nagari
        ("  AIE-AMO. ", "13.03.06.2004"),
        ("aieamo", "13.03.06.2004"),
        ("Padanglaweh", "13.03.08.2004"),
        # a nagari together with its kecamatan
        ("Muaro, Sijunjung", "13.03.04.2001"),
        ("Muaro kec. Sijunjung", "13.03.04.2001"),
        ("Kecamatan Sijunjung Nagari Muaro", "13.03.04.2001"),
        ("Sijunjung, Kec. Sijunjung", "13.03.04.2009"),
        ("Tanjung Gadang Tanjung Gadang", "13.03.03.2002"),
        ("Tanjung, Koto VII", "13.03.08.2005"),
    ],
)
def test_spelling_variants(wilayah: Wilayah, text: str, code: str) -> None:
    result = wilayah.match(text)
    assert result.nagari == wilayah.by_code(code), result
    assert result.candidates == ()
    assert result.kecamatan is None


def test_canonical_is_shared_by_variants() -> None:
    assert canonical("Nagari Lubuak Tarok") == canonical("lubuk  tarok")
    assert canonical("Koto VII") == canonical("koto tujuh") == canonical("Koto 7")
    assert canonical("IV Nagari") == canonical("Empat Nagari")


# --------------------------------------------------- shorter / longer names


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Padang Laweh", "13.03.08.2004"),
        ("Padang Laweh Selatan", "13.03.08.2007"),
        ("Tanjung Bonai Aur", "13.03.09.2004"),
        ("Tanjung Bonai Aur Selatan", "13.03.09.2011"),
        ("Sumpur Kudus Selatan", "13.03.09.2009"),
        ("Taratak Baru", "13.03.03.2003"),
        ("Taratak Baru Utara", "13.03.03.2008"),
        ("Tanjung", "13.03.08.2005"),
        ("Tanjung Lolo", "13.03.03.2007"),
        ("Kamang", "13.03.06.2002"),
        ("Koto Baru", "13.03.05.2002"),
    ],
)
def test_exact_short_name_is_confident(wilayah: Wilayah, text: str, code: str) -> None:
    assert wilayah.match(text) == NagariMatch(nagari=wilayah.by_code(code))


# ------------------------------------------------------------------ ambiguity


@pytest.mark.parametrize(
    ("text", "nagari_code", "kecamatan_code", "also"),
    [
        ("Sijunjung", "13.03.04.2009", "13.03.04", ()),
        ("sijunjung", "13.03.04.2009", "13.03.04", ()),
        ("Tanjung Gadang", "13.03.03.2002", "13.03.03", ()),
        ("Tanjuang Gadang", "13.03.03.2002", "13.03.03", ()),
        ("Sumpur Kudus", "13.03.09.2005", "13.03.09", ("13.03.09.2009",)),
        # the kecamatan was "Lubuak Tarok" until 2023, its nagari still is
        ("Lubuak Tarok", "13.03.07.2001", "13.03.07", ()),
        ("Lubuk Tarok", "13.03.07.2001", "13.03.07", ()),
        # a typo of a shared name is just as ambiguous
        ("Sijunjunk", "13.03.04.2009", "13.03.04", ()),
        ("Tanjung Gadag", "13.03.03.2002", "13.03.03", ()),
    ],
)
def test_shared_kecamatan_and_nagari_names_are_ambiguous(
    wilayah: Wilayah, text: str, nagari_code: str, kecamatan_code: str, also: tuple[str, ...]
) -> None:
    result = wilayah.match(text)
    assert result.nagari is None
    assert not result.confident
    assert result.candidates[0] == wilayah.by_code(nagari_code)
    assert [n.code for n in result.candidates[1:]] == list(also)
    assert result.kecamatan == wilayah.kecamatan_by_code(kecamatan_code)


@pytest.mark.parametrize(
    ("text", "nagari_code"),
    [
        ("Nagari Sijunjung", "13.03.04.2009"),
        ("Desa Tanjung Gadang", "13.03.03.2002"),
        ("nagari sumpur kudus", "13.03.09.2005"),
    ],
)
def test_nagari_prefix_resolves_shared_name(wilayah: Wilayah, text: str, nagari_code: str) -> None:
    assert wilayah.match(text) == NagariMatch(nagari=wilayah.by_code(nagari_code))


@pytest.mark.parametrize(
    ("text", "kecamatan_code"),
    [
        ("Kecamatan Sijunjung", "13.03.04"),
        ("Kec. Tanjung Gadang", "13.03.03"),
        ("kec sumpur kudus", "13.03.09"),
    ],
)
def test_kecamatan_prefix_resolves_shared_name(
    wilayah: Wilayah, text: str, kecamatan_code: str
) -> None:
    assert wilayah.match(text) == NagariMatch(
        kecamatan=wilayah.kecamatan_by_code(kecamatan_code)
    )


# ------------------------------------------------------------------ kecamatan

KECAMATAN_VARIANTS = [
    ("Koto VII", "13.03.08"),
    ("Koto Tujuh", "13.03.08"),
    ("koto 7", "13.03.08"),
    ("Kec. Koto VII", "13.03.08"),
    ("IV Nagari", "13.03.05"),
    ("Empat Nagari", "13.03.05"),
    ("4 Nagari", "13.03.05"),
    ("Kamang Baru", "13.03.06"),
    ("Kupitan", "13.03.10"),
    ("Kecamatan Kupitan", "13.03.10"),
    ("Kupitn", "13.03.10"),  # typo
    ("Nagari Koto VII", "13.03.08"),  # wrong prefix, still a kecamatan
    ("Kamng Baru", "13.03.06"),  # typo
]


@pytest.mark.parametrize(("text", "code"), KECAMATAN_VARIANTS)
def test_match_names_a_kecamatan(wilayah: Wilayah, text: str, code: str) -> None:
    assert wilayah.match(text) == NagariMatch(kecamatan=wilayah.kecamatan_by_code(code))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        *KECAMATAN_VARIANTS,
        ("Lubuak Tarok", "13.03.07"),
        ("Lubuk Tarok", "13.03.07"),
        ("Sijunjung", "13.03.04"),
        ("Tanjung Gadang", "13.03.03"),
        ("Sumpur Kudus", "13.03.09"),
        ("Muaro", None),  # a nagari, not a kecamatan
        ("Padang", None),
        ("xyzzy", None),
        ("", None),
    ],
)
def test_match_kecamatan(wilayah: Wilayah, text: str, code: str | None) -> None:
    expected = wilayah.kecamatan_by_code(code) if code else None
    assert wilayah.match_kecamatan(text) == expected


# ---------------------------------------------------------------- typos


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Kumanih", "13.03.09.2007"),
        ("Palangky", "13.03.05.2001"),
        ("Plaangki", "13.03.05.2001"),  # swapped letters count once
        ("Timbulung", "13.03.03.2001"),
        ("Sinyamo", "13.03.03.2009"),
        ("Tamparungu", "13.03.09.2006"),
        ("Pamuatam", "13.03.10.2002"),
        ("Kampong Baru", "13.03.10.2004"),
        ("Padang Lawe", "13.03.08.2004"),
        ("Mundam Sati", "13.03.05.2004"),
        ("Durian Gadng", "13.03.04.2007"),
    ],
)
def test_small_typos_are_confident(wilayah: Wilayah, text: str, code: str) -> None:
    assert wilayah.match(text) == NagariMatch(nagari=wilayah.by_code(code))


@pytest.mark.parametrize(
    ("text", "first_codes"),
    [
        ("Sumpur", ("13.03.09.2005", "13.03.09.2009")),
        ("Tanjung Bonai", ("13.03.09.2004", "13.03.09.2011")),
        ("Taratak", ("13.03.03.2003", "13.03.03.2008")),
        ("Solok", ("13.03.04.2005",)),
    ],
)
def test_partial_names_give_candidates(
    wilayah: Wilayah, text: str, first_codes: tuple[str, ...]
) -> None:
    result = wilayah.match(text)
    assert result.nagari is None
    assert result.kecamatan is None
    assert set(first_codes) <= {n.code for n in result.candidates[: len(first_codes)]}
    assert len(result.candidates) <= MAX_CANDIDATES


def test_candidates_capped_and_best_first(wilayah: Wilayah) -> None:
    result = wilayah.match("Padang")
    assert result.nagari is None
    assert 1 < len(result.candidates) <= MAX_CANDIDATES
    assert {"Padang Laweh", "Padang Tarok", "Padang Sibusuk"} <= {
        n.name for n in result.candidates
    }


@pytest.mark.parametrize(
    "text",
    ["xyzzy", "qwertyuiop asdf", "nagari", "Kecamatan", "Jakarta", "Bukittinggi Kota", "zzzz", "!!!", "", "   ", "ab", "1303"],
)
def test_nonsense_is_not_confident(wilayah: Wilayah, text: str) -> None:
    result = wilayah.match(text)
    assert result.nagari is None
    assert result.kecamatan is None
    assert result.candidates == ()


# ---------------------------------------------------------------- hypothesis


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_match_never_crashes_and_is_consistent(text: str) -> None:
    w = _WILAYAH
    result = w.match(text)
    assert len(result.candidates) <= MAX_CANDIDATES
    if result.nagari is not None:
        assert result.candidates == () and result.kecamatan is None
    w.match_kecamatan(text)


@settings(max_examples=200)
@given(
    st.sampled_from([n.name for n in Wilayah.load(WILAYAH_CSV, CROSSWALK_CSV).all_nagari]),
    st.sampled_from([str.upper, str.lower, str.title]),
    st.sampled_from(["", "nagari ", "Desa ", "  "]),
)
def test_official_names_survive_case_and_prefix(name: str, case, prefix: str) -> None:
    result = _WILAYAH.match(prefix + case(name))
    expected = next(n for n in _WILAYAH.all_nagari if n.name == name)
    if prefix.strip():
        assert result.nagari == expected
    else:
        assert result.nagari == expected or expected in result.candidates


_WILAYAH = Wilayah.load(WILAYAH_CSV, CROSSWALK_CSV)
