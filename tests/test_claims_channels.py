"""The claim helper on the real channels and in the simulator.

- WhatsApp (pywa against the fake Graph API, signed webhooks): an heir reports a death by typing
  and tapping the interactive buttons; the operator, on WhatsApp too, gets the report; no NIK in
  clear in anything sent.
- Telegram (aiogram against the fake Bot API): a worker reports their own accident; the operator
  opens the case from the report's button and marks it reported with the next one; the worker
  is told.
- `python -m bot simulate` (in process): the same conversation as JSON lines, and a clock line
  that brings the 2 x 24-hour reminder.
"""

from __future__ import annotations

import json
from datetime import timedelta

from handlers.roles import grant
from handlers.services import Services
from tests.conftest import GOOD_NIK, START
from tests.fake_graph import WA_ID, message, whatsapp_harness
from tests.fake_platform import SimDriver
from tests.fake_telegram import FakeTelegram, running_bot
from tests.officials_support import MUARO, OPERATOR, add_officials
from tests.test_claims import enrolled

WA_OPERATOR = "6281200000009"


async def test_an_heir_on_whatsapp_and_the_operator_on_whatsapp(svc: Services) -> None:
    await add_officials(svc)
    await enrolled(svc)
    async with svc.db.session() as session:
        await grant(session, f"wa:{WA_OPERATOR}", "operator", MUARO, "test", svc.clock.now())
        await session.commit()
    async with whatsapp_harness(svc) as wa:
        # The operator wrote today (WhatsApp's 24-hour window is open for them).
        await wa.send(message("text", text="/kasus", wa_id=WA_OPERATOR))
        sent = await wa.send(message("text", text="suami saya meninggal"))
        assert wa.said(sent, "claims.ask.identify")
        sent = await wa.send(message("text", text=GOOD_NIK))
        (confirm,) = [r for r in sent if r.to == WA_ID]
        assert confirm.type == "interactive" and GOOD_NIK[:4] + "*" * 12 in confirm.text
        sent = await wa.send(message("button_reply", choice="cl:yes"))
        assert wa.said(sent, "claims.ask.kind")
        sent = await wa.send(message("button_reply", choice="cl:kind:death_illness"))
        assert wa.said(sent, "claims.ask.date_death")
        await wa.send(message("text", text="kemarin"))
        sent = await wa.send(message("text", text="Rosna"))
        assert wa.said([r for r in sent if r.to == WA_ID], "claims.opened")
        report = [r for r in sent if r.to == WA_OPERATOR]
        assert report and "K1" in report[0].text and "Rosna" in report[0].text
        assert GOOD_NIK not in json.dumps([r.body for r in wa.graph.sent])


async def test_a_worker_on_telegram_and_the_operator_taps_through(svc: Services, fake: FakeTelegram) -> None:
    await add_officials(svc)
    await enrolled(svc, user="tg:4301")
    async with running_bot(svc, fake) as bot:
        worker, operator = bot.person(4301), bot.person(int(OPERATOR[3:]))
        await worker.say("ambo jatuah dari batang karet")
        assert worker.said("claims.ask.date")
        for text in ("hari ini", "kebun karet Koto Tuo", "jatuh waktu manyadok, dilihat Pak Udin"):
            await worker.say(text)
        assert worker.said("claims.checklist.work_accident")
        operator.read()
        assert any("K1" in call.text for call in operator.replies)
        assert "off:case:1" in operator.buttons
        await operator.tap("off:case:1")
        assert operator.said("claims.official.details") and "off:case:1:reported" in operator.buttons
        await operator.tap("off:case:1:reported")
        assert operator.said("claims.official.changed")
        worker.read()
        assert worker.said("claims.family.reported")


async def test_the_simulator_carries_a_claim_and_its_reminder(svc: Services) -> None:
    await add_officials(svc)
    await enrolled(svc, user="tg:4401")
    sim = SimDriver(svc, svc.clock)
    out = await sim.say("tg:4401", "saya kecelakaan di kebun")
    assert [o["to"] for o in out] == ["tg:4401", "tg:4401"]
    for text in ("hari ini", "kebun", "tangan kena parang"):
        out = await sim.say("tg:4401", text)
    assert any("K1" in o["text"] for o in out if o["to"] == "tg:4401")
    assert any("K1" in o["text"] and o["to"] == OPERATOR for o in out)
    out = await sim.clock(START + timedelta(hours=25))
    mine = [o for o in out if o["to"] == "tg:4401"]
    assert mine and "K1" in mine[0]["text"]
    assert "harus dilaporkan" in mine[0]["text"] and "30-11-2026" in mine[0]["text"]
    assert any(o["to"] == OPERATOR and "K1" in o["text"] for o in out)
    # Not again on the next tick.
    out = await sim.clock(START + timedelta(hours=26))
    assert not [o for o in out if "K1" in o["text"]]
