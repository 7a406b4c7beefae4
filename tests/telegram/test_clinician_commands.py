"""Clinician handlers as thin as PTB's examples (issue 34, item 4): every clinician command opens through one
decorator (allowed → arguments → audit), and what the team reads names sites, arms and time points in words, not by
the bot's codes ("site main", "bras experimental", "D30").

The wiring is read from the real PTB `Application` (`register_handlers`); the texts come from the real bot on the
Bot API stand-in (`Bench`).
"""

from __future__ import annotations

import ast
import inspect
import re
import sqlite3
from datetime import date

from harness import CLINICIAN_CHAT, CLINICIANS, OUTSIDER, Bench
from telegram.ext import Application, CommandHandler

from bot.telegram.app import register_handlers
from bot.telegram.handlers import clinician, phone

RT = date(2027, 3, 3)
CODE = re.compile(r"\b(?:D|DD|W)\d+\b|\bsite (?:main|LYON|PARIS|BENCH)\b|\bexperimental\b|\bstandard arm\b")


def clinician_callbacks() -> dict[str, object]:
    """Every command of the clinicians' group, as registered on the real application, with its callback."""
    application = Application.builder().token("123:TEST").build()
    register_handlers(application)
    found: dict[str, object] = {}
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler) and handler.callback.__module__ in (
                clinician.__name__,
                phone.__name__,
            ):
                for command in handler.commands:
                    found[command] = handler.callback
    return found


def test_every_clinician_command_opens_through_the_one_decorator() -> None:
    callbacks = clinician_callbacks()
    assert {
        "enroll",
        "patients",
        "patient",
        "alerts",
        "appels",
        "saisie",
        "send",
        "withdraw",
        "day0",
        "fraction",
        "event",
        "traitement",
        "pause",
        "reprendre",
    } <= set(callbacks)
    bare = sorted(name for name, callback in callbacks.items() if getattr(callback, "__wrapped__", None) is None)
    assert bare == [], f"not opened by clinician_command: {bare}"
    # The opening exists once: `allowed` and `record_command` are called by the decorator only.
    for module in (clinician, phone):
        for function in ast.parse(inspect.getsource(module)).body:
            if (
                not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                or function.name == "clinician_command"
            ):
                continue
            calls = {
                node.func.id
                for node in ast.walk(function)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            }
            assert not calls & {"allowed", "record_command"}, (module.__name__, function.name)


async def test_the_decorator_refuses_reads_arguments_and_audits(bench: Bench) -> None:
    await bench.join(4101, "P-TH1", RT)
    audit = "SELECT actor, action, details FROM audit_log WHERE action LIKE 'command:%' ORDER BY id"
    before = sqlite3.connect(bench.database).execute(audit).fetchall()
    await bench.clinician_says("/pause P-TH1", user_id=OUTSIDER)
    assert "réservée à l'équipe soignante" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/pause P-TH1", user_id=CLINICIANS[1])
    assert "P-TH1" in (bench.group_messages()[-1].text or "") and "pause" in (bench.group_messages()[-1].text or "")
    after = sqlite3.connect(bench.database).execute(audit).fetchall()
    assert after[len(before) :] == [(f"clinician:{CLINICIANS[1]}", "command:pause", after[-1][2])]
    assert "P-TH1" in (after[-1][2] or "")


async def test_the_team_reads_sites_arms_and_time_points_in_words(bench: Bench) -> None:
    await bench.clinician_says("/enroll P-LBL 2027-03-03 arm=experimental site=LYON")
    enrolled = bench.group_messages()[-1].text or ""
    assert "Radiothérapie, Lyon (exemple)" in enrolled and "bras expérimental" in enrolled, enrolled
    assert not CODE.search(enrolled), enrolled

    await bench.clinician_says("/enroll P-MAIN 2027-03-03")
    enrolled = bench.group_messages()[-1].text or ""
    assert "Service de radiothérapie (exemple)" in enrolled and "bras standard" in enrolled, enrolled
    assert "site main" not in enrolled

    await bench.clinician_says("/patients")
    listing = bench.group_messages()[-1].text or ""
    assert "P-LBL (Radiothérapie, Lyon (exemple), bras expérimental)" in listing, listing
    assert not CODE.search(listing) and "baseline" not in listing, listing

    await bench.clinician_says("/patient P-LBL")
    shown = bench.group_messages()[-1]
    summary = shown.caption or shown.text or ""
    assert "Radiothérapie, Lyon (exemple), bras expérimental" in summary, summary
    assert not CODE.search(summary), summary

    await bench.clinician_says("/enroll P-NOPE 2027-03-03 site=NOPE")
    refused = bench.group_messages()[-1].text or ""
    assert "NOPE" in refused and "Radiothérapie, Lyon (exemple) (site=LYON)" in refused, refused
    # The known sites are the team's, never the benchmarks' measuring site (issue 34 item 4).
    assert "BENCH" not in refused and "Cohorte de mesure" not in refused, refused
    assert bench.standin.sent_messages(CLINICIAN_CHAT)
