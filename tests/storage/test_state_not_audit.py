"""Migration 0009 (issue #19: the audit trail is a record, never business state): a database upgraded from 0008
keeps the rate limit of refused /start, the double-tap guard of the information message and the status an
unreachable patient gets back, because the migration copies them out of the audit rows written before it; after it,
the decisions read their own tables, which hold one row per update or message however often it is handled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pg_support
import pytest

import bot.storage.db as db
from bot.clock import VirtualClock, utc_iso
from bot.storage import audit, joining
from bot.storage.db import connect, migrate
from bot.storage.postgres import PgStore
from bot.storage.store import Store, Tx

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def _write_0008_history(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at migration 0008 with the audit rows the services wrote before 0009, in their own format (in the
    PostgreSQL pass: an empty PostgreSQL database standing for `path`, taken to its 0008 twin)."""
    if pg_support.current is not None:
        every_pg = db.migration_files(db.POSTGRES_MIGRATIONS_DIR)
        url = pg_support.current.url_for(path, empty=True)
        with monkeypatch.context() as patch:
            patch.setattr(db, "migration_files", lambda directory=None: [(n, p) for n, p in every_pg if n <= 8])
            store = await PgStore.open(url, VirtualClock(T0))
        try:
            async with store.transaction() as pg_tx:
                await _history(pg_tx)
                await pg_tx.commit()
        finally:
            await store.close()
        return
    every = db.migration_files()
    with monkeypatch.context() as patch:
        patch.setattr(db, "migration_files", lambda: [(n, p) for n, p in every if n <= 8])
        conn = await connect(path)
        try:
            assert await migrate(conn, VirtualClock(T0)) == list(range(1, 9))
            await conn.execute("BEGIN IMMEDIATE")
            tx = Tx(conn, writable=True)
            await _history(tx)
            await tx.commit()
        finally:
            await conn.close()


async def _history(tx: Tx) -> None:
    """The rows written before 0009: a site, two patients, and the audit rows the three decisions read then."""
    await tx.execute("INSERT INTO sites (code, created_at) VALUES ('NANCY', ?)", (utc_iso(T0),))
    for pid, status in ((1, "joined"), (2, "unreachable")):
        await tx.execute(
            "INSERT INTO patients (id, study_id, site_code, arm, rt_start, fractions, status, enrolled_at)"
            " VALUES (?, ?, 'NANCY', 'standard', '2027-03-03', 5, ?, ?)",
            (pid, f"P-00{pid}", status, utc_iso(T0)),
        )
    for update_id in (501, 502, 503):  # three refused /start of the same stranger, one per update
        await audit.record(
            tx,
            at=T0,
            actor="stranger:777",
            action="start_refused",
            entity="update",
            entity_id=update_id,
            details={"reason": "unknown"},
        )
    await audit.record(tx, at=T0, actor="stranger:888", action="start_refused", details={"reason": "missing"})
    await audit.record(
        tx, at=T0, actor="patient:P-001", action="information_understood", patient_id=1, details={"message_id": 42}
    )
    await audit.record(
        tx,
        at=T0,
        actor="system",
        action="unreachable",
        patient_id=2,
        old_value="paused",
        new_value="unreachable",
        details={"source": "forbidden"},
    )


async def test_an_upgraded_database_keeps_the_decisions_the_audit_rows_used_to_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.sqlite3"
    await _write_0008_history(path, monkeypatch)
    store = await Store.open(path, VirtualClock(T0))  # applies 0009 and what follows
    try:
        async with store.read() as tx:
            assert await joining.refused_starts_since(tx, 777, T0 - timedelta(minutes=1)) == 3
            assert await joining.refused_starts_since(tx, 888, T0 - timedelta(minutes=1)) == 1
            assert await joining.refused_starts_since(tx, 777, T0 + timedelta(minutes=1)) == 0
            resume = await tx.fetchall("SELECT id, resume_status FROM patients ORDER BY id")
            assert [(r["id"], r["resume_status"]) for r in resume] == [(1, None), (2, "paused")]
        later = T0 + timedelta(hours=1)
        async with store.transaction() as tx:
            # The update already counted before the upgrade is not counted again when handled again.
            assert not await joining.record_refused_start(
                tx, telegram_user_id=777, update_id=502, reason="unknown", now=later
            )
            assert await joining.record_refused_start(
                tx, telegram_user_id=777, update_id=504, reason="unknown", now=later
            )
            # The information message confirmed before the upgrade is a double tap; a new one is not.
            assert not await joining.confirm_information(tx, patient_id=1, message_id=42, now=later)
            assert await joining.confirm_information(tx, patient_id=1, message_id=43, now=later)
            assert not await joining.confirm_information(tx, patient_id=1, message_id=43, now=later)
            await tx.commit()
        async with store.read() as tx:
            assert await joining.refused_starts_since(tx, 777, T0 - timedelta(minutes=1)) == 4
    finally:
        await store.close()


async def test_a_press_without_its_message_is_confirmed_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.sqlite3", VirtualClock(T0))
    try:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO sites (code, created_at) VALUES ('NANCY', ?)", (utc_iso(T0),))
            await tx.execute(
                "INSERT INTO patients (id, study_id, site_code, arm, rt_start, fractions, status, enrolled_at)"
                " VALUES (1, 'P-001', 'NANCY', 'standard', '2027-03-03', 5, 'joined', ?)",
                (utc_iso(T0),),
            )
            assert await joining.confirm_information(tx, patient_id=1, message_id=None, now=T0)
            assert not await joining.confirm_information(tx, patient_id=1, message_id=None, now=T0)
            await tx.commit()
    finally:
        await store.close()
