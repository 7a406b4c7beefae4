"""The command line a newcomer meets (issue 34, item 7): `--help` lists every command, every export kind and every
environment variable; every option has its help; hints name the command as it works after `bash scripts/run.sh`
(`.venv/bin/python -m bot …`); every export prints the same one line.

Each check runs the real `python -m bot` in a subprocess, as an operator would (the option walk reads the parser).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
from pathlib import Path

import pytest
from test_cli_errors import bot, make_database

from bot.__main__ import build_parser
from bot.config import Settings
from bot.export import FORMATS

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (
    "run",
    "sandbox",
    "enroll",
    "caregiver-invite",
    "migrate",
    "export",
    "report",
    "backup",
    "demo",
    "simulate",
    "screen",
    "medicines",
    "compile-catalog",
)


def documented_variables() -> set[str]:
    """The variables of docs/configuration.md's table "Every variable the bot reads" (not the tests' own ones)."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text.split("## Every variable the bot reads", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))


def test_help_lists_every_command_export_kind_and_environment_variable(tmp_path: Path) -> None:
    result = bot(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s", text, flags=re.MULTILINE), name
    for kind in ("csv", "fhir", "audit", "alerts", "alerts-fhir", "patients", "messages", *FORMATS):
        assert re.search(rf"(?<![\w-]){re.escape(kind)}(?![\w-])", text.split("export kinds", 1)[1]), kind
    variables = documented_variables() | {field.alias for field in Settings.model_fields.values() if field.alias}
    assert {"TELEGRAM_BOT_TOKEN", "BOT_SITES_FILE", "WEBHOOK_SECRET", "BOT_REPLICA_ID", "BOT_DATA_DIR"} <= variables
    missing = sorted(name for name in variables if not re.search(rf"^\s+{name}\s+\S", text, flags=re.MULTILINE))
    assert missing == [], f"--help does not explain {missing}"
    assert text.startswith("usage: .venv/bin/python -m bot ")


def test_every_export_kind_is_explained_in_the_export_help(tmp_path: Path) -> None:
    result = bot(tmp_path, "export", "--help")
    assert result.returncode == 0, result.stderr
    for kind in FORMATS:
        assert re.search(rf"^\s+{re.escape(kind)}\s+\w", result.stdout, flags=re.MULTILINE), kind


def _options(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _options(child, f"{path} {name}".strip())
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_and_command_has_help() -> None:
    parser = build_parser()
    options = _options(parser)
    assert len(options) >= 20  # the walk reached the subcommands
    undocumented = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, action in options
        if not (action.help or "").strip()
    ]
    assert undocumented == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(COMMANDS)
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    assert all(helps.get(name) for name in COMMANDS), helps


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command: str, tmp_path: Path) -> None:
    result = bot(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: .venv/bin/python -m bot {command}")


def test_hints_name_the_command_that_works_as_printed(tmp_path: Path) -> None:
    result = bot(tmp_path, "screen")
    assert result.returncode == 2
    assert '.venv/bin/python -m bot screen "texte"' in result.stderr
    with socket.socket() as taken:  # a port in use: the sandbox suggests another, as a command to copy
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = bot(tmp_path, "sandbox", "--port", str(port), env={"BOT_DATABASE": "sandbox.sqlite3"})
    assert result.returncode == 2, result.stderr
    assert "try another port: .venv/bin/python -m bot sandbox --port 8081" in result.stderr
    # No printed text names the bare `python -m bot` (a docstring or comment may).
    printed = re.compile(r"""(print|raise \w+|_)\((f?["']).*(?<!/)python -m bot""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "bot").rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if printed.search(line)
    ]
    assert offenders == []


@pytest.mark.sqlite_only(
    "the export child reads the SQLite file given by --database (the line printed is the same on either engine)"
)
def test_every_export_prints_the_same_one_line(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(make_database(database))
    for kind in FORMATS:
        out = tmp_path / f"export-{kind}.out"
        result = bot(tmp_path, "export", "--format", kind, "--out", str(out), "--database", str(database))
        assert result.returncode == 0, (kind, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, (kind, result.stdout)
        unit = "resources" if kind.endswith("fhir") else "rows"
        assert re.fullmatch(rf"Wrote \d+ {unit} to {re.escape(str(out))}\.", lines[0]), (kind, lines[0])
        assert out.exists()
