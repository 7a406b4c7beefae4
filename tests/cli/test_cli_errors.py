"""The command line fails with one English sentence naming the variable or option, exit code 2, never a traceback
(issue #20, "Errors and CLI"); a corrupt database ends start-up instead of hanging it (issue #21, item 4); no
output file is ever written over the database or its side files, nor over an existing file without --force
(item 6); the database, its side files, its folder and backups are private whatever the umask (item 9).

Each case runs the real `python -m bot` in a subprocess, as an operator would.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pg_support
import pytest
from harness import TOKEN

from bot.backup import backup
from bot.clock import VirtualClock
from bot.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
IMPOSSIBLE = "/proc/nope/bot.sqlite3"  # /proc refuses new folders, even to root
# What a real deployment has with a real token (issue 32): its own sites file, no example site in it.
DEPLOYMENT_SITES = Path(__file__).resolve().parents[1] / "data" / "sites_deployment.yaml"
WITH_TOKEN = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "CLINICIAN_CHAT_ID": "-100123",
    "CLINICIAN_USER_IDS": "42",
    "BOT_SITES_FILE": str(DEPLOYMENT_SITES),
}


def bot(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m bot …` with only the given settings (none inherited from the developer's environment)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_", "WEBHOOK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit 2, one line on stderr that names every one of `names`, no traceback; return the line."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def make_database(path: Path) -> None:
    """A real database with the schema and one enrolled patient."""
    from bot.domain.enrolment import parse_enrolment
    from bot.services.enrolment import enroll

    clock = VirtualClock(datetime(2027, 3, 1, 9, tzinfo=UTC))
    store = await Store.open(path, clock)
    try:
        await enroll(store, clock, parse_enrolment(["P-001", "2027-03-03"], clock.now().date()), actor="test")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("run",), WITH_TOKEN),
        (("migrate",), {}),
        (("enroll", "P-001", "2027-03-03", "--bot-username", "spinal_bot"), {}),
    ],
    ids=["run", "migrate", "enroll"],
)
def test_an_impossible_bot_database_is_one_sentence_naming_it(
    args: tuple[str, ...], env: dict[str, str], tmp_path: Path
) -> None:
    result = bot(tmp_path, *args, env={**env, "BOT_DATABASE": IMPOSSIBLE})
    assert_one_sentence(result, "BOT_DATABASE", IMPOSSIBLE)


@pytest.mark.parametrize(
    "command", [("export", "--format", "csv", "--out", "x.csv"), ("report", "--out", "r")], ids=["export", "report"]
)
def test_export_and_report_name_bot_database_or_the_database_option(command: tuple[str, ...], tmp_path: Path) -> None:
    assert_one_sentence(bot(tmp_path, *command, env={"BOT_DATABASE": IMPOSSIBLE}), "BOT_DATABASE", IMPOSSIBLE)
    assert_one_sentence(bot(tmp_path, *command, "--database", "missing.sqlite3"), "--database", "missing.sqlite3")


def test_a_folder_as_bot_database_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    line = assert_one_sentence(bot(tmp_path, "migrate", env={"BOT_DATABASE": "data"}), "BOT_DATABASE")
    assert "folder" in line


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 50, b"SQLite format 3\x00" + b"\x07" * 8000],
    ids=["text", "corrupt-after-header"],
)
@pytest.mark.parametrize("command", ["run", "migrate"])
def test_a_corrupt_database_ends_start_up_with_one_sentence_instead_of_hanging(
    content: bytes, command: str, tmp_path: Path
) -> None:
    (tmp_path / "bot.sqlite3").write_bytes(content)
    # Before the fix `migrate` printed a traceback and never exited (the connection's thread was left running).
    result = bot(tmp_path, command, env={**WITH_TOKEN, "BOT_DATABASE": "bot.sqlite3"}, timeout=30)
    assert_one_sentence(result, "BOT_DATABASE", "bot.sqlite3")
    assert (tmp_path / "bot.sqlite3").read_bytes() == content


def test_demo_with_an_impossible_out_is_one_sentence(tmp_path: Path) -> None:
    assert_one_sentence(bot(tmp_path, "demo", "--out", "/proc/nope"), "--out", "/proc/nope")


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_bot_tick_seconds_out_of_range_is_a_plain_sentence(value: str, tmp_path: Path) -> None:
    line = assert_one_sentence(bot(tmp_path, "migrate", env={"BOT_TICK_SECONDS": value}), "BOT_TICK_SECONDS")
    assert "greater than 0" in line and "Input should" not in line


def test_enroll_checks_its_arguments_before_creating_any_database(tmp_path: Path) -> None:
    env = {"BOT_DATABASE": "data/bot.sqlite3"}
    line = assert_one_sentence(bot(tmp_path, "enroll", "P-001", "2027-13-03", "--bot-username", "spinal_bot", env=env))
    assert line.startswith("The radiotherapy start date"), line  # English, like the rest of the command line
    line = assert_one_sentence(bot(tmp_path, "enroll", "P-001", "2027-03-03", env=env), "--bot-username")
    assert_one_sentence(
        bot(tmp_path, "enroll", "P-001", "2027-03-03", "--bot-username", "no spaces", env=env), "--bot-username"
    )
    assert not (tmp_path / "data").exists()


def test_enroll_prints_a_usable_link(tmp_path: Path) -> None:
    result = bot(
        tmp_path,
        "enroll",
        "P-001",
        "2027-03-03",
        "--bot-username",
        "@spinal_bot",
        env={"BOT_DATABASE": "data/bot.sqlite3"},
    )
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith("https://t.me/spinal_bot?start=") and len(link) > len("https://t.me/spinal_bot?start=") + 10


@pytest.mark.sqlite_only("the database file and its -wal/-shm side files are what the export must not overwrite")
@pytest.mark.parametrize("target", ["bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm", "./sub/../bot.sqlite3"])
async def test_an_export_never_writes_over_the_database_or_its_side_files(target: str, tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    await make_database(database)
    (tmp_path / "sub").mkdir()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").write_bytes(b"side file")
    before = {p.name: digest(p) for p in tmp_path.glob("bot.sqlite3*")}
    for command in (
        ("export", "--format", "csv", "--out", target, "--force"),
        ("report", "--out", ".", "--force") if target == "bot.sqlite3" else None,
    ):
        if command is None:
            continue
        env = {"BOT_DATABASE": "bot.sqlite3"}
        if command[0] == "report":  # the report writes report.csv: make that name the database
            env = {"BOT_DATABASE": "report.csv"}
            os.replace(database, tmp_path / "report.csv")
            result = bot(tmp_path, *command, env=env)
            os.replace(tmp_path / "report.csv", database)
        else:
            result = bot(tmp_path, *command, env=env)
        line = assert_one_sentence(result)
        assert "database" in line
    assert {p.name: digest(p) for p in tmp_path.glob("bot.sqlite3*")} == before


async def test_an_existing_output_file_needs_force(tmp_path: Path) -> None:
    await make_database(tmp_path / "bot.sqlite3")
    env = {"BOT_DATABASE": pg_support.database_setting(tmp_path / "bot.sqlite3", otherwise="bot.sqlite3")}
    (tmp_path / "answers.csv").write_text("a statistician's file\n")
    assert_one_sentence(bot(tmp_path, "export", "--format", "audit", "--out", "answers.csv", env=env), "--force")
    assert (tmp_path / "answers.csv").read_text() == "a statistician's file\n"
    result = bot(tmp_path, "export", "--format", "audit", "--out", "answers.csv", "--force", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "answers.csv").read_text().startswith("id,")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.html").write_text("last week's report")
    assert_one_sentence(bot(tmp_path, "report", "--out", "report", env=env), "--force")
    assert (tmp_path / "report" / "report.html").read_text() == "last week's report"
    assert not (tmp_path / "report" / "report.csv").exists()
    assert bot(tmp_path, "report", "--out", "report", "--force", env=env).returncode == 0


@pytest.mark.sqlite_only("the backup command copies the SQLite file (PostgreSQL backups are the host's job)")
async def test_a_backup_never_targets_the_database_and_is_private(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    await make_database(database)
    Path(f"{database}-wal").write_bytes(b"")
    for target in ("bot.sqlite3-wal", "bot.sqlite3"):
        assert_one_sentence(bot(tmp_path, "backup", target, env={"BOT_DATABASE": "bot.sqlite3"}), target)
    (tmp_path / "backups").mkdir()
    previous = os.umask(0o022)
    try:
        copy = backup(database, tmp_path / "backups")
    finally:
        os.umask(previous)
    assert copy.parent == tmp_path / "backups"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no temporary file left behind
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1
    again = assert_one_sentence(bot(tmp_path, "backup", "backups", env={"BOT_DATABASE": "bot.sqlite3"}), "exists")
    assert "--force" not in again  # a backup is never replaced


@pytest.mark.sqlite_only("file permissions of the SQLite file, its -wal/-shm and its folder")
async def test_database_files_and_their_folder_are_private_whatever_the_umask(tmp_path: Path) -> None:
    database = tmp_path / "state" / "data" / "bot.sqlite3"
    previous = os.umask(0o022)
    try:
        store = await Store.open(database, VirtualClock(datetime(2027, 3, 1, tzinfo=UTC)))
        async with store.transaction() as tx:  # a write, so that -wal and -shm exist
            await tx.execute("INSERT INTO settings (key, value) VALUES ('probe', '1')")
            await tx.commit()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in database.parent.iterdir()}
        await store.close()
    finally:
        os.umask(previous)
    assert {"bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm"} <= set(modes), modes
    assert set(modes.values()) == {0o600}, modes
    for folder in (database.parent, database.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.sqlite_only("file permissions of an existing SQLite file")
async def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    await make_database(database)
    os.chmod(database, 0o644)
    store = await Store.open(database, VirtualClock(datetime(2027, 3, 1, tzinfo=UTC)))
    await store.close()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_a_postgresql_database_is_backed_up_by_its_host_not_by_the_bot(tmp_path: Path) -> None:
    """No connection needed: the refusal comes before any (the URL names nothing that exists)."""
    env = {"BOT_DATABASE": "postgresql://bot@db.invalid/trial"}
    line = assert_one_sentence(bot(tmp_path, "backup", "backups/", env=env), "BOT_DATABASE", "PostgreSQL")
    assert "host" in line and not (tmp_path / "backups").exists()


def test_an_unreachable_postgresql_database_is_one_sentence_without_its_password(tmp_path: Path) -> None:
    env = {"BOT_DATABASE": "postgresql://bot:s3cret@127.0.0.1:1/trial"}  # port 1: nothing listens there
    line = assert_one_sentence(bot(tmp_path, "migrate", env=env), "BOT_DATABASE", "PostgreSQL")
    assert "s3cret" not in line and "***" in line


@pytest.mark.sqlite_only("a symlinked SQLite file and the -wal/-shm SQLite keeps next to the real file")
@pytest.mark.parametrize(
    "target", ["real/bot.sqlite3-wal", "bot.sqlite3-wal", "real/bot.sqlite3-shm", "real/bot.sqlite3", "wal-link"]
)
async def test_a_symlinked_database_and_its_real_side_files_are_never_an_output(target: str, tmp_path: Path) -> None:
    """Issue 39, item 3: with BOT_DATABASE a symlink, `export --out <real file>-wal --force` exited 0 and wrote over
    the live WAL. Now the real file's side files are refused as well as the link's, even with --force."""
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "bot.sqlite3"
    await make_database(real)
    (tmp_path / "bot.sqlite3").symlink_to(real)
    (tmp_path / "wal-link").symlink_to(Path(f"{real}-wal"))
    for suffix in ("-wal", "-shm"):
        Path(f"{real}{suffix}").write_bytes(b"the live side file")
    before = {p.name: digest(p) for p in real.parent.iterdir()}
    env = {"BOT_DATABASE": "bot.sqlite3"}
    for command in (
        ("export", "--format", "csv", "--out", target, "--force"),
        ("export", "--format", "audit", "--out", target, "--force", "--database", "bot.sqlite3"),
        ("backup", target),
    ):
        line = assert_one_sentence(bot(tmp_path, *command, env=env))
        assert "database" in line, line
    assert {p.name: digest(p) for p in real.parent.iterdir()} == before
    assert not Path(f"{tmp_path / 'bot.sqlite3'}-wal").exists() or target == "bot.sqlite3-wal"


@pytest.mark.sqlite_only("a FIFO as the SQLite file")
@pytest.mark.parametrize(
    "command",
    [
        ("run",),
        ("migrate",),
        ("export", "--format", "csv", "--out", "x.csv"),
        ("report", "--out", "r"),
        ("backup", "b.sqlite3"),
    ],
    ids=["run", "migrate", "export", "report", "backup"],
)
def test_a_fifo_as_the_database_is_one_sentence_instead_of_hanging(command: tuple[str, ...], tmp_path: Path) -> None:
    """Issue 39, item 6: opening a FIFO blocks until someone writes to it; the bot hung silently."""
    os.mkfifo(tmp_path / "bot.sqlite3")
    result = bot(tmp_path, *command, env={**WITH_TOKEN, "BOT_DATABASE": "bot.sqlite3"}, timeout=30)
    line = assert_one_sentence(result, "bot.sqlite3")
    assert "pipe" in line or "not a file" in line, line
    assert stat.S_ISFIFO((tmp_path / "bot.sqlite3").stat().st_mode)


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "locking_mode":
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS held (x)")
if sys.argv[2] == "locking_mode":
    conn.execute("COMMIT")  # the exclusive locking mode keeps the lock after the commit
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.sqlite_only("another process locking the SQLite file")
@pytest.mark.parametrize(
    ("holder", "command"),
    [
        ("begin_exclusive", ("run",)),
        ("begin_exclusive", ("migrate",)),
        ("begin_exclusive", ("export", "--format", "csv", "--out", "x.csv")),
        ("locking_mode", ("report", "--out", "r")),
        ("locking_mode", ("backup", "b.sqlite3")),
        ("locking_mode", ("run",)),
    ],
)
async def test_a_database_locked_by_another_process_is_one_sentence(
    holder: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    """Issue 39, item 6: `run` against a database another process keeps locked failed its first write with a
    traceback and exit 1, and `backup` retried for ever; now one sentence and exit 2, after SQLite's busy wait."""
    await make_database(tmp_path / "bot.sqlite3")
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "bot.sqlite3"), holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holding:
        try:
            assert holding.stdout is not None and holding.stdout.readline().strip() == "held"
            result = bot(tmp_path, *command, env={**WITH_TOKEN, "BOT_DATABASE": "bot.sqlite3"}, timeout=40)
        finally:
            holding.communicate("")
    line = assert_one_sentence(result, "bot.sqlite3")
    assert "lock" in line, line
    assert not (tmp_path / "b.sqlite3").exists() and not (tmp_path / "x.csv").exists()
