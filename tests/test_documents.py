"""Attached spreadsheets are saved privately (unguessable name, mode 0600) and within size."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import BinaryIO

from bot.documents import MAX_BYTES, Attachment, acceptable, save


async def test_saved_under_an_unguessable_private_name(tmp_path: Path) -> None:
    async def download(handle: BinaryIO) -> None:
        handle.write(b"reference,kpj,coverage_start\n")

    document = await save(tmp_path / "imports", Attachment("f1", "Hasil BPJS.csv", "impor"), download)
    assert document is not None
    saved = Path(document.path)
    assert saved.suffix == ".csv" and "Hasil" not in saved.name and len(saved.stem) >= 20
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert (document.filename, document.caption) == ("Hasil BPJS.csv", "impor")


async def test_a_download_past_the_limit_leaves_nothing(tmp_path: Path) -> None:
    async def download(handle: BinaryIO) -> None:
        handle.write(b"x" * (MAX_BYTES + 1))

    assert await save(tmp_path, Attachment("f2", "big.xlsx"), download) is None
    assert list(tmp_path.iterdir()) == []


def test_only_spreadsheets_within_the_limit_are_downloaded() -> None:
    assert acceptable(Attachment("a", "hasil.XLSX", size=1000))
    assert not acceptable(Attachment("b", "scan.pdf", size=1000))
    assert not acceptable(Attachment("c", "hasil.csv", size=MAX_BYTES + 1))
