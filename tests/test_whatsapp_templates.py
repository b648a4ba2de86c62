"""The WhatsApp templates are defined in the project and held to Meta's published rules, in
every language the bot speaks; `python -m bot templates list` shows them and `--json` prints each
as Graph API's create-template body. The rule checker itself is tested on templates Meta
refuses."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.cli import main
from bot.whatsapp.templates import BY_KIND, TEMPLATES, TemplateDef, graph_body, problems, value_problems
from conversations.i18n import Catalog

CATALOG = Catalog.load(("id", "en"))
KINDS = {"reminder", "status_notice", "coverage_ending", "ticket_answer", "officials_notice", "campaign"}


def test_every_kind_the_bot_starts_has_a_template() -> None:
    assert set(BY_KIND) == KINDS
    assert {t.category for t in TEMPLATES if t.kind == "campaign"} == {"MARKETING"}
    assert {t.category for t in TEMPLATES if t.kind != "campaign"} == {"UTILITY"}
    assert len({t.name for t in TEMPLATES}) == len(TEMPLATES)


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.kind)
def test_each_template_meets_metas_rules_in_each_language(template: TemplateDef, lang: str) -> None:
    assert problems(template, CATALOG, lang) == []


@pytest.mark.parametrize("broken", [
    {"name": "Kabar Pendaftaran"},  # capitals and a space
    {"params": ("name",)},  # a placeholder of the text is not a parameter
    {"examples": ("Siti\nRahmah", "SJ-ABC234", "Muaro")},  # a new line in a value
    {"examples": ("Siti    Rahmah", "SJ-ABC234", "Muaro")},  # 4 spaces
    {"buttons": ("template.status_notice.body",)},  # a "title" of 100+ characters
])
def test_the_checker_refuses_what_meta_refuses(broken: dict) -> None:
    template = dataclasses.replace(BY_KIND["status_notice"], **broken)
    assert problems(template, CATALOG, "id")


@pytest.mark.parametrize("body", ["{name} ada kabar tentang pendaftaran Anda di nagari kami hari ini ya",
                                  "Ada kabar tentang pendaftaran Anda di nagari kami hari ini untuk {name}.",
                                  "Ada kabar tentang pendaftaran Anda di nagari kami {name} {reference} {nagari} ya",
                                  "Halo {name}, {reference} {nagari} ok"])
def test_parameters_at_the_edges_side_by_side_or_too_many_are_refused(body: str) -> None:
    catalog = Catalog({lang: {**CATALOG.messages[lang], "template.status_notice.body": body} for lang in ("id", "en")})
    assert problems(BY_KIND["status_notice"], catalog, "id")


def test_values_are_checked_as_meta_checks_them() -> None:
    assert value_problems("Siti Rahmah") == []
    assert value_problems("a\tb") and value_problems("a    b") and value_problems("x" * 61) and value_problems(" ")


def test_the_graph_body_numbers_the_parameters_and_carries_examples_and_buttons() -> None:
    body = graph_body(BY_KIND["campaign"], CATALOG, "en")
    assert body["name"] == "kkbc_masuk_desa" and body["language"] == "en" and body["category"] == "MARKETING"
    text = body["components"][0]["text"]
    assert "{{1}}" in text and "{{2}}" in text and "{name}" not in text
    assert body["components"][0]["example"] == {"body_text": [["Siti Rahmah", "Muaro"]]}
    assert [c["type"] for c in body["components"]] == ["BODY", "FOOTER", "BUTTONS"]
    assert [b["text"] for b in body["components"][2]["buttons"]] == ["Register", "Stop"]


def test_templates_list_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list"]) == 0
    listed = capsys.readouterr().out
    for template in TEMPLATES:
        assert template.name in listed and template.kind in listed
    assert "MARKETING" in listed and "UTILITY" in listed
    assert main(["templates", "list", "--json"]) == 0
    bodies = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(bodies) == len(TEMPLATES) * 2
    assert {(b["name"], b["language"]) for b in bodies} == {(t.name, lang) for t in TEMPLATES for lang in ("id", "en")}
