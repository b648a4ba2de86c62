"""Translation between Telegram and the conversation, both ways; nothing here decides anything.

Inbound: a request body is first read as JSON only (`read_update`: a JSON object with an
integer update_id, else refused) and recorded as it came, under the person it is from
(`recording_user`). When it is handled, aiogram's `Update` model reads it (`decode`): a private
message or a button tap becomes the person (`tg:<user id>`) and one of the conversation's events
(Text, ButtonPress, ContactShared, Media), or the `Attachment` the intake downloads into a
Document (bot/documents.py). Everything else gets no answer: groups, channels, edits, reactions,
membership changes, inline queries, service messages. A payload the model cannot read raises
`Undecodable` (the inbox sets it aside). Outbound: a `Reply` becomes the
Bot API messages that show it (`Outbound`), within Telegram's limits: 4,096 characters of text
(1,024 of caption), 64 bytes of callback data.
"""

from __future__ import annotations

import functools
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from aiogram.enums import ChatType
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from pydantic import ValidationError

from bot import documents
from handlers.ingest import Undecodable
from conversations.events import Button, ButtonPress, ContactShared, Inbound, Media, Reply, Text
from conversations.i18n import Catalog

# Bot API limits (core.telegram.org/bots/api): lengths are counted in UTF-16 code units.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
# Only these update kinds are asked for (getUpdates / setWebhook allowed_updates).
ALLOWED_UPDATES = ["message", "callback_query"]
# Message fields that mean "not text", checked in order (an animation also carries `document`).
MEDIA_FIELDS = (
    ("photo", "photo"), ("sticker", "sticker"), ("voice", "voice"), ("audio", "audio"),
    ("video_note", "video"), ("animation", "video"), ("video", "video"), ("document", "document"),
    ("location", "location"), ("venue", "location"),
)
# Media that carry a caption (sendPhoto, sendVideo, sendAnimation, sendAudio, sendVoice,
# sendDocument); stickers, video notes, locations and venues have none.
CAPTIONED = frozenset({"photo", "video", "animation", "audio", "voice", "document"})
# Bot commands shown in Telegram's menu, per language: each is a word the conversation already
# recognises (conversations/registration.COMMANDS). Descriptions: telegram.po.
COMMANDS = {
    "id": ("mulai", "status", "bantuan", "kembali", "batal", "data", "hapus", "bahasa"),
    "en": ("start", "status", "help", "back", "cancel", "mydata", "language"),
}
# *bold* as WhatsApp reads it: the text between the stars neither starts nor ends with a space
# or a star, and the stars do not touch a letter or another star outside. So a masked value
# ("1303.****.****.****", "1303************") is never read as markup.
BOLD = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])")
# A deep link's start parameter (Bot API, "Deep linking").
START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Telegram's ids fit in 52 bits (Bot API); anything larger is not an update of Telegram's.
MAX_ID = 2**52
# Service messages: something happened in the chat, nobody said anything to the bot.
SERVICE_FIELDS = frozenset({
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo",
    "group_chat_created", "supergroup_chat_created", "channel_chat_created", "message_auto_delete_timer_changed",
    "migrate_to_chat_id", "migrate_from_chat_id", "pinned_message", "write_access_allowed", "users_shared",
    "chat_shared", "connected_website", "proximity_alert_triggered", "boost_added", "chat_background_set",
    "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
    "general_forum_topic_hidden", "general_forum_topic_unhidden", "giveaway_created", "giveaway_completed",
    "giveaway_winners", "video_chat_scheduled", "video_chat_started", "video_chat_ended",
    "video_chat_participants_invited", "web_app_data", "passport_data", "successful_payment", "refunded_payment",
    "gift", "unique_gift", "paid_message_price_changed", "checklist_tasks_done", "checklist_tasks_added",
    "direct_message_price_changed",
})


# -- inbound: the raw request ---------------------------------------------------------------------
def read_update(body: bytes) -> tuple[dict[str, Any] | None, str]:
    """A webhook body as JSON only: (the update, "") or (None, why it is refused)."""
    try:
        update = json.loads(body)
    except (ValueError, RecursionError) as problem:  # not JSON, bad UTF-8, absurd numbers or nesting
        return None, f"not JSON ({type(problem).__name__})" if body.strip() else "empty body"
    return check_update(update)


