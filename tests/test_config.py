"""A wrong value in config.yaml (or the environment) stops the program with a message that names
the key and what is wrong; the shipped config.yaml is valid and matches the programme's facts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.config import DEFAULT_CONFIG, ConfigError, Environment, load_config


def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_true_to_the_domain() -> None:
    config = load_config(DEFAULT_CONFIG)
    rules = config.flow_rules()
    assert rules.nik_prefix == "1303" and config.regency.kemendagri_code == "13.03"
    assert (rules.age.min, rules.age.max) == (15, 65)
    assert rules.conversation.draft_expiry_days == 30 and rules.conversation.max_failures == 3
    lowest = rules.contributions.for_income(1_000_000, date(2026, 11, 28))
    assert (lowest.income_base, lowest.monthly) == (1_000_000, 16_800)
    assert [c.id for c in rules.categories][-1] == "lainnya" and len(rules.categories) == 10


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize("dotted, value, named", [
    ("age.max", 10, "age"),                                   # below age.min
    ("age.max", "sixty", "age.max"),
    ("conversation.max_failures", 0, "conversation.max_failures"),
    ("conversation.draft_expiry_days", -1, "conversation.draft_expiry_days"),
    ("regency.nik_prefix", "13", "regency.nik_prefix"),
    ("regency.kemendagri_code", "1303", "regency.kemendagri_code"),
    ("retention_years", 0, "retention_years"),
    ("default_language", "fr", "default_language"),
    ("languages", ["id", "fr"], "languages"),
    ("income_choices", [], "income_choices"),
    ("contributions.0.jkm_flat", -5, "contributions.0.jkm_flat"),
    ("contributions.0.brackets", [{"up_to": 2_000_000, "base": 1}, {"up_to": 1_000_000, "base": 2},
                                  {"up_to": None, "base": 3}], "contributions.0.brackets"),
    ("categories.0.id", "Petani Sawah", "categories.0.id"),
    ("categories.0.id_title", "X" * 40, "categories.0.id_title"),
    ("help.default", "", "help.default"),
    ("age.maximum", 70, "age.maximum"),                        # a misspelt key is not ignored
])
def test_a_wrong_value_names_its_key(tmp_path: Path, dotted: str, value: Any, named: str) -> None:
    data = shipped()
    set_key(data, dotted, value)
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, data))
    message = str(raised.value.code)
    assert message.startswith("Invalid configuration in ") and str(tmp_path) in message
    assert named in message.split(":", 1)[1], message


def test_missing_other_category_is_named(tmp_path: Path) -> None:
    data = shipped()
    data["categories"] = [c for c in data["categories"] if c["id"] != "lainnya"]
    with pytest.raises(ConfigError, match="categories: the 'lainnya'"):
        load_config(write(tmp_path, data))


def test_missing_section_is_named(tmp_path: Path) -> None:
    data = shipped()
    del data["help"]
    with pytest.raises(ConfigError, match=r"help: Field required"):
        load_config(write(tmp_path, data))


def test_missing_data_file_is_named(tmp_path: Path) -> None:
    data = shipped()
    data["data"]["wilayah_csv"] = "data/nowhere.csv"
    with pytest.raises(ConfigError, match=r"data: file not found: data/nowhere.csv"):
        load_config(write(tmp_path, data))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("age: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    broken.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(broken)


def test_a_wrong_environment_value_is_named() -> None:
    with pytest.raises(ConfigError, match="port"):
        Environment.from_env({"PORT": "eighty"})


def test_the_command_line_stops_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = shipped()
    data["age"]["min"] = -3
    path = write(tmp_path, data)
    code = main(["export", "--config", str(path), "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "age.min" in err and "greater than or equal to 0" in err
    assert not (tmp_path / "x.sqlite3").exists()  # stopped before touching anything
