"""Links that bring people in, and which ones worked (docs/links.md).

- the code a link carries round-trips, fits Telegram's start parameter, holds nothing personal,
  and any change to it (or a made-up one, or another key's) is not a link;
- `python -m bot links` for one nagari by name or by code, for all 62, for a jorong and an
  agent, with posters; without the settings it says what to set;
- posters: valid PNG and PDF whose QR code reads back (module by module) as segno's encoding
  of the link, and as the link itself where a QR decoder is installed;
- a chat that starts from a link (Telegram `/start <code>` through the real Telegram channel,
  WhatsApp's filled-in text through the real WhatsApp webhook) confirms the nagari instead of
  asking kecamatan and nagari; "no" asks the usual question; a changed code starts an ordinary
  conversation on both channels;
- the registration records its source; the export says it; /statistik counts by source and by
  agent; /tautan gives an operator their own nagari's links and an admin any nagari's or agent's.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import segno
from PIL import Image
from sqlalchemy import select, update

from bot.cli import main
from bot.config import ConfigError, Environment
from bot.telegram.adapter import start_parameter
from conversations.events import Text
from conversations.links import LinkCode, LinkTargets, find_code, make_code, read_code, whatsapp_number
from handlers.export import export_csv
from handlers.exports_bpjs import Selection
from handlers.links import MadeLink, make_link, poster_of
from handlers.posters import QrPlace, qr_modules
from handlers.services import Services
from storage.links import RecruitmentLink
from storage.models import Registration
from storage.repo import Repository
from tests.conftest import GOOD_NIK, REGISTRATION, Chat
from tests.fake_graph import message, whatsapp_harness
from tests.fake_telegram import FakeTelegram, running_bot
from tests.officials_support import (
    ADMIN,
    KANDANG,
    MUARO,
    OPERATOR,
    OTHER_OPERATOR,
    add_officials,
    add_registrations,
    private_folders,
)
from tests.test_whatsapp_registration import WhatsAppChat

TARGETS = LinkTargets("SijunjungBot", "628116600123")
KEY = b"k" * 32
NAGARI_STEP = REGISTRATION.index(("say", "Muaro"))


@pytest.fixture
def linked(svc: Services) -> Services:
    svc.link_targets = TARGETS
    return svc


async def made(svc: Services, nagari: str = MUARO, jorong: str | None = None, agent: str | None = None) -> MadeLink:
    async with svc.db.session() as session:
        link = await make_link(svc, session, nagari, jorong, agent, "test", svc.clock.now())
        await session.commit()
    return link


async def state_link(svc: Services, user: str) -> dict | None:
    async with svc.db.session() as session:
        return (await Repository(session, svc.cipher).load_state(user)).link


async def registration_of(svc: Services, user: str) -> Registration:
    async with svc.db.session() as session:
        return (await session.execute(select(Registration).where(Registration.channel_user == user))).scalar_one()


# -- the code -------------------------------------------------------------------------------------
@pytest.mark.parametrize("link_id", [1, 35, 36, 1295, 10**6])
def test_a_code_round_trips_fits_telegram_and_holds_nothing_personal(link_id: int) -> None:
    code = make_code(KEY, MUARO, link_id)
    assert read_code(KEY, code) == LinkCode(MUARO, link_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code) and len(code) <= 30
    assert code.startswith("1303042001-")  # the nagari, readable
    assert not re.search(r"\d{16}", code)  # nothing NIK-shaped
    assert find_code(f"Halo, saya mau daftar BPJS Ketenagakerjaan. Kode: {code}") == code
    assert read_code(KEY, code.upper()) == LinkCode(MUARO, link_id)  # a keyboard's capitals do no harm


def test_a_changed_made_up_or_foreign_code_is_not_a_link() -> None:
    code = make_code(KEY, MUARO, 42)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz-"
    changed = {code[:i] + ch + code[i + 1:] for i in range(len(code)) for ch in alphabet if ch != code[i]}
    assert len(changed) > 500
    assert [c for c in changed if read_code(KEY, c) is not None] == []
    assert read_code(b"x" * 32, code) is None  # another deployment's key
    for made_up in ("1303042001-1-aaaaaaaa", "1303042001-17-" + code[-8:], "", "halo", "/start",
                    f"1303042001-0{code.split('-')[1]}-{code[-8:]}", code + "x", "x" + code):
        assert read_code(KEY, made_up) is None, made_up
    # The other nagari's digits with this link's id and signature: refused.
    assert read_code(KEY, code.replace("1303042001", "1303042002")) is None


def test_telegram_passes_the_start_parameter_apart() -> None:
    assert start_parameter("/start 1303042001-k-4f2mq7za") == "1303042001-k-4f2mq7za"
    assert start_parameter("/start@SijunjungBot abc_DEF-1") == "abc_DEF-1"
    for text in ("/start", "/start a b", "/mulai abc", "halo", "/start " + "a" * 65, "/start <b>"):
        assert start_parameter(text) is None, text


def test_where_links_lead_comes_from_the_environment() -> None:
    env = Environment.from_env({"TELEGRAM_BOT_USERNAME": "@SijunjungBot", "WHATSAPP_DISPLAY_NUMBER": "0811-6600-123"})
    assert env.link_targets == TARGETS
    assert whatsapp_number("+62 811 6600 123") == "628116600123"
    assert Environment.from_env({}).link_targets == LinkTargets()
    for variable, value in (("TELEGRAM_BOT_USERNAME", "no spaces allowed"), ("WHATSAPP_DISPLAY_NUMBER", "halo")):
        with pytest.raises(ConfigError) as refused:
            Environment.from_env({variable: value})
        assert variable in str(refused.value.code)


# -- the command line -----------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOT_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "SijunjungBot")
    monkeypatch.setenv("WHATSAPP_DISPLAY_NUMBER", "+62 811-6600-123")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path / "bot.sqlite3"


def printed(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out), delimiter="\t"))


def test_cli_links_for_a_nagari_by_name_and_by_code(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["links", "--nagari", "Muaro", "--db", str(cli)]) == 0
    [by_name] = printed(capsys.readouterr().out)
    assert main(["links", "--nagari", MUARO, "--db", str(cli)]) == 0
    [by_code] = printed(capsys.readouterr().out)
    assert by_name == by_code  # the same link: asking again gives the same code
    assert (by_name["KODE NAGARI"], by_name["NAGARI"], by_name["JORONG"], by_name["AGEN"]) == (MUARO, "Muaro", "", "")
    code = by_name["KODE"]
    assert by_name["TELEGRAM"] == f"https://t.me/SijunjungBot?start={code}"
    wa = urlparse(by_name["WHATSAPP"])
    assert (wa.scheme, wa.netloc, wa.path) == ("https", "wa.me", "/628116600123") and " " not in by_name["WHATSAPP"]
    assert parse_qs(wa.query)["text"] == [f"Halo, saya mau daftar BPJS Ketenagakerjaan. Kode: {code}"]
    # "Sijunjung" is a kecamatan and a nagari: the nagari, and the command says so.
    assert main(["links", "--nagari", "Sijunjung", "--db", str(cli)]) == 0
    captured = capsys.readouterr()
    assert printed(captured.out)[0]["KODE NAGARI"] == "13.03.04.2009" and "not the kecamatan" in captured.err


def test_cli_links_for_every_nagari_and_an_agent(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["links", "--db", str(cli)]) == 0
    rows = printed(capsys.readouterr().out)
    assert len(rows) == 62 and len({r["KODE NAGARI"] for r in rows}) == 62 and len({r["KODE"] for r in rows}) == 62
    assert main(["links", "--agent", "Rina", "--db", str(cli)]) == 0
    agents = printed(capsys.readouterr().out)
    assert len(agents) == 62 and {r["AGEN"] for r in agents} == {"Rina"}
    assert not {r["KODE"] for r in agents} & {r["KODE"] for r in rows}
    assert main(["links", "--nagari", "Muaro", "--jorong", "Koto Tuo", "--agent", "rina", "--db", str(cli)]) == 0
    [both] = printed(capsys.readouterr().out)
    assert (both["JORONG"], both["AGEN"]) == ("Koto Tuo", "rina")


def test_cli_says_what_to_set(cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME")
    monkeypatch.delenv("WHATSAPP_DISPLAY_NUMBER")
    assert main(["links", "--db", str(cli)]) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("links:")]
    assert len(said) == 1 and "TELEGRAM_BOT_USERNAME" in said[0] and "WHATSAPP_DISPLAY_NUMBER" in said[0]
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "SijunjungBot")
    assert main(["links", "--nagari", "Muaro", "--db", str(cli)]) == 0
    captured = capsys.readouterr()
    [row] = printed(captured.out)
    assert row["TELEGRAM"].startswith("https://t.me/") and row["WHATSAPP"] == ""
    assert "WHATSAPP_DISPLAY_NUMBER is not set" in captured.err
    assert main(["links", "--jorong", "Koto Tuo", "--db", str(cli)]) == 2  # a jorong is in one nagari
    assert "--nagari" in capsys.readouterr().err
    assert main(["links", "--nagari", "Jakarta", "--db", str(cli)]) == 2
    assert main(["links", "--nagari", "Muaro", "--agent", GOOD_NIK, "--db", str(cli)]) == 2
    assert GOOD_NIK not in capsys.readouterr().err


def test_cli_writes_posters(cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "posters"
    assert main(["links", "--nagari", "Muaro", "--agent", "Rina", "--qr", str(out), "--db", str(cli)]) == 0
    captured = capsys.readouterr()
    assert "1 posters" in captured.err
    stem = out / "poster-1303042001-muaro-agen-rina"
    assert_valid_poster(stem.with_suffix(".png"), stem.with_suffix(".pdf"))


# -- posters --------------------------------------------------------------------------------------
def assert_valid_poster(png: Path, pdf: Path) -> None:
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1240, 1753)
        image.verify()
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and b"/Type /Page" in data


def modules_in(png: Path, place: QrPlace) -> list[list[bool]]:
    """The QR code's modules read back from the image: the colour at each module's centre."""
    with Image.open(png) as image:
        grey = image.convert("L")
        width, height = grey.size
        step_x, step_y = place.width * width / place.modules, place.height * height / place.modules
        left, top = place.left * width, place.top * height
        return [[grey.getpixel((int(left + (x + 0.5) * step_x), int(top + (y + 0.5) * step_y))) < 128
                 for x in range(place.modules)] for y in range(place.modules)]


def segno_modules(url: str) -> list[list[bool]]:
    return [[bool(m) for m in row] for row in segno.make(url, error="m", micro=False).matrix_iter(border=4)]


async def test_a_poster_shows_the_links_qr_codes(linked: Services, tmp_path: Path) -> None:
    link = await made(linked, agent="Rina")
    poster = poster_of(linked, link, tmp_path / "p")
    assert_valid_poster(poster.png, poster.pdf)
    assert link.links.whatsapp and link.links.telegram and poster.second_qr is not None
    for url, place in ((link.links.whatsapp, poster.qr), (link.links.telegram, poster.second_qr)):
        assert qr_modules(url) == segno_modules(url)
        assert modules_in(poster.png, place) == segno_modules(url), url
    try:  # a real decoder where one is installed (zbar is not a dependency of the project)
        from pyzbar.pyzbar import decode  # type: ignore[import-not-found]
    except ImportError:
        return
    with Image.open(poster.png) as image:
        found = {item.data.decode() for item in decode(image)}
    assert {link.links.whatsapp, link.links.telegram} <= found


async def test_a_poster_with_one_link_and_its_words(svc: Services, tmp_path: Path) -> None:
    svc.link_targets = LinkTargets(whatsapp_number="628116600123")
    link = await made(svc, jorong="Koto Tuo")
    poster = poster_of(svc, link, tmp_path)
    assert poster.second_qr is None and link.links.telegram is None
    assert modules_in(poster.png, poster.qr) == segno_modules(link.links.whatsapp or "")
    assert poster.png.name.startswith("poster-1303042001-muaro-jorong-koto-tuo")
    text = poster.pdf.read_bytes()
    assert b"%PDF-" in text[:8]


# -- a chat that starts from a link ----------------------------------------------------------------
async def walk_from_nagari(chat: Chat) -> None:
    """Confirm the nagari, then the rest of conftest.REGISTRATION, and send."""
    assert chat.keys == ["link.nagari.confirm"] and chat.buttons() == ["link:yes", "link:no"]
    assert "Langkah 8 dari 13" in chat.text and "Muaro" in chat.text
    await chat.tap("link:yes")
    assert chat.keys == ["jorong.prompt"]
    for kind, value in REGISTRATION[NAGARI_STEP + 1:]:
        await (chat.tap(value) if kind == "tap" else chat(value))
    await chat.tap("sum:send")
    assert "submit.done" in chat.keys


async def walk_to_nagari(chat: Chat) -> None:
    for kind, value in REGISTRATION[:NAGARI_STEP]:
        await (chat.tap(value) if kind == "tap" else chat(value))


async def test_a_link_confirms_the_nagari_and_records_the_source(linked: Services) -> None:
    link = await made(linked, agent="Rina")
    chat = Chat(linked, "tg:1001")
    await chat.send(Text("/start", link=link.links.code))
    assert chat.keys == ["welcome"] and chat.text.startswith("Anda membuka tautan pendaftaran Nagari *Muaro*.")
    assert await state_link(linked, "tg:1001") == {"id": link.row.id, "nagari": MUARO}
    await walk_to_nagari(chat)
    await walk_from_nagari(chat)
    registration = await registration_of(linked, "tg:1001")
    assert registration.nagari_code == MUARO and registration.link_id == link.row.id


async def test_no_falls_back_to_the_usual_questions(linked: Services) -> None:
    link = await made(linked)
    chat = Chat(linked, "wa:6281234567890")
    await chat(link.links.whatsapp_text)  # WhatsApp: the text the link filled in
    assert chat.text.startswith("Anda membuka tautan")
    await walk_to_nagari(chat)
    assert chat.keys == ["link.nagari.confirm"]
    await chat("bukan")
    assert chat.keys == ["nagari.prompt"] and all(b.startswith("kec:") for b in chat.buttons())
    await chat("kembali")  # back from the usual question: the suggestion again
    assert chat.keys == ["link.nagari.confirm"]
    await chat("Kandang Baru")  # a nagari typed instead of yes or no is an answer too
    assert chat.keys == ["jorong.prompt"]
    async with linked.db.session() as session:
        state = await Repository(session, linked.cipher).load_state("wa:6281234567890")
    assert state.answers["nagari_code"] == KANDANG and state.link == {"id": link.row.id, "nagari": MUARO}


async def test_typed_yes_and_editing_the_nagari_from_the_summary(linked: Services) -> None:
    link = await made(linked, jorong="Koto Tuo")
    chat = Chat(linked, "tg:1004")
    await chat(f"daftar {link.links.code}")  # the code typed from a poster works as the link
    assert chat.text.startswith("Anda membuka tautan")
    await walk_to_nagari(chat)
    await chat("iyo")  # Minang "yes"
    assert chat.keys == ["jorong.prompt"]
    for kind, value in REGISTRATION[NAGARI_STEP + 1:]:
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert chat.keys[-1] == "summary.prompt"
    await chat("4")  # the summary's nagari line: the link's nagari is offered again
    assert chat.keys == ["link.nagari.confirm"]
    await chat.tap("link:no")
    await chat("Kandang Baru")
    assert chat.keys[-1] == "summary.prompt" and "Kandang Baru" in chat.text
    await chat.tap("sum:send")
    registration = await registration_of(linked, "tg:1004")
    # The link brought them, whichever nagari they live in.
    assert registration.nagari_code == KANDANG and registration.link_id == link.row.id


async def test_a_changed_code_starts_an_ordinary_conversation(linked: Services) -> None:
    link = await made(linked)
    bad = link.links.code[:-1] + ("a" if link.links.code[-1] != "a" else "b")
    telegram, whatsapp = Chat(linked, "tg:1002"), Chat(linked, "wa:6281234567891")
    await telegram.send(Text("/start", link=bad))
    await whatsapp(f"Halo, saya mau daftar BPJS Ketenagakerjaan. Kode: {bad}")
    for chat in (telegram, whatsapp):
        assert chat.keys == ["welcome"] and "tautan" not in chat.text
        assert await state_link(linked, chat.user) is None
        await walk_to_nagari(chat)
        assert chat.keys == ["nagari.prompt"]
    # A code of a link row that does not exist (signed, but never made here) is no link either.
    await Chat(linked, "tg:1003").send(Text("/start", link=make_code(linked.cipher.link_key, MUARO, 999)))
    assert await state_link(linked, "tg:1003") is None


async def test_telegram_deep_link_through_the_channel(linked: Services, fake: FakeTelegram) -> None:
    link = await made(linked, jorong="Koto Tuo")
    async with running_bot(linked, fake) as bot:
        person = bot.person()
        await person.say(f"/start {link.links.code}")
        assert person.said("link.opened") and person.said("welcome")
        for kind, value in REGISTRATION[:NAGARI_STEP]:
            await (person.tap(value) if kind == "tap" else person.say(value))
        assert person.said("link.nagari.confirm") and person.buttons == ["link:yes", "link:no"]
        await person.tap("link:yes")
        assert person.said("jorong.prompt")
        stranger = bot.person(700000002)
        await stranger.say(f"/start {link.links.code[:-2]}zz")
        assert stranger.said("welcome") and not stranger.said("link.opened")
    assert await state_link(linked, person.channel_user) == {"id": link.row.id, "nagari": MUARO}
    assert await state_link(linked, stranger.channel_user) is None


async def test_whatsapp_link_text_through_the_webhook(linked: Services) -> None:
    link = await made(linked, agent="Rina")
    async with whatsapp_harness(linked) as wa:
        chat = WhatsAppChat(wa)
        await chat.say(link.links.whatsapp_text)
        assert wa.said(chat.last, "welcome") and "Nagari *Muaro*" in chat.last[0].text
        for kind, value in REGISTRATION[:NAGARI_STEP]:
            await (chat.tap(value) if kind == "tap" else chat.say(value))
        assert wa.said(chat.last, "link.nagari.confirm") and chat.choices() == ["link:yes", "link:no"]
        await chat.tap("link:yes")
        assert wa.said(chat.last, "jorong.prompt")
        other = message(text=f"Halo, saya mau daftar BPJS Ketenagakerjaan. Kode: {link.links.code[:-1]}q",
                        wa_id="6281299990000")
        sent = await wa.send(other)
        assert wa.said(sent, "welcome") and "Nagari *Muaro*" not in sent[0].text
    assert (await state_link(linked, "wa:6281299990000")) is None


# -- which links worked -----------------------------------------------------------------------------
async def test_the_export_says_where_each_registration_came_from(linked: Services) -> None:
    rina, koto, nagari = await made(linked, agent="Rina"), await made(linked, jorong="Koto Tuo"), await made(linked)
    references = await add_registrations(linked, 4, status="approved")
    async with linked.db.session() as session:
        for reference, link in zip(references, (rina, koto, nagari)):
            await session.execute(update(Registration).where(Registration.reference == reference)
                                  .values(link_id=link.row.id))
        await session.commit()
    out = io.StringIO(newline="")
    await export_csv(linked, out, Selection())
    rows = list(csv.DictReader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert {r["REFERENSI"]: r["SUMBER PENDAFTARAN"] for r in rows} == dict(zip(
        references, ("Rina", "Jorong Koto Tuo", "tautan nagari", "langsung")))


async def test_statistics_count_by_source_and_by_agent(linked: Services, tmp_path: Path) -> None:
    private_folders(linked, tmp_path)
    await add_officials(linked)
    rina, budi, koto = await made(linked, agent="Rina"), await made(linked, agent="Budi"), await made(
        linked, jorong="Koto Tuo")
    rina_kandang = await made(linked, KANDANG, agent="rina")
    approved = await add_registrations(linked, 3, status="approved")
    pending = await add_registrations(linked, 4, start=10)
    elsewhere = await add_registrations(linked, 2, KANDANG, start=40)
    sources = {approved[0]: rina, approved[1]: rina, pending[0]: rina, pending[1]: budi, pending[2]: koto,
               elsewhere[0]: rina_kandang}
    async with linked.db.session() as session:
        for reference, link in sources.items():
            await session.execute(update(Registration).where(Registration.reference == reference)
                                  .values(link_id=link.row.id))
        await session.commit()
    admin = Chat(linked, ADMIN)
    await admin("/statistik")
    assert admin.keys[0] == "official.stats.text"
    text = admin.replies[0].text
    assert "• Langsung: 3 (33,3%), disetujui 1" in text and "• Poster/tautan nagari: 0 (0%), disetujui 0" in text
    assert "• Agen: 5 (55,6%), disetujui 2" in text and "• Tautan jorong: 1 (11,1%), disetujui 0" in text
    assert "Agen terbanyak: Rina 4, Budi 1" in text  # Rina's links in two nagari, counted together
    await admin("/statistik agen")
    detail = next(r.text for r in admin.replies if r.key == "link.stats.detail")
    assert "• Rina — Muaro: 3, disetujui 2" in detail and "• rina — Kandang Baru: 1, disetujui 0" in detail
    assert "• Koto Tuo — Muaro: 1, disetujui 0" in detail
    operator = Chat(linked, OPERATOR)
    await operator("/statistik")
    mine = operator.replies[0].text
    assert "• Agen: 4 (57,1%), disetujui 2" in mine and "Agen terbanyak: Rina 3, Budi 1" in mine
    assert "Kandang Baru" not in mine


# -- /tautan --------------------------------------------------------------------------------------
async def test_an_operator_gets_their_own_nagaris_links_and_poster(linked: Services, tmp_path: Path) -> None:
    private_folders(linked, tmp_path)
    await add_officials(linked)
    operator = Chat(linked, OPERATOR)
    await operator("/tautan")
    assert operator.keys == ["link.desk.links", "link.desk.poster_pdf"]
    code = re.search(r"Kode: (\S+)", operator.text).group(1)  # type: ignore[union-attr]
    assert read_code(linked.cipher.link_key, code) is not None and code.startswith("1303042001-")
    assert f"https://t.me/SijunjungBot?start={code}" in operator.text
    assert "https://wa.me/628116600123?text=" in operator.text
    assert_valid_poster(Path(operator.replies[0].image or ""), Path(operator.replies[1].document or ""))
    assert Path(operator.replies[0].image or "").parent == tmp_path / "charts"  # deleted with the charts
    await operator("/tautan agen Rina")
    agent_code = re.search(r"Kode: (\S+)", operator.text).group(1)  # type: ignore[union-attr]
    assert "agen Rina" in operator.text and agent_code != code
    for other in ("/tautan Kandang Baru", "/tautan Kandang Baru agen Rina"):
        await operator(other)
        assert operator.keys == ["official.not_allowed"]
    await operator(f"/tautan agen {GOOD_NIK}")
    assert operator.keys == ["link.desk.bad_name"] and GOOD_NIK not in operator.text
    await operator("minta link pendaftaran")  # the desk's everyday words
    assert operator.keys[0] == "link.desk.links" and f"Kode: {code}" in operator.text
    # Someone else's nagari's operator, and a worker, get nothing.
    other_operator = Chat(linked, OTHER_OPERATOR)
    await other_operator("/tautan Muaro")
    assert other_operator.keys == ["official.not_allowed"]
    worker = Chat(linked, "tg:1001")
    await worker("/tautan")
    assert worker.keys == ["official.not_allowed"]
    async with linked.db.session() as session:
        rows = (await session.execute(select(RecruitmentLink.nagari_code, RecruitmentLink.agent)
                                      .order_by(RecruitmentLink.id))).all()
    assert [tuple(r) for r in rows] == [(MUARO, None), (MUARO, "Rina")]


async def test_an_admin_gets_any_nagaris_or_agents_links(linked: Services, tmp_path: Path) -> None:
    private_folders(linked, tmp_path)
    await add_officials(linked)
    operator, admin = Chat(linked, OPERATOR), Chat(linked, ADMIN)
    await operator("/tautan agen Rina")
    operators_code = re.search(r"Kode: (\S+)", operator.text).group(1)  # type: ignore[union-attr]
    await admin("/tautan Muaro agen rina")
    assert admin.keys == ["link.desk.links", "link.desk.poster_pdf"]
    assert f"Kode: {operators_code}" in admin.text  # the same agent's link: one row, one code
    await admin("/links Kandang Baru jorong Koto Baru")
    assert "Kandang Baru (13.03.04.2002), Jorong Koto Baru" in admin.text and "1303042002-" in admin.text
    await admin("/tautan")
    assert admin.keys == ["link.desk.usage"]
    await admin("/tautan Jakarta")
    assert admin.keys == ["official.quota.unknown_nagari"]
    linked.link_targets = LinkTargets()
    await admin("/tautan Muaro")
    assert admin.keys == ["link.desk.not_configured"]
