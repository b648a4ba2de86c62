"""The WhatsApp webhook: verification, signatures, the inbox (dedupe, order), every kind of
inbound message, status webhooks. Real aiohttp app, pywa's real client, fake Graph API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.whatsapp.channel import Settings
from bot.config import ConfigError
from storage.inbox import InboundUpdate
from storage.models import Person
from storage.whatsapp import OutboundMessage
from tests.conftest import START
from tests.fake_graph import APP_SECRET, VERIFY_TOKEN, WA_ID, Harness, fixture, message, sign, whatsapp_harness


@pytest.fixture
async def wa(svc) -> AsyncIterator[Harness]:
    async with whatsapp_harness(svc) as harness:
        yield harness


async def inbox_rows(svc) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).select_from(InboundUpdate))).scalar_one()


def test_signature_known_answer() -> None:
    """HMAC-SHA256 of the raw body with the app secret, hex, as Meta sends it (computed
    independently with `openssl dgst -sha256 -hmac`)."""
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert sign(body, APP_SECRET) == "sha256=e5951df38f070d67d92440a3fbed82ce86529aa303a3a67bfb9e2f780c1d1d13"


async def test_known_answer_signature_is_accepted_by_the_webhook(wa: Harness) -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    signature = "sha256=e5951df38f070d67d92440a3fbed82ce86529aa303a3a67bfb9e2f780c1d1d13"
    assert (await wa.meta.post(body, signature)).status == 200
    assert (await wa.meta.post(body, signature[:-1] + "4")).status == 403


async def test_verification_challenge_right_and_wrong(wa: Harness) -> None:
    client = wa.meta.client
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    response = await client.get("/whatsapp/webhook", params=good)
    assert response.status == 200 and await response.text() == "1158201444"
    for wrong in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"},
                  {"hub.challenge": "1158201444"}):
        response = await client.get("/whatsapp/webhook", params=wrong)
        assert response.status == 403 and "1158201444" not in await response.text()


async def test_forged_missing_and_stale_signatures_are_refused_with_nothing_processed(wa: Harness, svc) -> None:
    body = json.dumps(message(text="halo")).encode()
    assert (await wa.meta.post(body, signature=None)).status == 401
    assert (await wa.meta.post(body, signature=sign(body, "not-the-app-secret"))).status == 403
    assert (await wa.meta.post(body, signature="sha256=" + "0" * 64)).status == 403
    # Stale: a genuine signature of an earlier body, replayed with a new body.
    earlier = json.dumps(message(text="halo")).encode()
    assert (await wa.meta.post(body, signature=sign(earlier))).status == 403
    await wa.webhook.idle()
    assert await inbox_rows(svc) == 0 and wa.graph.sent == []


async def test_a_signed_but_old_message_is_a_replay_and_ignored(wa: Harness, svc) -> None:
    old = message(text="halo", at=START - timedelta(days=9))
    assert not await wa.send(old)
    assert await inbox_rows(svc) == 0


async def test_one_message_delivered_three_times_is_handled_once(wa: Harness, svc) -> None:
    body = message(text="halo")
    responses = await asyncio.gather(*(wa.meta.post(body) for _ in range(3)))
    assert [r.status for r in responses] == [200, 200, 200]
    await wa.webhook.idle()
    assert await inbox_rows(svc) == 1
    assert len(wa.graph.sent) == 1 and wa.said(wa.graph.sent, "welcome")


async def test_messages_of_one_person_are_handled_in_order(wa: Harness) -> None:
    """Two messages in one webhook body (Meta batches): recorded separately, handled in order."""
    first = message(text="halo")
    second = message("button_reply", choice="lang:id")
    value = first["entry"][0]["changes"][0]["value"]
    value["messages"].append(second["entry"][0]["changes"][0]["value"]["messages"][0])
    sent = await wa.send(first)
    assert wa.said(sent[:1], "welcome") and wa.said(sent, "consent.prompt")


@pytest.mark.parametrize("kind", ["image", "audio", "sticker", "location", "unsupported"])
async def test_non_text_messages_get_the_kind_answer(wa: Harness, kind: str) -> None:
    await wa.send(message(text="halo"))
    sent = await wa.send(message(kind))
    assert wa.said(sent, "media.unsupported")
    assert sent[-1].choice_ids == ["lang:id", "lang:en"]  # and the question again


async def test_a_reaction_gets_no_answer_but_is_recorded(wa: Harness, svc) -> None:
    """A reaction (also removing one) is not a question to the bot: no answer, which on WhatsApp
    would also spend the person's message allowance."""
    await wa.send(message(text="halo"))
    assert await wa.send(message("reaction")) == []
    async with svc.db.session() as session:
        rows = (await session.execute(select(InboundUpdate))).scalars().all()
    assert len(rows) == 2 and all(row.handled_at is not None and row.set_aside_reason is None for row in rows)


async def test_a_reaction_is_not_a_message(wa: Harness) -> None:
    """An emoji reaction (or taking one back) gets no answer and no repeated question."""
    await wa.send(message(text="halo"))
    assert await wa.send(message("reaction")) == []
    sent = await wa.send(message("button_reply", choice="lang:id"))
    assert wa.said(sent, "consent.prompt")


async def test_list_reply_and_button_reply_are_taps(wa: Harness) -> None:
    await wa.send(message(text="halo"))
    sent = await wa.send(message("button_reply", choice="lang:id"))
    assert wa.said(sent, "consent.prompt")
    stale = await wa.send(message("list_reply", choice="cat:petani"))  # not a choice at this step
    assert wa.said(stale, "button.stale")


