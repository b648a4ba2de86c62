"""Files people attach, saved for the officials' enrolment import ("/impor, with the file
attached"). Both channels use this: a platform announces an `Attachment`, the channel downloads
it with its own client into `save`, and the conversation receives a `Document` at the saved path.

Only spreadsheets the import reads (.xlsx, .csv) up to MAX_BYTES are saved; anything else stays
a `Media("document")`, answered kindly by the flow and never written to disk. The files list
registrations, so each gets an unguessable name, mode 0600, in a folder of mode 0700.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from conversations.events import Document

ACCEPTED_SUFFIXES = frozenset({".xlsx", ".csv"})
# A year of enrolment results is a few thousand rows (well under 1 MB); Telegram's Bot API
# downloads at most 20 MB and WhatsApp accepts documents up to 100 MB.
MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """A document as a platform announces it, before anything is downloaded."""

    file_id: str  # the platform's id to download it with
    filename: str
    caption: str = ""
    size: int | None = None  # when the platform says it up front


def fits(size: int | None) -> bool:
    """Whether a size the platform announced is within MAX_BYTES (unknown: checked while saving)."""
    return size is None or size <= MAX_BYTES


def acceptable(attachment: Attachment) -> bool:
    """Whether the attachment is worth downloading: a spreadsheet the import reads, not too big."""
    return Path(attachment.filename).suffix.lower() in ACCEPTED_SUFFIXES and fits(attachment.size)


class TooLarge(Exception):
    """The download went past MAX_BYTES (the announced size was missing or wrong)."""


class CappedFile(io.FileIO):
    """A new file, readable by the bot's user only, that refuses to grow past MAX_BYTES."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "xb", opener=lambda name, flags: os.open(name, flags, 0o600))

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > MAX_BYTES:
            raise TooLarge
        return super().write(data)


# Writes the platform's bytes into the file it is given (each channel's own HTTP client).
Download = Callable[[BinaryIO], Awaitable[object]]


async def save(folder: Path, attachment: Attachment, download: Download) -> Document | None:
    """Download an acceptable attachment into `folder`; None when it turned out too big (the
    partial file is removed). A failed download removes the file and lets the error through, so
    the update is retried later."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The import reads the format from the suffix; the rest of the name must not be guessable
    # (`/impor NAME` opens files in this folder by name).
    path = folder / f"{secrets.token_urlsafe(16)}{Path(attachment.filename).suffix.lower()}"
    try:
        with CappedFile(path) as handle:
            await download(handle)
    except TooLarge:
        path.unlink(missing_ok=True)
        return None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Document(str(path), Path(attachment.filename).name, attachment.caption)
