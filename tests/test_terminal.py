"""The terminal chat numbers buttons like the channels behave: per message, lettered when several
messages carry buttons, and never over the summary's own item numbers."""

from __future__ import annotations

from conversations.events import Button, ButtonPress, Reply, Text
from bot.terminal import button_labels, event_from, numbers_of_text

SUMMARY = Reply("summary.prompt", "Periksa data Anda:\n1. Pekerjaan: Petani\n2. Nama: Siti",
                (Button("sum:send", "Kirim"), Button("sum:edit", "Ubah")))
CATEGORY = Reply("category.prompt", "Apa pekerjaan Anda?\n1. Petani\n2. Pedagang",
                 (Button("cat:petani", "Petani"), Button("cat:pedagang", "Pedagang")))
ITEM_A = Reply("queue.item", "SJ-AAAAAA", (Button("off:approve:A", "Setujui"), Button("off:reject:A", "Tolak")))
ITEM_B = Reply("queue.item", "SJ-BBBBBB", (Button("off:approve:B", "Setujui"), Button("off:reject:B", "Tolak")))


def test_the_summary_numbers_go_to_the_bot() -> None:
    assert numbers_of_text(SUMMARY) and not numbers_of_text(CATEGORY)
    labels, keys = button_labels([SUMMARY])
    assert labels == [["Kirim", "Ubah"]] and keys == {}
    assert event_from("2", keys) == Text("2")
    assert event_from("kirim", keys) == Text("kirim")


def test_a_list_that_is_its_buttons_is_tapped_by_number() -> None:
    labels, keys = button_labels([CATEGORY])
    assert labels == [["1", "2"]] and event_from("2", keys) == ButtonPress("cat:pedagang")


def test_queue_items_keep_their_own_buttons() -> None:
    labels, keys = button_labels([Reply("queue.head", "Antrian", ()), ITEM_A, ITEM_B])
    assert labels == [[], ["a1", "a2"], ["b1", "b2"]]
    assert event_from("a2", keys) == ButtonPress("off:reject:A")
    assert event_from("B1", keys) == ButtonPress("off:approve:B")
    assert event_from("1", keys) == ButtonPress("off:approve:B")  # a bare number: the last message
    assert event_from("3", keys) == Text("3")
