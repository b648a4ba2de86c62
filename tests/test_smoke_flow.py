from tests.conftest import Chat, register


async def test_full_registration_on_both_databases(any_svc) -> None:
    chat = Chat(any_svc)
    reference = await register(chat)
    assert reference and reference.startswith("SJ-")
    await chat("status")
    assert chat.keys[0] == "status.text"
