"""Log lines name people by `who(channel_user)`: a short keyed hash, stable for one master key,
that gives away neither the phone number nor the platform id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import crypto
from storage.crypto import use_for_logs, who


@pytest.fixture(autouse=True)
def restore_key() -> Iterator[None]:
    saved = crypto._log_key
    yield
    crypto._log_key = saved


def test_same_person_same_name_and_nothing_of_the_id_in_it() -> None:
    use_for_logs(b"a" * 48)
    name = who("wa:6281234567890")
    assert name == who("wa:6281234567890") and name.startswith("wa#")
    assert "6281234567890" not in name and "1234" not in name
    assert who("wa:6281234567891") != name and who("tg:6281234567890") != name.replace("wa", "tg", 1)


def test_another_key_gives_other_names() -> None:
    use_for_logs(b"a" * 48)
    first = who("tg:700000001")
    use_for_logs(b"b" * 48)
    assert who("tg:700000001") != first


def test_anything_can_be_named() -> None:
    assert who("") .startswith("?#") and who(None).startswith("?#") and who("no-colon").startswith("?#")
