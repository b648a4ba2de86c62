"""The links that carry an official's invitation code to the chat, pure.

An invitation (storage/officials.py) is a one-time code; `/kode <CODE>` in the chat takes it.
A code made on the server (`python -m bot officials invite`, handlers/invitations.py) is handed
over as a link, so the new official need not type it:

- Telegram: a deep link `https://t.me/<bot>?start=kode-<CODE>`. Telegram sends "/start
  kode-<CODE>" when it is opened; `code_of_start` reads the code back, and the officials' route
  takes it as `/kode <CODE>`.
- WhatsApp: `https://wa.me/<number>?text=/kode%20<CODE>`: the message is filled in, the person
  sends it, and it is the command itself.

Nothing here does I/O.
"""

from __future__ import annotations

import re

from conversations.links import LinkTargets, telegram_url, whatsapp_url

# The start parameter of a Telegram deep link carrying an invitation ([A-Za-z0-9_-] only).
START_PREFIX = "kode-"
# The words a WhatsApp link fills in: the chat's own command (handlers/officials/commands.py).
WHATSAPP_COMMAND = "/kode"
# Invitation codes are letters and digits (storage/repo.py REFERENCE_ALPHABET, 8 of them).
START_CODE = re.compile(rf"^{START_PREFIX}([A-Za-z0-9]{{4,16}})$", re.IGNORECASE)


def invitation_links(targets: LinkTargets, code: str) -> tuple[str | None, str | None]:
    """(Telegram deep link, WhatsApp click-to-chat link) carrying `code`; None where the channel's
    address (TELEGRAM_BOT_USERNAME, WHATSAPP_DISPLAY_NUMBER) is not configured."""
    telegram = telegram_url(targets.telegram_username, START_PREFIX + code) if targets.telegram_username else None
    whatsapp = whatsapp_url(targets.whatsapp_number, f"{WHATSAPP_COMMAND} {code}") if targets.whatsapp_number else None
    return telegram, whatsapp


def code_of_start(parameter: str | None) -> str | None:
    """The invitation code a Telegram deep link carried ("kode-ABCD2345" -> "ABCD2345"), else None."""
    found = START_CODE.match(parameter or "")
    return found.group(1).upper() if found else None
