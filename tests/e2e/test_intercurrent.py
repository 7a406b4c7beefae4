"""Clinician records (issue 17): the actual last fraction (/fraction) and intercurrent events (/event), audited,
in the patient table and the trial report."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, date, timedelta

import pytest
from harness import Bench, answer_all

from bot.export import export
from bot.report import build_report


def rows(bench: Bench, sql: str) -> list[tuple[object, ...]]:
    return sqlite3.connect(bench.database).execute(sql).fetchall()


async def test_last_fraction_and_events_are_recorded_audited_exported_and_reported(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient = await bench.join(4301, "P-EV1", date(2027, 3, 3), "fractions=5", "arm=experimental", "site=LYON")
    await answer_all(bench, patient, {"pain_worst": 6})
    bench.clock.advance(timedelta(days=12))  # a date in the future is refused; move past the radiotherapy

    await bench.clinician_says("/fraction P-EV1 2027-03-10 delivered=4")
    assert "10/03/2027" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/fraction P-EV1 2099-01-01")  # in the future: refused with the usage
    assert "/fraction" in (bench.group_messages()[-1].text or "")
    assert rows(bench, "SELECT last_fraction_on, fractions_delivered FROM patients WHERE study_id = 'P-EV1'") == [
        ("2027-03-10", 4)
    ]

    await bench.clinician_says("/event P-EV1 withdrawal 2027-03-11")  # no reason: refused
    await bench.clinician_says("/event P-EV1 steroids 2027-03-05 dexaméthasone 8 mg")
    await bench.clinician_says("/event P-EV1 nonsense 2027-03-05")
    assert rows(bench, "SELECT kind, occurred_on, note FROM intercurrent_events") == [
        ("steroids", "2027-03-05", "dexaméthasone 8 mg")
    ]
    actions = [
        a
        for (a,) in rows(
            bench, "SELECT action FROM audit_log WHERE action IN ('last_fraction', 'intercurrent_event') ORDER BY id"
        )
    ]
    assert actions == ["last_fraction", "intercurrent_event"]

    out = bench.tmp_path / "patients.csv"
    assert await export("patients", services.store, out, services.questionnaires, services.opioids) == 1
    with out.open(encoding="utf-8", newline="") as handle:
        (line,) = list(csv.DictReader(handle))
    assert (
        line["arm"],
        line["site"],
        line["rt_start"],
        line["fractions_planned"],
        line["last_fraction_on"],
        line["fractions_delivered"],
    ) == ("experimental", "LYON", "2027-03-03", "5", "2027-03-10", "4")

    files = await build_report(
        services.store,
        bench.tmp_path / "report",
        services.questionnaires,
        services.opioids,
        progress=False,
        schedule=services.schedule,
        now=bench.clock.now(),
    )
    html = files.html.read_text(encoding="utf-8")
    assert "Intercurrent events" in html and "dexaméthasone 8 mg" in html and "steroids" in html


def mentions(bench: Bench, text: str, since: int) -> list[str]:
    return [m.text or m.caption or "" for m in bench.group_messages()[since:] if text in (m.text or m.caption or "")]


async def test_a_recorded_death_ends_all_contact_tells_the_team_once_and_a_correction_restores(bench: Bench) -> None:
    """Issue 39, item 4: after `/event <id> death <date>` nothing more reaches the patient's chat over the following
    days (questionnaires, reminders, notices), /send is refused, no digest lists them as missing, the group hears
    it once, the report lists the death; `/event <id> death-cancel <reason>` restores the follow-up, audited."""
    services = bench.services
    assert services is not None
    dead = await bench.join(4401, "P-DC1", date(2027, 3, 2), "fractions=5")
    alive = await bench.join(4402, "P-AL1", date(2027, 3, 2), "fractions=5")
    await answer_all(bench, alive, {"pain_worst": 3})
    assert bench.standin.sent_messages(dead.chat_id)[-1].buttons()  # the baseline is open, left unanswered

    since = len(bench.group_messages())
    await bench.clinician_says("/event P-DC1 death 2027-03-01")
    await bench.tick()
    assert rows(bench, "SELECT status, resume_status FROM patients WHERE study_id = 'P-DC1'") == [
        ("deceased", "active")
    ]
    assert rows(
        bench,
        "SELECT COUNT(*) FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE p.study_id = 'P-DC1' AND i.status IN ('planned', 'sending', 'open')",
    ) == [(0,)]
    to_dead = len(bench.standin.sent_messages(dead.chat_id))
    to_alive = len(bench.standin.sent_messages(alive.chat_id))

    await bench.clinician_says("/send P-DC1 weekly")
    assert "deceased" in (bench.group_messages()[-1].text or "") or "décédé" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/event P-DC1 death 2027-03-01")  # twice: refused, the team is not told again
    await bench.clinician_says("/reprendre P-DC1")  # a deceased patient is not resumed by a status command
    assert rows(bench, "SELECT status FROM patients WHERE study_id = 'P-DC1'") == [("deceased",)]
    await bench.advance(timedelta(days=5))
    await bench.patient_says(dead, "Bonjour, je suis sa fille, il a très mal au dos")  # kept, passed on, no reply
    for command in ("/aide", "/reprendre", "/inconnue"):  # commands from that chat get no reply either
        await bench.patient_says(dead, command)
    assert rows(bench, "SELECT COUNT(*) FROM patient_messages") == [(1,)]

    assert len(bench.standin.sent_messages(dead.chat_id)) == to_dead  # nothing more to the patient's chat
    assert len(bench.standin.sent_messages(alive.chat_id)) > to_alive  # while the others are still followed
    assert rows(bench, "SELECT COUNT(*) FROM intercurrent_events WHERE kind = 'death'") == [(1,)]
    notices = [t for t in mentions(bench, "P-DC1", since) if "Décès enregistré" in t or "Death recorded" in t]
    assert len(notices) == 1, notices
    missing = [t for t in mentions(bench, "P-DC1", since) if "manqu" in t.lower() or "missed" in t.lower()]
    assert missing == [], missing  # no digest lists the deceased patient as missing a questionnaire

    files = await build_report(
        services.store,
        bench.tmp_path / "report",
        services.questionnaires,
        services.opioids,
        progress=False,
        schedule=services.schedule,
        now=bench.clock.now(),
    )
    html = files.html.read_text(encoding="utf-8")
    assert "P-DC1" in html.split("Intercurrent events")[1] and "death" in html.split("Intercurrent events")[1]

    await bench.clinician_says("/event P-DC1 death-cancel")  # a correction needs its reason
    assert rows(bench, "SELECT status FROM patients WHERE study_id = 'P-DC1'") == [("deceased",)]
    await bench.clinician_says("/event P-DC1 death-cancel erreur de dossier")
    assert rows(bench, "SELECT status, resume_status FROM patients WHERE study_id = 'P-DC1'") == [("active", None)]
    assert rows(bench, "SELECT reason FROM intercurrent_corrections") == [("erreur de dossier",)]
    assert [
        a
        for (a,) in rows(
            bench,
            "SELECT action FROM audit_log WHERE patient_id = (SELECT id FROM patients"
            " WHERE study_id = 'P-DC1') AND action IN ('status:deceased',"
            " 'intercurrent_correction') ORDER BY id",
        )
    ] == ["status:deceased", "intercurrent_correction"]
    await bench.advance(timedelta(days=2))
    assert len(bench.standin.sent_messages(dead.chat_id)) > to_dead  # contact resumed
    files = await build_report(
        services.store,
        bench.tmp_path / "report2",
        services.questionnaires,
        services.opioids,
        progress=False,
        schedule=services.schedule,
        now=bench.clock.now(),
    )
    assert "P-DC1" not in files.html.read_text(encoding="utf-8").split("Intercurrent events")[1]


async def test_the_questionnaires_a_death_cancelled_are_exported_as_deceased(bench: Bench) -> None:
    """The CSV export says why a questionnaire was cancelled: `instance_status` "deceased" after a recorded death."""
    services = bench.services
    assert services is not None
    await bench.join(4411, "P-DC2", date(2027, 3, 2))
    await bench.clinician_says("/event P-DC2 death 2027-03-01")
    out = bench.tmp_path / "answers.csv"
    await export("csv", services.store, out, services.questionnaires, services.opioids)
    with out.open(encoding="utf-8", newline="") as handle:
        statuses = {line["value"] for line in csv.DictReader(handle) if line["item"] == "instance_status"}
    assert statuses == {"deceased"}


@pytest.mark.sqlite_only("migration 0012 edits the SQLite table's CHECK in place")
async def test_migration_0012_upgrades_an_existing_database_in_place(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A database made before migration 0012 accepts the status 'deceased' after it, keeps its rows, still refuses
    an unknown status, and passes `PRAGMA integrity_check`."""
    from datetime import datetime

    from bot.clock import VirtualClock
    from bot.storage import db
    from bot.storage.store import Store

    path = tmp_path / "old.sqlite3"
    clock = VirtualClock(datetime(2027, 3, 1, 9, tzinfo=UTC))
    shipped = db.migration_files()
    with monkeypatch.context() as patch:
        patch.setattr(db, "migration_files", lambda directory=db.MIGRATIONS_DIR: [m for m in shipped if m[0] < 12])
        store = await Store.open(path, clock)
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO sites (code, created_at) VALUES ('main', 'x')")
            await tx.execute(
                "INSERT INTO patients (study_id, site_code, arm, rt_start, fractions, enrolled_at)"
                " VALUES ('P-OLD', 'main', 'standard', '2027-03-03', 1, 'x')"
            )
            await tx.commit()
        await store.close()
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE patients SET status = 'deceased'")
    store = await Store.open(path, clock)
    async with store.transaction() as tx:
        await tx.execute("UPDATE patients SET status = 'deceased'")
        await tx.commit()
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT study_id, status FROM patients").fetchall() == [("P-OLD", "deceased")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE patients SET status = 'zombie'")