def as_text(body: bytes) -> str | None:
    """A JSON body that read as an update, as text to store as it came; None when it is not
    plain UTF-8 (JSON may come as UTF-16 or -32, or behind a byte-order mark, which reading the
    text back would refuse): the update is then written out from what was read."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if text.startswith("\ufeff") else text


def check_update(update: Any) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(update, dict):
        return None, f"a JSON {type(update).__name__}, not an object"
    update_id = update.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int) or not 0 <= update_id < MAX_ID:
        return None, "no integer update_id"
    return update, ""


def update_kind(update: dict[str, Any]) -> str:
    """The update's kind: its one field besides update_id ("message", "message_reaction", ...)."""
    kinds = [key for key in update if key != "update_id"]
    return str(kinds[0])[:40] if kinds else "empty"


def recording_user(update: dict[str, Any]) -> str:
    """Whose queue an update is recorded in: the user it is from ("tg:<id>", whatever the kind,
    so one person's updates stay in order; in a private chat the chat is the person), else its
    chat ("tg:chat:<id>"), else "tg:unknown"."""
    inner = update.get(update_kind(update))
    if not isinstance(inner, dict):
        return "tg:unknown"
    for field in ("from", "user"):
        sender = inner.get(field)
        if isinstance(sender, dict) and _is_id(sender.get("id")):
            return f"tg:{sender['id']}"
    for holder in (inner, inner.get("message")):
        chat = holder.get("chat") if isinstance(holder, dict) else None
        if isinstance(chat, dict) and _is_id(chat.get("id")):
            return f"tg:{chat['id']}" if chat.get("type") == "private" else f"tg:chat:{chat['id']}"
    actor = inner.get("actor_chat")
    if isinstance(actor, dict) and _is_id(actor.get("id")):
        return f"tg:chat:{actor['id']}"
    return "tg:unknown"


def needs_reading(update: dict[str, Any]) -> bool:
    """Whether an update may need an answer, so that aiogram's model must read it: a message in
    a private chat (or one that does not say its chat type) or a button tap. Everything else
    (groups, channels, edits, reactions, polls, payments...) is answered by silence, whatever
    its shape, without reading it."""
    kind = update_kind(update)
    if kind == "callback_query":
        return True
    if kind != "message":
        return False
    chat = update["message"].get("chat") if isinstance(update["message"], dict) else None
    chat_type = chat.get("type") if isinstance(chat, dict) else None
    return not isinstance(chat_type, str) or chat_type == "private"


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_ID < value < MAX_ID


def callback_query_id(update: dict[str, Any]) -> str | None:
    """The id to answer a button tap with (Telegram shows a spinner until it is answered)."""
    query = update.get("callback_query")
    query_id = query.get("id") if isinstance(query, dict) else None
    return query_id if isinstance(query_id, str) and query_id else None


def decode(payload: dict[str, Any]) -> Update:
    """A recorded update read by aiogram's model; Undecodable when it does not fit."""
    try:
        return Update.model_validate(payload)
    except ValidationError as problem:
        raise Undecodable(update_kind(payload), describe(problem)) from None


def describe(problem: ValidationError) -> str:
    """Where and why validation failed, without the values (they may be personal data)."""
    errors = problem.errors(include_input=False, include_url=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]]
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


# -- inbound: the decoded update -------------------------------------------------------------------
def channel_user_of(update: Update) -> str | None:
    """Who an update is from, or None for updates the bot does not serve (groups, channels):
    a registration holds a NIK, so it happens only in a private chat."""
    if update.message is not None:
        message = update.message
        if message.chat.type != ChatType.PRIVATE:
            return None
        # In a private chat the chat is the person (`from` is optional in the Bot API).
        return f"tg:{message.from_user.id if message.from_user is not None else message.chat.id}"
    if update.callback_query is not None:
        return f"tg:{update.callback_query.from_user.id}"
    return None


