"""Translation only: WhatsApp webhook payloads -> channel-neutral events, and Reply -> WhatsApp
messages. Nothing here decides anything about the conversation.

Inbound: a webhook body may carry several messages (and statuses) for several people; each
message is cut out into its own single-message payload, the shape pywa parses, so that it can be
recorded in the inbox on its own and parsed again (by pywa's types) when it is handled. A
spreadsheet document is announced as an `Attachment`, which the channel downloads into a Document
(bot/documents.py).
Outbound: Cloud API limits shape the rendering -- at most 3 reply buttons (title up to 20
characters), lists of at most 10 rows (title 24, description 72), message text up to 4096 and
interactive bodies up to 1024 characters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pywa_async import WhatsApp
from pywa_async.types import CallbackButton, CallbackSelection, Message, RawUpdate

from bot import documents
from bot.whatsapp.config import RenderLimits
from conversations.events import Button, ButtonPress, ContactShared, Inbound, Media, Reply, Text
from handlers.inbound import known_phone_of

# Message types that get the conversation's kind "please type or tap" answer.
MEDIA_KINDS = {"image": "photo", "video": "video", "sticker": "sticker", "location": "location",
               "document": "document", "reaction": "reaction", "unsupported": "unsupported"}
# Types that are not something the person said to us: edits, deletions, system notices, orders.
IGNORED_TYPES = {"system", "edit", "revoke", "request_welcome", "ephemeral"}


@dataclass(frozen=True)
class InboundMessage:
    """One message cut out of a webhook body, ready for the inbox."""

    message_id: str  # wamid: the inbox's deduplication key (Meta redelivers for up to 7 days)
    timestamp: int  # seconds since the epoch: the order of handling within one person
    channel_user: str
    payload: dict[str, Any]  # a single-message webhook body

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, timezone.utc)


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str
    status: str  # sent | delivered | read | failed
    at: datetime
    error_code: int | None = None
    error_title: str | None = None


def channel_user_of(contact: dict[str, Any]) -> str:
    """People are keyed on the number WhatsApp gives, or on the business-scoped user id (BSUID)
    when the person hides their number."""
    return f"wa:{contact.get('wa_id') or contact['user_id']}"


def _contact_of(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any] | None:
    for contact in contacts:
        if (message.get("from") and contact.get("wa_id") == message["from"]) or (
                message.get("from_user_id") and contact.get("user_id") == message["from_user_id"]):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def split_messages(body: dict[str, Any], phone_number_id: str) -> list[InboundMessage]:
    """The messages of a webhook body addressed to our number, one payload each."""
    found: list[InboundMessage] = []
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages" or (value.get("metadata") or {}).get("phone_number_id") != phone_number_id:
                continue
            for message in value.get("messages") or []:
                contact = _contact_of(message, value.get("contacts") or [])
                if contact is None or not contact.get("user_id") or message.get("type") in IGNORED_TYPES:
                    continue
                single = {key: value[key] for key in ("messaging_product", "metadata") if key in value}
                single |= {"contacts": [contact], "messages": [message]}
                payload = {"object": body.get("object", "whatsapp_business_account"),
                           "entry": [{"id": entry.get("id", ""), "changes": [{"field": "messages", "value": single}]}]}
                found.append(InboundMessage(message["id"], int(message["timestamp"]), channel_user_of(contact), payload))
    return found


def split_statuses(body: dict[str, Any]) -> list[StatusUpdate]:
    """Status webhooks, read straight from the body: pywa's MessageStatus wants a contacts list
    that status payloads do not always carry, and only four fields are needed here."""
    found: list[StatusUpdate] = []
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            for status in (change.get("value") or {}).get("statuses") or []:
                error = (status.get("errors") or [{}])[0]
                found.append(StatusUpdate(
                    message_id=status["id"], status=status["status"],
                    at=datetime.fromtimestamp(int(status["timestamp"]), timezone.utc),
                    error_code=int(error["code"]) if "code" in error else None, error_title=error.get("title")))
    return found


def parse(wa: WhatsApp, payload: dict[str, Any]) -> Message | CallbackButton | CallbackSelection:
    """pywa's own types for one recorded message."""
    raw = RawUpdate(json.dumps(payload).encode(), hmac_header=None, update_hash="")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    interactive = (message.get("interactive") or {}).get("type")
    if message["type"] == "button" or interactive == "button_reply":
        return CallbackButton.from_update(client=wa, update=raw)
    if interactive == "list_reply":
        return CallbackSelection.from_update(client=wa, update=raw)
    return Message.from_update(client=wa, update=raw)


def event_of(update: Message | CallbackButton | CallbackSelection) -> Inbound | None:
    """The channel-neutral event a WhatsApp message means (None: nothing to answer)."""
    if isinstance(update, (CallbackButton, CallbackSelection)):
        # Our own button/row ids come back unchanged; the flow checks they are still current.
        return ButtonPress(str(update.data))
    if update.text is not None:
        return Text(update.text)
    if update.contacts:
        return _shared_contact(update)
    if update.audio is not None:
        return Media("voice" if update.audio.voice else "audio")
    kind = MEDIA_KINDS.get(str(update.type))
    return Media(kind or "unsupported")


