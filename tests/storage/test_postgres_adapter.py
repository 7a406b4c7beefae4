"""The PostgreSQL adapter (bot/storage/postgres.py): its SQL translation (pure functions, always run) and, with a
server (`BOT_TEST_DATABASE=postgresql://…`, scripts/test.sh starts one), what the storage port promises: the new
id from `execute`, INSERT OR IGNORE counts, rollback unless committed, writers serialised by the advisory lock,
parameters coerced to the column types."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pg_support
import pytest

from bot.clock import VirtualClock
from bot.storage.db import MIGRATIONS_DIR, POSTGRES_MIGRATIONS_DIR, migration_files
from bot.storage.postgres import PgStore, coerce, redacted, translate
from bot.storage.store import Store

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

needs_server = pytest.mark.skipif(
    not pg_support.ENABLED,
    reason="no PostgreSQL server: set BOT_TEST_DATABASE=postgresql://… (scripts/test.sh starts a private one)",
)


# ---- translation: pure, no server -----------------------------------------------------------------------------------


def test_placeholders_are_numbered_outside_quoted_text() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b = '?' AND \"c?\" = ? -- is it?\n AND d IN (?, ?)"
    assert (
        translate(sql).sql == "SELECT * FROM t WHERE a = $1 AND b = '?' AND \"c?\" = $2 -- is it?\n AND d IN ($3, $4)"
    )


def test_a_doubled_quote_stays_inside_its_string() -> None:
    assert translate("SELECT 'it''s ?' , ?").sql == "SELECT 'it''s ?' , $1"


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    translated = translate("INSERT OR IGNORE INTO sites (code, created_at) VALUES (?, ?)")
    assert translated.sql == "INSERT INTO sites (code, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    assert translated.insert_table == "sites" and not translated.returning


def test_insert_or_ignore_keeps_its_returning_clause_last() -> None:
    translated = translate("insert or ignore into alerts (rule_id) values (?) returning id;")
    assert translated.sql == "INSERT INTO alerts (rule_id) values ($1) ON CONFLICT DO NOTHING returning id"
    assert translated.returning


def test_is_a_parameter_becomes_not_distinct_from() -> None:
    assert translate("SELECT 1 WHERE a IS ? AND b IS NOT ? AND c IS NULL").sql == (
        "SELECT 1 WHERE a IS NOT DISTINCT FROM $1 AND b IS DISTINCT FROM $2 AND c IS NULL"
    )


def test_a_plain_statement_is_unchanged_and_translated_once() -> None:
    sql = "UPDATE instances SET status = 'open' WHERE id = 3"
    assert translate(sql).sql == sql and translate(sql).insert_table is None
    assert translate(sql) is translate(sql)  # cached per distinct SQL text


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        ("42", "int8", 42),
        (True, "int8", 1),
        (7, "text", "7"),
        (False, "text", "0"),
        (3, "float8", 3.0),
        ("2.5", "float8", 2.5),
        (None, "int8", None),
        (None, "text", None),
        ("x", "text", "x"),
        (1.5, "numeric", Decimal("1.5")),
        ("a\x00b", "text", "a\ufffdb"),  # PostgreSQL text cannot hold NUL
    ],
)
def test_parameters_are_coerced_to_the_inferred_type(value: object, type_name: str, expected: object) -> None:
    result = coerce(value, type_name)
    assert result == expected and type(result) is type(expected)


def test_a_password_never_appears_in_what_the_store_names() -> None:
    assert redacted("postgresql://bot:s3cret@db.example:5432/trial") == "postgresql://bot:***@db.example:5432/trial"
    assert redacted("postgresql://bot@/trial?host=/run/postgresql") == "postgresql://bot@/trial?host=/run/postgresql"


def test_every_migration_has_its_postgresql_twin_with_the_same_number_and_name() -> None:
    sqlite = [(n, p.name) for n, p in migration_files(MIGRATIONS_DIR)]
    postgres = [(n, p.name) for n, p in migration_files(POSTGRES_MIGRATIONS_DIR)]
    assert sqlite and sqlite == postgres


def test_the_postgresql_migrations_keep_every_table_and_index() -> None:
    def names(directory: Path) -> set[str]:
        text = "\n".join(p.read_text(encoding="utf-8") for _, p in migration_files(directory))
        return set(re.findall(r"CREATE (?:TABLE|INDEX|TRIGGER) (\w+)", text))

    assert names(MIGRATIONS_DIR) == names(POSTGRES_MIGRATIONS_DIR)


# ---- against a server ----------------------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "bot.sqlite3", VirtualClock(T0))  # a PostgreSQL database in this pass
    assert isinstance(opened, PgStore)
    try:
        yield opened
    finally:
        await opened.close()


PATIENT = (
    "INSERT INTO patients (study_id, site_code, arm, rt_start, fractions, enrolled_at)"
    " VALUES (?, 'S1', 'standard', '2027-03-01', ?, '2027-03-01T09:00:00Z')"
)


async def _site(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("INSERT OR IGNORE INTO sites (code, created_at) VALUES ('S1', '2027-03-01T09:00:00Z')")
        await tx.commit()


@needs_server
async def test_execute_returns_the_new_id_and_zero_for_a_table_without_id(store: Store) -> None:
    await _site(store)
    async with store.transaction() as tx:
        first = await tx.execute(PATIENT, ("P-1", 5))
        second = await tx.execute(PATIENT, ("P-2", 1))
        assert (first, second) == (1, 2) or second == first + 1
        assert await tx.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')") == 0
        await tx.commit()


@needs_server
async def test_insert_or_ignore_counts_one_then_zero(store: Store) -> None:
    async with store.transaction() as tx:
        sql = "INSERT OR IGNORE INTO processed_updates (update_id, processed_at) VALUES (?, ?)"
        assert await tx.execute_count(sql, (10, "2027-03-01T09:00:00Z")) == 1
        assert await tx.execute_count(sql, (10, "2027-03-01T09:00:01Z")) == 0
        assert await tx.execute(sql, (10, "2027-03-01T09:00:02Z")) == 0
        await tx.commit()


@needs_server
async def test_a_transaction_not_committed_is_rolled_back(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO settings (key, value) VALUES ('lost', '1')")
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO settings (key, value) VALUES ('lost', '2')")
            raise RuntimeError("boom")
    async with store.read() as tx:
        assert await tx.fetchone("SELECT value FROM settings WHERE key = 'lost'") is None


@needs_server
async def test_two_stores_on_one_database_write_one_at_a_time(store: Store) -> None:
    """Two replicas (two pools): the advisory lock makes the second transaction wait for the first's commit, so a
    read-then-write increment never loses an update."""
    other = await PgStore.open(store.url, VirtualClock(T0))  # type: ignore[attr-defined]
    try:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO settings (key, value) VALUES ('n', '0')")
            await tx.commit()
        order: list[str] = []

        async def increment(which: Store, name: str) -> None:
            async with which.transaction() as tx:
                order.append(f"{name} in")
                row = await tx.fetchone("SELECT value FROM settings WHERE key = 'n'")
                await asyncio.sleep(0.2)  # the other replica tries meanwhile
                await tx.execute("UPDATE settings SET value = ? WHERE key = 'n'", (int(row["value"]) + 1,))
                order.append(f"{name} out")
                await tx.commit()

        await asyncio.gather(increment(store, "a"), increment(other, "b"))
        async with store.read() as tx:
            assert (await tx.fetchone("SELECT value FROM settings WHERE key = 'n'"))["value"] == "2"
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    finally:
        await other.close()


@needs_server
async def test_parameters_and_values_come_back_as_sqlite_gives_them(store: Store) -> None:
    await _site(store)
    async with store.transaction() as tx:
        patient = await tx.execute(PATIENT, ("P-1", "5"))  # a str for a BIGINT column
        await tx.execute("INSERT INTO settings (key, value) VALUES (?, ?)", ("count", 3))  # an int for TEXT
        await tx.commit()
    async with store.read() as tx:
        row = await tx.fetchone(
            "SELECT fractions, (SELECT SUM(fractions) FROM patients) AS total,"
            " EXISTS (SELECT 1 FROM patients WHERE id = ?) AS found, (SELECT value FROM settings) AS value"
            " FROM patients WHERE id = ?",
            (patient, str(patient)),
        )
        assert row is not None
        assert (row["fractions"], row["total"], row["found"], row["value"]) == (5, 5, 1, "3")
        assert type(row["total"]) is int and type(row["found"]) is int
        assert tuple(row) == (5, 5, 1, "3") and row[0] == 5 and list(row.keys())[0] == "fractions"
        assert await tx.fetchone("SELECT id FROM patients WHERE withdrawn_at IS ?", (None,)) is not None
    with pytest.raises(RuntimeError, match="read-only"):
        async with store.read() as tx:
            await tx.commit()


@needs_server
async def test_append_only_tables_refuse_changes_as_an_integrity_error(store: Store) -> None:
    import sqlite3

    async with store.transaction() as tx:
        await tx.execute("INSERT INTO audit_log (at, actor, action) VALUES ('2027-03-01T09:00:00Z', 'cli', 'x')")
        await tx.commit()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with store.transaction() as tx:
            await tx.execute("DELETE FROM audit_log")


async def test_an_empty_audit_trail_names_its_columns_in_table_order_on_either_engine(tmp_path: Path) -> None:
    """The catalogue lookup is engine-specific (`PRAGMA table_info` or information_schema, by the session's
    `dialect`); both give the columns in table order. Runs in both passes."""
    from bot.storage.exports import audit_trail

    store = await Store.open(tmp_path / "bot.sqlite3", VirtualClock(T0))
    try:
        async with store.read() as tx:
            trail = await audit_trail(tx)
            assert tx.dialect == ("postgresql" if pg_support.ENABLED else "sqlite")
    finally:
        await store.close()
    assert trail.rows == ()
    assert trail.columns == (
        "id",
        "at",
        "actor",
        "action",
        "patient_id",
        "entity",
        "entity_id",
        "old_value",
        "new_value",
        "telegram_date",
        "details",
    )
