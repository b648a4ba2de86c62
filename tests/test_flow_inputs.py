"""Transcripts of what people send besides the expected answer: photos and stickers, very long
text, old buttons, typed button titles, numbers and near spellings, shared contacts, and the
WhatsApp sender's own number offered for confirmation.
"""

from __future__ import annotations

import pytest

from handlers.services import Services
from tests.conftest import Chat
from tests.test_flow_registration import state_of, walk_to


@pytest.mark.parametrize("step, prompt", [
    ("language", "welcome"), ("consent", "consent.prompt"), ("category", "category.prompt"),
    ("nik", "nik.prompt"), ("nagari", "nagari.prompt"), ("phone", "phone.prompt"),
])
@pytest.mark.parametrize("kind", ["photo", "sticker", "voice", "location"])
async def test_media_is_answered_kindly_with_the_steps_buttons(chat: Chat, step: str, prompt: str, kind: str) -> None:
    await walk_to(chat, step)
    assert chat.keys[-1] == prompt
    shown = chat.replies[-1]
    before = await state_of(chat.svc, chat.user)
    await chat.media(kind)
    # One message: the kind answer with the buttons the question showed (a tap still answers
    # it), not the whole question again; the contact button stays where it was offered.
    assert chat.keys == ["media.unsupported"]
    assert chat.last.buttons == shown.buttons and chat.last.request_contact == shown.request_contact
    if not shown.buttons:
        assert chat.last.text != chat.svc.catalog.text("id", "media.unsupported")  # with the step's example
    after = await state_of(chat.svc, chat.user)
    assert (after.step, after.answers, after.failures) == (before.step, before.answers, before.failures)


async def test_media_at_the_summary_and_after_submission(chat: Chat) -> None:
    from tests.conftest import register

    await register(chat, submit=False)
    await chat.media("document")
    assert chat.keys == ["media.unsupported"] and chat.buttons() == ["sum:send", "sum:edit", "cmd:cancel"]
    await chat.tap("sum:send")
    await chat.media("voice")
    assert chat.keys == ["media.unsupported"] and chat.buttons() == ["cmd:start", "cmd:status", "cmd:help"]


async def test_input_over_the_limit_is_refused_politely(chat: Chat, svc: Services) -> None:
    await walk_to(chat, "name")
    limit = svc.rules.conversation.max_input_chars
    await chat("A" * (limit + 1))
    assert chat.keys == ["input.too_long", "name.prompt"]
    assert str(limit) in chat.text
    await chat("1" * 5000)
    assert chat.keys == ["input.too_long", "name.prompt"]
    assert "name" not in (await state_of(svc, chat.user)).answers
    await chat("Siti " + "a" * 90)  # long, but within the limit: judged by the name rules
    assert chat.keys == ["nik.prompt"]


async def test_a_stale_button_is_refused_and_the_step_re_asked(chat: Chat) -> None:
    await walk_to(chat, "name")
    await chat.tap("cmd:__nothing__")
    assert chat.keys == ["button.stale", "name.prompt"]
    from conversations.events import ButtonPress

    for i, stale in enumerate(("consent:yes", "cat:petani", "lang:en", "garbage", "", "x" * 500)):
        await chat.send(ButtonPress(stale))
        # Never the same answer a third time in a row (the first stale press was above): the
        # way to a person instead, then the count starts again.
        assert chat.keys == (["help.stuck"] if i % 3 == 1 else ["button.stale", "name.prompt"]), stale
    assert (await state_of(chat.svc, chat.user)).step == "name"


async def test_command_buttons_work_everywhere(chat: Chat) -> None:
    await walk_to(chat, "jorong")
    await chat.tap("cmd:help")
    assert chat.keys == ["help.text", "jorong.prompt"]
    await chat.tap("cmd:cancel")
    assert chat.keys == ["confirm.cancel"]


@pytest.mark.parametrize("typed, category", [
    ("petan", "petani"), ("2", "peternak"), ("ojek", "ojek"), ("Nelayan", "nelayan"),
    ("pedagang", "pedagang"), ("guru mengaji/tpq", "guru_mengaji"), ("10", "lainnya"), ("PETERNAK", "peternak"),
])
async def test_typed_titles_numbers_and_close_spellings(chat: Chat, typed: str, category: str) -> None:
    await walk_to(chat, "category")
    await chat(typed)
    assert chat.keys == ["category_other.prompt" if category == "lainnya" else "name.prompt"]
    assert (await state_of(chat.svc, chat.user)).answers["category"] == category


@pytest.mark.parametrize("typed", ["11", "0", "xyz", "saya kerja apa saja"])
async def test_unclear_choices_are_asked_again_not_guessed(chat: Chat, typed: str) -> None:
    await walk_to(chat, "category")
    await chat(typed)
    assert chat.keys == ["choice.unknown"]
    assert "category" not in (await state_of(chat.svc, chat.user)).answers


async def test_typed_yes_no_and_language(svc: Services) -> None:
    chat = Chat(svc, "tg:77")
    await chat("halo")
    await chat("2")  # the second language button: English
    assert chat.keys == ["consent.prompt"] and chat.last.text.startswith("Step 1")
    await chat("yes I agree")
    assert chat.keys == ["elig.domicile"]
    await chat("iyo")  # Minang
    assert chat.keys == ["elig.member"]
    await chat("belum")
    assert chat.keys == ["elig.work"]


