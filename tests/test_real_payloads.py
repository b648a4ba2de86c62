"""Payloads nobody on this team wrote -- the Bot API's published examples, teloxide's test data,
pywa's webhook bodies (tests/corpus.py) -- posted through the real
webhooks (real HTTP, the channel's real server app, the real inbox), correctly authenticated.

Every one ends in one of three outcomes, and in the one the product promises for its kind:
- answered: the person gets a reply;
- ignored: recorded and finished without a reply (a reaction, an edit, a group message), or,
  for what is not a person's message (statuses, template updates), applied or logged;
- refused: 400 for a malformed body, or set aside in the inbox / not recorded, with one WARNING.
None may answer 500, log an error or a traceback, or vanish without a trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from sqlalchemy import delete, select

from handlers.clock import FixedClock
from storage.inbox import InboundUpdate
from tests.conftest import START, make_services
from tests.corpus import Case, telegram_cases, telegram_kind, whatsapp_cases, whatsapp_message_type
from tests.fake_graph import FakeGraph, whatsapp_harness
from tests.fake_telegram import SECRET, FakeTelegram, running_bot

pytestmark = pytest.mark.asyncio(loop_scope="module")

TELEGRAM = telegram_cases()
WHATSAPP = whatsapp_cases(FakeGraph.phone_number_id, START)

# -- what the product promises, per kind ----------------------------------------------------------
# Telegram: only a private message or a button tap is a person talking to the bot.
TG_SERVICE = {"forum_topic_created", "giveaway_created", "boost_added", "successful_payment", "gift",
              "paid_message_price_changed", "giveaway_completed", "giveaway_winners",
              "message_auto_delete_timer_changed", "direct_message_price_changed", "chat_shared",
              "migrate_to_chat_id", "migrate_from_chat_id", "video_chat_started", "forum_topic_closed",
              "pinned_message"}
# Shapes the Bot API never sends (a required field missing or of the wrong type), of kinds that
# may need an answer: refused (set aside), not answered. Kinds that get no answer are ignored
# whatever their shape (the published edited_message and inline_query examples lack is_bot too).
TG_INVALID = {
    "botapi_message_text_no_type_no_is_bot": "chat.type and from.is_bot missing (the page's first example)",
    "botapi_forwarded_message": "forward_from.is_bot missing",
    "botapi_forwarded_channel_message": "forward_from is a channel, not a User (is_bot, first_name missing)",
    "botapi_message_with_reply": "from.is_bot missing",
    "botapi_message_with_entities": "from.is_bot missing",
    "botapi_message_with_audio": "from.is_bot missing; audio.file_unique_id missing",
    "botapi_voice_message": "from.is_bot missing; voice.file_unique_id missing",
    "botapi_message_with_document": "from.is_bot missing; document.file_unique_id missing",
    "botapi_message_text": "from.is_bot missing",
    "botapi_callback_query": "from.is_bot missing; chat_instance missing",
    "teloxide_service_successful_payment_78": "successful_payment without currency, total_amount, invoice_payload",
}


def telegram_expected(case: Case) -> str:
    kind = telegram_kind(case.body)
    inner = case.body[kind]
    if kind not in ("message", "callback_query") or (kind == "message" and (inner.get("chat") or {}).get(
            "type", "private") != "private"):
        return "ignored"  # groups, channels, edits, reactions, members, inline queries, polls, ...
    if case.name in TG_INVALID:
        return "refused"
    if kind == "callback_query":
        return "answered" if inner.get("data") else "ignored"
    if set(inner) & TG_SERVICE:
        return "ignored"
    return "answered"


# WhatsApp: reactions (also removing one), edits, deletions and system notices get no answer;
# every other message does; statuses and other webhook fields are applied or logged.
WA_IGNORED_TYPES = {"reaction", "edit", "revoke", "system"}
WA_INVALID: dict[str, str] = {}


def whatsapp_expected(case: Case) -> str:
    if case.name.split("__")[0] in WA_INVALID:
        return "refused"
    kind = whatsapp_message_type(case.body)
    if kind is None or kind in WA_IGNORED_TYPES:
        return "ignored"
    return "answered"


# -- running them ---------------------------------------------------------------------------------
async def _inbox(svc: Any) -> list[InboundUpdate]:
    async with svc.db.session() as session:
        return list((await session.execute(select(InboundUpdate))).scalars().all())


async def _clear_inbox(svc: Any) -> None:
    async with svc.db.session() as session:
        await session.execute(delete(InboundUpdate))
        await session.commit()


def outcome(status: int, answers: int, rows: list[InboundUpdate], records: list[logging.LogRecord]) -> str:
    if status == 400 or any(row.set_aside_reason for row in rows):
        return "refused"
    if status != 200:
        return f"status {status}"
    if answers:
        return "answered"
    if rows:
        return "ignored" if all(row.handled_at is not None for row in rows) else "left unhandled"
    if any(r.levelno >= logging.WARNING for r in records):
        return "refused"
    return "ignored" if records else "dropped silently"


def check_log(records: list[logging.LogRecord]) -> None:
    bad = [r for r in records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.levelname} {r.name}: {r.getMessage()}" for r in bad]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def telegram(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    tmp: Path = tmp_path_factory.mktemp("tg_corpus")
    svc = await make_services(f"sqlite:///{tmp / 'tg.sqlite3'}", FixedClock(START), tmp)
    fake = FakeTelegram()
    await fake.start()
    try:
        async with running_bot(svc, fake, webhook=True) as bot:
            yield bot
    finally:
        await fake.stop()
        await svc.db.dispose()


@pytest.mark.parametrize("case", TELEGRAM, ids=[c.name for c in TELEGRAM])
async def test_telegram_payload(telegram: Any, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    svc = telegram.intake.svc
    await _clear_inbox(svc)
    before = len(telegram.fake.sent())
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="handlers")
    async with ClientSession() as session:
        async with session.post(telegram.webhook, json=case.body,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            status = response.status
    await telegram.settle()
    records = [r for r in caplog.records if r.name.startswith(("bot", "handlers"))]
    check_log(records)
    got = outcome(status, len(telegram.fake.sent()) - before, await _inbox(svc), records)
    expected = telegram_expected(case)
    assert got == expected, f"{case.name}: {got}, not {expected} ({case.source})"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def whatsapp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    tmp: Path = tmp_path_factory.mktemp("wa_corpus")
    svc = await make_services(f"sqlite:///{tmp / 'wa.sqlite3'}", FixedClock(START), tmp)
    try:
        async with whatsapp_harness(svc) as harness:
            yield harness
    finally:
        await svc.db.dispose()


@pytest.mark.parametrize("case", WHATSAPP, ids=[c.name for c in WHATSAPP])
async def test_whatsapp_payload(whatsapp: Any, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    svc = whatsapp.svc
    await _clear_inbox(svc)
    before = len(whatsapp.graph.sent)
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="handlers")
    response = await whatsapp.meta.post(case.body)
    status = response.status
    await whatsapp.webhook.idle()
    records = [r for r in caplog.records if r.name.startswith(("bot", "handlers"))]
    check_log(records)
    got = outcome(status, len(whatsapp.graph.sent) - before, await _inbox(svc), records)
    expected = whatsapp_expected(case)
    assert got == expected, f"{case.name}: {got}, not {expected} ({case.source})"


async def test_the_corpus_is_large_and_covers_every_kind_the_issue_names() -> None:
    assert len(TELEGRAM) + len(WHATSAPP) >= 120
    tg_kinds = {telegram_kind(c.body) for c in TELEGRAM}
    assert {"message", "edited_message", "channel_post", "callback_query", "inline_query", "my_chat_member",
            "message_reaction"} <= tg_kinds
    tg_fields = {key for c in TELEGRAM for key in (c.body.get("message") or {})}
    assert {"link_preview_options", "quote", "external_reply", "forward_origin"} <= tg_fields
    wa_kinds = {whatsapp_message_type(c.body) for c in WHATSAPP}
    assert {"text", "image", "reaction", "system", "edit", "revoke", "interactive", None} <= wa_kinds
    assert any(c.name.endswith("__no_user_id") for c in WHATSAPP)
    assert any(c.name.endswith("__only_user_id") for c in WHATSAPP)


# -- malformed bodies, after authentication --------------------------------------------------------
MALFORMED = {
    "empty": b"", "not_json": b"<html>hello</html>", "bad_utf8": b'{"update_id": 1, "x": "\xff"}',
    "array": b"[]", "null": b"null", "string": b'"update"', "number": b"42",
    "no_update_id": b'{"message": {"text": "halo"}}', "update_id_text": b'{"update_id": "5"}',
    "update_id_bool": b'{"update_id": true}', "update_id_huge": b'{"update_id": ' + b"9" * 5000 + b"}",
    "deep_nesting": b"[" * 100000 + b"]" * 100000,
}


def one_warning(records: list[logging.LogRecord]) -> None:
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage()[:200] for r in records]


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_telegram_malformed_body_is_400_with_one_log_line(telegram: Any, name: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    await _clear_inbox(telegram.intake.svc)
    caplog.set_level(logging.INFO, logger="bot")
    async with ClientSession() as session:
        async with session.post(telegram.webhook, data=MALFORMED[name],
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                                         "Content-Type": "application/json"}) as response:
            assert response.status == 400
    records = [r for r in caplog.records if r.name.startswith(("bot", "handlers", "aiohttp"))]
    check_log(records)
    one_warning(records)
    assert await _inbox(telegram.intake.svc) == []


async def test_telegram_malformed_body_without_the_secret_is_401(telegram: Any) -> None:
    async with ClientSession() as session:
        async with session.post(telegram.webhook, data=b"[]") as response:
            assert response.status == 401


@pytest.mark.parametrize("name", ["empty", "not_json", "array", "null", "number", "deep_nesting"])
async def test_whatsapp_malformed_signed_body_is_400_with_one_log_line(whatsapp: Any, name: str,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    await _clear_inbox(whatsapp.svc)
    caplog.set_level(logging.INFO, logger="bot")
    response = await whatsapp.meta.post(MALFORMED[name])
    assert response.status == 400
    records = [r for r in caplog.records if r.name.startswith(("bot", "handlers", "aiohttp"))]
    check_log(records)
    one_warning(records)
    assert await _inbox(whatsapp.svc) == []


async def test_an_undecodable_telegram_update_is_set_aside_with_its_payload_and_one_warning(
        telegram: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The Bot API page's first example has no chat.type: recorded as it came, set aside with
    the reason (no values in it), kept for `python -m bot inbox show`."""
    svc = telegram.intake.svc
    await _clear_inbox(svc)
    case = next(c for c in TELEGRAM if c.name == "botapi_message_text_no_type_no_is_bot")
    caplog.set_level(logging.INFO, logger="handlers")
    async with ClientSession() as session:
        async with session.post(telegram.webhook, json=case.body,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 200
    await telegram.settle()
    (row,) = await _inbox(svc)
    assert row.handled_at is not None and row.set_aside_reason is not None
    assert "message" in row.set_aside_reason and "chat.type" in row.set_aside_reason
    async with svc.db.session() as session:
        from storage.inbox import Inbox

        assert Inbox(session, svc.cipher).payload(row) == case.body  # as Telegram sent it
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(case.body["update_id"]) in warnings[0] and "set aside" in warnings[0]
