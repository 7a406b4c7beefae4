"""Fewer round trips inside a write transaction (issue #18), on both engines (this file runs in the SQLite pass and,
with BOT_TEST_DATABASE, in the PostgreSQL pass).

- `Tx.defer`: a write whose result nobody reads travels with the session's next statement or its commit. The
  transaction must see exactly what it saw before: later reads see the queued writes, a rollback drops them, an
  error in one is raised by the next statement and rolls everything back, and `unless_changed` stops the commit.
- `Tx.fetch_each`: several reads in one trip.
- The BEGIN travels with the first statement; a session that runs nothing sends nothing.
- `answer_context`: the patient, their open questionnaire, its answers and what the rules compare with, read in
  one trip, equal to the lookups it replaces; `patient_history`: a patient's history in one trip, likewise.
- A patient's answer: two trips to the database inside its write transaction once the history is cached.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from harness import Bench, current_prompt, default_answer, give

from bot.clock import SystemClock
from bot.services.history_cache import PriorHistoryCache
from bot.storage import alerts, instances, patients, team_regimens
from bot.storage.answer_context import answer_context
from bot.storage.patient_history import patient_history
from bot.storage.store import Store


class Refused(Exception):
    """The error a guarded write raises when it changed nothing."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "bot.sqlite3", SystemClock())  # a PostgreSQL database in that pass
    try:
        yield opened
    finally:
        await opened.close()


async def _settings(store: Store) -> dict[str, str]:
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT key, value FROM settings ORDER BY key")
    return {str(r["key"]): str(r["value"]) for r in rows}


_PUT = "INSERT INTO settings (key, value) VALUES (?, ?)"


async def test_a_deferred_write_is_seen_by_the_next_read_and_committed_in_order(store: Store) -> None:
    async with store.transaction() as tx:
        tx.defer(_PUT, ("a", "1"))
        tx.defer("UPDATE settings SET value = ? WHERE key = ?", ("2", "a"))  # order kept: runs after the insert
        row = await tx.fetchone("SELECT value FROM settings WHERE key = ?", ("a",))
        assert row is not None and row["value"] == "2"
        tx.defer(_PUT, ("b", "3"))  # waits for the commit
        await tx.commit()
    assert await _settings(store) == {"a": "2", "b": "3"}


async def test_deferred_writes_of_a_transaction_that_does_not_commit_are_never_written(store: Store) -> None:
    async with store.transaction() as tx:
        tx.defer(_PUT, ("a", "1"))
        assert await tx.fetchone("SELECT value FROM settings WHERE key = ?", ("a",)) is not None
        tx.defer(_PUT, ("b", "2"))
    assert await _settings(store) == {}
    async with store.transaction() as tx:  # the connection is usable again, with no transaction left open
        tx.defer(_PUT, ("c", "3"))
        await tx.commit()
    assert await _settings(store) == {"c": "3"}