def inbound_of(update: Update) -> Inbound | None:
    """The conversation's event for an update (None: nothing to answer -- not a private message
    or a button tap, or a service message)."""
    if update.callback_query is not None:
        data = update.callback_query.data
        return ButtonPress(data) if data is not None else None
    if channel_user_of(update) is None or update.message is None:
        return None
    return _message_event(update.message)


def _message_event(message: Message) -> Inbound | None:
    if message.contact is not None:
        # docs/domain.md: accept a phone only from the person's own contact (same user id); the
        # flow refuses the rest. Telegram sends the number without "+".
        phone = message.contact.phone_number
        sender = message.from_user.id if message.from_user is not None else message.chat.id
        own = message.contact.user_id is not None and message.contact.user_id == sender
        return ContactShared(phone=f"+{phone}" if phone.isdigit() else phone, is_own=own)
    if message.text is not None:
        return Text(command_text(message.text), quoted=_quoted_own(message), link=start_parameter(message.text))
    for field, kind in MEDIA_FIELDS:
        if getattr(message, field, None):
            # copyMessage passes it on (to an official of the worker's ticket).
            ref = f"tg:{message.chat.id}:{message.message_id}" + (":caption" if field in CAPTIONED else "")
            return Media(kind, ref=ref, caption=message.caption or None)
    fields = message.model_fields_set | set(message.model_extra or {})
    if fields & SERVICE_FIELDS:
        return None
    return Media("unsupported")


def _quoted_own(message: Message) -> str | None:
    """The text of the bot's own message this one replies to (an official answering a ticket),
    else None: what a person quotes of their own or others' messages is not kept."""
    quoted = message.reply_to_message
    if quoted is None or quoted.from_user is None or not quoted.from_user.is_bot:
        return None
    return quoted.text or quoted.caption


def attachment_of(update: Update) -> documents.Attachment | None:
    """The document of a private message when it is worth downloading (a spreadsheet within the
    size limit); None otherwise, and the message stays Media("document")."""
    message = update.message
    # An animation also carries `document`: it is a video, never a file to import.
    if message is None or message.document is None or message.animation is not None:
        return None
    document = message.document
    attachment = documents.Attachment(document.file_id, document.file_name or "", message.caption or "",
                                      document.file_size)
    return attachment if documents.acceptable(attachment) else None


def command_text(text: str) -> str:
    """Telegram command syntax in the words the flow knows: "/start@SijunjungBot" -> "/start";
    a deep link's "/start <payload>" -> "/start" (its payload goes apart: `start_parameter`)."""
    if not text.startswith("/"):
        return text
    command, _, rest = text.partition(" ")
    command = command.split("@", 1)[0]
    if command.lower() == "/start":
        return command
    return f"{command} {rest}" if rest else command


def start_parameter(text: str) -> str | None:
    """The parameter of a deep link (t.me/<bot>?start=<parameter>), which Telegram sends as
    "/start <parameter>": a recruitment link's code (conversations/links.py), unverified here.
    Only what Telegram allows in one ([A-Za-z0-9_-], at most 64 characters)."""
    command, _, rest = text.partition(" ")
    if command.split("@", 1)[0].lower() != "/start":
        return None
    parameter = rest.strip()
    return parameter if START_PARAMETER.fullmatch(parameter) else None


