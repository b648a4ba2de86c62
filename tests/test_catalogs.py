"""The message catalogs: Indonesian and English have the same keys and the same {placeholders}
in every PO file; every key the code uses exists; button titles fit WhatsApp's 20 characters.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conversations import form
from conversations.form import HEIR_RELATIONS, Ctx, income_choices, nagari_choices
from conversations.i18n import LOCALES_DIR, Catalog, placeholders
from conversations.registration import STATUS_KEYS
from conversations.state import State
from handlers.clock import LOCAL_TZ
from handlers.services import Services
from storage.repo import UNDECIDED

ROOT = Path(__file__).resolve().parent.parent
PO_FILES = sorted(p.name for p in (LOCALES_DIR / "id" / "LC_MESSAGES").glob("*.po"))
KEY_SHAPE = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
# WhatsApp Cloud API: reply-button titles at most 20 characters.
BUTTON_TITLE_MAX = 20


def po_messages(lang: str, name: str) -> dict[str, str]:
    path = LOCALES_DIR / lang / "LC_MESSAGES" / name
    assert path.exists(), f"{lang}/{name} is missing: every area needs both languages"
    with path.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=lang) if m.id}


@pytest.mark.parametrize("name", PO_FILES)
def test_both_languages_have_the_same_keys_and_placeholders(name: str) -> None:
    indonesian, english = po_messages("id", name), po_messages("en", name)
    assert sorted(set(indonesian) ^ set(english)) == []
    for key, text in indonesian.items():
        assert text.strip(), f"id/{name}: {key} is empty"
        assert english[key].strip(), f"en/{name}: {key} is empty"
        assert placeholders(text) == placeholders(english[key]), key


def test_catalogs_load_without_duplicate_keys() -> None:
    catalog = Catalog.load(("id", "en"))
    assert catalog.has("progress") and catalog.text("id", "progress", n=4, total=11) == "Langkah 4 dari 11"
    assert catalog.text("en", "progress", n=4, total=11) == "Step 4 of 11"


def literal_keys(paths: list[Path]) -> set[str]:
    """String constants shaped like message keys ("nik.prompt") in the given sources."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY_SHAPE.match(node.value):
                found.add(node.value)
    return found


def button_keys() -> set[str]:
    """btn.{prefix}.{k} keys built by form._buttons(...) and yes_no(...) calls."""
    source = ast.parse((ROOT / "conversations" / "form.py").read_text(encoding="utf-8"))
    keys = {f"btn.rel.{r}" for r in HEIR_RELATIONS}
    for node in ast.walk(source):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        args = node.args
        if node.func.id == "yes_no":
            keys |= {f"btn.{args[0].value}.{k}" for k in ("yes", "no")}  # type: ignore[attr-defined]
        elif node.func.id == "_buttons" and isinstance(args[2], ast.Constant) and isinstance(args[3], ast.List):
            keys |= {f"btn.{args[2].value}.{k.value}" for k in args[3].elts}  # type: ignore[attr-defined]
    return keys


SOURCES = sorted(str(p.relative_to(ROOT)) for d in ("conversations", "handlers") for p in (ROOT / d).glob("*.py"))


def keys_used_in(source: str) -> set[str]:
    keys = literal_keys([ROOT / source])
    if source == "conversations/form.py":
        keys |= button_keys()
        keys |= {f.example for f in form.FORM if f.example}
        keys |= {f.prompt for f in form.FORM if isinstance(f.prompt, str)}
    if source == "conversations/registration.py":
        # Keys built from values: f"status.{status}", f"month.{n}", f"sex.{sex}", f"confirm.{kind}".
        keys |= {f"status.{s}" for s in STATUS_KEYS | set(UNDECIDED)}
        keys |= {f"month.{n}" for n in range(1, 13)} | {"sex.L", "sex.P"}
        keys |= {"confirm.cancel", "confirm.delete"}
    return keys


def test_the_key_scan_finds_the_registration_keys() -> None:
    keys = keys_used_in("conversations/form.py") | keys_used_in("conversations/registration.py")
    assert len(keys) > 120
    # Prompt keys chosen at run time by form.py's callables are literals there, so they are in.
    assert {"nagari.did_you_mean", "phone.prompt_known", "income.type", "btn.member.unknown", "month.12"} <= keys


@pytest.mark.parametrize("source", SOURCES)
def test_every_key_the_code_uses_exists_in_both_languages(source: str) -> None:
    catalog = Catalog.load(("id", "en"))
    keys = keys_used_in(source)
    for lang in ("id", "en"):
        known = catalog.messages[lang]
        # A literal may also name a family of keys (message.key.startswith("reminder.unfinished")).
        missing = sorted(k for k in keys if k not in known and not any(m.startswith(k + ".") for m in known))
        assert missing == [], f"{lang}: {missing}"


def test_status_keys_cover_every_status_the_code_sets() -> None:
    sources = [ROOT / "handlers" / "inbound.py", ROOT / "storage" / "repo.py"]
    assigned = set()
    for path in sources:
        assigned |= set(re.findall(r'status\s*=\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert assigned and assigned <= STATUS_KEYS


@pytest.mark.parametrize("lang", ["id", "en"])
def test_button_titles_fit_whatsapp(svc: Services, lang: str) -> None:
    catalog = svc.catalog
    longest_kecamatan = max((k.name for k in svc.wilayah.kecamatan), key=len)
    for key, template in catalog.messages[lang].items():
        if not key.startswith("btn."):
            continue
        title = catalog.text(lang, key, kecamatan=longest_kecamatan, upper="0", lower="0")
        assert len(title) <= BUTTON_TITLE_MAX, (key, title)
    ctx = Ctx(rules=svc.rules, catalog=catalog, wilayah=svc.wilayah, now=datetime(2026, 11, 28, tzinfo=LOCAL_TZ),
              channel_user="wa:1")
    state = State(lang=lang)
    titles = [b.title for b in income_choices(ctx, state)]
    for kec in svc.wilayah.kecamatan:
        state.pending = {"options": [n.code for n in svc.wilayah.nagari_in(kec.code)][:2], "kec": kec.code}
        titles += [b.title for b in nagari_choices(ctx, state)][-1:]
    titles += [catalog.text(code, "language.name") for code in svc.rules.languages]
    assert all(len(t) <= BUTTON_TITLE_MAX for t in titles), [t for t in titles if len(t) > BUTTON_TITLE_MAX]
