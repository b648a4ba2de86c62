"""Our code reaches libraries through their public APIs only.

A library's private parts (names starting with "_") change without notice between releases:
storage/hot.py once ran the turn's statements through SQLAlchemy's compiler internals and the
asyncpg adapter's transaction, mutex and statement cache, and storage/inline_sqlite.py replaced
aiosqlite's private queue and runner -- any release could have broken every turn. This test
reads bot/, handlers/, conversations/, storage/ and bench/ and fails on:

- an import of a library's private module or name: `import x._y`, `from x._y import z`,
  `from x import _y`;
- `<expression>._name` (private: a leading underscore, not a dunder), and getattr, setattr,
  hasattr or delattr with such a name written out, unless the expression is known to be ours:
  `self` or `cls` in a class of ours, a module, class or name imported from our packages or
  defined in the module, a name assigned from `OurClass(...)` (`cls(...)` included), or a
  parameter annotated with one of our classes. Anything else may come from a library (the
  result of a call, an attribute, an unannotated parameter), so it counts;
- a class of ours that subclasses a library's class and defines, reads or writes a private
  member of that library class (an attribute of the class, or assigned to `self` in its
  source) -- on `self` or on an instance of it elsewhere: overriding or reading a base's
  internals is using them.

The standard library documents namedtuple's `_replace`, `_asdict`, `_fields`, `_make` and
`_field_defaults` as public despite the underscore: they are not private. ALLOWED lists what
remains, each entry with the reason no public way exists; it is empty, and should stay short.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "handlers", "conversations", "storage", "bench")
OURS = frozenset({"bot", "handlers", "conversations", "storage", "bench", "tests"})
PUBLIC_UNDERSCORED = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
NAME_FUNCTIONS = frozenset({"getattr", "setattr", "hasattr", "delattr"})

# (file, what is reached) -> why no public way exists. Keep it short: every entry is a debt.
ALLOWED: dict[tuple[str, str], str] = {}

# A name's origin, as far as the source tells: one of our classes (module, class name), or
# something else of ours (a module, a function, a constant).
OURS_THING = ("", "")
Origin = tuple[str, str]


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) \
        and name not in PUBLIC_UNDERSCORED


def ours_module(module: str) -> bool:
    return module.split(".")[0] in OURS


def third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in OURS and top not in sys.stdlib_module_names and top != "builtins"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@functools.cache
def library_private_members(module: str, name: str) -> frozenset[str]:
    """The private members of the third-party classes our class `module.name` derives from."""
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return frozenset()
    if not isinstance(cls, type):
        return frozenset()
    found: set[str] = set()
    for base in cls.__mro__[1:]:
        if third_party(base.__module__):
            found |= private_members_of(base)
    return frozenset(found)


@functools.cache
def private_members_of(base: type) -> frozenset[str]:
    found = {name for name in vars(base) if private(name)}
    try:
        source = ast.parse(inspect.getsource(base).lstrip())
    except (OSError, TypeError, SyntaxError):
        return frozenset(found)
    found |= {node.attr for node in ast.walk(source) if isinstance(node, ast.Attribute)
              and isinstance(node.value, ast.Name) and node.value.id == "self" and private(node.attr)}
    return frozenset(found)


class Scanner:
    """The findings of one module (see the module's docstring)."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        self.module = ".".join(Path(self.path).with_suffix("").parts).removesuffix(".__init__")
        self.tree = ast.parse(source)
        self.findings: list[Finding] = []
        # Names bound to a module of ours (`import storage.hot`, `from storage import hot`).
        self.modules: dict[str, str] = {}

    def add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def scan(self) -> list[Finding]:
        self.imports()
        scope = self.module_scope()
        for statement in self.tree.body:
            self.statement(statement, scope)
        return self.findings

    # -- names ---------------------------------------------------------------------------------
    def module_scope(self) -> dict[str, Origin]:
        scope: dict[str, Origin] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef):
                scope[node.name] = (self.module, node.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if ours_module(alias.name):
                        bound = alias.asname or alias.name.split(".")[0]
                        scope[bound] = OURS_THING
                        self.modules[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and (node.level or ours_module(node.module or "")):
                base = self.absolute(node)
                for alias in node.names:
                    bound = alias.asname or alias.name
                    scope[bound] = (base, alias.name) if alias.name[:1].isupper() else OURS_THING
                    if alias.name[:1].islower():
                        self.modules[bound] = f"{base}.{alias.name}"
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                made = self.made(node.value, scope)
                for target in node.targets:
                    if isinstance(target, ast.Name) and made is not None:
                        scope[target.id] = made
        return scope

    def absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = self.module.split(".")[: len(self.module.split(".")) - node.level]
        return ".".join(package + ([node.module] if node.module else []))

    def class_of(self, node: ast.expr | None, scope: dict[str, Origin]) -> Origin | None:
        """The class of ours an expression names (`Unit`, `hot.Unit`), if it names one."""
        if isinstance(node, ast.Name):
            origin = scope.get(node.id)
            return origin if origin and origin != OURS_THING else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.modules \
                and node.attr[:1].isupper():
            return (self.modules[node.value.id], node.attr)
        return None

    def made(self, value: ast.expr | None, scope: dict[str, Origin]) -> Origin | None:
        """`OurClass(...)` or `cls(...)` (possibly awaited): the class it makes."""
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call):
            return self.class_of(value.func, scope)
        return None

    def annotated(self, node: ast.expr | None, scope: dict[str, Origin]) -> Origin | None:
        """`X`, `mod.X`, `"X"`, `X | None`, `Optional[X]` where X is a class of ours."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.annotated(ast.parse(node.value, mode="eval").body, scope)
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [p for p in (node.left, node.right) if not (isinstance(p, ast.Constant) and p.value is None)]
            found = {self.annotated(p, scope) for p in parts}
            return found.pop() if len(found) == 1 else None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Optional":
            return self.annotated(node.slice, scope)
        return self.class_of(node, scope)

    # -- imports -------------------------------------------------------------------------------
    def imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not ours_module(alias.name) and any(private(part) for part in alias.name.split(".")):
                        self.add(node, f"import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not node.level and not ours_module(node.module or ""):
                module = node.module or ""
                if any(private(part) for part in module.split(".")) or any(private(a.name) for a in node.names):
                    self.add(node, f"from {module} import {', '.join(a.name for a in node.names)}")

    # -- scopes --------------------------------------------------------------------------------
    def statement(self, node: ast.stmt, scope: dict[str, Origin]) -> None:
        if isinstance(node, ast.ClassDef):
            self.class_(node, scope)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(node, scope, None)
        else:
            self.expressions(node, scope)

    def class_(self, node: ast.ClassDef, scope: dict[str, Origin]) -> None:
        for expression in [*node.bases, *node.keywords, *node.decorator_list]:
            self.expressions(expression, scope)
        me = (self.module, node.name)
        inherited = library_private_members(*me) if any(
            self.class_of(base, scope) is None for base in node.bases) else frozenset()
        for item in node.body:
            defined = [item.name] if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else [
                target.id for target in ast.walk(item) if isinstance(target, ast.Name)
                and isinstance(target.ctx, ast.Store)] if isinstance(item, (ast.Assign, ast.AnnAssign)) else []
            for name in defined:
                if name in inherited:
                    self.add(item, f"{node.name}.{name} overrides a private member of a library base class")
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = item.args.posonlyargs + item.args.args
                static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in item.decorator_list)
                self.function(item, scope, arguments[0].arg if arguments and not static else None, me)
            elif isinstance(item, ast.ClassDef):
                self.class_(item, scope)
            else:
                self.expressions(item, scope)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, outer: dict[str, Origin],
                 self_name: str | None, owner: Origin | None = None) -> None:
        scope = dict(outer)
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                 *([arguments.vararg] if arguments.vararg else []), *([arguments.kwarg] if arguments.kwarg else [])]
        for argument in every:
            origin = owner if argument.arg == self_name else self.annotated(argument.annotation, outer)
            if origin is not None:
                scope[argument.arg] = origin
            else:
                scope.pop(argument.arg, None)
        if not isinstance(node, ast.Lambda):
            for expression in [*node.decorator_list, *(a.annotation for a in every if a.annotation is not None),
                               *([node.returns] if node.returns else [])]:
                self.expressions(expression, outer)
        body = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
        # A name assigned in the function is ours only when every assignment makes one of ours.
        assigned: dict[str, Origin | None] = {}
        for child in own_nodes(body):
            if isinstance(child, (ast.Assign, ast.AnnAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                made = self.made(child.value, scope) or (
                    self.annotated(child.annotation, scope) if isinstance(child, ast.AnnAssign) else None)
                for target in targets:
                    if isinstance(target, ast.Name):
                        before = assigned.get(target.id, made)
                        assigned[target.id] = made if before == made else None
                    else:
                        for name in bound_names(target):
                            assigned[name] = None
            elif isinstance(child, (ast.For, ast.AsyncFor, ast.NamedExpr, ast.With, ast.AsyncWith)):
                # Bound by a loop, a with or a walrus: of unknown origin.
                targets = ([child.target] if isinstance(child, (ast.For, ast.AsyncFor, ast.NamedExpr))
                           else [item.optional_vars for item in child.items if item.optional_vars is not None])
                for target in targets:
                    for name in bound_names(target):
                        assigned[name] = None
        for name, origin in assigned.items():
            if origin is None:
                scope.pop(name, None)
            else:
                scope[name] = origin
        for statement in body:
            self.statement(statement, scope)

    def expressions(self, node: ast.AST, scope: dict[str, Origin]) -> None:
        """Private attributes reached in `node` (lambdas and nested definitions get scopes)."""
        stack: list[ast.AST] = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Lambda):
                self.function(current, scope, None)
                continue
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(current, scope, None)
                continue
            if isinstance(current, ast.ClassDef):
                self.class_(current, scope)
                continue
            if isinstance(current, ast.Attribute) and private(current.attr):
                self.attribute(current, current.value, current.attr, scope)
            elif isinstance(current, ast.Call) and isinstance(current.func, ast.Name) \
                    and current.func.id in NAME_FUNCTIONS and len(current.args) >= 2 \
                    and isinstance(current.args[1], ast.Constant) and isinstance(current.args[1].value, str) \
                    and private(current.args[1].value):
                self.attribute(current, current.args[0], current.args[1].value, scope)
            stack.extend(ast.iter_child_nodes(current))

    def attribute(self, node: ast.AST, owner: ast.expr, name: str, scope: dict[str, Origin]) -> None:
        origin = scope.get(owner.id) if isinstance(owner, ast.Name) else None
        if origin is None:
            self.add(node, f"{ast.unparse(owner)}.{name}")
        elif origin != OURS_THING and name in library_private_members(*origin):
            self.add(node, f"{ast.unparse(owner)}.{name} is a private member of a library base class")


def bound_names(target: ast.expr) -> list[str]:
    """The names an assignment target binds (`a`, `a, (b, *c)`; not `a.b` or `a[b]`)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in bound_names(element)]
    if isinstance(target, ast.Starred):
        return bound_names(target.value)
    return []


