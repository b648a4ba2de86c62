"""Channel-neutral inbound events and outbound messages.

Adapters (terminal, simulator, Telegram, WhatsApp) translate their platform's updates into these
and render `Reply` back; the conversation never sees a platform type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

MediaKind = Literal["photo", "sticker", "voice", "audio", "video", "location", "document", "reaction", "unsupported"]


@dataclass(frozen=True)
class Text:
    """Something the person typed (commands included: the flow recognises them). `quoted` is
    the text of the bot's own message the person replied to, where the platform says so
    (Telegram's reply_to_message): an official answers a ticket by replying to its message.
    `link`: see below."""

    text: str
    quoted: str | None = None
    # The parameter of a Telegram deep link the person opened ("/start <link>"; `text` is then
    # "/start"), unverified: handlers/links.py reads it (conversations/links.py).
    link: str | None = None
    # A tap on a quick reply of a WhatsApp template (the words are its title): it also proves the
    # tap came from the number the template went to (handlers/identity.py).
    tapped: bool = False


@dataclass(frozen=True)
class ButtonPress:
    """A tap on a button the bot sent. `button_id` is ours; adapters pass it through unchanged."""

    button_id: str


@dataclass(frozen=True)
class ContactShared:
    """A shared phone contact. `is_own` is decided by the adapter from platform ids
    (Telegram: contact.user_id == sender id), never by the flow."""

    phone: str
    is_own: bool


@dataclass(frozen=True)
class Media:
    """A non-text message: the flow answers kindly and asks the person to type or tap.

    `ref` names the message on its platform, so that the channel it came from can pass it on
    (a worker's photo to the official of their ticket): Telegram "tg:<chat id>:<message id>"
    (copyMessage), with ":caption" after it for media that can carry a caption; WhatsApp
    "wa:<type>:<media id>" (type: image, video, audio, voice, document, sticker) or
    "wa:location:<latitude>,<longitude>". Its first part is the channel; None where the adapter
    has nothing to pass on (the simulator, the terminal, a kind the platform cannot re-send).
    `caption`: what the person wrote with it, as they wrote it (it may hold a NIK)."""

    kind: str
    ref: str | None = None
    caption: str | None = None


# Results of effects, fed back into the flow by the handler (see `Effect`).
@dataclass(frozen=True)
class NikChecked:
    """Result of looking up a NIK: `status` of an existing registration (None if none),
    `own` when that registration belongs to this same channel user."""

    status: str | None
    own: bool
    reference: str | None = None


@dataclass(frozen=True)
class Submitted:
    reference: str | None
    # Set when the submission could not be stored (e.g. the NIK was registered meanwhile).
    error: str | None = None


@dataclass(frozen=True)
class RecordSummary:
    """One stored registration as the person may see it (NIK already masked)."""

    reference: str
    status: str
    fields: dict[str, str]


@dataclass(frozen=True)
class MyData:
    records: tuple[RecordSummary, ...]
    consent_given_at: str | None


@dataclass(frozen=True)
class DataDeleted:
    erased: int
    requested: tuple[str, ...]  # references of decided registrations: deletion requested, not done


@dataclass(frozen=True)
class FieldCorrected:
    reference: str
    ok: bool
    # An official asked for several groups to be corrected: the next one to walk through.
    next_group: int | None = None


@dataclass(frozen=True)
class Document:
    """A file the person attached (e.g. an admin's enrolment results from BPJS), already saved by
    the adapter at `path`; `filename` is the name the sender gave it."""

    path: str
    filename: str
    caption: str = ""


@dataclass(frozen=True)
class LinkOpened:
    """The person came through one of our links (a poster's QR code, an agent's or a jorong's
    link): made by the handler from a Text whose code verified (conversations/links.py), never by
    an adapter. The conversation starts as for "mulai", remembers the link for the registration's
    source, and offers the link's nagari for confirmation instead of asking kecamatan and nagari."""

    link_id: int
    nagari_code: str


Inbound = Union[Text, ButtonPress, ContactShared, Media, Document]
EffectResult = Union[NikChecked, Submitted, MyData, DataDeleted, FieldCorrected]
Event = Union[Inbound, EffectResult, LinkOpened]


@dataclass(frozen=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True)
class Reply:
    """One message to send. `key` is the catalog key of the main text: tests assert on it so
    translators can change the words freely."""

    key: str
    text: str
    buttons: tuple[Button, ...] = ()
    request_contact: bool = False
    document: str | None = None
    image: str | None = None
    # A platform message to pass on with the text (a `Media.ref`): the sender of that channel
    # sends its media again, with the text as its caption where it can carry one (never the
    # person's own caption), else followed by the text; a sender of another channel sends the
    # text only.
    forward: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "buttons": [{"id": b.id, "title": b.title} for b in self.buttons],
            "request_contact": self.request_contact,
        }
        if self.document:
            data["document"] = self.document
        if self.image:
            data["image"] = self.image
        if self.forward:
            data["forward"] = self.forward
        return data


# Effects: I/O the flow asks the handler to perform; the handler feeds back a result event.
@dataclass(frozen=True)
class CheckNik:
    nik: str


@dataclass(frozen=True)
class Submit:
    """Store the draft as a pending registration (the handler reads the draft from the state)."""


@dataclass(frozen=True)
class RecordConsent:
    version: str
    lang: str


@dataclass(frozen=True)
class LoadMyData:
    pass


@dataclass(frozen=True)
class DeleteMyData:
    pass


@dataclass(frozen=True)
class CorrectField:
    """Correct one field of an undecided registration (UU PDP right to correction)."""

    reference: str
    field: str
    value: Any
    extra: dict[str, Any] = field(default_factory=dict)


Effect = Union[CheckNik, Submit, RecordConsent, LoadMyData, DeleteMyData, CorrectField]
