"""Message catalogs: gettext PO files read with Babel, one per language.

msgids are symbolic keys ("nik.prompt"); msgstrs hold the sentence with `{placeholders}`.
Indonesian (`id`) is the first language and the fallback for a key missing in another catalog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
FALLBACK = "id"
log = logging.getLogger(__name__)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@dataclass(frozen=True)
class Catalog:
    messages: dict[str, dict[str, str]]  # lang -> key -> text

    @classmethod
    def load(cls, languages: tuple[str, ...] | list[str] = ("id", "en"), root: Path = LOCALES_DIR) -> "Catalog":
        messages: dict[str, dict[str, str]] = {}
        for lang in {FALLBACK, *languages}:
            messages[lang] = {}
            # One PO file per area (messages.po for registration, others per feature), so
            # features add their sentences without touching each other's files.
            for path in sorted((root / lang / "LC_MESSAGES").glob("*.po")):
                with path.open("rb") as handle:
                    po = read_po(handle, locale=lang)
                for message in po:
                    if not message.id or not message.string:
                        continue
                    key = str(message.id)
                    if key in messages[lang]:
                        raise ValueError(f"message key {key!r} is defined twice in the {lang} catalogs ({path.name})")
                    messages[lang][key] = str(message.string)
        return cls(messages)

    def has(self, key: str) -> bool:
        return key in self.messages[FALLBACK]

    def text(self, lang: str, key: str, **params: Any) -> str:
        template = self.messages.get(lang, {}).get(key) or self.messages[FALLBACK].get(key)
        if template is None:
            log.error("message key missing from catalogs: %s", key)
            return key
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.error("message %s/%s: placeholders do not match", lang, key)
            return template


def rupiah(amount: int) -> str:
    """Indonesian money format: Rp 16.800 (dot as the thousands separator)."""
    return "Rp " + f"{amount:,}".replace(",", ".")
