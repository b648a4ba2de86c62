"""The programme's contribution: the nagari pays one fixed amount per funded worker (the lowest
bracket, Rp 16.800 a month), whatever income the worker declares; the declared income is kept as
its own value. The worker's summary, the approval notice, the officials' details and the
operators' monthly payment reminder all say the programme's amount."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.config import DEFAULT_CONFIG, ConfigError, load_config
from handlers.services import Services
from storage.models import Registration
from tests.conftest import GOOD_NIK, REGISTRATION, Chat
from tests.fake_platform import SimDriver
from tests.officials_support import OPERATOR, add_officials
from tests.test_reminders_rules import at, enrol, sent_keys

# Typed incomes above the lowest bracket (Rp 1.099.000): 1,5 juta would be Rp 22.800 by bracket.
DECLARED = {"id": "1,5 juta", "en": "1.500.000"}


async def register_declaring(chat: Chat, income: str, lang: str, nik: str = GOOD_NIK) -> str:
    """A whole registration with a typed income; returns the reference."""
    await chat("halo")
    for kind, value in REGISTRATION:
        if value == "lang:id":
            value = f"lang:{lang}"
        if value == GOOD_NIK:
            value = nik
        if value == "inc:1000000":
            await chat.tap("inc:more")
            await chat(income)
            assert chat.keys[0] == "income.contribution", chat.keys
            # Rp 10.000 JKK on the programme's base Rp 1.000.000 + Rp 6.800 JKM.
            assert "16.800" in chat.replies[0].text and "22.800" not in chat.replies[0].text
            continue
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert chat.keys[-1] == "summary.prompt"
    # The summary shows the declared income and the programme's amount (never the bracket's).
    assert "16.800" in chat.last.text and "22.800" not in chat.last.text and "28.300" not in chat.last.text
    await chat.tap("sum:send")
    assert "submit.done" in chat.keys
    async with chat.svc.db.session() as session:
        row = (await session.execute(select(Registration).where(Registration.channel_user == chat.user))).scalar_one()
    return row.reference


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_declared_income_is_kept_and_the_programme_amount_is_what_everyone_sees(
        any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    worker = Chat(any_svc, "tg:4101")
    reference = await register_declaring(worker, DECLARED[lang], lang)
    async with any_svc.db.session() as session:
        row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
        assert (row.income, row.income_base, row.monthly_contribution) == (1_500_000, 1_000_000, 16_800)

    official = Chat(any_svc, OPERATOR)
    await official(f"/lihat {reference}")
    assert "16.800" in official.text and "1.500.000" in official.text and "22.800" not in official.text
    await official(f"/setujui {reference}")
    notice = [o.reply for o in official.others if o.to == worker.user]
    assert [n.key for n in notice] == ["official.worker.approved"]
    assert "16.800" in notice[0].text and "22.800" not in notice[0].text


async def test_payment_reminder_adds_up_the_programme_amount(any_svc: Services, clock: Any) -> None:
    """Two enrolled workers who declared Rp 1,5 juta and Rp 3 juta: the nagari owes 2 x 16.800."""
    await add_officials(any_svc)
    first = await register_declaring(Chat(any_svc, "tg:4201"), "1,5 juta", "id")
    second = await register_declaring(Chat(any_svc, "tg:4202"), "3 juta", "id", nik="1303055203850002")
    for reference in (first, second):
        await enrol(any_svc, reference, date(2026, 11, 1))
    sim = SimDriver(any_svc, clock)
    monthly = [m for m in await sim.clock(at(date(2026, 12, 1), 8)) if m["to"] == OPERATOR]
    assert len(monthly) == 1
    assert "Rp 33.600" in monthly[0]["text"], monthly[0]["text"]
    assert await sent_keys(any_svc, OPERATOR) == ["reminder.contribution"]


def _config(tmp_path: Path, programme: dict[str, Any]) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["programme"] = programme
    data["data"] = {k: str(DEFAULT_CONFIG.parent / v) for k, v in data["data"].items()}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_programme_amount_is_dated_and_validated(tmp_path: Path) -> None:
    rules = load_config(DEFAULT_CONFIG).flow_rules()
    assert rules.programme_contribution(date(2026, 12, 1)).monthly == 16_800
    dated = load_config(_config(tmp_path, {"funded_base": [
        {"effective_from": "2023-10-02", "base": None}, {"effective_from": "2027-01-01", "base": 1_200_000}]}))
    rules = dated.flow_rules()
    assert rules.programme_contribution(date(2026, 12, 31)).monthly == 16_800
    assert rules.programme_contribution(date(2027, 1, 1)).monthly == 18_800
    with pytest.raises(ConfigError, match="programme.funded_base: 1234567 is not a bracket base"):
        load_config(_config(tmp_path, {"funded_base": [{"effective_from": "2023-10-02", "base": 1_234_567}]}))
    with pytest.raises(ConfigError, match="programme.escalation"):
        load_config(_config(tmp_path, {"escalation": {"pending_operator_days": 0}}))
    with pytest.raises(ConfigError, match="pending_admin_days must not be before"):
        load_config(_config(tmp_path, {"escalation": {"pending_operator_days": 5, "pending_admin_days": 2}}))
