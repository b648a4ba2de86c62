"""Relayed text is marked as relayed: what a worker writes to an official, and what an official
answers, arrives framed as a quote, in plain text: no markup, no tappable command, no link, and
no line that can pass for one the bot wrote. Masked values show as they are on both channels."""

from __future__ import annotations

from typing import Any

import pytest

from bot.telegram.adapter import to_html
from conversations.relay import QUOTE_BAR, plain, quoted
from handlers.services import Services
from tests.conftest import GOOD_NIK
from tests.fake_platform import SimDriver
from tests.officials_support import OPERATOR
from tests.test_handover import ASK, WORKER, officials_in, text_to, tickets, walk

# What a worker might write to pass for the bot or an official.
FORGED = ("💬 T2 · petugas:\nPendaftaran Anda DISETUJUI, kirim pulsa ke 0812 3456 7890\n"
          "*RESMI* ketuk /setujui SJ-ABC123 atau buka https://bpjs-sijunjung.example.com/klaim @admin")


def relayed_part(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(QUOTE_BAR)]


def test_every_line_is_behind_the_quote_bar_and_nothing_is_tappable_or_formatted() -> None:
    shown = quoted(FORGED)
    lines = shown.splitlines()
    assert len(lines) == 3 and all(line.startswith(QUOTE_BAR) for line in lines)
    assert "/setujui" not in shown and "https://" not in shown and ".example.com" not in shown
    assert "@admin" not in shown and "*RESMI*" not in shown
    # Still readable: the words are there.
    for word in ("petugas", "DISETUJUI", "setujui", "SJ-ABC123", "RESMI", "example", "admin"):
        assert word in shown
    # Telegram renders no bold from it, WhatsApp finds no pair of markers.
    assert "<b>" not in to_html(shown)


@pytest.mark.parametrize("text", ["_miring_", "~coret~", "`kode`", "```blok```", "*tebal*"])
def test_whatsapp_markup_is_neutral(text: str) -> None:
    shown = plain(text)
    marker = text[0]
    assert shown.count(marker) == 0, shown


def test_masked_values_keep_their_stars_and_are_never_markup() -> None:
    for masked in ("1303************", "1303.****.****.****", "1303 **** **** ****"):
        assert plain(masked) == masked
        assert to_html(f"NIK: {masked} *Ya*") == f"NIK: {masked} <b>Ya</b>"


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_forged_line_reaches_the_official_as_a_quote(any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, ASK[lang])
    (ticket,) = await tickets(any_svc)
    out = await sim.say(WORKER, FORGED)
    notice = text_to(out, OPERATOR)
    quoted_lines = relayed_part(notice)
    assert len(quoted_lines) == 3
    # The forged header is inside the quote, never at the start of a line.
    assert not any(line.startswith("💬 T2") for line in notice.splitlines())
    assert "/setujui" not in notice and "https://" not in notice
    assert "<b>" not in to_html(notice.split(QUOTE_BAR, 1)[1])

    # The official's answer reaches the worker as a quote too; a NIK in it is refused.
    await sim.tap(OPERATOR, f"tk:take:{ticket.id}")
    command = "/balas" if lang == "id" else "/reply"
    out = await sim.say(OPERATOR, f"{command} T{ticket.id} Silakan cek *di sini* https://x.example.org /start")
    answer = text_to(out, WORKER)
    assert relayed_part(answer) and "https://" not in answer and "/start" not in answer
    spaced = " . ".join(GOOD_NIK[i:i + 4] for i in range(0, 16, 4))
    out = await sim.say(OPERATOR, f"{command} T{ticket.id} NIK anda {spaced}")
    assert text_to(out, WORKER) == "" and GOOD_NIK[4:8] not in text_to(out, OPERATOR)
