"""Issue 19's shape, checked on the source: SQL only in `bot/storage`, Telegram only in `bot/telegram`, no import
cycle — and the messenger port's contract kept by its one adapter. Issue 34 (item 3): one-way layers, domain ←
storage ← services ← {scheduling, delivery} ← telegram / sandbox / CLI, every import counted (in functions and under
`TYPE_CHECKING` too), no relative import; each check is shown to fail on a deliberate violation."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot import messenger
from bot.messenger import Messenger, TryLater, Unreachable
from bot.storage.store import Tx
from bot.telegram.messenger import PtbMessenger, translated_errors
from bot.telegram.pacing import RepliesPaused

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bot"

#: Every `Tx` method that takes SQL (`execute`, `execute_count`, `fetch_each`, `fetchone`, `defer`…), read from the
#: class itself so that a new one is covered the day it is added.
TX_SQL_METHODS: tuple[str, ...] = tuple(
    sorted(
        name
        for name, function in inspect.getmembers(Tx, inspect.isfunction)
        if not name.startswith("_") and {"sql", "queries"} & set(inspect.signature(function).parameters)
    )
)
_SQL_NAMES = "|".join(map(re.escape, sorted({*TX_SQL_METHODS, "execute", "fetchall"})))
SQL_CALL = re.compile(rf"\b(?:{_SQL_NAMES})\(")

#: The layers, lowest first. A module may import its own group and the groups of lower layers; never a higher layer,
#: nor another group of its own layer (scheduling and delivery do not know each other). `bot` itself is the package
#: root only. The longest prefix wins: `bot.export.cli` is the command line, the rest of `bot.export` is not.
LAYERS: tuple[dict[str, tuple[str, ...]], ...] = (
    {
        "base": (
            "bot",
            "bot.clock",
            "bot.i18n",
            "bot.resources",
            "bot.commandline",
            "bot.interpreter",
            "bot.logging_setup",
            "bot.plots",
        )
    },
    {"domain": ("bot.domain", "bot.endpoints", "bot.medicines")},  # bot.medicines: pure decode, BDPM, matching
    {"storage": ("bot.storage", "bot.config", "bot.output_files", "bot.backup")},
    {"ports": ("bot.messenger",)},  # what the services send through; knows the domain only
    {"services": ("bot.services",)},
    {"scheduling": ("bot.scheduling",), "delivery": ("bot.delivery",), "export": ("bot.export",)},
    {"report": ("bot.report",)},
    {"bootstrap": ("bot.bootstrap",)},  # the composition root: builds Services, says what runs on the clock
    {"telegram": ("bot.telegram",), "standin": ("bot.standin",)},
    {"sandbox": ("bot.sandbox",)},
    {"cli": ("bot.__main__", "bot.screen_cli", "bot.export.cli", "bot.catalog", "bot.medicines.cli")},
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, *, inside_functions: bool) -> set[str]:
    """Modules imported by `path` (absolute imports; `TYPE_CHECKING` blocks left out: they never run)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not inside_functions:
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names.add(child.module)
                names.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in graph:
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _sql_outside_storage(sources: dict[str, str]) -> list[str]:
    """`path:line` of every call to a `Tx` SQL method (or a raw cursor's) outside `bot/storage/`."""
    return [
        f"{path}:{number}"
        for path, text in sorted(sources.items())
        if not path.startswith("bot/storage/")
        for number, line in enumerate(text.splitlines(), 1)
        if SQL_CALL.search(line)
    ]


def test_every_sql_statement_is_in_bot_storage() -> None:
    """Issue 19's check (`grep -rn "execute(\\|fetchone(\\|fetchall(" bot | grep -v bot/storage`), with every
    method of `Tx` that takes SQL."""
    assert {"execute", "execute_count", "fetch_each", "fetchone", "defer"} <= set(TX_SQL_METHODS)
    sources = {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}
    assert _sql_outside_storage(sources) == []


