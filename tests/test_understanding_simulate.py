"""The issue's cases end to end through `python -m bot simulate` (in process): a whole
registration typed in people's own words, without one tap, in Indonesian and in English."""

from __future__ import annotations

import io
import json

from bot.simulate import simulate
from handlers.clock import FixedClock
from handlers.services import Services
from tests.conftest import GOOD_NIK

INDONESIAN = ["halo", "indonesia", "iyo, satuju", "iyo", "alun", "karajo surang", "jual sayur di pasar",
              "nama saya Siti Aminah", "nik saya 1303 0552 0385 0001", "ya benar", "sy tinggal di muaro",
              "di jorong koto tuo", "hp saya 0812 3456 7890", "dua setengah juta", "Ahmad (suami)",
              "hp salah", "0813 9999 8888", "betul semua"]
ENGLISH = ["hello", "english", "yes I agree", "yes", "no I'm not", "own business",
           "I sell vegetables at the market", "my name is Siti Aminah", GOOD_NIK, "yes that's right",
           "i live in muaro", "koto tuo", "yes", "1.5 million", "my wife Rosna", "looks good, send it"]


async def run(svc: Services, clock: FixedClock, user: str, texts: list[str]) -> list[dict]:
    lines = [json.dumps({"from": user, "text": t}) for t in texts]
    out = io.StringIO()
    await simulate(svc, clock, io.StringIO("\n".join(lines) + "\n"), out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


async def test_a_registration_in_own_words_in_indonesian(svc: Services, clock: FixedClock) -> None:
    objects = await run(svc, clock, "tg:5001", INDONESIAN)
    assert not [o for o in objects if "error" in o]
    texts = [o["text"] for o in objects if "text" in o]
    summaries = [t for t in texts if "Periksa data Anda" in t]
    assert summaries and all(k in summaries[0] for k in ("Pedagang", "Siti Aminah", "Muaro", "Koto Tuo",
                                                         "Rp 2.500.000", "Ahmad (Suami/Istri)"))
    assert "+62 813-9999-8888" in summaries[-1]
    assert any("SJ-" in t and "Terima kasih" in t for t in texts)
    assert not any(t.startswith(("Mohon pilih", "Maaf")) for t in texts)  # never refused
    assert GOOD_NIK not in json.dumps(objects)


async def test_a_registration_in_own_words_in_english(svc: Services, clock: FixedClock) -> None:
    objects = await run(svc, clock, "wa:6281234567890", ENGLISH)
    assert not [o for o in objects if "error" in o]
    texts = [o["text"] for o in objects if "text" in o]
    summaries = [t for t in texts if "check your data" in t]
    assert summaries, texts[-3:]
    assert all(k in summaries[0] for k in ("Trader", "Siti Aminah", "Muaro", "+62 812-3456-7890", "Rp 1.500.000",
                                           "Rosna"))
    assert any("SJ-" in t and "Thank you" in t for t in texts)
    assert not any(t.startswith(("Please choose", "Sorry")) for t in texts)