async def test_hidden_number_is_keyed_on_the_business_scoped_id(wa: Harness, svc) -> None:
    sent = await wa.send(fixture("hidden_number"))
    assert sent[0].body["recipient"] == "ID.7781234098765432" and "to" not in sent[0].body
    async with svc.db.session() as session:
        people = (await session.execute(select(Person.channel_user))).scalars().all()
    assert people == ["wa:ID.7781234098765432"]


async def test_known_number_is_offered_and_a_hidden_one_asked(wa: Harness) -> None:
    assert (await wa.webhook.decode(_single(message(text="halo"))))[1] == f"+{WA_ID}"
    assert (await wa.webhook.decode(_single(fixture("hidden_number"))))[1] is None


def _single(body: dict) -> dict:
    from bot.whatsapp.adapter import split_messages

    return split_messages(body, "106540352242922")[0].payload


async def test_a_shared_contact_of_ones_own_number_is_own(wa: Harness) -> None:
    event, _ = await wa.webhook.decode(_single(message("contacts")))
    assert event.is_own and event.phone.replace(" ", "").replace("-", "") == f"+{WA_ID}"


async def test_messages_for_another_business_number_are_ignored(wa: Harness, svc) -> None:
    body = message(text="halo")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    assert await wa.send(body) == []
    assert await inbox_rows(svc) == 0


async def test_status_webhooks_update_the_outgoing_message(wa: Harness, svc) -> None:
    sent = await wa.send(message(text="halo"))
    async with svc.db.session() as session:
        row = (await session.execute(select(OutboundMessage))).scalar_one()
    assert row.status == "accepted" and row.message_id and row.channel_user == f"wa:{WA_ID}"
    assert sent
    for status in ("read", "delivered", "sent"):  # out of order: read wins
        body = fixture("statuses")
        value = body["entry"][0]["changes"][0]["value"]
        value["statuses"] = [{**value["statuses"][0], "id": row.message_id, "status": status}]
        await wa.send(body)
    async with svc.db.session() as session:
        row = (await session.execute(select(OutboundMessage))).scalar_one()
    assert row.status == "read" and row.read_at is not None and row.delivered_at is not None


async def test_a_failed_status_records_its_error_code(wa: Harness, svc) -> None:
    await wa.send(message(text="halo"))
    async with svc.db.session() as session:
        row = (await session.execute(select(OutboundMessage))).scalar_one()
    body = fixture("statuses")
    value = body["entry"][0]["changes"][0]["value"]
    value["statuses"] = [{**value["statuses"][1], "id": row.message_id}]
    await wa.send(body)
    async with svc.db.session() as session:
        row = (await session.execute(select(OutboundMessage))).scalar_one()
    assert row.status == "failed" and row.error_code == 131047


def test_the_channel_refuses_to_start_without_an_app_secret() -> None:
    environ = {"WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_ACCESS_TOKEN": "t", "WHATSAPP_VERIFY_TOKEN": "v"}
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET"):
        Settings.from_environ(environ)


async def test_another_phone_number_id_is_logged_once_with_the_hint(wa: Harness, svc, caplog) -> None:
    caplog.set_level("INFO", logger="bot")
    for _ in range(3):
        body = message(text="halo")
        body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
        assert await wa.send(body) == []
    other = message(text="halo")
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "888888888888888"
    await wa.send(other)
    hints = [r.getMessage() for r in caplog.records if "WHATSAPP_PHONE_NUMBER_ID" in r.getMessage()]
    assert len(hints) == 2 and "999999999999999" in hints[0] and "888888888888888" in hints[1]
    assert await inbox_rows(svc) == 0


async def test_a_message_naming_no_sender_is_logged_not_dropped_in_silence(wa: Harness, svc, caplog) -> None:
    body = message(text="halo")
    value = body["entry"][0]["changes"][0]["value"]
    del value["contacts"]
    for key in ("from", "from_user_id"):
        value["messages"][0].pop(key, None)
    assert await wa.send(body) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("names no sender" in w and value["messages"][0]["id"] in w for w in warnings), warnings
    assert await inbox_rows(svc) == 0


@pytest.mark.parametrize("variant", ["wa_id_only", "user_id_only", "both", "no_contacts"])
async def test_senders_are_keyed_by_wa_id_else_user_id_else_from(wa: Harness, svc, variant: str) -> None:
    body = message(text="halo")
    value = body["entry"][0]["changes"][0]["value"]
    contact, msg = value["contacts"][0], value["messages"][0]
    if variant == "wa_id_only":
        contact.pop("user_id"), msg.pop("from_user_id")
    elif variant == "user_id_only":
        contact.pop("wa_id"), msg.pop("from")
    elif variant == "no_contacts":
        del value["contacts"]
    sent = await wa.send(body)
    assert wa.said(sent, "welcome")
    expected = f"wa:ID.{WA_ID[::-1]}" if variant == "user_id_only" else f"wa:{WA_ID}"
    async with svc.db.session() as session:
        people = (await session.execute(select(Person.channel_user))).scalars().all()
    assert people == [expected]


async def test_a_status_for_a_message_the_bot_never_sent_is_debug_only(wa: Harness, caplog) -> None:
    caplog.set_level("DEBUG", logger="bot")
    body = fixture("statuses")
    value = body["entry"][0]["changes"][0]["value"]
    value["statuses"] = [{**value["statuses"][1], "id": "wamid.NOT-OURS"}]  # a "failed" one
    await wa.send(body)
    about = [r for r in caplog.records if "wamid.NOT-OURS" in r.getMessage()]
    assert about and all(r.levelname == "DEBUG" for r in about)
