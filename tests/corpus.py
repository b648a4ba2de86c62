"""The corpus of real-shaped platform payloads (tests/fixtures/corpus, sources and licences in
tests/fixtures/SOURCES.md), each wrapped in the full webhook envelope its platform posts.

Telegram: whole updates are used as they are; fragments (a message, a reaction, an external
reply...) are put where the Bot API puts them -- `{"update_id": N, "<kind>": fragment}`, or into
a private message (`into`) -- and every case gets its own update_id, the envelope's number.
WhatsApp: pywa's webhook bodies are used as they are, addressed to the tests' phone_number_id
and dated "now" (a body days old is a replay and ignored by design), each message kind also
without `user_id` and with only `user_id`, as Meta sends for people who hide their number.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "fixtures" / "corpus"


@dataclass(frozen=True)
class Case:
    name: str
    body: dict[str, Any]
    source: str


def _load(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


# -- Telegram --------------------------------------------------------------------------------------
# A private text message of teloxide's (crates/teloxide-core/src/types/update.rs): what fragments
# that belong inside a message (quote, external_reply, ...) are put into.
_update_ids = itertools.count(600000001)


def _base_message() -> dict[str, Any]:
    for entry in _load("telegram_teloxide.json")["entries"]:
        update = entry.get("update") or {}
        message = update.get("message") or {}
        if message.get("chat", {}).get("type") == "private" and set(message) == {"message_id", "date", "chat", "from", "text"}:
            return message
    raise LookupError("no plain private text message in the teloxide corpus")


def _base_callback_query() -> dict[str, Any]:
    return next(e["fragment"] for e in _load("telegram_teloxide.json")["entries"] if e.get("kind") == "callback_query")


def telegram_cases() -> list[Case]:
    cases: list[Case] = []
    examples = _load("telegram_botapi_webhook_examples.json")
    for name, update in examples["updates"].items():
        cases.append(Case(f"botapi_{name}", {**update, "update_id": next(_update_ids)}, examples["source"]))
    bases = {"message": _base_message(), "callback_query": _base_callback_query()}
    for corpus in ("telegram_teloxide.json", "telegram_botapi_types.json"):
        for entry in _load(corpus)["entries"]:
            if "update" in entry:
                body = {**entry["update"], "update_id": next(_update_ids)}
            elif "into" in entry:
                inner = copy.deepcopy(bases[entry["kind"]])
                if entry["into"] not in WITH_TEXT:
                    inner.pop("text", None)  # a service message carries no text
                inner[entry["into"]] = entry["fragment"]
                body = {"update_id": next(_update_ids), entry["kind"]: inner}
            else:
                body = {"update_id": next(_update_ids), entry["kind"]: entry["fragment"]}
            cases.append(Case(entry["name"], body, entry["source"]))
    return cases


# Fragments that go into a message that has text (the rest are service messages).
WITH_TEXT = {"external_reply", "quote", "forward_origin", "link_preview_options", "message"}


def telegram_kind(body: dict[str, Any]) -> str:
    return next(key for key in body if key != "update_id")


# -- WhatsApp ----------------------------------------------------------------------------------------
def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for e in body.get("entry", []) for c in e.get("changes", []) for m in (c.get("value") or {}).get("messages", [])]


def _address(body: dict[str, Any], phone_number_id: str, now: datetime) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for entry in body.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value") or {}
            if isinstance(value.get("metadata"), dict):
                value["metadata"]["phone_number_id"] = phone_number_id
    for message in _messages(body):
        message["timestamp"] = str(int(now.timestamp()))
    return body


def without_user_id(body: dict[str, Any]) -> dict[str, Any] | None:
    """The same body as WhatsApp sent it before business-scoped user ids existed."""
    body = copy.deepcopy(body)
    changed = False
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change.get("value") or {}
            for holder in [*value.get("contacts", []), *value.get("messages", [])]:
                for key in ("user_id", "from_user_id", "parent_user_id", "from_parent_user_id"):
                    changed |= holder.pop(key, None) is not None
    return body if changed else None


def only_user_id(body: dict[str, Any]) -> dict[str, Any] | None:
    """The same body for a person who hides their number: user_id, no wa_id or from."""
    body = copy.deepcopy(body)
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change.get("value") or {}
            contacts = value.get("contacts", [])
            if not contacts or not all(c.get("user_id") for c in contacts):
                return None
            for contact in contacts:
                contact.pop("wa_id", None)
            for message in value.get("messages", []):
                message.pop("from", None)
                message.setdefault("from_user_id", contacts[0]["user_id"])
    return body


def whatsapp_cases(phone_number_id: str, now: datetime) -> list[Case]:
    cases: list[Case] = []
    for path in sorted((CORPUS / "whatsapp_pywa").glob("*.json")):
        for name, body in json.loads(path.read_text(encoding="utf-8")).items():
            source = f"david-lev/pywa tests/data/updates/{path.name} [{name}]"
            base = f"pywa_{path.stem}_{name}"
            cases.append(Case(base, _address(body, phone_number_id, now), source))
            if not _messages(body):
                continue
            for variant, make in (("no_user_id", without_user_id), ("only_user_id", only_user_id)):
                changed = make(body)
                if changed is not None:
                    cases.append(Case(f"{base}__{variant}", _address(changed, phone_number_id, now), source))
    return cases


def whatsapp_message_type(body: dict[str, Any]) -> str | None:
    messages = _messages(body)
    return str(messages[0].get("type")) if messages else None
