"""A running broadcast's progress reaches its admin as one message with pause/resume/cancel
buttons, updated in place: on Telegram the second update edits the first message
(editMessageText); the simulator shows which message an update replaces."""

from __future__ import annotations

from datetime import timedelta

from handlers.campaigns import campaigns_due
from handlers.outbox import drain
from handlers.services import Services
from tests.conftest import START, Chat
from tests.fake_platform import SimDriver
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_campaigns_sim import ADMIN, broadcast, latest_campaign, make_admin

BUSY = "tg:3010"
# A person in the middle of registering waits for the broadcast, which keeps it running.
AUDIENCE = ["camp:dim:channel", "camp:val:tg", "camp:unfinished"]


def control_buttons(campaign_id: int, action: str = "pause") -> list[str]:
    return [f"camp:{action}:{campaign_id}", f"camp:stop:{campaign_id}"]


async def start_registering(chat: Chat) -> None:
    await chat("halo")
    await chat.tap("lang:id")


async def test_progress_carries_buttons_and_later_updates_replace_the_first(svc: Services, clock) -> None:
    await make_admin(svc)
    sim = SimDriver(svc, clock)
    await sim.say(BUSY, "halo")
    await sim.tap(BUSY, "lang:id")
    await broadcast(sim, AUDIENCE)
    campaign_id = (await latest_campaign(svc)).id or 0

    first, = await sim.clock(START + timedelta(minutes=16))
    assert first["to"] == ADMIN and "replaces" not in first
    assert [b["id"] for b in first["buttons"]] == control_buttons(campaign_id)
    await sim.say(BUSY, "halo")  # still registering: the campaign keeps waiting for them
    second, = await sim.clock(START + timedelta(minutes=31))
    assert [b["id"] for b in second["buttons"]] == control_buttons(campaign_id)
    remembered = (await latest_campaign(svc)).progress_message_id
    assert remembered is not None and second["replaces"] == remembered

    paused = await sim.tap(ADMIN, f"camp:pause:{campaign_id}")
    assert [b["id"] for b in paused[0]["buttons"]] == control_buttons(campaign_id, "resume")
    assert (await latest_campaign(svc)).state == "paused"


async def tick(svc: Services, clock, minutes: int) -> None:
    """The scheduler's campaign job and the outbox worker at START + minutes."""
    clock.set(START + timedelta(minutes=minutes))
    await campaigns_due(svc, clock.now())
    await drain(svc)


async def test_on_telegram_the_second_progress_edits_the_first_message(
        svc: Services, clock, fake: FakeTelegram) -> None:
    await make_admin(svc)
    busy = Chat(svc, BUSY)
    await start_registering(busy)
    admin = Chat(svc, ADMIN)
    await admin("/siaran")
    for button in ("camp:kkbc", *AUDIENCE, "camp:count", "camp:now", "camp:send"):
        await admin.tap(button)
    assert admin.keys == ["campaign.compose.scheduled"]
    campaign_id = (await latest_campaign(svc)).id or 0

    async with running_bot(svc, fake, webhook=True):
        await tick(svc, clock, 16)
        progress, = fake.sent(chat_id=9000)
        assert progress.method == "sendMessage" and progress.buttons == control_buttons(campaign_id)
        first_id = max(fake.messages)

        await busy("halo")  # still registering at minute 20: the campaign keeps running
        await tick(svc, clock, 31)
        edit, = fake.method_calls("editMessageText")
        assert (edit.chat_id, int(edit.params["message_id"])) == (9000, first_id)
        assert edit.buttons == control_buttons(campaign_id)
        assert len(fake.sent(chat_id=9000)) == 1  # no new message
        assert fake.messages[first_id]["text"] == edit.params["text"]


async def test_a_progress_message_that_cannot_be_edited_arrives_as_a_new_one(
        svc: Services, fake: FakeTelegram) -> None:
    from conversations.events import Button, Reply

    async with running_bot(svc, fake, webhook=True):
        reply = Reply("campaign.progress", "Siaran #1: 1/2", (Button("camp:pause:1", "Jeda"),))
        result = await svc.senders["tg"].send(ADMIN, reply, replace="424242")  # deleted, or never ours
        assert result.ok and result.message_id == str(max(fake.messages))
        assert len(fake.method_calls("editMessageText")) == 1 and len(fake.sent(chat_id=9000)) == 1
        # The same content again: Telegram answers "message is not modified", which is success.
        fake.fail("editMessageText", 400, description="Bad Request: message is not modified")
        again = await svc.senders["tg"].send(ADMIN, reply, replace=result.message_id)
        assert (again.ok, again.message_id) == (True, result.message_id)
        assert len(fake.sent(chat_id=9000)) == 1