def attachment_of(update: Message | CallbackButton | CallbackSelection) -> documents.Attachment | None:
    """The document of a message when it is worth downloading (a spreadsheet: the webhook does
    not say the size, the media URL lookup does); None otherwise: it stays Media("document")."""
    if not isinstance(update, Message) or update.document is None:
        return None
    document = update.document
    attachment = documents.Attachment(document.id, document.filename or "", update.caption or "")
    return attachment if documents.acceptable(attachment) else None


def _shared_contact(update: Message) -> Inbound:
    """A shared contact card is "own" only when one of its numbers is the sender's WhatsApp id."""
    own_id = update.from_user.wa_id
    phones = [phone for contact in update.contacts or [] for phone in contact.phones]
    for phone in phones:
        if own_id and phone.wa_id == own_id:
            return ContactShared(phone=phone.phone or f"+{own_id}", is_own=True)
    if phones and phones[0].phone:
        return ContactShared(phone=phones[0].phone, is_own=False)
    return Media("unsupported")


def known_phone(update: Message | CallbackButton | CallbackSelection) -> str | None:
    """The sender's own number when WhatsApp shows it (E.164), for "Pakai nomor ini"."""
    wa_id = update.from_user.wa_id
    return known_phone_of(f"wa:{wa_id}") if wa_id else None


# ---------------------------------------------------------------------------------------------
# Outbound
@dataclass(frozen=True)
class Labels:
    """Catalog texts the rendering needs, in the person's language."""

    list_button: str
    list_section: str
    numbered_hint: str


@dataclass(frozen=True)
class Outbound:
    """One WhatsApp message to send."""

    kind: str  # text | buttons | list | document | image
    text: str = ""
    choices: tuple[tuple[str, str, str | None], ...] = ()  # (id, title, description)
    media: str | None = None
    list_button: str = ""
    list_section: str = ""


def shorten(title: str, limit: int) -> str:
    """Fit a title to a platform limit at a word boundary, marking the cut; never empty."""
    title = " ".join(title.split()) or "-"
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:/-") + "…"


def _cut_point(text: str, limit: int) -> int:
    """Where to end a chunk of at most `limit` characters: a paragraph, line or word break."""
    for separator in ("\n\n", "\n", " "):
        index = text.rfind(separator, limit // 2, limit + 1)
        if index > 0:
            return index
    return limit


def split_text(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    while len(text) > limit:
        cut = _cut_point(text, limit)
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*chunks, text] if text or not chunks else chunks


def _split_for_body(text: str, limits: RenderLimits) -> tuple[list[str], str]:
    """Leading plain-text chunks, and the last part (at most body_max) that carries the choices."""
    if len(text) <= limits.body_max:
        return [], text
    chunks = split_text(text, limits.body_max)
    return split_text("\n".join(chunks[:-1]), limits.text_max), chunks[-1]


def render(reply: Reply, labels: Labels, limits: RenderLimits) -> list[Outbound]:
    """A Reply as WhatsApp messages. request_contact has no WhatsApp equivalent: the flow's phone
    step already offers the number WhatsApp shows as a button, and typing a number always works."""
    out: list[Outbound] = []
    text, buttons = reply.text, reply.buttons
    media = [(kind, path) for kind, path in (("document", reply.document), ("image", reply.image)) if path]
    caption_fits = not buttons and len(text) <= limits.body_max and len(media) == 1
    for kind, path in media:
        out.append(Outbound(kind, text=text if caption_fits else "", media=path))
    if caption_fits:
        return out
    if not buttons:
        return out + [Outbound("text", chunk) for chunk in split_text(text, limits.text_max)]
    if len(buttons) > limits.list_rows_max:
        numbered = "\n".join(f"{i}. {b.title}" for i, b in enumerate(buttons, start=1))
        full = f"{text}\n\n{numbered}\n\n{labels.numbered_hint}"
        return out + [Outbound("text", chunk) for chunk in split_text(full, limits.text_max)]
    head, body = _split_for_body(text, limits)
    out += [Outbound("text", chunk) for chunk in head]
    return out + [_choices(body, buttons, labels, limits)]


def _choices(body: str, buttons: tuple[Button, ...], labels: Labels, limits: RenderLimits) -> Outbound:
    titles = [shorten(b.title, limits.button_title_max) for b in buttons]
    # Reply-button titles must be distinct; shortened ones that collide go in a list instead,
    # where the description shows the whole title.
    if len(buttons) <= limits.reply_buttons_max and len(set(titles)) == len(titles):
        return Outbound("buttons", body, tuple((b.id, t, None) for b, t in zip(buttons, titles)))
    rows = []
    for button in buttons:
        title = shorten(button.title, limits.row_title_max)
        description = shorten(button.title, limits.row_description_max) if title != button.title else None
        rows.append((button.id, title, description))
    return Outbound("list", body, tuple(rows), list_button=shorten(labels.list_button, limits.button_title_max),
                    list_section=shorten(labels.list_section, limits.row_title_max))


REFERENCE = re.compile(r"SJ-[A-Z0-9]{6}")


def template_values(reply: Reply, params: list[str]) -> list[str]:
    """Template body parameters from the message they replace. Meta refuses parameters with
    new lines, tabs or more than 4 spaces in a row, so the text is put on one line."""
    one_line = " · ".join(line.strip() for line in reply.text.splitlines() if line.strip())
    one_line = re.sub(r"\s{4,}", "   ", one_line.replace("\t", " "))[:1000]
    match = REFERENCE.search(reply.text)
    fields = {"text": one_line, "reference": match.group(0) if match else "-", "key": reply.key}
    return [param.format(**fields) for param in params]