async def test_an_error_in_a_deferred_write_is_raised_by_the_next_statement_and_rolls_back(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute(_PUT, ("a", "1"))
        await tx.commit()
    with pytest.raises(sqlite3.IntegrityError):  # PostgreSQL's unique violation is raised as this class too
        async with store.transaction() as tx:
            await tx.execute(_PUT, ("b", "2"))
            tx.defer(_PUT, ("a", "again"))  # the key exists: refused, but only when it runs
            await tx.fetchone("SELECT 1")
    assert await _settings(store) == {"a": "1"}


async def test_a_guarded_write_that_changes_nothing_stops_the_commit(store: Store) -> None:
    """`unless_changed`, as the update-id guard uses it: of two sessions settling the same row, one commits."""
    guarded = "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)"
    async with store.transaction() as tx:
        tx.defer(guarded, ("update-77", "handled"), unless_changed=Refused())
        tx.defer(_PUT, ("effect-1", "written"))
        await tx.commit()
    with pytest.raises(Refused):
        async with store.transaction() as tx:
            tx.defer(_PUT, ("effect-2", "written"))
            tx.defer(guarded, ("update-77", "handled"), unless_changed=Refused())
            tx.defer(_PUT, ("after-the-guard", "never run"))
            await tx.commit()
    assert await _settings(store) == {"effect-1": "written", "update-77": "handled"}


async def test_fetch_each_reads_several_queries_after_the_deferred_writes(store: Store) -> None:
    async with store.transaction() as tx:
        tx.defer(_PUT, ("a", "1"))
        tx.defer(_PUT, ("b", "2"))
        counted, values, nothing = await tx.fetch_each(
            [
                ("SELECT COUNT(*) AS n FROM settings", ()),
                ("SELECT value FROM settings WHERE key IN (?, ?) ORDER BY key", ("a", "b")),
                ("SELECT value FROM settings WHERE key = ?", ("z",)),
            ]
        )
        await tx.commit()
    assert int(counted[0]["n"]) == 2
    assert [r["value"] for r in values] == ["1", "2"]
    assert nothing == []
    async with store.read() as tx:
        (only,) = await tx.fetch_each([("SELECT value FROM settings WHERE key = ?", ("b",))])
    assert [r["value"] for r in only] == ["2"]


async def test_a_single_statement_session_refuses_to_defer(store: Store) -> None:
    async with store.single_statement() as tx:
        with pytest.raises(RuntimeError, match="one statement"):
            tx.defer(_PUT, ("a", "1"))
    async with store.read() as tx:
        with pytest.raises(RuntimeError, match="read-only"):
            tx.defer(_PUT, ("a", "1"))


@pytest.mark.sqlite_only("counts the round trips to aiosqlite's worker thread (asyncpg sends one statement a trip)")
async def test_deferred_writes_and_the_begin_share_the_next_round_trip(store: Store) -> None:
    """BEGIN + a read, two writes + a read, a write + COMMIT: 3 trips to aiosqlite's thread, not 7. A session that
    runs nothing sends nothing (it used to cost a BEGIN and a ROLLBACK)."""
    connection: Any = store.connection
    trips: list[object] = []
    original = connection._execute

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(function)
        return await original(function, *args, **kwargs)

    connection._execute = counted  # counts the calls; each still runs in aiosqlite's thread as before
    try:
        async with store.transaction() as tx:
            pass
        assert trips == []
        async with store.transaction() as tx:
            await tx.fetchone("SELECT COUNT(*) FROM settings")
            tx.defer(_PUT, ("a", "1"))
            tx.defer(_PUT, ("b", "2"))
            await tx.fetchone("SELECT COUNT(*) FROM settings")
            tx.defer(_PUT, ("c", "3"))
            await tx.commit()
        assert len(trips) == 3
    finally:
        del connection._execute
    assert await _settings(store) == {"a": "1", "b": "2", "c": "3"}


async def test_answer_context_equals_the_three_lookups_it_replaces(tmp_path: Path) -> None:
    bench = await Bench(tmp_path).start()
    try:
        patient = await bench.join(501, "P-501", date(2027, 3, 1))
        stranger = 9_999
        async with bench.services.store.read() as tx:  # type: ignore[union-attr]
            found = await answer_context(tx, patient.user_id)
            assert found.patient == await patients.find_by_telegram_user(tx, patient.user_id)
            assert found.instance is not None, "joining opens the baseline questionnaire"
            assert found.answers == {}
            nobody = await answer_context(tx, stranger)
        assert (nobody.patient, nobody.instance, nobody.answers) == (None, None, {})
        await give(bench, patient, 7)
        await give(bench, patient, "none")  # the red-flag screen (baseline 2.0, issue 35)
        async with bench.services.store.read() as tx:  # type: ignore[union-attr]
            found = await answer_context(tx, patient.user_id)
            assert found.patient is not None and found.instance is not None
            assert found.instance == await instances.open_instance_for(tx, found.patient.id)
            assert found.answers == await instances.answers_with_context(tx, found.instance.id)
            assert len(found.answers) == 2
        # no open questionnaire: the patient, no instance, no answers
        async with bench.services.store.transaction() as tx:  # type: ignore[union-attr]
            await tx.execute("UPDATE instances SET status = 'completed' WHERE status IN ('sending', 'open')")
            await tx.commit()
        async with bench.services.store.read() as tx:  # type: ignore[union-attr]
            found = await answer_context(tx, patient.user_id)
        assert found.patient is not None and (found.instance, found.answers) == (None, {})
    finally:
        await bench.stop()


async def test_answer_context_reads_what_the_rules_compare_with_as_their_own_lookups_do(tmp_path: Path) -> None:
    """The history's version, the rules already decided for the questionnaire, each rule's last acknowledged alert
    and its newest firing the team ordered: equal to `history_version`, `rules_already_fired`,
    `last_acknowledged_of_rules` and `last_suppressed_of_rules`; another patient's rows are not read."""
    bench = await Bench(tmp_path).start()
    try:
        patient = await bench.join(501, "P-501", date(2027, 3, 1))
        other = await bench.join(502, "P-502", date(2027, 3, 1))
        await give(bench, patient, 7)
        rules = ["pain_rise", "omed_rise"]
        now = bench.clock.now()
        async with bench.services.store.transaction() as tx:  # type: ignore[union-attr]
            for who in (patient, other):
                found = await answer_context(tx, who.user_id)
                assert found.patient is not None and found.instance is not None
                for rule in rules:  # two alerts per rule, the second acknowledged later than the first
                    for _ in range(2):
                        alert_id = await alerts.insert_alert(
                            tx,
                            patient_id=found.patient.id,
                            instance_id=found.instance.id,
                            rule_id=rule,
                            severity="urgent",
                            payload={"fired": {"who": who.user_id}},
                            now=now,
                            send_now=True,
                        )
                        await alerts.acknowledge(tx, alert_id, by=4201, now=now)
                    planned = await instances.instances_for(tx, found.patient.id)  # one firing per questionnaire
                    for reason, instance in zip(("ordered", "repeat", "ordered"), planned, strict=False):
                        await alerts.record_suppressed(
                            tx,
                            patient_id=found.patient.id,
                            instance_id=instance.id,
                            rule_id=rule,
                            fired={"n": alert_id},
                            previous_alert_id=alert_id,
                            now=now,
                            reason=reason,
                        )  # type: ignore[arg-type]
            await tx.commit()
        async with bench.services.store.read() as tx:  # type: ignore[union-attr]
            found = await answer_context(tx, patient.user_id, reference_rules=rules, ordered_rules=rules[:1])
            assert found.patient is not None and found.instance is not None
            pid, iid = found.patient.id, found.instance.id
            assert found.history_version == await instances.history_version(tx, pid, iid)
            assert found.already_fired == await alerts.rules_already_fired(tx, iid) == set(rules)
            assert found.acknowledged == await alerts.last_acknowledged_of_rules(tx, pid, rules)
            assert {a.payload["fired"]["who"] for a in found.acknowledged.values()} == {patient.user_id}  # type: ignore[index]
            assert found.ordered == await alerts.last_suppressed_of_rules(tx, pid, rules[:1], reason="ordered")
            assert set(found.ordered) == {"pain_rise"} and found.ordered["pain_rise"].reason == "ordered"
            newest = await tx.fetchone(
                "SELECT MAX(id) AS id FROM suppressed_alerts WHERE patient_id = ? AND"
                " rule_id = 'pain_rise' AND reason = 'ordered'",
                (pid,),
            )
            assert newest is not None and found.ordered["pain_rise"].id == newest["id"]
            history = await patient_history(tx, pid)
            assert history.instances == await instances.instances_for(tx, pid)
            assert history.answers == await instances.current_answers_for_patient(tx, pid)
            assert history.team == await team_regimens.for_patient(tx, pid)
            assert history.answers, "the answer given above is in the history"
    finally:
        await bench.stop()


@pytest.mark.sqlite_only("counts the round trips to aiosqlite's worker thread (asyncpg sends one statement a trip)")
async def test_an_answer_makes_two_round_trips_in_its_transaction_once_the_history_is_cached(tmp_path: Path) -> None:
    """Its context and the rules' references in one trip, its writes with the commit: 2 trips while the write
    lock is held (13 before issue #18's work). The dispatcher read the patient's history into the cache when it sent
    the questionnaire; with the cache empty (a restart) the answer reads it in one more trip."""
    bench = await Bench(tmp_path).start()
    try:
        patient = await bench.join(501, "P-501", date(2027, 3, 1))
        store: Any = bench.services.store
        trips: list[int] = []
        connection = store.connection
        original_execute = connection._execute
        original_transaction = store.transaction
        in_transaction = [False]

        async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
            if in_transaction[0]:
                trips[-1] += 1
            return await original_execute(function, *args, **kwargs)

        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[Any]:
            async with original_transaction() as tx:
                trips.append(0)
                in_transaction[0] = True
                try:
                    yield tx
                finally:
                    in_transaction[0] = False

        connection._execute = counted
        store.transaction = transaction
        try:
            await give(bench, patient, 7)  # the dispatcher read the history when it sent the questionnaire
            await bench.standin.wait_idle(timeout=10, quiet=0.3)
            first = list(trips)
            trips.clear()
            await give(bench, patient, "none")  # the red-flag screen (baseline 2.0, issue 35)
            await bench.standin.wait_idle(timeout=10, quiet=0.3)
            second = list(trips)
            trips.clear()
            bench.services.prior_histories = PriorHistoryCache()  # type: ignore[union-attr]  # as after a restart
            await give(bench, patient, default_answer((await current_prompt(bench, patient)).item))
            await bench.standin.wait_idle(timeout=10, quiet=0.3)
            cold = list(trips)
        finally:
            del connection._execute
            store.transaction = original_transaction
        # each answer's own transaction is the one with the most trips (others: the question's message id)
        assert max(first) == 2, first
        assert max(second) == 2, second
        assert max(cold) == 3, cold
    finally:
        await bench.stop()
