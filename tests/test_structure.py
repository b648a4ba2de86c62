"""The shape of the house, kept by tests: data flows one way, and nothing depends on import order.

- `conversations/` imports nothing of ours but itself; `storage/` nothing above it; `handlers/`
  nothing from `bot/` (the settings models live in handlers/settings.py).
- No import circle anywhere in bot/, handlers/, storage/ and conversations/ -- counting imports
  inside functions too, which are arrows all the same.
- Every module imports on its own, in a fresh interpreter state: no module works only because
  another one happened to be imported first.
- The routes and the commands are the same whichever modules a test imported: they are listed
  (handlers/router.py, bot/commands.py), not registered by imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("conversations", "storage", "handlers", "bot")
# Which of our packages each package may import (besides itself).
ALLOWED = {
    "conversations": set(),
    "storage": {"conversations"},
    "handlers": {"conversations", "storage"},
    "bot": {"conversations", "storage", "handlers"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            modules[module_name(path)] = path
    return modules


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module of ours `path` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            # The longest known module the name refers to (an attribute import names its module).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = our_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def test_layers_import_only_downwards() -> None:
    wrong = [f"{source} -> {target}" for source, targets in graph().items() for target in targets
             if target.split(".")[0] != source.split(".")[0]
             and target.split(".")[0] not in ALLOWED[source.split(".")[0]]]
    assert not wrong, wrong


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), package inits aside:
    importing a.b imports the package a first, which is no arrow of a.b's own choosing."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


ISOLATED = """
import importlib, json, sys, warnings
from sqlmodel import SQLModel
from sqlmodel.main import default_registry
names = json.loads(sys.argv[1])
ours = ("conversations", "storage", "handlers", "bot", "tests")
failures = {}
warnings.simplefilter("ignore")  # a table class defined again after the reset below
for name in names:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[loaded]
    # The tables our modules define are global to SQLModel: forget them, as a new process would.
    SQLModel.metadata.clear()
    default_registry.dispose()
    default_registry._class_registry.clear()
    try:
        importlib.import_module(name)
    except Exception as problem:  # noqa: BLE001
        failures[name] = f"{type(problem).__name__}: {problem}"
print(json.dumps(failures))
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_on_its_own(package: str) -> None:
    names = [name for name in our_modules() if name.split(".")[0] == package]
    result = subprocess.run([sys.executable, "-c", ISOLATED, json.dumps(names)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_routes_and_commands_are_listed_not_registered_by_imports() -> None:
    from bot.cli import build_parser
    from bot.commands import CHANNELS, SUBCOMMANDS
    from handlers import router

    assert [route.__module__ for route in router.ROUTES] == [
        "handlers.optout", "handlers.campaigns", "handlers.identity", "handlers.officials", "handlers.claims",
        "handlers.handover", "handlers.aftercare",
        "handlers.desk_front", "handlers.inbound"]
    assert set(CHANNELS) == {"tg", "wa"}
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"run", "chat", "simulate", "export", "db", "keys", *SUBCOMMANDS} == set(commands)