def own_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of `body`, not descending into nested functions, classes and lambdas."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(child for child in ast.iter_child_nodes(node)
                     if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)))
    return found


def findings_of(path: Path, source: str | None = None) -> list[Finding]:
    return Scanner(path, source if source is not None else path.read_text(encoding="utf-8")).scan()


def scanned_files() -> list[Path]:
    return [path for package in SCANNED for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts]


def key(finding: Finding) -> tuple[str, str]:
    return finding.path, finding.what.split(" is a private")[0]


def test_no_library_private_parts_in_our_code() -> None:
    found = [finding for path in scanned_files() for finding in findings_of(path)]
    wrong = [str(f) for f in found if key(f) not in ALLOWED]
    assert not wrong, "private parts of libraries used (see tests/test_public_api.py):\n" + "\n".join(wrong)


def test_every_allowed_entry_is_still_needed_and_has_a_reason() -> None:
    found = {key(f) for path in scanned_files() for f in findings_of(path)}
    assert all(reason.strip() for reason in ALLOWED.values())
    assert not set(ALLOWED) - found, "ALLOWED entries nothing uses any more"


# What the check must catch: what storage/hot.py and storage/inline_sqlite.py once did.
CAUGHT = '''
import aiosqlite
from sqlalchemy.util._collections import LRUCache
from sqlalchemy import _private_name
from storage import hot

class Inline(aiosqlite.Connection):
    def __init__(self, connector):
        super().__init__(connector, iter_chunk_size=64)
        self._tx = None

    async def _execute(self, fn):
        return fn()

class Prepared:
    def compile_it(self, dialect):
        compiled = self.statement.compile(dialect=dialect)
        return compiled._bind_processors, compiled._result_columns

async def run(adapted, driver: Inline, sync):
    if sync._has_events or sync.engine._has_events:
        pass
    if hasattr(adapted, "_start_transaction"):
        await adapted._start_transaction()
    return driver._connection, hot._OURS_TO_USE
'''