# -- outbound -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Labels:
    """Words the adapter adds around a Reply, in the person's language (telegram.po)."""

    share_phone: str
    choose: str

    @classmethod
    def of(cls, catalog: Catalog, lang: str) -> "Labels":
        return cls(catalog.text(lang, "telegram.share_phone"), catalog.text(lang, "telegram.choose"))


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Outbound:
    """One Bot API message: text (sendMessage), or a file (sendDocument/sendPhoto) with caption."""

    text: str
    markup: Markup | None = None
    document: str | None = None
    image: str | None = None


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a text into messages of at most `limit`, on line boundaries where possible."""
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    for line in text.split("\n"):
        for piece in _cut_line(line, limit):
            extra = tg_len(piece) + (1 if lines else 0)
            if lines and size + extra > limit:
                chunks.append("\n".join(lines))
                lines, size, extra = [], 0, tg_len(piece)
            lines.append(piece)
            size += extra
    chunks.append("\n".join(lines))
    # Telegram refuses empty or blank messages.
    return [chunk.strip("\n") for chunk in chunks if chunk.strip()]


def _cut_line(line: str, limit: int) -> list[str]:
    pieces = []
    while tg_len(line) > limit:
        end = limit
        while tg_len(line[:end]) > limit:
            end -= 1
        space = line.rfind(" ", 0, end)
        if space > end // 2:
            end = space
        pieces.append(line[:end])
        line = line[end:].lstrip(" ")
    pieces.append(line)
    return pieces


def to_html(text: str) -> str:
    """The catalogs mark bold the WhatsApp way (*bold*); Telegram shows it with parse_mode HTML.
    Everything else is escaped, so a name typed with "<" cannot break the message."""
    return BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


# Keyboards built lately: most replies show one of a few dozen sets of buttons, and building
# aiogram's models for them again cost more than the rest of rendering. Never changed once built.
KEYBOARD_CACHE = 256


def inline_keyboard(buttons: tuple[Button, ...], two_per_row_max_chars: int) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard; callback data is the button id, passed back unchanged."""
    if not buttons:
        return None
    return _keyboard(tuple(buttons), two_per_row_max_chars)


@functools.lru_cache(maxsize=KEYBOARD_CACHE)
def _keyboard(buttons: tuple[Button, ...], two_per_row_max_chars: int) -> InlineKeyboardMarkup:
    for button in buttons:
        if len(button.id.encode()) > CALLBACK_DATA_LIMIT:
            # A button id is ours (the flow's): one too long is a bug, not something to truncate.
            raise ValueError(f"button id longer than {CALLBACK_DATA_LIMIT} bytes: {button.id[:20]}...")
    width = 2 if len(buttons) > 1 and all(len(b.title) <= two_per_row_max_chars for b in buttons) else 1
    rows = [
        [InlineKeyboardButton(text=b.title, callback_data=b.id) for b in buttons[i:i + width]]
        for i in range(0, len(buttons), width)
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def contact_keyboard(labels: Labels) -> ReplyKeyboardMarkup:
    """The "share my phone number" button (Telegram gives a phone only through it); one-time:
    the client hides it once tapped."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=labels.share_phone, request_contact=True)]],
        resize_keyboard=True, one_time_keyboard=True,
    )


def render(reply: Reply, labels: Labels, contact_keyboard_shown: bool, two_per_row_max_chars: int = 16) -> list[Outbound]:
    """The messages that show one Reply. A message carries one keyboard: a reply keyboard (ask
    for the contact, or remove it once the contact step is over) pushes the inline buttons into
    a separate short message."""
    inline = inline_keyboard(reply.buttons, two_per_row_max_chars)
    if reply.request_contact:
        text_markup: Markup | None = contact_keyboard(labels)
    elif contact_keyboard_shown:
        text_markup = ReplyKeyboardRemove(remove_keyboard=True)
    else:
        text_markup = inline
    separate_buttons = inline is not None and text_markup is not inline
    chunks = split_text(reply.text) or [labels.choose]
    messages: list[Outbound] = []
    has_file = bool(reply.document or reply.image)
    if has_file and len(chunks) == 1 and tg_len(chunks[0]) <= CAPTION_LIMIT:
        messages.append(Outbound(chunks[0], text_markup, reply.document, reply.image))
    else:
        messages += [Outbound(chunk) for chunk in chunks[:-1]]
        messages.append(Outbound(chunks[-1], text_markup))
        if has_file:
            messages.append(Outbound("", None, reply.document, reply.image))
    if separate_buttons:
        messages.append(Outbound(labels.choose, inline))
    return messages


def bot_commands(catalog: Catalog, lang: str) -> list[BotCommand]:
    """The command menu for setMyCommands in one language."""
    return [BotCommand(command=name, description=catalog.text(lang, f"telegram.command.{name}"))
            for name in COMMANDS[lang]]