@pytest.mark.parametrize("call", ["execute", "execute_count", "fetch_each", "fetchone", "fetchall", "defer"])
def test_the_sql_check_finds_sql_outside_storage(call: str) -> None:
    line = f'    await tx.{call}("UPDATE patients SET status = ?", ("withdrawn",))'
    assert _sql_outside_storage({"bot/services/x.py": f"x = 1\n{line}\n", "bot/storage/y.py": line}) == [
        "bot/services/x.py:2"
    ]


# ---- one-way layers (issue 34, item 3) -------------------------------------------------------------------------------


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, group) of a module of `bot`, by its longest listed prefix; None when no layer lists it."""
    best: tuple[int, int, str] | None = None
    for index, groups in enumerate(LAYERS):
        for group, prefixes in groups.items():
            for prefix in prefixes:
                matches = module == prefix or (prefix != "bot" and module.startswith(prefix + "."))
                if matches and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), index, group)
    return None if best is None else (best[1], best[2])


def _every_import(source: str) -> list[tuple[int, str, str, int]]:
    """(line, imported module, `from` target, relative level) of every import: module level, in functions and in
    `TYPE_CHECKING` blocks alike (a type is a dependency too; the messenger port's hidden one was one)."""
    found: list[tuple[int, str, str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "", 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, node.module or "", alias.name, node.level) for alias in node.names]
    return found


def layer_violations(sources: dict[str, str]) -> list[str]:
    """Every import of `bot` that goes up a layer or sideways to another group, every relative import, and every
    module that no layer lists; `sources` maps module names (`bot.services.digest`) to their source."""
    problems: list[str] = []
    for name, source in sorted(sources.items()):
        mine = layer_of(name)
        if mine is None:
            problems.append(f"{name}: in no layer (add it to LAYERS in tests/test_architecture.py)")
            continue
        for line, module, member, level in _every_import(source):
            if level:
                problems.append(f"{name}:{line}: relative import (write `from bot.… import …`)")
                continue
            if module != "bot" and not module.startswith("bot."):
                continue
            target = f"{module}.{member}" if member and f"{module}.{member}" in sources else module
            theirs = layer_of(target)
            if theirs is None or theirs[1] == mine[1]:
                continue
            if theirs[0] >= mine[0]:
                way = "sideways" if theirs[0] == mine[0] else "upward"
                problems.append(f"{name}:{line}: {way} import of {target} ({mine[1]} → {theirs[1]})")
    return list(dict.fromkeys(problems))  # `from m import a, b` is one import


def _sources() -> dict[str, str]:
    return {name: path.read_text(encoding="utf-8") for name, path in _modules().items()}


def test_imports_go_one_way_down_the_layers() -> None:
    """domain ← storage ← services ← {scheduling, delivery} ← telegram / sandbox / CLI, every import counted."""
    sources = _sources()
    assert len(sources) > 100
    assert layer_violations(sources) == []


#: A clean tree in miniature: each synthetic module imports only its own layer or lower ones.
CLEAN = {
    "bot.domain.a": "from bot.clock import Clock\n",
    "bot.storage.b": "from bot.domain import a\n",
    "bot.services.c": "from bot.storage.b import x\nfrom bot.messenger import Messenger\n",
    "bot.delivery.d": "from bot.services import c\n",
    "bot.scheduling.e": "import bot.services.c\n",
    "bot.telegram.f": "from bot.delivery import d\nfrom bot.scheduling.e import y\n",
    "bot.__main__": "def main():\n    from bot.telegram import f\n",
}


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("bot.services.c", "from bot.delivery.d import send\n", "bot.services.c:1: upward import of bot.delivery.d"),
        ("bot.services.c", "from bot.scheduling import e\n", "bot.services.c:1: upward import of bot.scheduling.e"),
        (
            "bot.domain.a",
            "def f():\n    from bot.storage.b import x\n",
            "bot.domain.a:2: upward import of bot.storage.b",
        ),
        (
            "bot.messenger",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.services.c import Prompt\n",
            "bot.messenger:3: upward import of bot.services.c",
        ),
        ("bot.scheduling.e", "from bot.delivery import d\n", "bot.scheduling.e:1: sideways import of bot.delivery.d"),
        ("bot.export.g", "def f():\n    import bot.report.h\n", "bot.export.g:2: upward import of bot.report.h"),
        ("bot.services.c", "from bot.telegram.f import handler\n", "bot.services.c:1: upward import of bot.telegram.f"),
        ("bot.storage.b", "from .c import x\n", "bot.storage.b:1: relative import"),
        ("bot.newthing", "x = 1\n", "bot.newthing: in no layer"),
    ],
    ids=[
        "services→delivery",
        "services→scheduling",
        "domain→storage in a function",
        "port→service type",
        "scheduling→delivery",
        "export→report in a function",
        "services→telegram",
        "relative",
        "unlisted",
    ],
)
def test_the_layer_check_reports_a_deliberate_violation(module: str, source: str, expected: str) -> None:
    assert layer_violations(CLEAN) == []
    found = layer_violations({**CLEAN, "bot.report.h": "", module: source})
    assert len(found) == 1 and found[0].startswith(expected), found


