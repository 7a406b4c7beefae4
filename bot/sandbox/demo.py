"""`python -m bot demo`: five scripted patients through the whole protocol, unattended, in well under a minute.

Why: anyone (a clinician reviewing the protocol, a new developer, CI) can watch the product do 90 days of
follow-up — questionnaires, reminders, missed windows, flare, progression, a red flag and its acknowledgement —
and get the exports and trial report of a realistic small database, without Telegram and without waiting.

How: the real `Application` long-polls the Bot API stand-in (`SandboxWorld`, as in the sandbox). The virtual clock
moves one hour at a time through the day (the quiet night is one jump: nothing may be sent then, and windows that
closed at midnight are closed by the first morning tick). After each step every virtual patient looks at its chat
and, if its profile says so, answers the current question by pressing the button (or typing the number) exactly as
a person would; the fake clinician presses "Pris en charge" under every alert delivered to the group.

The pain curves below are scenarios, not clinical thresholds: they are chosen so that the rules in
`questionnaires/rules.yaml` and the endpoints of `docs/clinical/pain-response.md` (Chow E. et al., IJROBP
2012;82(5):1730-1737; flare: Hird A. et al., IJROBP 2009;75(1):193-197) have something to find.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as local_time
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.commandline import command
from bot.config import ConfigError, load_settings
from bot.domain.prompt import Prompt
from bot.domain.questionnaire import SKIPPED, Item
from bot.sandbox.world import CLINICIAN_CHAT_ID, CLINICIAN_ID, SandboxWorld
from bot.services import answering
from bot.storage import patients as patient_repo
from bot.storage import sandbox_queries
from bot.storage.db import SIDE_FILES, make_private_dirs
from bot.telegram.keyboards import CONSENT, VALIDATE

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
#: A Monday morning; day 0 (first fraction) is the Wednesday after. Fixed, so two runs print the same summary.
DEMO_START = datetime(2027, 3, 1, 8, 30, tzinfo=PARIS)
DEMO_RT_START = date(2027, 3, 3)
STEP = timedelta(hours=1)
#: The last follow-up (day 90) closes on day 95 (schedule.yaml: day 90, +5 days); the morning of day 96 closes it.
LAST_DAY = 96
MAX_ROUNDS_PER_STEP = 400

Answer = int | str | list[str]


class DemoError(RuntimeError):
    """The bot did something a patient could not follow (no button to press, nothing settles…)."""


@dataclass(frozen=True)
class Profile:
    """A scripted patient: what they answer, and whether they answer at all."""

    key: str
    study_id: str
    description: str
    #: (first study day, worst pain 0-10 from that day on), sorted; the first entry is the baseline value.
    pain: tuple[tuple[int, int], ...]
    fractions: int = 1
    preferred: str = "matin"
    #: Trial arm and site (two of each, so the report's per-arm, per-site tables and comparison have content).
    arm: str = "standard"
    site: str = "LYON"
    #: False: answers the baseline, then never again (missed questionnaires, reminders, day-30 notice).
    keeps_answering: bool = True
    #: Study day of the daily diary where they report new weakness in the legs (urgent red flag).
    red_flag_day: int | None = None
    #: Rescue doses taken in 24 h on the days of a painful spell (docs/clinical/opioids.md counts them).
    rescue_when_pain_at_least: int = 11

    def worst_pain(self, study_day: int | None) -> int:
        day = 0 if study_day is None else study_day
        value = self.pain[0][1]
        for first_day, pain in self.pain:
            if day >= first_day:
                value = pain
        return value

    @property
    def baseline_pain(self) -> int:
        return self.pain[0][1]


PROFILES: tuple[Profile, ...] = (
    Profile(
        "benign",
        "DEMO-01",
        "benign course: pain 6 eases to 2 by day 30 (partial response)",
        pain=((0, 6), (3, 5), (7, 4), (14, 3), (28, 2), (60, 1)),
        arm="experimental",
        site="PARIS",
    ),
    # Days 1-3 at 8 = baseline + 3 (>= baseline + 2), back to baseline by day 4: a flare (Hird 2009).
    Profile(
        "flare",
        "DEMO-02",
        "pain flare on days 1-3 after 5 fractions, then relief",
        pain=((0, 5), (1, 8), (4, 5), (7, 3), (14, 2), (28, 1)),
        fractions=5,
        rescue_when_pain_at_least=8,
        arm="standard",
        site="LYON",
    ),
    # Day 30 at 8 = baseline + 4 with stable analgesics: pain progression (Chow 2012).
    Profile(
        "progression",
        "DEMO-03",
        "pain rises from 4 to 8 (progression), evening questionnaires",
        pain=((0, 4), (7, 5), (14, 6), (21, 7), (28, 8), (60, 9)),
        preferred="soir",
        arm="experimental",
        site="LYON",
    ),
    Profile(
        "red_flag",
        "DEMO-04",
        "new leg weakness reported in the day-5 diary (urgent alert)",
        pain=((0, 6), (7, 4), (21, 3), (40, 2)),
        red_flag_day=5,
        arm="standard",
        site="PARIS",
    ),
    Profile(
        "non_responder",
        "DEMO-05",
        "answers the baseline, then nothing more",
        pain=((0, 7),),
        keeps_answering=False,
        arm="experimental",
        site="PARIS",
    ),
)

#: The baseline regimen every virtual patient declares: Skenan 30 mg, one capsule twice a day (OMED 60 mg,
#: opioids.md), Actiskenan 10 mg as rescue doses (none at baseline) and paracetamol; later questionnaires say "same
#: treatment" and only count the rescue doses, which are then of a known product: the flare patient's painful days
#: have an OMED (60 + 2 × 10 = 80 mg), so the flare is detected (an unknown rescue product would leave it empty).
BASELINE_REGIMEN: dict[str, Answer] = {
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 30,
    "bg_per_day": 2,
    "bg_units": "1",
    "bg_more": "no",
    "rescue_taking": "yes",
    "rescue_product": "actiskenan",
    "rescue_dose": 10,
    "rescue_units": "1",
    "other_analgesics": ["paracetamol"],
    "analgesic_same": "yes",
}


def answer_for(profile: Profile, item: Item, study_day: int | None) -> Answer:
    """What this patient answers to `item` on `study_day` (None: the baseline). Pure."""
    worst = profile.worst_pain(study_day)
    if item.id == "pain_worst":
        return worst
    if item.id == "pain_average":
        return max(worst - 2, 0)
    if item.id == "axial_spont_present":
        return "yes" if worst > 0 else "no"
    if item.id == "axial_spont_score":
        return worst
    if item.id == "rf_weakness" and study_day is not None and study_day == profile.red_flag_day:
        return "yes"
    if item.id == "rf_screen":  # issue 35's gate before the red-flag signs
        return "some" if study_day is not None and study_day == profile.red_flag_day else "none"
    if item.id == "se_screen":  # issue 35's gate before the side effects: the demo patients have none
        return "no"
    if item.id == "rescue_doses_24h":
        return 2 if worst >= profile.rescue_when_pain_at_least else 0
    if item.id in BASELINE_REGIMEN:
        return BASELINE_REGIMEN[item.id]
    if item.id in ("pgic", "satisfaction"):
        return _middle_choice(item)
    return _quiet_answer(item, worst)


def _middle_choice(item: Item) -> str:
    assert item.choices
    return item.choices[len(item.choices) // 2].code


def _quiet_answer(item: Item, worst: int) -> Answer:
    """No symptom, no red flag, first choice (side effects "not at all"), no message to the team."""
    if item.type == "scale":
        return min(worst, 5)
    if item.type == "yesno":
        return "no"
    if item.type == "single":
        assert item.choices
        return item.choices[0].code
    if item.type == "multi":
        assert item.choices
        return [item.choices[0].code]
    if item.type == "number":
        return int(item.min) if item.min is not None and item.min >= 1 else 1
    if item.optional:
        return SKIPPED
    return "RAS"


@dataclass
class VirtualPatient:
    profile: Profile
    user_id: int
    #: messages in the chat when the patient last found nothing to do (no need to look again until more arrive)
    seen: int = 0
    acted: bool = False
    answers: int = 0


@dataclass
class PatientSummary:
    study_id: str
    description: str
    statuses: dict[str, int]
    alerts: list[tuple[str, str, bool]]
    baseline_pain: int | None
    day30_pain: int | None
    answers: int

    def lines(self) -> list[str]:
        completed = self.statuses.get("completed", 0)
        missed = self.statuses.get("missed", 0)
        rules = (
            ", ".join(
                f"{rule} ({severity}{', acknowledged' if ack else ''})"
                for rule, severity, ack in _count_rules(self.alerts)
            )
            or "none"
        )
        d30 = "not answered" if self.day30_pain is None else f"{self.day30_pain}/10"
        return [
            f"{self.study_id} — {self.description}",
            f"    questionnaires: {completed} answered, {missed} missed ({self.answers} button presses/typed answers)",
            f"    alerts raised: {len(self.alerts)}: {rules}",
            f"    worst pain: baseline {_pain_text(self.baseline_pain)}, day 30 {d30}",
        ]


def _pain_text(value: int | None) -> str:
    return "—" if value is None else f"{value}/10"


def _count_rules(alerts: Sequence[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    """One entry per rule, with a ×n count folded into the rule name, in first-raised order."""
    counts: dict[tuple[str, str], list[bool]] = {}
    for rule, severity, acknowledged in alerts:
        counts.setdefault((rule, severity), []).append(acknowledged)
    result = []
    for (rule, severity), acks in counts.items():
        name = f"{rule} ×{len(acks)}" if len(acks) > 1 else rule
        result.append((name, severity, all(acks) and severity != "info"))
    return result


@dataclass
class DemoRun:
    """The scripted run: the world, its virtual patients, what happened."""

    world: SandboxWorld
    patients: list[VirtualPatient] = field(default_factory=list)
    #: group messages already looked at by the care team (alerts are new messages, never edited into being)
    group_seen: int = 0

    async def enrol_and_join(self, profile: Profile) -> VirtualPatient:
        """The clinician enrols in the group, the patient opens the link, reads the information, picks a time."""
        code, reply = await self.world.enroll(
            profile.study_id, DEMO_RT_START, profile.fractions, arm=profile.arm, site=profile.site
        )
        if code is None:
            raise DemoError(f"enrolment of {profile.study_id} gave no link: {reply!r}")
        user_id = self.world.new_patient_user(first_name=profile.study_id)
        await self.world.patient_says(user_id, f"/start {code}")
        await self._press_data(user_id, CONSENT)
        await self._press_data(user_id, f"pref:{profile.preferred}")
        patient = VirtualPatient(profile, user_id)
        self.patients.append(patient)
        return patient

    async def _press_data(self, chat_id: int, data: str) -> None:
        for message in reversed(self.world.standin.sent_messages(chat_id)):
            if any(button.get("callback_data") == data for row in message.buttons() for button in row):
                await self.world.press(chat_id, message.message_id, data)
                return
        raise DemoError(f"no button {data!r} in chat {chat_id}")

    async def react(self) -> None:
        """Let every patient answer what is current (one action each per round) until nobody has anything to do."""
        for _ in range(MAX_ROUNDS_PER_STEP):
            acted = await self._acknowledge_alerts()
            for patient in self.patients:
                if await self._patient_turn(patient):
                    acted = True
            if not acted:
                return
            await self.world.settle()
        raise DemoError(f"patients still answering after {MAX_ROUNDS_PER_STEP} rounds: a questionnaire loops")

    async def _patient_turn(self, patient: VirtualPatient) -> bool:
        count = self.world.message_count(patient.user_id)
        if count == patient.seen and not patient.acted:
            return False
        services = self.world.services
        assert services is not None
        _record, prompt = await answering.current_prompt(services, patient.user_id)
        patient.acted = False
        if prompt is not None and self._wants_to_answer(patient, prompt):
            patient.acted = self._act(patient, prompt)
        if not patient.acted:
            patient.seen = count
        return patient.acted

    @staticmethod
    def _wants_to_answer(patient: VirtualPatient, prompt: Prompt) -> bool:
        return patient.profile.keeps_answering or prompt.instance.timepoint in ("baseline", "baseline_more")

    def _act(self, patient: VirtualPatient, prompt: Prompt) -> bool:
        """Inject one press or one typed message for the current question (processing is awaited by the caller)."""
        item = prompt.item
        message_id = prompt.instance.question_message_id
        if message_id is None:
            return False  # the question is being sent; it will be there after the next settle
        value = answer_for(patient.profile, item, prompt.instance.study_day)
        standin = self.world.standin
        user = patient.user_id
        instance, index = prompt.instance.id, prompt.item_index
        try:
            if item.type == "multi":
                assert isinstance(value, list)
                missing = [code for code in value if code not in prompt.selection]
                code = missing[0] if missing else VALIDATE
                standin.press_button(user, user, message_id, f"m:{instance}:{index}:{code}")
            elif item.type in ("scale", "yesno", "single") or value == SKIPPED:
                standin.press_button(user, user, message_id, f"q:{instance}:{index}:{value}")
            else:
                standin.send_text(user, user, str(value))
        except ValueError as exc:
            raise DemoError(f"{patient.profile.study_id} cannot answer {item.id}: {exc}") from None
        patient.answers += 1
        return True

    async def _acknowledge_alerts(self) -> bool:
        """The care team presses "Pris en charge" under every alert it has not acknowledged yet."""
        if self.world.message_count(CLINICIAN_CHAT_ID) == self.group_seen:
            return False
        messages = self.world.standin.messages(CLINICIAN_CHAT_ID, include_deleted=True)
        fresh, self.group_seen = messages[self.group_seen :], len(messages)
        pressed = False
        for message in fresh:
            for data in (str(b.get("callback_data", "")) for row in message.buttons() for b in row):
                if message.from_bot and not message.deleted and data.startswith("ack:"):
                    self.world.standin.press_button(CLINICIAN_CHAT_ID, CLINICIAN_ID, message.message_id, data)
                    pressed = True
        return pressed

    async def run_days(self, last_day: int) -> None:
        """Hourly steps through the days until the morning of `last_day`, patients answering after each tick."""
        tz = self.world.settings.timezone
        end = datetime.combine(DEMO_RT_START + timedelta(days=last_day), local_time(9, 0), tzinfo=tz)
        await self.world.advance_to(end, step=STEP, skip_quiet=True, after_step=self.react)

    async def summaries(self) -> list[PatientSummary]:
        services = self.world.services
        assert services is not None
        result = []
        async with services.store.read() as tx:
            for patient in self.patients:
                found = await patient_repo.find_by_study_id(tx, patient.profile.study_id)
                assert found is not None
                pid = found.id
                statuses = await sandbox_queries.status_counts(tx, pid)
                alerts = [
                    (a.rule_id, a.severity, a.acknowledged) for a in await sandbox_queries.alert_summaries(tx, pid)
                ]
                result.append(
                    PatientSummary(
                        study_id=patient.profile.study_id,
                        description=patient.profile.description,
                        statuses=statuses,
                        alerts=alerts,
                        baseline_pain=_pain(await sandbox_queries.last_worst_pain(tx, pid, "baseline")),
                        day30_pain=_pain(await sandbox_queries.last_worst_pain(tx, pid, "primary")),
                        answers=patient.answers,
                    )
                )
        return result


def _pain(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def write_transcript(world: SandboxWorld, patients: Sequence[VirtualPatient], path: Path) -> None:
    """Every chat as a person would have read it (bot messages as they are now, edits applied)."""
    tz = world.settings.timezone
    chats = [(f"Groupe « Équipe soignante » ({CLINICIAN_CHAT_ID})", CLINICIAN_CHAT_ID)] + [
        (f"Patient {p.profile.study_id} (chat {p.user_id})", p.user_id) for p in patients
    ]
    with path.open("w", encoding="utf-8") as out:
        for title, chat_id in chats:
            out.write(f"===== {title} =====\n")
            for message in world.standin.messages(chat_id):
                when = datetime.fromtimestamp(message.date, tz).strftime("%d/%m %H:%M")
                who = "BOT" if message.from_bot else str(message.from_user.get("first_name", "?"))
                text = message.text or message.caption or "(média)"
                buttons = message.button_texts()
                out.write(f"[{when}] {who}: {text}\n")
                if buttons:
                    out.write(f"    [{' | '.join(buttons)}]\n")
            out.write("\n")


async def write_outputs(world: SandboxWorld, out_dir: Path, notes: list[str], failures: list[str]) -> list[Path]:
    """Exports (CSV, FHIR, audit) and the trial report, if those modules are present in this version.

    A missing module is a note (another part of the product, maybe not shipped yet); a module that is there and
    fails is a failure: the demo exists to show that everything works together.
    """
    services = world.services
    assert services is not None
    written: list[Path] = []
    try:
        from bot.export import export
    except ImportError as exc:
        notes.append(f"exports skipped: bot.export is not available ({exc})")
    else:
        for fmt, name in (("csv", "export.csv"), ("fhir", "export.fhir.json"), ("audit", "audit.csv")):
            path = out_dir / name
            try:
                await export(fmt, services.store, path, services.questionnaires, services.opioids)
            except Exception as exc:  # noqa: BLE001 - reported, and the run fails
                failures.append(f"export {fmt} failed: {type(exc).__name__}: {exc}")
                log.exception("export %s failed", fmt)
            else:
                written.append(path)
    try:
        from bot.report.trial_report import build_report
    except ImportError as exc:
        notes.append(f"report skipped: bot.report.trial_report is not available ({exc})")
    else:
        try:
            files = await build_report(
                services.store,
                out_dir / "report",
                services.questionnaires,
                services.opioids,
                progress=False,
                schedule=services.schedule,
                now=world.clock.now(),
            )
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails
            failures.append(f"report failed: {type(exc).__name__}: {exc}")
            log.exception("report failed")
        else:
            written.extend([files.csv, files.html])
    return written


class DemoOutputError(Exception):
    """The output folder (`--out`) cannot be used; the message is the end of one sentence."""


def prepare_output(out_dir: Path) -> Path:
    """Create `out_dir` and empty its demo database (every run starts from an empty trial); return the database."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DemoOutputError(f"{out_dir} is a file, give a folder")
    try:
        make_private_dirs(out_dir)
    except OSError as exc:
        raise DemoOutputError(f"{out_dir} cannot be created ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK):
        raise DemoOutputError(f"{out_dir} is not writable")
    database = out_dir / "demo.sqlite3"
    for suffix in ("", *SIDE_FILES):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


async def run_demo(out_dir: Path = Path("data/demo"), *, stream: TextIO | None = None, verbose: bool = False) -> int:
    """Run the five scripted patients through day LAST_DAY; print a summary, write the outputs; 0 on success.

    Quiet by default (the bot's INFO log is some 180 lines before the summary): only warnings and errors are
    logged unless `verbose`. Raises `DemoOutputError` when `out_dir` cannot be used.
    """
    out = stream or sys.stdout
    began = time.monotonic()
    database = prepare_output(out_dir)
    root = logging.getLogger()
    previous_level = root.level
    if not verbose:
        root.setLevel(logging.WARNING)
    try:
        return await _run_demo(out_dir, database, out, began)
    finally:
        root.setLevel(previous_level)


async def _run_demo(out_dir: Path, database: Path, out: TextIO, began: float) -> int:
    try:
        settings = load_settings()  # the operator's time zone; token, database and group are the demo's own
    except ConfigError as exc:
        print(exc, file=out)
        return 2
    # The periodic job is kept (production path) but set to an hour of real time: the demo ticks by hand.
    world = SandboxWorld(settings, database, start=DEMO_START, tick_every=timedelta(hours=1), rate_limiter=False)
    await world.start()
    notes: list[str] = []
    failures: list[str] = []
    try:
        run = DemoRun(world)
        for profile in PROFILES:
            await run.enrol_and_join(profile)
        await run.react()  # the baselines
        await run.run_days(LAST_DAY)
        summaries = await run.summaries()
        write_transcript(world, run.patients, out_dir / "transcript.txt")
        written = await write_outputs(world, out_dir, notes, failures)
    except DemoError as exc:
        print(f"Demo failed: {exc}", file=out)
        return 1
    finally:
        await world.stop()
    elapsed = time.monotonic() - began
    print(
        f"Demo: {len(PROFILES)} virtual patients, day 0 = {DEMO_RT_START:%d/%m/%Y}, followed from enrolment to day "
        f"{LAST_DAY} (the day-90 questionnaire's window closes on day {LAST_DAY - 1}) in {elapsed:.1f} s "
        "(real bot, stand-in Telegram, virtual clock).",
        file=out,
    )
    for summary in summaries:
        for line in summary.lines():
            print(line, file=out)
    print(
        f"Written to {out_dir}: transcript.txt, demo.sqlite3" + "".join(f", {p.relative_to(out_dir)}" for p in written),
        file=out,
    )
    print(
        f"The demo's database is {database}: for example "
        + command(f"export --database {database} --format csv --out demo.csv"),
        file=out,
    )
    for note in notes:
        print(f"Note: {note}", file=out)
    for failure in failures:
        print(f"FAILED: {failure}", file=out)
    return 1 if failures else 0


def main() -> int:
    """`python -m bot.sandbox.demo [out_dir]` until the lead wires `python -m bot demo`."""
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/demo")
    return asyncio.run(run_demo(out_dir))


if __name__ == "__main__":
    sys.exit(main())
