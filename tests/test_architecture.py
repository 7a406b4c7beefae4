"""Issue 19's shape, checked on the source: SQL only in `bot/storage`, Telegram only in `bot/telegram`, no import
cycle — and the messenger port's contract kept by its one adapter."""

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
from bot.telegram.messenger import PtbMessenger, translated_errors
from bot.telegram.pacing import RepliesPaused

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bot"
SQL_CALL = re.compile(r"execute\(|fetchone\(|fetchall\(")


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


def test_every_sql_statement_is_in_bot_storage() -> None:
    """The issue's own check: `grep -rn "execute(\\|fetchone(\\|fetchall(" bot --include=*.py | grep -v bot/storage`."""
    outside = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in PACKAGE.rglob("*.py") if "storage" not in path.relative_to(PACKAGE).parts[:1]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if SQL_CALL.search(line)
    ]
    assert outside == []


def test_no_module_outside_bot_telegram_imports_telegram() -> None:
    offenders = sorted(
        name for name, path in _modules().items()
        if not name.startswith("bot.telegram")
        and any(imported == "telegram" or imported.startswith("telegram.")
                for imported in _imports(path, inside_functions=True))
    )
    assert offenders == []


@pytest.mark.parametrize("inside_functions", [False, True], ids=["module level", "with imports inside functions"])
def test_there_is_no_import_cycle(inside_functions: bool) -> None:
    modules = _modules()
    graph = {name: {m for m in _imports(path, inside_functions=inside_functions) if m in modules} - {name}
             for name, path in modules.items()}
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
        assert inspect.signature(getattr(PtbMessenger, name)).parameters.keys() == \
            inspect.signature(getattr(Messenger, name)).parameters.keys(), name


@pytest.mark.parametrize(("error", "expected"), [
    (Forbidden("Forbidden: bot was blocked by the user"), Unreachable),
    (RetryAfter(7), TryLater),
    (BadRequest("Bad Request: message to edit not found"), TryLater),
    (NetworkError("Internal Server Error"), TryLater),
    (TimedOut(), TryLater),
    (RepliesPaused(), TryLater),
])
def test_telegram_errors_become_the_ports_two_and_keep_their_cause(error: Exception, expected: type) -> None:
    with pytest.raises(expected) as caught:
        with translated_errors():
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