def test_the_named_layers_are_in_the_issues_order() -> None:
    order = [
        layer_of(name)
        for name in (
            "bot.domain.models",
            "bot.storage.store",
            "bot.services.answering",
            "bot.scheduling.dispatcher",
            "bot.telegram.app",
            "bot.__main__",
        )
    ]
    assert all(found is not None for found in order)
    assert [found[0] for found in order if found] == sorted(found[0] for found in order if found)
    assert layer_of("bot.delivery.worker") == (layer_of("bot.scheduling.dispatcher") or (0, ""))[:1] + ("delivery",)
    assert layer_of("bot.export.cli") == layer_of("bot.__main__")[:1] + ("cli",)  # type: ignore[index]


def test_no_module_outside_bot_telegram_imports_telegram() -> None:
    offenders = sorted(
        name
        for name, path in _modules().items()
        if not name.startswith("bot.telegram")
        and any(
            imported == "telegram" or imported.startswith("telegram.")
            for imported in _imports(path, inside_functions=True)
        )
    )
    assert offenders == []


@pytest.mark.parametrize("inside_functions", [False, True], ids=["module level", "with imports inside functions"])
def test_there_is_no_import_cycle(inside_functions: bool) -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(path, inside_functions=inside_functions) if m in modules} - {name}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module cycle and a longer one are found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_ptb_adapter_offers_every_method_of_the_port() -> None:
    port = {name for name, _ in inspect.getmembers(Messenger, inspect.isfunction) if not name.startswith("_")}
    assert port == {"send_text", "send_question", "edit", "copy"}
    for name in port:
        assert (
            inspect.signature(getattr(PtbMessenger, name)).parameters.keys()
            == inspect.signature(getattr(Messenger, name)).parameters.keys()
        ), name


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), Unreachable),
        (RetryAfter(7), TryLater),
        (BadRequest("Bad Request: message to edit not found"), TryLater),
        (NetworkError("Internal Server Error"), TryLater),
        (TimedOut(), TryLater),
        (RepliesPaused(), TryLater),
    ],
)
def test_telegram_errors_become_the_ports_two_and_keep_their_cause(error: Exception, expected: type) -> None:
    with pytest.raises(expected) as caught, translated_errors():
        raise error
    assert caught.value.__cause__ is error
    if isinstance(error, RetryAfter):
        assert caught.value.seconds == 7 and not caught.value.refused
    if isinstance(error, BadRequest):
        assert caught.value.seconds is None and caught.value.refused
    if isinstance(error, (NetworkError, TimedOut)) and not isinstance(error, BadRequest):
        assert caught.value.seconds is None and not caught.value.refused


def test_priority_is_set_for_a_block_and_restored_after() -> None:
    assert messenger.current_priority.get() is messenger.Priority.REPLY
    with messenger.sending_as(messenger.Priority.BULK):
        assert messenger.current_priority.get() is messenger.Priority.BULK
        with messenger.sending_as(messenger.Priority.URGENT):
            assert messenger.current_priority.get() is messenger.Priority.URGENT
        assert messenger.current_priority.get() is messenger.Priority.BULK
    assert messenger.current_priority.get() is messenger.Priority.REPLY
