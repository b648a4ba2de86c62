"""The registration conversation: a pure function (state, event) -> (state, replies, effects).

It walks the form declared in conversations/form.py, handles the commands that work at every
step (help, back, cancel, status, start, my data, delete, correct, language), and asks the
handler for I/O through effects, whose results come back as events. No I/O happens here.
State graph: conversations/registration.mmd (keep it true to this code).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from conversations.choices import match_choice
from conversations.handover import ASK_BUTTON
from conversations.understand import (
    command_in_text,
    faq_topic,
    means,
    not_an_answer,
    phone_in,
    read_choice,
    strip_particles,
    strip_prefix,
    summary_item,
)
from conversations.events import (
    Button,
    ButtonPress,
    ContactShared,
    CorrectField,
    DataDeleted,
    DeleteMyData,
    Document,
    Effect,
    Event,
    FieldCorrected,
    LinkOpened,
    LoadMyData,
    Media,
    MyData,
    NikChecked,
    RecordConsent,
    Reply,
    Submit,
    Submitted,
    Text,
)
from conversations.form import (
    FIELD_FLAGS,
    FIELD_VALUES,
    FIELDS,
    FORM,
    SUMMARY_LINES,
    SUMMARY_STEP,
    TOTAL_STEPS,
    Accepted,
    Answer,
    Ctx,
    Field,
    answered,
    format_date,
)
from conversations.i18n import rupiah
from conversations.state import IDLE_STEPS, State
from conversations.validators import InvalidInput, contains_nik, format_phone, mask_nik, normalize_text

# Typed commands, in both languages, recognised at every step (with or without a leading "/").
COMMANDS: dict[str, frozenset[str]] = {
    "help": frozenset({"bantuan", "help", "tolong", "menu"}),
    "back": frozenset({"kembali", "back", "balik", "sebelumnya"}),
    "cancel": frozenset({"batal", "cancel", "batalkan", "stop daftar"}),
    "status": frozenset({"status", "cek status", "lihat status", "see status", "check status", "status saya",
                         "my status"}),
    # A template's quick reply ("Lanjutkan", "Baca jawaban", "Buka") means the same typed: go
    # on from where the person was (what the template announced follows on its own).
    "continue": frozenset({"lanjutkan", "lanjutkan pendaftaran", "continue", "continue registration",
                           "baca jawaban", "read answer", "buka", "open"}),
    "start": frozenset({"mulai", "daftar", "start", "mulai lagi", "register", "daftar ulang"}),
    # A new registration even after one was sent (one phone, a family): "daftar" alone shows theirs.
    "new": frozenset({"daftar baru", "pendaftaran baru", "daftar lagi", "daftarkan orang lain", "daftar orang lain",
                      "register another", "register someone else", "new registration"}),
    "mydata": frozenset({"data saya", "my data", "lihat data", "data", "mydata"}),
    "delete": frozenset({"hapus data", "hapus data saya", "delete my data", "delete data", "hapus"}),
    # Not a bare "correct": at a yes/no question it means "yes, that is right".
    "correct": frozenset({"ubah data", "perbaiki data", "koreksi data", "correct my data", "correct data",
                          "edit my data"}),
    "language": frozenset({"bahasa", "language", "ganti bahasa", "change language", "lang"}),
}
REACTIONS = frozenset({"reaction", "unreaction", "reaction_removed"})
STATUS_KEYS = {"pending", "approved", "waiting", "rejected", "correction", "enrolled", "withdrawn", "deletion_requested"}
# A registration in these states is over: "daftar" starts a new one instead of showing it.
FINISHED_STATUSES = frozenset({"rejected", "withdrawn"})
# The same unhelpful answer (an error, "please tap a button", a greeting back) is never sent a
# third time in a row: the third time the person gets the way to a person instead.
REPEAT_LIMIT = 3


def command_of(text: str) -> str | None:
    """The command a typed text is, particles aside ("batal aja" is "batal", "daftar dong" is
    "daftar"): every route asks this, so all of them agree on what a command is."""
    for typed in dict.fromkeys((normalize_text(text.lstrip("/")), normalize_text(strip_particles(text.lstrip("/"))))):
        for name, words in COMMANDS.items():
            if typed in words:
                return name
    return None


def numbered(buttons: list[Button] | tuple[Button, ...]) -> str:
    """The choices as numbered lines, so that typing a number works on every channel."""
    return "\n".join(f"{i}. {b.title}" for i, b in enumerate(buttons, start=1))


@dataclass
class Outcome:
    state: State
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # The person asked that nothing be kept (consent refused, data deleted): delete the state.
    forget: bool = False


def handle(state: State, event: Event, ctx: Ctx) -> Outcome:
    """Decide what one event does to the conversation. Never raises for any input."""
    flow = _Flow(state.copy(), ctx)
    flow.dispatch(event)
    flow.state.last_seen = ctx.now.isoformat()
    return flow.out


def resume(state: State, ctx: Ctx) -> Outcome:
    """The question the person had reached, asked again after a pause (a conversation with an
    official ended): nothing they gave changes, and their next answer is taken as an answer
    (not as a return after a long absence)."""
    flow = _Flow(state.copy(), ctx)
    if state.in_form or state.confirm or state.correcting:
        flow.reprompt()
    flow.state.last_seen = ctx.now.isoformat()
    return flow.out


class _Flow:
    def __init__(self, state: State, ctx: Ctx) -> None:
        self.state = state
        self.ctx = ctx
        self.out = Outcome(state)
        # A line for the next question ("Nagari Muaro, Kec. Sijunjung."), set by an answer.
        self.preface: str | None = None

    # -- output -------------------------------------------------------------------------------
    @property
    def lang(self) -> str:
        return self.state.lang or self.ctx.rules.default_language

    def t(self, key: str, **params: Any) -> str:
        return self.ctx.t(self.lang, key, **params)

    def say(self, key: str, buttons: list[Button] | tuple[Button, ...] = (), request_contact: bool = False, **params: Any) -> None:
        self.out.replies.append(Reply(key, self.t(key, **params), tuple(buttons), request_contact))

    def effect(self, effect: Effect) -> None:
        self.out.effects.append(effect)

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, event: Event) -> None:
        if isinstance(event, (NikChecked, Submitted, MyData, DataDeleted, FieldCorrected)):
            self.on_result(event)
            return
        if isinstance(event, LinkOpened):
            self.on_link(event)
            return
        # A reaction (or taking one back) is not a message: no answer, no repeated question.
        if isinstance(event, Media) and event.kind in REACTIONS:
            return
        # A document is for the officials' import; here it is one more attachment to answer kindly.
        if isinstance(event, (Media, Document)):
            self.on_media()
            return
        if isinstance(event, Text) and len(event.text) > self.ctx.rules.conversation.max_input_chars:
            self.say("input.too_long", max=self.ctx.rules.conversation.max_input_chars)
            self.reprompt()
            return
        button = self.button_of(event)
        if isinstance(event, ButtonPress) and button is None:
            if self.repeated("button.stale"):
                self.stuck(self.t("button.stale"), self.current_buttons())
                return
            self.say("button.stale")
            self.reprompt()
            return
        text = event.text.strip() if isinstance(event, Text) else None
        command = button.id.split(":", 1)[1] if button and button.id.startswith("cmd:") else None
        if text is not None and command is None:
            command = command_of(text)
        if command:
            self.command(command)
            return
        if self.returning() and not self.state.confirm:
            self.state.confirm = "resume"
            self.ask_confirm()
            return
        if self.state.confirm:
            self.on_confirm(button, text)
            return
        contact = event if isinstance(event, ContactShared) else None
        self.on_input(button, text, contact)

    def on_media(self) -> None:
        """A photo, voice note, sticker or file: one kind message with the buttons of the step
        (a tap answers it) and, where the step has none, its example; not the whole question
        again (it is just above). Someone who never started is greeted as usual."""
        state = self.state
        if state.step == "idle" and not state.answers and state.reference is None:
            self.say("media.unsupported")
            self.reprompt()
            return
        buttons = self.current_buttons()
        field_ = None if state.confirm else self.current_field()
        text = self.t("media.unsupported")
        if field_ is not None and not buttons and field_.example:
            text = f"{text}\n{self.t(field_.example)}"
        request_contact = bool(field_ and field_.request_contact and not state.pending.get("no_contact"))
        if self.repeated("media.unsupported"):
            self.stuck(text, buttons, request_contact=request_contact)
            return
        self.out.replies.append(Reply("media.unsupported", text, tuple(buttons), request_contact))

    def button_of(self, event: Event) -> Button | None:
        """The button a press refers to, if it is one the person was shown at this point."""
        if not isinstance(event, ButtonPress):
            return None
        if event.button_id.startswith("cmd:") and event.button_id[4:] in COMMANDS:
            return Button(event.button_id, "")
        return next((b for b in self.current_buttons() if b.id == event.button_id), None)

    def returning(self) -> bool:
        """A person who comes back after a while is asked whether to continue or start again."""
        if not self.state.in_form or not self.state.last_seen or self.state.step == "summary" and not self.state.answers:
            return False
        last = datetime.fromisoformat(self.state.last_seen)
        return self.ctx.now - last > timedelta(minutes=self.ctx.rules.conversation.resume_after_minutes)

    # -- current step -------------------------------------------------------------------------
    def current_field(self) -> Field | None:
        return FIELDS.get(self.state.step)

    def current_buttons(self) -> list[Button]:
        if self.state.confirm:
            return self.confirm_buttons()
        step = self.state.step
        if step == "language":
            return self.language_buttons()
        if step == "summary":
            return self.summary_buttons()
        if step in IDLE_STEPS:
            return self.menu_buttons()
        if step == "correct_pick":
            return []
        field_ = self.current_field()
        return field_.choices(self.ctx, self.state) if field_ and field_.choices else []

    def language_buttons(self) -> list[Button]:
        return [Button(f"lang:{code}", self.ctx.t(code, "language.name")) for code in self.ctx.rules.languages]

    def summary_buttons(self) -> list[Button]:
        return [Button("sum:send", self.t("btn.sum.send")), Button("sum:edit", self.t("btn.sum.edit")),
                Button("cmd:cancel", self.t("btn.cmd.cancel"))]

    def menu_buttons(self) -> list[Button]:
        return [Button("cmd:start", self.t("btn.cmd.start")), Button("cmd:status", self.t("btn.cmd.status")),
                Button("cmd:help", self.t("btn.cmd.help"))]

    def confirm_buttons(self) -> list[Button]:
        if self.state.confirm == "language":
            return self.language_buttons()
        if self.state.confirm == "resume":
            return [Button("resume:continue", self.t("btn.resume.continue")),
                    Button("resume:restart", self.t("btn.resume.restart"))]
        if self.state.confirm == "guess":
            return [Button("guess:yes", self.t("btn.guess.yes")), Button("guess:no", self.t("btn.guess.no"))]
        return [Button("confirm:yes", self.t("btn.confirm.yes")), Button("confirm:no", self.t("btn.confirm.no"))]

    # -- prompting ----------------------------------------------------------------------------
    def reprompt(self) -> None:
        step = self.state.step
        if self.state.confirm:
            self.ask_confirm()
        elif step == "language":
            self.ask_language()
        elif step == "summary":
            self.show_summary()
        elif step == "correct_pick":
            self.say("correct.pick", **self.summary_params())
        elif step in FIELDS:
            self.ask(FIELDS[step])
        elif step == "done":
            self.say("done.menu", self.menu_buttons(), reference=self.state.reference or "-")
        else:
            self.greet()

    def greet(self) -> None:
        if len(self.ctx.rules.languages) > 1 and self.state.lang is None:
            self.state.step = "language"
            self.ask_language()
        else:
            self.start_form()

    def ask_language(self) -> None:
        buttons = self.language_buttons()
        self.say("welcome", buttons)
        self.out.replies[-1] = Reply("welcome", f"{self.out.replies[-1].text}\n{numbered(buttons)}", tuple(buttons))

    def numbers_shown(self, field_: Field) -> bool:
        """Whether the person was shown numbers beside this step's choices (only then is a typed
        number a choice: channels show buttons without numbers)."""
        return field_.numbered or bool(self.state.pending.get("numbered"))

    def ask(self, field_: Field) -> None:
        self.state.step = field_.key
        params = field_.params(self.ctx, self.state) if field_.params else {}
        header = self.t("progress", n=field_.progress, total=TOTAL_STEPS)
        if self.preface:
            header, self.preface = f"{self.preface}\n\n{header}", None
        key = field_.prompt_key(self.ctx, self.state)
        text = f"{header}\n{self.t(key, **params)}"
        buttons = field_.choices(self.ctx, self.state) if field_.choices else []
        if buttons and self.numbers_shown(field_):
            text = f"{text}\n{numbered(buttons)}"
        request_contact = field_.request_contact and not self.state.pending.get("no_contact")
        self.out.replies.append(Reply(key, text, tuple(buttons), request_contact))

    def ask_confirm(self) -> None:
        kind = self.state.confirm
        if kind == "language":
            self.say("language.ask", self.language_buttons())
        elif kind == "resume":
            self.say("resume.ask", self.confirm_buttons(), step=self.step_number(), total=TOTAL_STEPS)
        elif kind == "guess":
            self.say("confirm.guess", self.confirm_buttons(), choice=self.state.pending.get("guess", {}).get("label", ""))
        else:
            self.say(f"confirm.{kind}", self.confirm_buttons())

    def step_number(self) -> int:
        field_ = self.current_field()
        return field_.progress if field_ else SUMMARY_STEP

    # -- commands -----------------------------------------------------------------------------
    def command(self, name: str) -> None:
        state = self.state
        if name == "help":
            contact = self.ctx.rules.help.for_nagari(state.answers.get("nagari_code"), self.lang)
            self.say("help.text", contact=contact, dpo=self.ctx.rules.data_protection_officer)
            if state.in_form or state.confirm:
                self.reprompt()
        elif name == "back":
            state.confirm = None
            self.go_back()
        elif name == "cancel":
            if state.in_form or state.correcting:
                state.confirm = "cancel"
                self.ask_confirm()
            else:
                self.say("cancel.nothing", self.menu_buttons())
        elif name == "continue":
            if state.in_form or state.confirm or state.correcting or state.step in ("done", "language"):
                self.reprompt()
            else:
                self.say("done.menu" if state.reference else "continue.nothing", self.menu_buttons(),
                         reference=state.reference or "-")
        elif name in ("status", "mydata"):
            state.pending["show"] = name
            self.effect(LoadMyData())
        elif name in ("start", "new"):
            if state.in_form and state.answers:
                state.confirm = "resume"
                self.ask_confirm()
            elif name == "start" and state.reference and not state.in_form:
                # Sent already: "daftar" shows where that registration is, rather than a new
                # form (one that is over, rejected or withdrawn, starts a new one: on_my_data).
                state.pending["show"] = "start"
                self.effect(LoadMyData())
            else:
                state.confirm = None
                self.greet() if state.lang is None else self.start_form()
        elif name == "delete":
            state.confirm = "delete"
            self.ask_confirm()
        elif name == "correct":
            state.pending["show"] = "correct"
            self.effect(LoadMyData())
        elif name == "language":
            state.confirm = "language"
            self.ask_confirm()

    def go_back(self) -> None:
        state = self.state
        if state.step in FIELDS and state.pending.get("narrowed"):
            # Back from a narrowed pick (a kecamatan's nagari, the typed amount) returns to the
            # field's own first question: the person wants another kecamatan, not the last field.
            state.pending = {}
            self.ask(FIELDS[state.step])
            return
        if state.editing is not None or state.correcting:
            self.restore_backup()
            return
        if state.step in ("summary",) and state.history:
            previous = state.history.pop()
            self.clear_from(previous)
            self.ask(FIELDS[previous])
            return
        if state.step not in FIELDS or not state.history:
            self.say("back.nothing")
            self.reprompt()
            return
        previous = state.history.pop()
        self.clear_from(previous)
        self.ask(FIELDS[previous])

    def clear_from(self, key: str) -> None:
        """Forget the answers of `key` and every field after it (they may depend on it)."""
        index = next(i for i, f in enumerate(FORM) if f.key == key)
        for field_ in FORM[index:]:
            self.clear_field(field_)
        self.state.pending = {}

    def clear_field(self, field_: Field) -> None:
        for k in FIELD_VALUES[field_.key]:
            self.state.answers.pop(k, None)
        flags = self.state.answers.get("flags", [])
        self.state.answers["flags"] = [f for f in flags if f not in FIELD_FLAGS.get(field_.key, ())]

    def restore_backup(self) -> None:
        state = self.state
        state.answers.update(state.backup)
        state.backup = {}
        state.pending = {}
        state.failures = 0
        if state.correcting:
            state.correcting = None
            state.editing = None
            state.answers = {}
            state.step = "done"
            self.say("correct.cancelled", self.menu_buttons())
            return
        state.editing = None
        self.show_summary()

    # -- yes/no questions that interrupt the form ---------------------------------------------
    def on_confirm(self, button: Button | None, text: str | None) -> None:
        state = self.state
        if button is None and text is not None:
            text = strip_particles(text)
            button = match_choice(text, self.confirm_buttons(), numbers_shown=state.confirm == "language")
        if button is None and state.confirm == "guess" and text:
            # Not yes or no to "Did you mean ...?": the person answers the question afresh.
            state.confirm = None
            state.pending.pop("guess", None)
            self.on_input(None, text, None)
            return
        if button is None and text and self.answer_faq(text):
            return
        if button is None:
            if self.repeated("confirm.unclear"):
                self.stuck(self.t("confirm.unclear"), self.confirm_buttons())
                return
            self.say("confirm.unclear", self.confirm_buttons())
            return
        kind, state.confirm = state.confirm, None
        choice = button.id.split(":", 1)[1]
        if kind == "guess":
            self.on_guess(choice == "yes")
            return
        if kind == "language":
            state.lang = choice
            self.say("language.set")
            self.reprompt()
        elif kind == "resume":
            if choice == "restart":
                self.start_form(fresh=True)
            else:
                self.reprompt()
        elif kind == "cancel":
            if choice == "yes":
                if state.correcting:
                    self.restore_backup()
                    return
                self.reset()
                self.say("cancel.done", self.menu_buttons())
            else:
                self.reprompt()
        elif kind == "delete":
            if choice == "yes":
                self.effect(DeleteMyData())
            else:
                self.say("delete.kept")
                self.reprompt()

    def ask_guess(self, field_: Field, label: str, button_id: str | None = None, text: str | None = None) -> None:
        """One tap to confirm what we think was meant ("Maksud Anda *Pedagang*?")."""
        self.state.confirm = "guess"
        self.state.pending["guess"] = {"field": field_.key, "button": button_id, "text": text, "label": label}
        self.ask_confirm()

    def on_guess(self, yes: bool) -> None:
        state = self.state
        guess = state.pending.pop("guess", None) or {}
        field_ = FIELDS.get(guess.get("field", ""))
        if field_ is None or field_.key != state.step:
            self.reprompt()
            return
        if not yes:
            self.ask(field_)
            return
        if guess.get("button"):
            buttons = field_.choices(self.ctx, state) if field_.choices else []
            button = next((b for b in buttons if b.id == guess["button"]), None)
            if button is None:
                self.ask(field_)
                return
            self.answer(field_, Answer(button=button))
        else:
            self.answer(field_, Answer(text=guess.get("text") or "", raw=guess.get("text")))

    def reset(self, keep_reference: bool = True) -> None:
        lang, reference = self.state.lang, self.state.reference if keep_reference else None
        self.state = self.out.state = State(lang=lang, reference=reference, step="done" if reference else "idle",
                                            nik_probes=self.state.nik_probes, link=self.state.link)

    def start_form(self, fresh: bool = True) -> None:
        if fresh:
            lang, reference = self.state.lang, self.state.reference
            self.state = self.out.state = State(lang=lang, reference=reference, nik_probes=self.state.nik_probes,
                                                link=self.state.link)
        self.ask(FORM[0])

    def on_link(self, event: LinkOpened) -> None:
        """The person came through a link of a nagari (a poster, an agent, a jorong head): the
        conversation starts as for "mulai", the link is kept as the registration's source, and
        the nagari question becomes "is it this nagari?" (form.nagari_choices). The first answer
        says which nagari's link it was, in its first line rather than in a message of its own
        (WhatsApp paces each person's messages)."""
        nagari = self.ctx.wilayah.by_code(event.nagari_code)
        self.state.link = {"id": event.link_id, "nagari": event.nagari_code}
        first = len(self.out.replies)
        self.command("start")
        if nagari is not None and len(self.out.replies) > first:
            opened = self.t("link.opened", nagari=nagari.name)
            reply = self.out.replies[first]
            self.out.replies[first] = replace(reply, text=f"{opened}\n\n{reply.text}")

    def probed_too_often(self, count: bool = False) -> bool:
        """Trying NIKs of other people's registrations counts as a failed try; after
        max_failures of them the person gets the help contact, never another try."""
        if count:
            self.state.nik_probes += 1
        if self.state.nik_probes < self.ctx.rules.conversation.max_failures:
            return False
        contact = self.ctx.rules.help.for_nagari(self.state.answers.get("nagari_code"))
        # Blocked: why, and a person one tap away (the officials can see whose NIK it is).
        if self.repeated("nik.probe_limit"):
            self.stuck(self.t("nik.probe_limit", contact=contact))
            return True
        self.say("nik.probe_limit", (Button(ASK_BUTTON, self.t("btn.handover.ask")),), contact=contact)
        return True

    # -- answers ------------------------------------------------------------------------------
    def on_input(self, button: Button | None, text: str | None, contact: ContactShared | None) -> None:
        state = self.state
        if state.step == "language":
            self.on_language(button, text)
        elif state.step == "summary":
            self.on_summary(button, text)
        elif state.step == "correct_pick":
            self.on_correct_pick(text)
        elif state.step in FIELDS:
            self.on_field(FIELDS[state.step], button, text, contact)
        elif state.step == "done" and button is None:
            if self.repeated("done.menu"):
                self.stuck(self.t("done.menu", reference=state.reference or "-"), self.menu_buttons())
                return
            self.say("done.menu", self.menu_buttons(), reference=state.reference or "-")
        else:
            self.greet()

    def on_language(self, button: Button | None, text: str | None) -> None:
        if button is None and text is not None:
            button = match_choice(text, self.language_buttons())
        if button is None:
            # Anything else at the greeting ("halo") means: go on in the default language.
            self.state.lang = self.ctx.rules.default_language
        else:
            self.state.lang = button.id.split(":", 1)[1]
        self.start_form()

    def on_field(self, field_: Field, button: Button | None, text: str | None, contact: ContactShared | None) -> None:
        state = self.state
        buttons = field_.choices(self.ctx, state) if field_.choices else []
        if button is None and text and self.answer_faq(text):
            return
        if button is None and text:
            # "sejuta lah pak", "Koto Tuo ya bu", "iya, 0812 ...": what people put around an
            # answer changes nothing (a lone "ya" stays: at a yes/no question it is the answer).
            text = strip_particles(text, leading_yes=field_.kind == "text")
        if button is None and text is not None and buttons:
            typed = buttons
            if field_.typed_match is not None and not text.strip().isdigit():
                typed = [b for b in buttons if b.id.startswith(field_.typed_match)]
            reading = read_choice(text, typed, numbers_shown=self.numbers_shown(field_),
                                  fuzzy=field_.kind == "choice") if typed else None
            if reading is not None and not reading.sure:
                self.ask_guess(field_, reading.button.title, button_id=reading.button.id)
                return
            button = reading.button if reading else None
        if contact is not None and not field_.request_contact:
            self.say("contact.unexpected")
            self.ask(field_)
            return
        if button is None and contact is None and text:
            if buttons and field_.on_no and means(text, "no"):
                state.pending.pop("numbered", None)
                if self.repeated(field_.on_no):
                    self.stuck_at(field_, self.t(field_.on_no))
                    return
                self.say(field_.on_no)
                return
            # Free text would be stored as typed: "halo" or "apa ini?" must not become a name.
            # (Other steps' parsers refuse such words themselves, with their own explanation.)
            kind = not_an_answer(text) if field_.free_text else None
            if kind in ("greeting", "thanks"):
                if self.repeated(f"answer.{kind}"):
                    self.stuck_at(field_, self.t(f"answer.{kind}"))
                    return
                self.say(f"answer.{kind}")
                self.ask(field_)
                return
            if kind is not None:
                self.fail(field_, InvalidInput(f"answer.{kind}", count=len(buttons)))
                return
        if button is None and contact is None and field_.kind == "choice":
            self.fail(field_, InvalidInput("choice.unknown", count=len(buttons)))
            return
        if not text and button is None and contact is None:
            self.ask(field_)
            return
        raw = text
        if button is None and contact is None and text:
            if field_.free_text and contains_nik(text):
                # A NIK in a name or a jorong would be stored unencrypted: refused, never echoed.
                self.fail(field_, InvalidInput("answer.nik_in_text"))
                return
            if field_.kind == "text" and field_.key != "phone" and phone_in(text):
                # A phone number typed as the jorong, the name or the NIK: told what it looked like.
                self.fail(field_, InvalidInput("answer.phone_in_text"))
                return
            word = command_in_text(text) if field_.free_text else None
            if word is not None:
                # "lewati" as the heir's relation, "kirim" as a name: a command, not an answer.
                key = "heir_relation.command" if field_.key == "heir_relation" else "answer.command"
                self.fail(field_, InvalidInput(key, word=word))
                return
            if field_.prefix:
                text = strip_prefix(field_.prefix, text)
                if not text:  # only "nama saya": the answer itself is still to come
                    self.fail(field_, InvalidInput("answer.unknown"))
                    return
        self.answer(field_, Answer(text=text, button=button, contact=contact, raw=raw))

    def answer(self, field_: Field, answer: Answer) -> None:
        try:
            verdict = field_.validate(answer, self.ctx, self.state)
        except InvalidInput as problem:
            self.fail(field_, problem)
            return
        if verdict.guess is not None:
            text, label = verdict.guess
            self.ask_guess(field_, label, text=text)
            return
        self.apply(field_, verdict)

    def fail(self, field_: Field, problem: InvalidInput) -> None:
        """A specific explanation and an example, every time (the reason stays visible); after
        max_failures, or when the same explanation would go out a third time in a row, the
        choices with numbers and a button to a person instead (stuck_at)."""
        state = self.state
        state.failures += 1
        buttons = field_.choices(self.ctx, state) if field_.choices else []
        text = self.t(problem.key, **problem.params)
        if field_.example:
            text = f"{text}\n{self.t(field_.example)}"
        if self.repeated(problem.key) or state.failures >= self.ctx.rules.conversation.max_failures:
            self.stuck_at(field_, self.t(problem.key, **problem.params))
            return
        self.out.replies.append(Reply(problem.key, text, tuple(buttons), field_.request_contact))

    def stuck_at(self, field_: Field, reason: str) -> None:
        """Stuck at a form question: the reason, the choices with numbers (a typed number picks
        one from now on) or the example, and a button to a person."""
        buttons = field_.choices(self.ctx, self.state) if field_.choices else []
        if buttons:
            self.state.pending["numbered"] = True
        elif field_.example:
            reason = f"{reason}\n{self.t(field_.example)}"
        self.stuck(reason, buttons, numbered_choices=bool(buttons), request_contact=field_.request_contact)

    def stuck(self, reason: str, buttons: list[Button] | tuple[Button, ...] = (), *, numbered_choices: bool = False,
              request_contact: bool = False) -> None:
        """The way out of a loop, instead of the same reply again: the reason (still visible),
        the step's choices (numbered where a typed number picks one), and a *button* to a
        person: "tk:ask", which handlers/handover.py takes as it takes a typed "petugas" (a
        ticket to the officials of the person's nagari). The person button comes last, in a
        message of its own, so it stays a button on every channel (WhatsApp shows at most 10
        choices as a list). The counts start again."""
        state = self.state
        state.failures = 0
        state.pending.pop("said", None)
        contact = self.ctx.rules.help.for_nagari(state.answers.get("nagari_code"), self.lang)
        person = (Button(ASK_BUTTON, self.t("btn.handover.ask")),)
        help_text = self.t("help.stuck", contact=contact)
        if buttons:
            text = f"{reason}\n\n{self.t('help.stuck_choices')}\n{numbered(buttons)}" if numbered_choices else reason
            self.out.replies.append(Reply("help.stuck_choices", text, tuple(buttons), request_contact))
            self.out.replies.append(Reply("help.stuck", help_text, person))
        else:
            self.out.replies.append(Reply("help.stuck", f"{reason}\n\n{help_text}", person, request_contact))

    def repeated(self, key: str) -> bool:
        """Note that `key` is about to be said; True when it would be the REPEAT_LIMIT-th time in
        a row (kept in `pending`, which every kept answer clears): the caller says `stuck`."""
        said = self.state.pending.get("said") or ["", 0]
        count = said[1] + 1 if said[0] == key else 1
        self.state.pending["said"] = [key, count]
        return count >= REPEAT_LIMIT

    def answer_faq(self, text: str) -> bool:
        """A question about the programme in the middle of the form ("berapa iurannya?", "ini
        gratis?", "untuk apa NIK saya?"): answered from the catalogs (faq.<topic>, amounts from
        the programme's rules), then the step's question again. False for anything else: an
        unknown question stays with the step, which points to a person."""
        topic = faq_topic(text)
        key = f"faq.{topic}"
        if topic is None or not self.ctx.catalog.has(key):
            return False
        contribution = self.ctx.rules.programme_contribution(self.ctx.today)
        answer = self.t(key, total=rupiah(contribution.monthly), jkk=rupiah(contribution.jkk),
                        jkm=rupiah(contribution.jkm), base=rupiah(contribution.income_base),
                        dpo=self.ctx.rules.data_protection_officer)
        if self.repeated(key):
            field_ = None if self.state.confirm else self.current_field()
            if field_ is not None:
                self.stuck_at(field_, answer)
            else:
                self.stuck(answer, self.current_buttons())
            return True
        self.out.replies.append(Reply(key, answer))
        self.reprompt()
        return True

    def apply(self, field_: Field, verdict: Accepted) -> None:
        state = self.state
        if verdict.stop:
            key, params = verdict.stop
            self.say(key, **params)
            if field_.key == "consent":
                # Consent refused: keep nothing at all (UU 27/2022).
                self.out.forget = True
                self.state = self.out.state = State(lang=state.lang)
            else:
                self.reset()
            return
        if verdict.preface is not None:
            key, params = verdict.preface
            self.preface = self.t(key, **params)
        if verdict.again is not None:
            state.pending = {**verdict.again, "narrowed": True}
            state.failures = 0
            self.ask(field_)
            return
        if verdict.check is not None and self.probed_too_often():
            return
        if verdict.check is not None:
            state.pending = {"field": field_.key, "values": verdict.values, "flags": list(verdict.flags),
                             "notes": [list(n) for n in verdict.notes], "said": state.pending.get("said")}
            self.effect(verdict.check)
            return
        self.keep(field_, verdict.values, verdict.flags, verdict.notes)

    def keep(self, field_: Field, values: dict[str, Any], flags: tuple[str, ...] | list[str], notes: Any) -> None:
        state = self.state
        self.clear_field(field_)
        state.answers.update(values)
        state.answers["flags"] = sorted(set(state.answers.get("flags", [])) | set(flags))
        state.pending = {}
        state.failures = 0
        if field_.key == "consent":
            state.consent_version = self.ctx.rules.consent_version
            self.effect(RecordConsent(self.ctx.rules.consent_version, self.lang))
        # An answer changed from the summary is already in the history at its place; appending
        # it would make "back" at the summary clear every answer after it.
        if state.editing is None and (not state.history or state.history[-1] != field_.key):
            state.history.append(field_.key)
        for key, params in notes:
            self.say(key, **params)
        self.advance()

    def next_field(self) -> Field | None:
        for field_ in FORM:
            if field_.when(self.state.answers) and not answered(field_, self.state.answers):
                return field_
        return None

    def advance(self) -> None:
        state = self.state
        nxt = self.next_field()
        editing = state.editing
        if nxt is not None and (editing is None or nxt.group == editing):
            self.ask(nxt)
            return
        if state.correcting and editing is not None:
            values = {k: v for k, v in state.answers.items() if k in self.group_value_keys(editing)}
            values["flags"] = state.answers.get("flags", [])
            self.effect(CorrectField(state.correcting, str(editing), values))
            return
        state.editing = None
        state.backup = {}
        self.show_summary()

    @staticmethod
    def group_value_keys(group: int) -> set[str]:
        return {k for f in FORM if f.group == group for k in FIELD_VALUES[f.key]}

    # -- summary, submission, corrections -----------------------------------------------------
    def prune(self) -> None:
        """Drop answers of fields whose condition no longer holds (e.g. category changed)."""
        for field_ in FORM:
            if not field_.when(self.state.answers) and field_.key not in ("birth_date",):
                self.clear_field(field_)

    def summary_params(self, answers: dict[str, Any] | None = None) -> dict[str, Any]:
        a = self.state.answers if answers is None else answers
        return {"lines": "\n".join(f"{i}. {line}" for i, line in enumerate(self.summary_lines(a), start=1))}

    def summary_lines(self, a: dict[str, Any]) -> list[str]:
        category = self.ctx.rules.category(a.get("category", ""))
        work = category.title(self.lang) if category else "-"
        if a.get("category") == "lainnya" and a.get("category_other"):
            work = f"{work}: {a['category_other']}"
        nagari = self.ctx.wilayah.by_code(a.get("nagari_code", ""))
        birth = date.fromisoformat(a["birth_date"]) if a.get("birth_date") else None
        heir = "-"
        if a.get("heir_name"):
            relation = a.get("heir_relation", "")
            rel_key = f"btn.rel.{relation}"
            relation_text = self.t(rel_key) if self.ctx.catalog.has(rel_key) else relation
            heir = f"{a['heir_name']} ({relation_text})"
        values = [
            work,
            a.get("name", "-"),
            self.t("summary.nik_value", nik=mask_nik(a["nik"]) if a.get("nik") else "-",
                   sex=self.t(f"sex.{a.get('sex', 'L')}"),
                   birth=format_date(birth, self.ctx, self.lang) if birth else "-"),
            self.t("summary.nagari_value", nagari=nagari.name, kecamatan=nagari.kecamatan.name) if nagari else "-",
            a.get("jorong", "-"),
            format_phone(a["phone"]) if a.get("phone") else "-",
            self.t("summary.income_value", income=rupiah(a.get("income", 0)),
                   total=rupiah(a.get("monthly_contribution", 0))),
            heir,
        ]
        return [f"{self.t(label)}: {value}" for (label, _), value in zip(SUMMARY_LINES, values)]

    def show_summary(self) -> None:
        state = self.state
        self.prune()
        state.step = "summary"
        header = self.t("progress", n=SUMMARY_STEP, total=TOTAL_STEPS)
        if self.preface:
            header, self.preface = f"{self.preface}\n\n{header}", None
        text = f"{header}\n{self.t('summary.prompt', **self.summary_params())}"
        self.out.replies.append(Reply("summary.prompt", text, tuple(self.summary_buttons())))

    def on_summary(self, button: Button | None, text: str | None) -> None:
        if button is None and text is not None:
            text = strip_particles(text)
            typed = normalize_text(text)
            if typed.isdigit() and 1 <= int(typed) <= len(SUMMARY_LINES):
                self.edit_group(SUMMARY_LINES[int(typed) - 1][1])
                return
            # The summary's numbers are its items; its buttons are shown without numbers.
            button = match_choice(text, self.summary_buttons()[:2], numbers_shown=False)
            item = summary_item(text)
            if item is not None and (button is None or button.id == "sum:edit"):
                # "ubah nomor hp", "hp salah", or "hp" at "which one?": straight to that item.
                self.edit_group(item)
                return
        if button is None and text and self.answer_faq(text):
            return
        if button is None:
            self.state.failures += 1
            if self.repeated("summary.unclear"):
                self.stuck(self.t("summary.unclear", count=len(SUMMARY_LINES)), self.summary_buttons())
                return
            self.say("summary.unclear", self.summary_buttons(), count=len(SUMMARY_LINES))
            return
        if button.id == "sum:send":
            self.effect(Submit())
        else:
            self.say("summary.which", count=len(SUMMARY_LINES))

    def edit_group(self, group: int) -> None:
        state = self.state
        keys = self.group_value_keys(group)
        state.backup = {k: v for k, v in state.answers.items() if k in keys}
        state.backup["flags"] = list(state.answers.get("flags", []))
        state.editing = group
        for field_ in FORM:
            if field_.group == group:
                self.clear_field(field_)
        nxt = self.next_field()
        if nxt is None or nxt.group != group:  # nothing to ask (should not happen)
            state.editing = None
            self.show_summary()
            return
        self.ask(nxt)

    def on_correct_pick(self, text: str | None) -> None:
        typed = normalize_text(text or "")
        if typed.isdigit() and 1 <= int(typed) <= len(SUMMARY_LINES):
            self.edit_group(SUMMARY_LINES[int(typed) - 1][1])
            return
        item = summary_item(text or "")
        if item is not None:
            self.edit_group(item)
            return
        if self.repeated("correct.pick_unclear"):
            self.stuck(self.t("correct.pick_unclear", count=len(SUMMARY_LINES)))
            return
        self.say("correct.pick_unclear", count=len(SUMMARY_LINES))

    # -- results of effects -------------------------------------------------------------------
    def on_result(self, event: Event) -> None:
        state = self.state
        if isinstance(event, NikChecked):
            pending = state.pending
            field_ = FIELDS.get(pending.get("field", ""))
            if field_ is None:
                self.reprompt()
                return
            if event.status is not None and not (state.correcting and event.reference == state.correcting):
                key = "nik.already_own" if event.own else "nik.already_other"
                said = pending.get("said")
                state.pending = {"said": said} if said else {}
                if not event.own and self.probed_too_often(count=True):
                    return
                text = self.t(key, status=self.t(f"status.{event.status}") if event.own else "",
                              reference=event.reference if event.own else "")
                if event.own and self.repeated(key):  # others' NIKs end at the probe limit
                    self.stuck_at(field_, text)
                    return
                # Someone else's NIK: a person can sort it out (the button opens a ticket).
                buttons = () if event.own else (Button(ASK_BUTTON, self.t("btn.handover.ask")),)
                self.out.replies.append(Reply(key, text, buttons))
                self.ask(field_)
                return
            self.keep(field_, pending["values"], pending.get("flags", []), pending.get("notes", []))
        elif isinstance(event, Submitted):
            if event.error or not event.reference:
                duplicate = event.error == "duplicate_nik"
                self.say("submit.duplicate" if duplicate else "submit.failed",
                         (Button(ASK_BUTTON, self.t("btn.handover.ask")),) if duplicate else ())
                if event.error == "duplicate_nik":
                    self.edit_group(5)
                return
            answers = state.answers
            nagari = self.ctx.wilayah.by_code(answers.get("nagari_code", ""))
            self.reset()
            self.state.reference = event.reference
            self.state.step = "done"
            self.say("submit.done", self.menu_buttons(), reference=event.reference,
                     nagari=nagari.name if nagari else "-",
                     total=rupiah(answers.get("monthly_contribution", 0)))
        elif isinstance(event, MyData):
            self.on_my_data(event)
        elif isinstance(event, DataDeleted):
            self.out.forget = True
            self.state = self.out.state = State(lang=state.lang)
            if event.requested:
                self.say("delete.requested", references=", ".join(event.requested), erased=event.erased)
            else:
                self.say("delete.done", erased=event.erased)
        elif isinstance(event, FieldCorrected):
            if event.ok and event.next_group is not None:
                # An official asked for several fields: walk through the next one.
                state.editing, state.backup = None, {}
                self.edit_group(event.next_group)
                return
            state.correcting = None
            state.editing = None
            state.backup = {}
            state.answers = {}
            state.step = "done"
            self.say("correct.done" if event.ok else "correct.failed", self.menu_buttons(), reference=event.reference)

    def on_my_data(self, event: MyData) -> None:
        state = self.state
        show = state.pending.pop("show", "mydata")
        if show == "start":
            current = [r for r in event.records if r.status not in FINISHED_STATUSES]
            if not current:
                state.confirm = None
                self.greet() if state.lang is None else self.start_form()
                return
            lines = [self.t("status.line", reference=r.reference, status=self.t(f"status.{r.status}")) for r in current]
            self.say("start.registered", (Button("cmd:new", self.t("btn.cmd.new")), Button("cmd:help", self.t("btn.cmd.help"))),
                     lines="\n".join(lines))
            return
        if show == "correct":
            editable = [r for r in event.records if r.status in ("pending", "correction", "waiting")]
            if not editable:
                self.say("correct.none")
                self.reprompt()
                return
            record = editable[0]
            state.answers = dict(record.fields)
            state.correcting = record.reference
            state.step = "correct_pick"
            self.say("correct.pick", **self.summary_params())
            return
        if show == "status":
            lines = [self.t("status.line", reference=r.reference, status=self.t(f"status.{r.status}"))
                     for r in event.records]
            if state.in_form:
                lines.append(self.t("status.draft", step=self.step_number(), total=TOTAL_STEPS))
            self.say("status.text" if lines else "status.none", lines="\n".join(lines))
        else:
            blocks = []
            for record in event.records:
                body = self.summary_params(dict(record.fields))["lines"]
                blocks.append(self.t("mydata.record", reference=record.reference,
                                     status=self.t(f"status.{record.status}"), lines=body))
            if state.in_form and state.answers:
                blocks.append(self.t("mydata.draft", lines=self.summary_params()["lines"]))
            consent = event.consent_given_at or "-"
            self.say("mydata.text" if blocks else "mydata.none", blocks="\n\n".join(blocks), consent=consent,
                     dpo=self.ctx.rules.data_protection_officer)
        if state.in_form or state.confirm:
            self.reprompt()
