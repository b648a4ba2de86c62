"""A complete registration over WhatsApp: signed webhooks in, replies observed at the fake Graph
API, on SQLite and PostgreSQL. Taps are sent the way WhatsApp sends them (button_reply for reply
buttons, list_reply for list rows)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Registration
from tests.conftest import GOOD_NIK, REGISTRATION
from tests.fake_graph import WA_ID, Harness, Recorded, fixture, message, whatsapp_harness

HIDDEN = "ID.7781234098765432"


class WhatsAppChat:
    """A person on WhatsApp: taps only what the bot last showed them."""

    def __init__(self, wa: Harness, hidden: bool = False) -> None:
        self.wa, self.hidden = wa, hidden
        self.last: list[Recorded] = []

    def _body(self, kind: str, **kw: str) -> dict:
        if not self.hidden:
            return message(kind, **kw)
        body = message(kind, wa_id=None, **kw)
        value = body["entry"][0]["changes"][0]["value"]
        value["contacts"] = fixture("hidden_number")["entry"][0]["changes"][0]["value"]["contacts"]
        value["messages"][0].pop("from", None)
        value["messages"][0]["from_user_id"] = HIDDEN
        return body

    async def say(self, text: str) -> list[Recorded]:
        self.last = await self.wa.send(self._body("text", text=text))
        return self.last

    def choices(self) -> list[str]:
        return [choice for r in self.last for choice in r.choice_ids]

    async def tap(self, choice: str) -> list[Recorded]:
        final = self.last[-1]
        assert choice in final.choice_ids, f"{choice} not offered: {final.body}"
        kind = "list_reply" if "sections" in final.body["interactive"]["action"] else "button_reply"
        self.last = await self.wa.send(self._body(kind, choice=choice))
        return self.last


async def walk_registration(chat: WhatsAppChat) -> list[Recorded]:
    await chat.say("halo")
    for kind, value in REGISTRATION:
        if value == "0812-3456-7890" and not chat.hidden:
            # WhatsApp shows the sender's number: the flow offers it instead of asking.
            assert "phone:known" in chat.choices()
            await chat.tap("phone:known")
            continue
        if value == "0812-3456-7890":
            assert "phone:known" not in chat.choices()
        await (chat.tap(value) if kind == "tap" else chat.say(value))
    assert chat.wa.said(chat.last, "summary.prompt")
    return await chat.tap("sum:send")


async def test_complete_registration_over_whatsapp(any_svc) -> None:
    async with whatsapp_harness(any_svc) as wa:
        chat = WhatsAppChat(wa)
        sent = await walk_registration(chat)
        assert wa.said(sent, "submit.done")
        assert all(r.to == WA_ID for r in wa.graph.sent)
        # Every interactive message kept to WhatsApp's limits.
        for r in wa.graph.sent:
            if r.type == "interactive":
                action = r.body["interactive"]["action"]
                titles = [b["reply"]["title"] for b in action.get("buttons", [])]
                rows = [row for s in action.get("sections", []) for row in s["rows"]]
                assert len(titles) <= 3 and all(len(t) <= 20 for t in titles)
                assert len(rows) <= 10 and all(len(row["title"]) <= 24 for row in rows)
                assert len(r.body["interactive"]["body"]["text"]) <= 1024
        async with any_svc.db.session() as session:
            registration = (await session.execute(select(Registration))).scalar_one()
        assert registration.phone == f"+{WA_ID}" and registration.channel_user == f"wa:{WA_ID}"
        assert any_svc.cipher.decrypt(registration.nik_enc) == GOOD_NIK


async def test_registration_with_a_hidden_number_asks_for_it(svc) -> None:
    async with whatsapp_harness(svc) as wa:
        sent = await walk_registration(WhatsAppChat(wa, hidden=True))
        assert wa.said(sent, "submit.done")
        assert all(r.body.get("recipient") == HIDDEN for r in wa.graph.sent)
        async with svc.db.session() as session:
            registration = (await session.execute(select(Registration))).scalar_one()
        assert registration.channel_user == f"wa:{HIDDEN}" and registration.phone == "+6281234567890"
