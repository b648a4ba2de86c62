"""Translation only: WhatsApp webhook payloads -> channel-neutral events, and Reply -> WhatsApp
messages. Nothing here decides anything about the conversation.

Inbound: a webhook body (JSON only, never a model) may carry several messages (and statuses) for
several people; `read_body` cuts each message out, unchanged, into its own single-message
payload, the shape pywa parses, so that it can be recorded in the inbox on its own and parsed
again (by pywa's types) when it is handled. A sender is keyed on `wa_id` when WhatsApp gives it,
else on the business-scoped `user_id`, else on the message's own `from` / `from_user_id`. What
cannot be used is reported, never dropped in silence: messages for another phone_number_id,
messages without a sender, statuses or fields the bot does not use. Reactions, edits,
deletions, system notices and group messages are recorded but get no answer (`is_ignored`). A
spreadsheet document is announced as an `Attachment`, which the channel downloads into a Document
(bot/documents.py).
Outbound: Cloud API limits shape the rendering -- at most 3 reply buttons (title up to 20
characters), lists of at most 10 rows (title 24, description 72), message text up to 4096 and
interactive bodies up to 1024 characters.
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pywa_async import WhatsApp
from pywa_async.types import CallbackButton, CallbackSelection, Message, MessageType, RawUpdate
from pywa_async.types.templates import TemplateStatusUpdate

from bot import documents
from bot.whatsapp.config import RenderLimits
from conversations.events import Button, ButtonPress, ContactShared, Inbound, Media, Reply, Text
from handlers.inbound import known_phone_of
from handlers.ingest import Undecodable

# Message types that get the conversation's kind "please type or tap" answer.
MEDIA_KINDS = {"image": "photo", "video": "video", "sticker": "sticker", "location": "location",
               "document": "document", "unsupported": "unsupported"}
# Types that are not a question to the bot: reactions (also removing one), edits, deletions,
# system notices (a changed number or identity), welcome requests.
IGNORED_TYPES = {"reaction", "system", "edit", "revoke", "request_welcome", "ephemeral", "deleted"}
# Statuses the sender knows; anything else is reported and skipped.
STATUSES = {"sent", "delivered", "read", "failed", "played", "deleted", "warning"}
# Seconds since the epoch beyond which a timestamp is not one (the inbox orders on it).
MAX_TIMESTAMP = 2**40
# The webhook field of Meta's review of a template (approved, rejected, paused...).
TEMPLATE_STATUS_FIELD = "message_template_status_update"


@dataclass(frozen=True)
class InboundMessage:
    """One message cut out of a webhook body, ready for the inbox."""

    message_id: str  # wamid (a digest of the message if it has none): the inbox's deduplication key
    timestamp: int | None  # seconds since the epoch (None: missing): the order within one person
    channel_user: str
    payload: dict[str, Any]  # a single-message webhook body

    @property
    def sent_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.timestamp, timezone.utc) if self.timestamp is not None else None


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str
    status: str  # sent | delivered | read | failed
    at: datetime
    error_code: int | None = None
    error_title: str | None = None


@dataclass
class Body:
    """What one webhook body holds, sorted into what the channel records, applies and reports."""

    messages: list[InboundMessage]
    statuses: list[StatusUpdate]
    foreign_numbers: list[str]  # phone_number_ids, not ours, that messages were addressed to
    without_sender: list[str]  # ids of messages that name nobody
    unreadable: list[str]  # short descriptions of statuses/changes that could not be read
    other_fields: list[str]  # webhook fields the bot does not use (account, calls, quality...)
    # Meta's review of our templates (field message_template_status_update), one single-change
    # body each, the shape pywa parses: no person is concerned, nothing enters the inbox.
    template_updates: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def sender_of(message: dict[str, Any], contacts: list[Any]) -> tuple[str | None, dict[str, Any] | None]:
    """("wa:<id>", the message's contact entry): the id is the contact's wa_id, else its
    business-scoped user_id, else the message's own from / from_user_id; None when none is given."""
    contact = _contact_of(message, [c for c in contacts if isinstance(c, dict)])
    candidates = [contact.get("wa_id"), contact.get("user_id")] if contact else []
    candidates += [message.get("from"), message.get("from_user_id")]
    ident = next((text for text in map(_text, candidates) if text), None)
    return (f"wa:{ident}"[:80] if ident else None), contact


def _contact_of(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any] | None:
    for contact in contacts:
        if (_text(message.get("from")) and contact.get("wa_id") == message["from"]) or (
                _text(message.get("from_user_id")) and contact.get("user_id") == message["from_user_id"]):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _key_of(message: dict[str, Any]) -> str:
    wamid = _text(message.get("id"))
    if wamid and len(wamid) <= 128:
        return wamid
    # No usable id: the same body redelivered still gives the same key.
    digest = hashlib.sha256(json.dumps(message, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"sha256:{digest}"


def _timestamp(value: Any) -> int | None:
    try:
        stamp = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return stamp if 0 <= stamp < MAX_TIMESTAMP else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def read_body(body: dict[str, Any], phone_number_id: str) -> Body:
    """Sort a webhook body: the messages addressed to our number (one payload each), the
    statuses, and what is reported instead of used."""
    found = Body([], [], [], [], [], [])
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            field = str(change.get("field"))[:60]
            if not isinstance(value, dict):
                found.unreadable.append(f"a {field} change without a value")
                continue
            if field == TEMPLATE_STATUS_FIELD:
                found.template_updates.append({
                    "object": body.get("object", "whatsapp_business_account"),
                    "entry": [{"id": entry.get("id", ""), "time": entry.get("time"), "changes": [change]}]})
                continue
            if field != "messages":
                found.other_fields.append(field)
                continue
            found.statuses += _statuses(value, found.unreadable)
            messages = _dicts(value.get("messages"))
            number = (value.get("metadata") or {}).get("phone_number_id") if isinstance(
                value.get("metadata"), dict) else None
            if messages and number != phone_number_id:
                found.foreign_numbers.append(str(number)[:40])
                continue
            for message in messages:
                channel_user, contact = sender_of(message, value.get("contacts") or [])
                if channel_user is None:
                    found.without_sender.append(_key_of(message))
                    continue
                single = {key: value[key] for key in ("messaging_product", "metadata") if key in value}
                single |= {"contacts": [contact] if contact else [], "messages": [message]}
                payload = {"object": body.get("object", "whatsapp_business_account"),
                           "entry": [{"id": entry.get("id", ""), "changes": [{"field": "messages", "value": single}]}]}
                found.messages.append(InboundMessage(_key_of(message), _timestamp(message.get("timestamp")),
                                                     channel_user, payload))
    return found


def split_messages(body: dict[str, Any], phone_number_id: str) -> list[InboundMessage]:
    """The messages of a webhook body addressed to our number, one payload each."""
    return read_body(body, phone_number_id).messages


def _statuses(value: dict[str, Any], unreadable: list[str]) -> list[StatusUpdate]:
    """Status webhooks, read straight from the body: pywa's MessageStatus wants a contacts list
    that status payloads do not always carry, and only four fields are needed here."""
    found: list[StatusUpdate] = []
    for status in _dicts(value.get("statuses")):
        message_id, kind, at = _text(status.get("id")), status.get("status"), _timestamp(status.get("timestamp"))
        if message_id is None or kind not in STATUSES or at is None:
            unreadable.append(f"a status without id, known status or timestamp ({str(kind)[:20]})")
            continue
        error = (_dicts(status.get("errors")) or [{}])[0]
        code = error.get("code")
        found.append(StatusUpdate(
            message_id=message_id[:128], status=kind, at=datetime.fromtimestamp(at, timezone.utc),
            error_code=code if isinstance(code, int) and not isinstance(code, bool) and abs(code) < 2**31 else None,
            error_title=_text(error.get("title"))))
    return found


def split_statuses(body: dict[str, Any]) -> list[StatusUpdate]:
    """Every status of a webhook body (whichever number it is for)."""
    return read_body(body, "").statuses


def template_status(wa: WhatsApp, payload: dict[str, Any]) -> TemplateStatusUpdate:
    """pywa's type for one template status update cut out by `read_body` (KeyError, ValueError,
    TypeError... for a shape it cannot read)."""
    raw = RawUpdate(json.dumps(payload).encode(), hmac_header=None, update_hash="")
    return TemplateStatusUpdate.from_update(client=wa, update=raw)


def message_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The one message of a recorded single-message payload."""
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def is_ignored(payload: dict[str, Any]) -> bool:
    """Recorded, but not something to answer: a reaction, edit, deletion, system notice, or a
    message in a group."""
    message = message_of(payload)
    return message.get("type") in IGNORED_TYPES or bool(message.get("group_id"))


def _readable(payload: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The payload as pywa can read it. pywa reads the sender from the contacts list and wants a
    `user_id` there; WhatsApp gives none for a contact from before business-scoped ids, and no
    contact at all for some messages. The message's own ids stand in -- only for reading: the
    record stays as it came, and the person stays keyed by `sender_of`."""
    value = payload["entry"][0]["changes"][0]["value"]
    contacts = value.get("contacts") or []
    contact = dict(contacts[0]) if contacts and isinstance(contacts[0], dict) else {"profile": {"name": ""}}
    wa_id = _text(contact.get("wa_id")) or _text(message.get("from"))
    user_id = _text(contact.get("user_id")) or _text(message.get("from_user_id")) or wa_id
    if contact.get("user_id") == user_id and contact.get("wa_id", wa_id) == wa_id:
        return payload
    contact["user_id"] = user_id
    if wa_id:
        contact["wa_id"] = wa_id
    return {**payload, "entry": [{**payload["entry"][0], "changes": [
        {"field": "messages", "value": {**value, "contacts": [contact]}}]}]}


def decode(wa: WhatsApp, payload: dict[str, Any]) -> Message | CallbackButton | CallbackSelection:
    """pywa's type for a recorded message; Undecodable when pywa cannot read it."""
    message = message_of(payload)
    kind = str(message.get("type"))[:40]
    payload = _readable(payload, message)
    try:
        update = parse(wa, payload)
        well_typed(event_of(update))  # every attribute the handling reads is readable, and of its type
    except Exception as problem:  # noqa: BLE001 - pywa raises KeyError, TypeError, ValueError... on odd shapes
        raise Undecodable(kind, f"{type(problem).__name__} reading the message") from None
    return update


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


def well_typed(event: Inbound | None) -> None:
    """A signed body may still carry {"body": 5} or a list where text belongs: pywa passes such
    values through, and the flow would fail on them turn after turn. Every field of our events
    is text (or a flag): anything else makes the message undecodable (set aside, one WARNING)."""
    if event is None:
        return
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        expected = bool if str(field.type) == "bool" else str
        if value is not None and type(value) is not expected:
            raise TypeError(f"{type(event).__name__}.{field.name} is a JSON {type(value).__name__}")


def event_of(update: Message | CallbackButton | CallbackSelection) -> Inbound | None:
    """The channel-neutral event a WhatsApp message means (None: nothing to answer)."""
    if isinstance(update, CallbackButton) and update.type == MessageType.BUTTON:
        # A quick reply of a template ("Lanjutkan", "Berhenti"): its payload is whatever the
        # template was sent with, so the tap means what its words mean typed.
        return Text(str(update.title), tapped=True)
    if isinstance(update, (CallbackButton, CallbackSelection)):
        # Our own button/row ids come back unchanged; the flow checks they are still current.
        return ButtonPress(str(update.data))
    if update.text is not None:
        return Text(update.text)
    if update.contacts:
        return _shared_contact(update)
    if update.audio is not None:
        voice = bool(update.audio.voice)
        return Media("voice" if voice else "audio", media_ref(update, "voice" if voice else "audio"))
    kind = MEDIA_KINDS.get(str(update.type))
    caption = update.caption if isinstance(update.caption, str) and update.caption else None
    return Media(kind or "unsupported", media_ref(update, str(update.type)) if kind else None, caption)


# Message types whose media the Cloud API sends again by its id (pywa's Message.copy does the
# same: the API has no forward), and the attribute of pywa's Message that holds it.
RESENDABLE = {"image": "image", "video": "video", "audio": "audio", "voice": "audio", "document": "document",
              "sticker": "sticker"}


def media_ref(update: Message, kind: str) -> str | None:
    """The Media.ref of a WhatsApp message: "wa:<type>:<media id>", "wa:location:<lat>,<lon>",
    or None (nothing to send again). Only a numeric media id is kept: pywa would read anything
    else as a URL, a local path or base64 to upload."""
    if kind == "location":
        location = update.location
        latitude, longitude = (getattr(location, "latitude", None), getattr(location, "longitude", None))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (latitude, longitude)) and (
                -90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
            return f"wa:location:{latitude},{longitude}"
        return None
    attribute = RESENDABLE.get(kind)
    media_id = getattr(getattr(update, attribute, None), "id", None) if attribute else None
    if isinstance(media_id, str) and media_id.isdigit() and len(media_id) <= 40:
        return f"wa:{kind}:{media_id}"
    return None


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