FINE = '''
from storage.hot import Unit
from urllib.parse import urlparse

class Mine:
    def __init__(self):
        self._secret = 1

    @classmethod
    def make(cls):
        made = cls()
        return made._secret

def use(unit: Unit, other: "Unit | None", url: str):
    mine = Mine()
    return mine._secret, unit._private, other._private, urlparse(url)._replace(path="/")
'''


@pytest.fixture
def example_module() -> Any:
    """storage.example, holding CAUGHT's subclass of aiosqlite's Connection (the check imports
    a class to learn its library bases' private members)."""
    aiosqlite = pytest.importorskip("aiosqlite")
    namespace: dict[str, Any] = {"aiosqlite": aiosqlite}
    exec(compile("class Inline(aiosqlite.Connection):\n    pass\n", "example", "exec"), namespace)  # noqa: S102
    module = type(sys)("storage.example")
    module.Inline = namespace["Inline"]  # type: ignore[attr-defined]
    sys.modules["storage.example"] = module
    library_private_members.cache_clear()
    yield module
    del sys.modules["storage.example"]
    library_private_members.cache_clear()


def test_the_check_catches_what_the_hot_path_once_did(example_module: Any) -> None:
    found = {f.what for f in findings_of(ROOT / "storage" / "example.py", CAUGHT)}
    for expected in ("from sqlalchemy.util._collections import LRUCache", "from sqlalchemy import _private_name",
                     "compiled._bind_processors", "compiled._result_columns", "sync._has_events",
                     "sync.engine._has_events", "adapted._start_transaction",
                     "Inline._execute overrides a private member of a library base class",
                     "self._tx is a private member of a library base class",
                     "driver._connection is a private member of a library base class"):
        assert expected in found, (expected, found)
    assert not any("_OURS_TO_USE" in what for what in found)


def test_the_check_leaves_our_own_private_names_alone() -> None:
    assert findings_of(ROOT / "storage" / "example.py", FINE) == []
