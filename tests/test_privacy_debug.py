"""The privacy scan at DEBUG: with the application's own logging at LOG_LEVEL=DEBUG, a whole
registration through the real WhatsApp and Telegram webhooks (pywa, aiogram, httpx and aiohttp
all doing their work) leaves no phone number, platform id or NIK in the log."""

from __future__ import annotations

import io


from handlers.services import Services
from tests.conftest import GOOD_NIK
from tests.fake_graph import WA_ID, whatsapp_harness
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram_channel import register_on_telegram
from tests.test_whatsapp_registration import WhatsAppChat, walk_registration


def personal(text: str, *values: str) -> list[str]:
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "\n")
    found = [v for v in values if v in text or v in digits]
    if GOOD_NIK in digits or GOOD_NIK[4:12] in text:
        found.append("NIK")
    return found


async def test_a_whatsapp_registration_at_debug_logs_nothing_personal(svc: Services, app_log: io.StringIO) -> None:
    async with whatsapp_harness(svc) as wa:
        await walk_registration(WhatsAppChat(wa))
    logged = app_log.getvalue()
    assert logged, "expected some logging at DEBUG"
    assert personal(logged, WA_ID, WA_ID[2:], "81234567890", "ID." + WA_ID[::-1]) == [], logged[-3000:]


async def test_a_telegram_registration_at_debug_logs_nothing_personal(svc: Services, fake: FakeTelegram,
                                                                      app_log: io.StringIO) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        await register_on_telegram(svc, person)
    logged = app_log.getvalue()
    assert logged, "expected some logging at DEBUG"
    assert personal(logged, str(person.user_id), "81234567890") == [], logged[-3000:]
