"""Person ids as the channels key people, from what an official or a deployer types.

The channels key a person on the id the platform gives: `tg:<Telegram user id>`, and on
WhatsApp `wa:<wa_id>` -- the number in international form without "+" (`wa:6281234567890`) --
or, for a person who hides their number, the business-scoped user id (`wa:ID.1234...`). A
number typed the way people write it (`wa:0812-3456-7890`, `+62 812 3456 7890`, `62812...`,
`0812...`) is the same WhatsApp id once normalised with phonenumbers; stored as typed it would
never match what WhatsApp sends, and the official would get no rights without a word why.
"""

from __future__ import annotations

import re

import phonenumbers

TELEGRAM = re.compile(r"^tg:\s*(-?\d{1,20})$", re.IGNORECASE)
# A business-scoped user id: a country code, a dot, digits (Meta: "US.13491208655302741918").
SCOPED = re.compile(r"^[A-Z]{2,3}\.[0-9A-Za-z]{4,64}$")
REGION = "ID"


class PersonIdError(ValueError):
    """Why a typed id is not a person id; `args[0]` says it in one line (English, for the CLI)."""


def whatsapp_id(text: str) -> str:
    """The wa_id of a phone number typed any usual way (digits, international, no "+")."""
    compact = re.sub(r"[\s().\-]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.startswith("62"):
        compact = "+" + compact
    if not re.fullmatch(r"\+?\d{6,16}", compact):
        raise PersonIdError(f"{text!r} is not a phone number")
    try:
        number = phonenumbers.parse(compact, REGION)
    except phonenumbers.NumberParseException as exc:
        raise PersonIdError(f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise PersonIdError(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def person_id(text: str) -> str:
    """`tg:<digits>`, or `wa:<wa_id>` / `wa:<scoped user id>`; a bare number means WhatsApp.

    Raises PersonIdError with one line saying what is wrong."""
    typed = text.strip()
    telegram = TELEGRAM.match(typed)
    if telegram:
        return f"tg:{telegram.group(1)}"
    channel, colon, rest = typed.partition(":")
    if not colon:
        channel, rest = "wa", typed
    elif channel.lower() != "wa":
        raise PersonIdError(f"{text!r}: use tg:<Telegram user id> or wa:<WhatsApp number>, "
                            "e.g. tg:123456789 or wa:081234567890")
    rest = rest.strip()
    if SCOPED.match(rest):
        return f"wa:{rest}"
    return f"wa:{whatsapp_id(rest)}"


def normalised_or_same(channel_user: str) -> str:
    """A stored id in its normal form, or unchanged when it is not one a person could type
    (an assisted registration's key, a terminal user, an id already normal)."""
    if not channel_user.startswith(("wa:", "tg:")):
        return channel_user
    try:
        return person_id(channel_user)
    except PersonIdError:
        return channel_user