async def test_typed_nagari_names_and_ambiguity(chat: Chat) -> None:
    await walk_to(chat, "nagari")
    await chat("aia amo")
    assert chat.keys == ["jorong.prompt"]
    assert (await state_of(chat.svc, chat.user)).answers["nagari_code"] == "13.03.06.2004"
    await chat("kembali")
    await chat("Sijunjung")  # a kecamatan and a nagari: asked, never guessed
    assert chat.keys == ["nagari.did_you_mean"]
    assert chat.buttons() == ["nag:13.03.04.2009", "kec:13.03.04"]  # that nagari, or another there
    await chat("2")  # a number still picks a button: the kecamatan's nagari
    assert chat.keys == ["nagari.pick"] and "nag:13.03.04.2001" in chat.buttons()
    await chat("sijunjung")  # typed in the kecamatan's list: the nagari of that name
    assert chat.keys == ["jorong.prompt"]
    assert (await state_of(chat.svc, chat.user)).answers["nagari_code"] == "13.03.04.2009"
    await chat("kembali")
    await chat("Koto VII")  # only a kecamatan: its nagari are listed
    assert chat.keys == ["nagari.pick"] and "nag:13.03.08.2001" in chat.buttons()
    await chat.tap("nag:13.03.08.2001")
    assert chat.keys == ["jorong.prompt"]
    await chat("kembali")
    await chat("zzzz qqqq")
    assert chat.keys == ["nagari.unknown"]


# -- phone ----------------------------------------------------------------------------------------
async def test_contact_of_someone_else_is_refused(chat: Chat) -> None:
    await walk_to(chat, "phone")
    assert chat.last.request_contact
    await chat.contact("+6281298765432", own=False)
    assert chat.keys == ["phone.contact_not_own"]
    assert "phone" not in (await state_of(chat.svc, chat.user)).answers
    await chat.contact("+62 812-9876-5432", own=True)
    assert chat.keys[-1] == "income.prompt"
    assert (await state_of(chat.svc, chat.user)).answers["phone"] == "+6281298765432"


async def test_contact_where_no_phone_is_asked(chat: Chat) -> None:
    await walk_to(chat, "name")
    await chat.contact("+6281298765432")
    assert chat.keys == ["contact.unexpected", "name.prompt"]


@pytest.mark.parametrize("typed, key", [("0751 123456", "phone.not_mobile"), ("62812345678", None),
                                        ("halo", "phone.invalid"), ("+6281234567890", None)])
async def test_typed_phone_numbers(chat: Chat, typed: str, key: str | None) -> None:
    await walk_to(chat, "phone")
    await chat(typed)
    if key:
        assert chat.keys == [key]
    else:
        assert chat.keys == ["income.prompt"]
        assert (await state_of(chat.svc, chat.user)).answers["phone"].startswith("+628")


async def test_whatsapp_user_is_offered_their_own_number(svc: Services) -> None:
    chat = Chat(svc, "wa:6281234567890")
    await walk_to(chat, "phone")
    assert chat.keys == ["phone.prompt_known"]
    assert chat.buttons() == ["phone:known"]
    assert "+62 812-3456-7890" in chat.text
    await chat.tap("phone:known")
    assert chat.keys == ["income.prompt"]
    assert (await state_of(svc, chat.user)).answers["phone"] == "+6281234567890"


async def test_telegram_user_is_not_offered_a_number(chat: Chat) -> None:
    await walk_to(chat, "phone")
    assert "phone:known" not in chat.buttons()


# -- income ---------------------------------------------------------------------------------------
# The programme pays its fixed amount (lowest bracket) whatever the declared income, which is
# kept as its own value.
@pytest.mark.parametrize("typed, income", [("1 juta", 1_000_000), ("1.500.000", 1_500_000), ("800rb", 800_000)])
async def test_typed_income_amounts(chat: Chat, typed: str, income: int) -> None:
    await walk_to(chat, "income")
    await chat(typed)
    assert chat.keys == ["income.contribution", "heir_name.prompt"]
    answers = (await state_of(chat.svc, chat.user)).answers
    assert (answers["income"], answers["income_base"], answers["monthly_contribution"]) == (income, 1_000_000, 16_800)


async def test_income_more_asks_for_an_amount_and_back_returns_to_brackets(chat: Chat) -> None:
    await walk_to(chat, "income")
    await chat.tap("inc:more")
    assert chat.keys == ["income.type"] and chat.buttons() == []
    await chat("kembali")
    assert chat.keys == ["income.prompt"] and "inc:more" in chat.buttons()
    await chat.tap("inc:more")
    await chat("5 juta")
    assert chat.keys == ["income.contribution", "heir_name.prompt"]


async def test_heir_may_be_skipped(chat: Chat) -> None:
    await walk_to(chat, "heir_name")
    await chat.tap("heir:skip")
    assert chat.keys == ["summary.prompt"]
    await chat.tap("sum:send")
    assert chat.keys == ["submit.done"]
