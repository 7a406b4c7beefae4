"""`python -m bot simulate --patients N --seed S --out DIR`: a seeded virtual cohort through day 38 (issue 16).

Why: the primary end point (pain response at day 30) is lost for every patient without a baseline or a day-30
answer. This run measures how many keep one — `d30_evaluable_fraction`: the day-30 pain response (Chow 2012, as
computed by the trial report, `bot.export.metrics`) is computable, among patients not withdrawn — twice on the same
seed: with the coordinators' call list worked by research nurses (`/appels`, then `/saisie` by phone), and without.

How: the real `Application` long-polls the Bot API stand-in (`SandboxWorld`, as in the demo) with the virtual
clock, hour by hour (the quiet nights of day 1 onwards in one step: nothing is sent then and nobody joins). Each
virtual patient opens their link, reads, picks a time, and presses the buttons of whatever question is in their
chat, as a person would; the research nurse types `/appels` in the group and enters answers by pressing the
phone-entry buttons. Every behaviour is drawn from `random.Random(seed)`, so a seed gives the same cohort, and the
two runs differ only by the nurse.

The mix (fixed, listed in docs/simulation.md): 20 % join between 21:00 and 08:00; 10 % are enrolled on day 0 after the
fraction; 10 % of questionnaires are left partway (resumed at the next reminder); 15 % stop answering for 3 to 14
days starting between day 25 and day 31; 5 % withdraw (/stop) on a day between 1 and 60. Otherwise patients
answer the baseline and the follow-ups (probability 0.97 each) and, to keep the run short, a quarter of the daily
diaries and weekly checks (those do not enter the day-30 end point). The nurse looks at the call list at 09:00
and 14:00 on working days and calls everyone on it; each call reaches the patient with probability 0.7. These
numbers are simulation settings, not clinical thresholds.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as local_time
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

import yaml

from bot.config import ConfigError, load_settings
from bot.domain.questionnaire import SKIPPED, UNKNOWN, Item, Questionnaire
from bot.domain.rules import RuleSet, load_rules
from bot.domain.schedule import is_quiet  # noqa: F401 - re-exported for tests
from bot.sandbox.demo import Profile
from bot.sandbox.world import CLINICIAN_CHAT_ID, SandboxWorld
from bot.services import answering, phone_entry
from bot.services.container import Services
from bot.storage import sandbox_queries
from bot.telegram.keyboards import CONSENT, VALIDATE

PARIS = ZoneInfo("Europe/Paris")
#: Day 0 (first fraction) for the whole cohort: a Wednesday, so days 35-37 (the call list) are working days.
RT_START = date(2027, 3, 3)
FIRST_JOIN_DAY = -3
LAST_DAY = 38  # the day-30 window closes at the end of day 37
NIGHT_JOIN = 0.20
AFTER_FRACTION_JOIN = 0.10
NURSE_HOURS = (9, 14)
MAX_ROUNDS = 400
#: The table of the cohort's parameters, each with its source (issue 33): docs/simulation.md lists them.
PARAMETERS = Path(__file__).with_name("cohort_parameters.yaml")
SCENARIOS = ("published", "optimistic", "pessimistic")
RED_FLAG_ITEMS = ("rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new")
#: Minutes from an alert reaching the group to "Pris en charge": urgent at once (5-45 min, day or night: the
#: on-call team); others within working hours (Mon-Fri 08:00-18:00), 30 min to 4 h, else the next working morning.
URGENT_ACK_MINUTES = (5, 45)
OTHER_ACK_MINUTES = (30, 240)
WORKING_HOURS = (8, 18)
OUTCOME_AFTER_DAYS = (5, 10)  # when the team records what the alert turned out to be
#: What the team does and what it finds, by kind of alert (weights): simulation settings.
ACTIONS_BY_KIND: dict[str, dict[str, float]] = {
    "red_flag": {"emergency": 0.6, "imaging": 0.3, "called": 0.1},
    "fever": {"emergency": 0.7, "called": 0.3},
    "analgesics": {"called": 0.5, "nothing": 0.3, "analgesics": 0.2},
    "pain": {"analgesics": 0.5, "called": 0.4, "clinic": 0.1},
    "other": {"called": 0.6, "nothing": 0.3, "clinic": 0.1},
}
OUTCOMES_BY_KIND: dict[str, dict[str, float]] = {
    "red_flag": {"cord_compression": 0.25, "fracture": 0.1, "pain_flare": 0.3, "none": 0.35},
    "fever": {"infection": 0.5, "admission": 0.2, "none": 0.3},
    "analgesics": {"pain_flare": 0.6, "none": 0.4},
    "pain": {"pain_flare": 0.6, "none": 0.4},
    "other": {"none": 0.8, "pain_flare": 0.15, "admission": 0.05},
}
#: An answer as the patient gives it (a float: a dose such as 12.5 mg, typed "12,5").
Answer = int | float | str | list[str]
_SAISIE = re.compile(r"/saisie (\S+)")


@dataclass(frozen=True)
class Parameters:
    """One scenario of `cohort_parameters.yaml`: values by name, with the source of each (issue 33)."""

    scenario: str
    values: dict[str, Any]
    sources: dict[str, str]  # parameter → source key
    messages: dict[str, tuple[str, ...]]

    def p(self, name: str) -> float:
        return float(self.values[name])

    def span(self, name: str) -> tuple[int, int]:
        low, high = self.values[name]
        return int(low), int(high)

    def weights(self, name: str) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.values[name].items()}


def load_parameters(scenario: str = "published", path: Path = PARAMETERS) -> Parameters:
    """The scenario's values; ValueError for an unknown scenario or a parameter without a source."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if scenario not in data["scenarios"]:
        raise ValueError(f"unknown scenario {scenario!r} (choose from {', '.join(data['scenarios'])})")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in data["parameters"].items():
        if spec.get("source") not in data["sources"]:
            raise ValueError(f"parameter {name}: source {spec.get('source')!r} is not listed under sources")
        values[name] = spec[scenario]
        sources[name] = spec["source"]
    messages = {kind: tuple(texts) for kind, texts in data["messages"].items()}
    return Parameters(scenario, values, sources, messages)


def _draw(*key: object) -> random.Random:
    """A random stream keyed by what it decides (patient, questionnaire, item…), never by the order in which the
    bot happened to process concurrent updates: the same seed gives the same answers (issue 33, determinism)."""
    return random.Random(":".join(str(k) for k in key))


@dataclass
class Line:
    """One analgesic product as the patient reads it on the box (French names: questionnaires/*.yaml choices)."""

    product: str
    dose: float | None = None  # mg per intake (None: tablets of a combination, or a patch)
    per_day: int | None = None
    patch: float | None = None  # µg/h
    tablets: float | None = None  # combinations (codeine + paracetamol…)

    def scaled(self, factor: float) -> Line:
        if self.patch is not None:
            return replace(self, patch=max(12.0, round(self.patch * factor / 12.5) * 12.5))
        if self.dose is not None:
            return replace(self, dose=float(max(5, round(self.dose * factor / 5) * 5)))
        return replace(self, tablets=min(4.0, max(0.5, round((self.tablets or 1) * factor * 2) / 2)))


#: Regimens as prescribed in France (background lines, rescue product and dose in mg or None, other analgesics).
REGIMENS: dict[str, tuple[tuple[Line, ...], tuple[str, float] | None]] = {
    "step1_only": ((), None),
    "tramadol": ((Line("tramadol", 100, 2),), None),
    "codeine": ((Line("dafalgancod", per_day=3, tablets=2),), None),
    "morphine": ((Line("skenan", 30, 2),), ("actiskenan", 10)),
    "oxycodone": ((Line("oxycontin", 20, 2),), ("oxynormoro", 10)),
    "fentanyl": ((Line("durogesic", patch=25),), ("actiskenan", 10)),
    "two_products": ((Line("durogesic", patch=25), Line("skenan", 30, 2)), ("actiskenan", 20)),
}


@dataclass
class Clinical:
    """A patient's course (issue 33): response, flare, regimen and its changes, side effects, events; and what
    the patient reported (to count red flags from plan to alert)."""

    fractions: int = 1
    response: str = "partial"
    red_flag: tuple[int, str] | None = None  # (first day, item)
    red_flag_in_words: bool = False
    red_flag_persists: int = 3
    fever_day: int | None = None
    on_chemo: bool = False
    titration: tuple[int, float] | None = None  # (day, factor of the background dose)
    titration_down: tuple[int, float] | None = None
    flare: tuple[int, int, int] | None = None  # [first day, last day], points above the baseline
    night_pain: bool = False
    regimen: str = "morphine"
    segment: str = "thoracic"
    side_effects: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # item → (first, last, grade)
    death_day: int | None = None
    hospital: tuple[int, int] | None = None
    messages: list[tuple[int, int, str, str]] = field(default_factory=list)  # (day, hour, kind, text)
    injected: dict[int, str] = field(default_factory=dict)  # instance → the urgent rule its answer must raise
    words_sent: list[tuple[datetime, str]] = field(default_factory=list)  # red flags written, when
    regimen_told: tuple[Line, ...] | None = None  # the regimen the bot last heard about

    def worst_pain(self, base: int, day: int | None) -> int:
        if self.flare is not None and day is not None and self.flare[0] <= day <= self.flare[1]:
            return min(10, base + self.flare[2])
        return base

    def lines(self, day: int) -> tuple[Line, ...]:
        """The background regimen on `day`, after the titrations up and down."""
        lines = REGIMENS[self.regimen][0]
        for change in (self.titration, self.titration_down):
            if change is not None and day >= change[0] and lines:
                lines = (lines[0].scaled(change[1]), *lines[1:])
        return lines

    def absent(self, day: int) -> bool:
        """Dead or in hospital on `day`: no answer, no message."""
        return (self.death_day is not None and day >= self.death_day) or (
            self.hospital is not None and self.hospital[0] <= day <= self.hospital[1]
        )


def draw_clinical(rng: random.Random, params: Parameters | None = None) -> Clinical:
    """The course of one patient (pure, from its own random stream)."""
    params = params or load_parameters()
    c = Clinical()
    c.fractions = 1 if rng.random() < params.p("single_fraction_share") else 5
    c.response = _weighted(rng, params.weights("response_at_day_30"))
    if rng.random() < params.p("flare_single_fraction" if c.fractions == 1 else "flare_multiple_fractions"):
        start = rng.randint(*params.span("flare_start_day"))
        c.flare = (start, start + rng.randint(*params.span("flare_days")) - 1, rng.randint(*params.span("flare_rise")))
    c.night_pain = rng.random() < params.p("night_pain")
    if rng.random() < params.p("red_flag"):
        c.red_flag = (rng.randint(1, 37), rng.choice(RED_FLAG_ITEMS))
        c.red_flag_in_words = rng.random() < params.p("red_flag_in_words")
    c.red_flag_persists = int(params.p("red_flag_persists_days"))
    if rng.random() < params.p("fever_on_chemo"):
        c.fever_day, c.on_chemo = rng.randint(1, 30), True
    else:
        c.on_chemo = rng.random() < params.p("on_chemo")
    c.regimen = _weighted(rng, params.weights("regimen"))
    if REGIMENS[c.regimen][0] and rng.random() < params.p("titration_up"):
        c.titration = (rng.randint(2, 20), rng.choice([1.3, 1.5, 2.0]))
    if REGIMENS[c.regimen][0] and c.response in ("complete", "partial") and rng.random() < params.p("titration_down"):
        c.titration_down = (rng.randint(21, 30), 0.7)
    c.segment = _weighted(rng, params.weights("segment"))
    grades = params.weights("side_effect_grade")
    by_segment = {
        "se_nausea": ("thoraco_lumbar", "nausea_thoraco_lumbar"),
        "se_swallow": ("cervico_thoracic", "swallow_cervico_thoracic"),
        "se_diarrhoea": ("lumbo_sacral", "diarrhoea_lumbo_sacral"),
        "se_fatigue": (None, "fatigue"),
    }
    for item, (segment, name) in by_segment.items():
        if (segment is None or segment == c.segment) and rng.random() < params.p(name):
            first = rng.randint(0, 1)
            c.side_effects[item] = (
                first,
                first + rng.randint(*params.span("side_effect_days")) - 1,
                _weighted(rng, grades),
            )
    if rng.random() < params.p("death_before_day_38"):
        c.death_day = rng.randint(5, 37)
    if rng.random() < params.p("hospital_stay"):
        start = rng.randint(2, 30)
        c.hospital = (start, start + rng.randint(*params.span("hospital_days")) - 1)
    rate = params.p("messages_per_patient_week") / 7
    kinds = params.weights("message_kind")
    for day in range(0, LAST_DAY):
        if rng.random() < rate:
            kind = _weighted(rng, kinds)
            c.messages.append((day, rng.randint(9, 20), kind, rng.choice(params.messages[kind])))
    if c.red_flag is not None and c.red_flag_in_words:
        c.messages.append(
            (c.red_flag[0], rng.randint(9, 20), c.red_flag[1], rng.choice(params.messages[c.red_flag[1]]))
        )
    c.messages.sort()
    return c


@dataclass
class Behaviour:
    """One virtual patient: who they are and how they behave, drawn from the seed (pure, see `draw_cohort`)."""

    index: int
    profile: Profile
    join_at: datetime
    night_join: bool
    after_fraction: bool
    silence: tuple[int, int] | None  # [first day, last day] without any answer
    withdraw_day: int | None
    user_id: int = 0
    joined: bool = False
    withdrawn: bool = False
    seen: int = 0
    acted: bool = False
    rng: random.Random = field(default_factory=random.Random)
    decisions: dict[str, tuple[bool, int | None]] = field(default_factory=dict)  # timepoint → (answers, stop at)
    answered: dict[int, int] = field(default_factory=dict)  # instance → answers given
    clinical: Clinical | None = None  # the clinical course (None: benign)
    seed: int = 0
    taps: dict[int, int] = field(default_factory=dict)  # instance → presses and typed answers
    words: dict[int, int] = field(default_factory=dict)  # instance → words of the questions read
    kinds: dict[int, str] = field(default_factory=dict)  # instance → questionnaire
    items_seen: set[tuple[int, int]] = field(default_factory=set)
    diaries_answered: int = 0
    death_recorded: bool = False
    messages_sent: int = 0


def _pain_course(rng: random.Random, baseline: int, response: str) -> int:
    """Worst pain at day 30 for a response category of the consensus (Chow 2012), from the baseline."""
    if response == "complete":
        return 0
    if response == "partial":
        return max(0, baseline - rng.randint(2, max(2, baseline - 1)))
    if response == "progression":
        return min(10, baseline + rng.randint(2, 3))
    return max(0, min(10, baseline + rng.randint(-1, 1)))


def _join_moment(rng: random.Random, night: bool, after_fraction: bool, tz: ZoneInfo) -> datetime:
    if after_fraction:  # day 0, between 09:00 and 20:59, or at night after 21:00 when it is also a night join
        hour = rng.randint(21, 23) if night else rng.randint(9, 20)
        return datetime.combine(RT_START, local_time(hour, rng.randrange(0, 60, 5)), tzinfo=tz)
    day = RT_START + timedelta(days=rng.randint(FIRST_JOIN_DAY, -1))
    if night:
        hour = rng.choice([21, 22, 23, 0, 1, 6, 7])
        if hour < 8:
            day += timedelta(days=1)  # the small hours of the next day (at most day 0, before the fraction)
    else:
        hour = rng.randint(8, 20)
    return datetime.combine(day, local_time(hour, rng.randrange(0, 60, 5)), tzinfo=tz)


def draw_cohort(patients: int, seed: int, tz: ZoneInfo = PARIS, params: Parameters | None = None) -> list[Behaviour]:
    """The cohort for this seed and scenario: same seed, same patients, same behaviours."""
    params = params or load_parameters()
    rng = random.Random(seed)
    cohort = []
    for index in range(patients):
        clinical = draw_clinical(random.Random(f"{seed}:clinical:{index}"), params)
        baseline = rng.randint(*params.span("baseline_worst_pain"))
        day30 = _pain_course(random.Random(f"{seed}:pain:{index}"), baseline, clinical.response)
        profile = Profile(
            key=f"p{index}",
            study_id=f"SIM-{index + 1:03d}",
            description="simulated",
            pain=((0, baseline), (14, (baseline + day30) // 2), (28, day30)),
            fractions=clinical.fractions,
            preferred=rng.choice(["matin", "matin", "midi", "soir"]),
            arm="standard" if clinical.fractions == 1 else "experimental",
        )
        night = rng.random() < NIGHT_JOIN
        after = rng.random() < AFTER_FRACTION_JOIN
        silence = None
        if rng.random() < params.p("silent"):
            start = rng.randint(*params.span("silent_start"))
            silence = (start, start + rng.randint(*params.span("silent_days")) - 1)
        withdraw = rng.randint(*params.span("withdraw_day")) if rng.random() < params.p("withdraw") else None
        cohort.append(
            Behaviour(
                index,
                profile,
                _join_moment(rng, night, after, tz),
                night,
                after,
                silence,
                withdraw,
                rng=random.Random(f"{seed}:{index}"),
                clinical=clinical,
                seed=seed,
            )
        )
    return cohort


class CohortRun:
    """One run of the cohort on its own database, with or without the nurse working the call list."""

    def __init__(
        self,
        world: SandboxWorld,
        cohort: list[Behaviour],
        *,
        call_list: bool,
        seed: int,
        reach: float | None = None,
        params: Parameters | None = None,
    ) -> None:
        self.world = world
        self.cohort = cohort
        self.call_list = call_list
        self.params = params or load_parameters()
        self.reach = self.params.p("nurse_reaches") if reach is None else reach
        self.seed = seed
        self.calls = 0
        self.reached = 0
        self.plans: dict[int, dict[str, Any]] = {}  # alert → when to ack / act / record outcome
        self._lengths: dict[str, int] = {}
        self._db_ids: dict[str, int] = {}
        self._alerts_seen: dict[tuple[str, str], int] = {}

    def study_day(self) -> int:
        return (self.world.clock.now().astimezone(self.world.settings.timezone).date() - RT_START).days

    async def join(self, patient: Behaviour) -> None:
        code, reply = await self.world.enroll(
            patient.profile.study_id, RT_START, patient.profile.fractions, arm=patient.profile.arm
        )
        if code is None:
            raise RuntimeError(f"enrolment of {patient.profile.study_id} gave no link: {reply!r}")
        patient.user_id = self.world.new_patient_user(first_name=patient.profile.study_id)
        await self.world.patient_says(patient.user_id, f"/start {code}")
        await self._press(patient.user_id, CONSENT)
        await self._press(patient.user_id, f"pref:{patient.profile.preferred}")
        patient.joined = True

    async def _press(self, chat_id: int, data: str) -> None:
        for message in reversed(self.world.standin.sent_messages(chat_id)):
            if any(button.get("callback_data") == data for row in message.buttons() for button in row):
                await self.world.press(chat_id, message.message_id, data)
                return
        raise RuntimeError(f"no button {data!r} in chat {chat_id}")

    async def withdraw(self, patient: Behaviour) -> None:
        await self.world.patient_says(patient.user_id, "/stop")
        await self._press(patient.user_id, "stop:yes")
        patient.withdrawn = True

    async def react(self) -> None:
        """Every patient acts on what is in their chat, one press per round, until nobody has anything to do."""
        for _ in range(MAX_ROUNDS):
            acted = False
            for patient in self.cohort:
                if patient.joined and not patient.withdrawn and await self._turn(patient):
                    acted = True
            if not acted:
                return
            await self.world.settle(timeout=60)
        raise RuntimeError("patients still answering after too many rounds")

    async def _turn(self, patient: Behaviour) -> bool:
        count = self.world.message_count(patient.user_id)
        if count == patient.seen and not patient.acted:
            return False
        services = self.world.services
        assert services is not None
        _record, prompt = await answering.current_prompt(services, patient.user_id)
        patient.acted = False
        if prompt is not None and self._wants(patient, prompt):
            patient.acted = self._act(patient, prompt)
        if not patient.acted:
            patient.seen = count
        return patient.acted

    def _length(self, questionnaire: Questionnaire) -> int:
        """Questions every patient is asked (no condition): the length that weighs on completion."""
        if questionnaire.id not in self._lengths:
            self._lengths[questionnaire.id] = sum(
                1 for item in questionnaire.items if item.show_if is None and not item.context
            )
        return self._lengths[questionnaire.id]

    def completion(self, patient: Behaviour, questionnaire: Questionnaire) -> float:
        """The probability of answering this questionnaire: by kind, falling with the diaries already answered
        (Basch, PRO-TECT) and with length (Rolstad 2011); cohort_parameters.yaml."""
        p = self.params
        kind = questionnaire.id
        if kind == "baseline":
            base = p.p("baseline_completion")
        elif kind == "followup":
            base = p.p("followup_completion")
        elif kind == "weekly":
            base = p.p("weekly_completion")
        else:
            base = p.p("diary_first_completion") * p.p("diary_decay_per_answered") ** patient.diaries_answered
        extra = max(0, self._length(questionnaire) - int(p.p("length_reference_items")))
        return base * max(0.5, 1 - p.p("length_penalty_per_item") * extra)

    def _wants(self, patient: Behaviour, prompt: answering.Prompt) -> bool:
        day = self.study_day()
        if patient.silence is not None and patient.silence[0] <= day <= patient.silence[1]:
            return False
        if patient.clinical is not None and patient.clinical.absent(day):
            return False
        instance = prompt.instance
        key = f"{instance.timepoint}:{instance.study_day}"
        if key not in patient.decisions:
            rng = _draw(patient.seed, patient.index, "answers", key)
            answers = rng.random() < self.completion(patient, prompt.questionnaire)
            stop = rng.randint(1, 8) if rng.random() < self.params.p("abandon_partway") else None
            patient.decisions[key] = (answers, stop)
            if answers and instance.questionnaire_id == "daily":
                patient.diaries_answered += 1
        answers, stop = patient.decisions[key]
        if not answers:
            return False
        if stop is not None and patient.answered.get(instance.id, 0) == stop:
            patient.decisions[key] = (True, None)  # left partway; resumed at the next message (reminder)
            return False
        return True

    def _act(self, patient: Behaviour, prompt: answering.Prompt) -> bool:
        message_id = prompt.instance.question_message_id
        if message_id is None:
            return False
        data, text = _input_for(patient, prompt, "q", "m", self.params)
        user = patient.user_id
        if data is not None:
            self.world.standin.press_button(user, user, message_id, data)
        else:
            self.world.standin.send_text(user, user, text or "")
        instance_id = prompt.instance.id
        patient.taps[instance_id] = patient.taps.get(instance_id, 0) + 1
        patient.kinds[instance_id] = prompt.instance.questionnaire_id
        if (instance_id, prompt.item_index) not in patient.items_seen:
            patient.items_seen.add((instance_id, prompt.item_index))
            patient.words[instance_id] = patient.words.get(instance_id, 0) + len(
                (prompt.text or prompt.item.text).split()
            )
        if prompt.item.type != "multi" or (data or "").endswith(VALIDATE):
            patient.answered[instance_id] = patient.answered.get(instance_id, 0) + 1
        return True

    async def send_messages(self) -> None:
        """Patients write to the team when their course says so (questions, thanks, worries, red flags in words)."""
        now = self.world.clock.now()
        tz = self.world.settings.timezone
        for patient in self.cohort:
            clinical = patient.clinical
            if clinical is None or not patient.joined or patient.withdrawn:
                continue
            while patient.messages_sent < len(clinical.messages):
                day, hour, kind, text = clinical.messages[patient.messages_sent]
                moment = datetime.combine(RT_START + timedelta(days=day), local_time(hour), tzinfo=tz)
                if moment > now:
                    break
                patient.messages_sent += 1
                silent = patient.silence is not None and patient.silence[0] <= day <= patient.silence[1]
                if (
                    clinical.absent(day)
                    or (silent and kind not in RED_FLAG_ITEMS)
                    or now - moment > timedelta(hours=12)
                ):
                    continue  # in hospital, dead or silent then; or a night step skipped past it: not written
                self.world.standin.send_text(patient.user_id, patient.user_id, text)
                await self.world.settle(timeout=60)
                if kind in RED_FLAG_ITEMS:
                    clinical.words_sent.append((now, kind))

    async def record_deaths(self) -> None:
        """The team learns of a death 1-7 days later (working hours) and records it (/event … death)."""
        day = self.study_day()
        local = self.world.clock.now().astimezone(self.world.settings.timezone)
        if local.weekday() >= 5 or local.hour != NURSE_HOURS[0]:
            return
        for patient in self.cohort:
            clinical = patient.clinical
            if clinical is None or clinical.death_day is None or patient.death_recorded or not patient.joined:
                continue
            delay = _draw(self.seed, patient.index, "death_known").randint(1, 7)
            if day >= clinical.death_day + delay:
                on = RT_START + timedelta(days=clinical.death_day)
                await self.world.clinician_says(f"/event {patient.profile.study_id} death {on.isoformat()}")
                patient.death_recorded = True

    async def nurse_round(self) -> None:
        """The research nurse reads the call list in the group and phones everyone on it."""
        replies = await self.world.clinician_says("/appels")
        listed = [m.group(1) for reply in replies for m in _SAISIE.finditer(reply.text or "")]
        by_id = {p.profile.study_id: p for p in self.cohort}
        now = self.world.clock.now().isoformat()
        for study_id in listed:
            self.calls += 1
            patient = by_id[study_id]
            if patient.clinical is not None and patient.clinical.absent(self.study_day()):
                continue  # dead or in hospital: nobody answers
            if _draw(self.seed, "nurse", study_id, now).random() >= self.reach:
                continue  # no answer; tried again at the next round
            self.reached += 1
            await self.phone_entry(patient)

    async def phone_entry(self, patient: Behaviour) -> None:
        services = self.world.services
        assert services is not None
        replies = await self.world.clinician_says(f"/saisie {patient.profile.study_id}")
        for _ in range(200):
            message = next(
                (
                    m
                    for m in reversed(self.world.standin.sent_messages(CLINICIAN_CHAT_ID))
                    if any(
                        str(b.get("callback_data", "")).startswith(("pq:", "pm:")) for row in m.buttons() for b in row
                    )
                ),
                None,
            )
            instance_id = await phone_entry.session_instance(services, _nurse_id())
            prompt = None if instance_id is None else await phone_entry.current_prompt(services, instance_id)
            if prompt is None:
                return
            data, text = _input_for(patient, prompt, "pq", "pm", self.params, by_phone=True)
            if data is not None:  # a question with buttons (a number or a text has none: it is typed)
                if message is None:
                    raise RuntimeError(f"phone entry of {patient.profile.study_id}: no buttons for {prompt.item.id}")
                await self.world.press(CLINICIAN_CHAT_ID, message.message_id, data)
            else:
                await self.world.clinician_says(text or "")
        raise RuntimeError(f"phone entry of {patient.profile.study_id} did not end: {replies!r}")

    async def team_round(self) -> None:
        """The clinicians take care of the alerts in their group, after a realistic delay, then say what they did
        and, days later, what it was (the closed loop of issue 15). Each alert's delays and outcome are drawn from
        a stream keyed by the alert's patient and rule and its rank among them (not by the order of alert ids)."""
        services = self.world.services
        assert services is not None
        now = self.world.clock.now()
        async with services.store.read() as tx:
            rows = await sandbox_queries.alerts_awaiting_outcome(tx)
            owners: dict[int, str] = {}
            if any(row.id not in self.plans for row in rows):
                from bot.export.alerts_export import load_alert_data

                data = await load_alert_data(tx)
                owners = {a.id: data.patients[a.patient_id][0] for a in data.alerts}
        for row in rows:
            alert_id, message_id = row.id, row.message_id
            plan = self.plans.get(alert_id)
            if plan is None:  # keyed by the n-th alert of this rule for this patient: its delivery time may vary
                owner = (owners.get(alert_id, ""), row.rule_id)  # by an hour (sent by the handler or by a tick)
                self._alerts_seen[owner] = self._alerts_seen.get(owner, 0) + 1
                rng = _draw(self.seed, "team", *owner, self._alerts_seen[owner])
                plan = self.plans[alert_id] = self._plan(rng, row.rule_id, row.severity, row.delivered_at)
            kind = str(plan["kind"])
            rng = plan["rng"]
            try:
                if row.acknowledged_at is None:
                    if plan["ack"] is not None and plan["ack"] <= now:
                        await self.world.press(CLINICIAN_CHAT_ID, message_id, f"ack:{alert_id}")
                        plan["acked_at"] = now
                    continue
                if "acted" not in plan:
                    action = _weighted(rng, ACTIONS_BY_KIND[kind])
                    await self.world.press(CLINICIAN_CHAT_ID, message_id, f"act:{alert_id}:{action}")
                    plan["acted"] = now
                    plan["outcome"] = now + timedelta(days=rng.randint(*OUTCOME_AFTER_DAYS))
                    continue
                if plan["outcome"] is not None and plan["outcome"] <= now:
                    outcome = _weighted(rng, OUTCOMES_BY_KIND[kind])
                    await self.world.press(CLINICIAN_CHAT_ID, message_id, f"out:{alert_id}:{outcome}")
                    plan["outcome"] = None
            except ValueError:  # the message no longer has that button (edited elsewhere): nothing to press
                plan["ack"] = None
                plan["outcome"] = None

    def _plan(self, rng: random.Random, rule_id: str, severity: str, delivered: datetime) -> dict[str, Any]:
        kind = (
            "red_flag"
            if rule_id.startswith("rf_") or rule_id == "free_text_red_flag"
            else "fever"
            if rule_id.startswith("fever")
            else "analgesics"
            if rule_id == "analgesic_increase"
            else "pain"
            if rule_id.startswith("pain") or rule_id == "rescue_doses_high"
            else "other"
        )
        tz = self.world.settings.timezone
        if severity == "urgent":
            ack = delivered + timedelta(minutes=rng.randint(*URGENT_ACK_MINUTES))
        else:
            ack = delivered + timedelta(minutes=rng.randint(*OTHER_ACK_MINUTES))
            local = ack.astimezone(tz)
            while local.weekday() >= 5 or not (WORKING_HOURS[0] <= local.hour < WORKING_HOURS[1]):
                local = (local + timedelta(hours=1)).replace(minute=rng.randrange(0, 60, 5))
            ack = local
        return {"kind": kind, "ack": ack, "rng": rng}

    async def run(self) -> None:
        tz = self.world.settings.timezone
        assert self.world.services is not None
        spec = self.world.services.schedule
        pending = sorted(self.cohort, key=lambda p: (p.join_at, p.index))
        end = datetime.combine(RT_START + timedelta(days=LAST_DAY), local_time(9, 0), tzinfo=tz)
        while self.world.clock.now() < end:
            now = self.world.clock.now()
            target = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
            while (target.astimezone(tz).date() - RT_START).days >= 1 and target < end and is_quiet(target, spec, tz):
                target += timedelta(hours=1)
            while pending and pending[0].join_at <= target:  # joins at their own minute, night or day
                patient = pending.pop(0)
                await self.world.step_to(patient.join_at)
                await self.join(patient)
                await self.react()
            await self.world.step_to(min(target, end))
            await self.team_round()
            await self.record_deaths()
            day = self.study_day()
            for patient in self.cohort:
                if (
                    patient.joined
                    and not patient.withdrawn
                    and patient.withdraw_day is not None
                    and day >= patient.withdraw_day
                    and not (patient.clinical and patient.clinical.absent(day))
                ):
                    await self.withdraw(patient)
            await self.send_messages()
            await self.react()
            local = self.world.clock.now().astimezone(tz)
            if self.call_list and local.weekday() < 5 and local.minute == 0 and local.hour in NURSE_HOURS:
                await self.nurse_round()

    async def summary(self) -> dict[str, object]:
        from bot.export.dataset import load_dataset
        from bot.export.metrics import ReportPlan, outcomes
        from bot.services import intercurrent

        services = self.world.services
        assert services is not None
        dataset = await load_dataset(services.store)
        async with services.store.read() as tx:
            events = await intercurrent.all_events(tx)
        dead_ids = {e.study_id for e in events if e.kind == "death"}
        plan = ReportPlan.from_schedule(services.schedule)
        results = {o.study_id: o for o in outcomes(dataset, services.questionnaires, services.opioids, plan)}
        statuses = {p.study_id: p.status for p in dataset.patients}
        remaining = [s for s, status in statuses.items() if status != "withdrawn" and s not in dead_ids]
        evaluable_all = [s for s in statuses if results[s].responses.get(plan.primary or "") is not None]
        evaluable = [s for s in remaining if s in evaluable_all]
        by_status: dict[str, int] = {}
        for inst in dataset.instances:
            by_status[inst.status] = by_status.get(inst.status, 0) + 1
        phone = sum(1 for row in dataset.answers if row.source == "phone")
        alerting = await self.alert_summary()
        red_flags = self.red_flag_summary(alerting.pop("_alerts"))  # type: ignore[arg-type]  # alert_summary() returns dict[str, object]; its "_alerts" entry is that list
        return {
            "scenario": self.params.scenario,
            "patients": len(statuses),
            "withdrawn": sum(status == "withdrawn" for status in statuses.values()),
            "deaths_recorded": len(dead_ids),
            "questionnaires": by_status.get("completed", 0),
            "questionnaires_by_status": dict(sorted(by_status.items())),
            "d30_evaluable": len(evaluable),
            "d30_evaluable_fraction": round(len(evaluable) / len(remaining), 4) if remaining else None,
            "d30_itt_fraction": round(len(evaluable_all) / len(statuses), 4) if statuses else None,
            **self.before_day_30(),
            "phone_answers": phone,
            "nurse_calls": self.calls,
            "nurse_calls_reached": self.reached,
            **alerting,
            **red_flags,
            "burden": self.burden(dataset),
        }

    def before_day_30(self) -> dict[str, int]:
        """Deaths and withdrawals before day 30, as the cohort drew them and as they happened in the run."""
        deaths = sum(
            1 for p in self.cohort if p.clinical and p.clinical.death_day is not None and p.clinical.death_day < 30
        )
        withdrawals = sum(1 for p in self.cohort if p.withdrawn and p.withdraw_day is not None and p.withdraw_day < 30)
        return {"deaths_before_day_30": deaths, "withdrawals_before_day_30": withdrawals}

    def red_flag_summary(self, alerts: list[tuple[int, int | None, str, datetime]]) -> dict[str, object]:
        """Red flags from plan to alert (issue 33): planned (the patient had one while followed), reported by an
        answer or in words, alerted (an urgent alert on that answer, or a free-text red-flag alert on the
        patient within the hour of the message), and planned but never reported (no questionnaire, no words)."""
        by_patient: dict[int, list[tuple[int | None, str, datetime]]] = {}
        for patient_db_id, instance_id, rule_id, created in alerts:
            by_patient.setdefault(patient_db_id, []).append((instance_id, rule_id, created))
        planned = by_answer = by_words = reported = alerted = 0
        detail: dict[str, int] = {}
        for patient in self.cohort:
            c = patient.clinical
            if c is None or not patient.joined:
                continue
            episodes: list[tuple[str, int]] = []
            if c.red_flag is not None:
                episodes.append(("neuro", c.red_flag[0]))
            if c.fever_day is not None:
                episodes.append(("fever", c.fever_day))
            mine = by_patient.get(self._db_ids.get(patient.profile.study_id, -1), [])
            for episode, onset in episodes:
                stopped = min([d for d in (c.death_day, patient.withdraw_day) if d is not None], default=LAST_DAY)
                if onset >= stopped or onset >= LAST_DAY:
                    continue
                planned += 1
                rules = {"rf_"} if episode == "neuro" else {"fever_on_chemo"}
                answer = [i for i, rule in c.injected.items() if any(rule.startswith(r) for r in rules)]
                words = [when for when, _item in c.words_sent] if episode == "neuro" else []
                by_answer += bool(answer)
                by_words += bool(words)
                if not (answer or words):
                    detail[episode] = detail.get(episode, 0) + 1
                    continue
                reported += 1
                hit = any(inst in answer and rule == c.injected[inst] for inst, rule, _ in mine) or any(
                    rule == "free_text_red_flag" and timedelta(0) <= created - when <= timedelta(hours=1)
                    for _inst, rule, created in mine
                    for when in words
                )
                alerted += hit
        return {
            "red_flags_planned": planned,
            "red_flags_reported": reported,
            "red_flags_reported_by_answer": by_answer,
            "red_flags_reported_in_words": by_words,
            "red_flags_alerted": alerted,
            "red_flags_planned_never_reported": planned - reported,
            "red_flags_never_reported_by_kind": dict(sorted(detail.items())),
        }

    def burden(self, dataset: Any) -> dict[str, object]:
        """Taps per questionnaire kind (median, p90), taps per patient, completion per kind, minutes per
        questionnaire at the stated reading pace (IReST) and seconds per tap."""
        completed = {inst.id: inst.questionnaire_id for inst in dataset.instances if inst.status == "completed"}
        due: dict[str, list[bool]] = {}
        for inst in dataset.instances:
            if inst.status != "planned":
                due.setdefault(inst.questionnaire_id, []).append(inst.status == "completed")
        wpm, per_tap = self.params.p("reading_words_per_minute"), self.params.p("seconds_per_tap")
        taps: dict[str, list[int]] = {}
        by_day: dict[str, dict[str, list[int]]] = {}
        minutes: dict[str, list[float]] = {}
        minutes_by_day: dict[str, dict[str, list[float]]] = {}
        per_patient = []
        for patient in self.cohort:
            if not patient.joined:
                continue
            per_patient.append(sum(patient.taps.values()))
            for instance_id, n in patient.taps.items():
                kind = completed.get(instance_id)
                if kind is None:
                    continue  # left partway or entered by phone: not a questionnaire the patient finished
                spent = patient.words.get(instance_id, 0) / wpm + n * per_tap / 60
                taps.setdefault(kind, []).append(n)
                minutes.setdefault(kind, []).append(spent)
                day = "bad" if bad_day(dataset.current_answers(instance_id)) else "stable"
                by_day.setdefault(kind, {}).setdefault(day, []).append(n)
                minutes_by_day.setdefault(kind, {}).setdefault(day, []).append(spent)
        return {
            "reading_words_per_minute": wpm,
            "seconds_per_tap": per_tap,
            "taps_per_questionnaire": {
                k: {"median": _quantile(v, 0.5), "p90": _quantile(v, 0.9), "n": len(v)} for k, v in sorted(taps.items())
            },
            "minutes_per_questionnaire": {
                k: {"median": round(_quantile(v, 0.5), 2), "p90": round(_quantile(v, 0.9), 2)}
                for k, v in sorted(minutes.items())
            },
            "taps_by_day": {
                k: {
                    day: {"median": _quantile(v, 0.5), "p90": _quantile(v, 0.9), "n": len(v)}
                    for day, v in sorted(days.items())
                }
                for k, days in sorted(by_day.items())
            },
            "minutes_by_day": {
                k: {
                    day: {"median": round(_quantile(v, 0.5), 2), "p90": round(_quantile(v, 0.9), 2)}
                    for day, v in sorted(days.items())
                }
                for k, days in sorted(minutes_by_day.items())
            },
            "taps_per_patient": {"median": _quantile(per_patient, 0.5), "p90": _quantile(per_patient, 0.9)},
            "completion_by_questionnaire": {k: round(sum(v) / len(v), 4) for k, v in sorted(due.items()) if v},
        }

    async def alert_summary(self) -> dict[str, object]:
        """Issue 15's figures: alerts by severity and per patient-week, questionnaires alerting, red flags."""
        from bot.export.alerts_export import load_alert_data
        from bot.report.telemonitoring import load_activity

        services = self.world.services
        assert services is not None
        async with services.store.read() as tx:
            data = await load_alert_data(tx)
            activity = await load_activity(tx)
        self._db_ids = {study_id: pid for pid, (study_id, _site, _arm) in data.patients.items()}
        by_severity = {s: sum(a.severity == s for a in data.alerts) for s in ("urgent", "same_day", "info")}
        weeks = activity.patient_weeks
        injected = {
            (instance, rule) for p in self.cohort if p.clinical for instance, rule in p.clinical.injected.items()
        }
        raised = {(a.instance_id, a.rule_id) for a in data.alerts}
        reasons: dict[str, int] = {}
        for s in data.suppressed:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        by_rule: dict[str, int] = {}
        for a in data.alerts:
            by_rule[a.rule_id] = by_rule.get(a.rule_id, 0) + 1
        return {
            "alerts_by_severity": by_severity,
            "alerts_by_rule": dict(sorted(by_rule.items())),
            "alerts_per_patient_week": {
                **{s: round(n / weeks, 4) if weeks else None for s, n in by_severity.items()},
                "same_day_and_info": round((by_severity["same_day"] + by_severity["info"]) / weeks, 4)
                if weeks
                else None,
            },
            "patient_weeks": round(weeks, 2),
            "questionnaires_alerting_fraction": round(len(activity.alerting_instances) / activity.questionnaires, 4)
            if activity.questionnaires
            else None,
            "red_flags_injected": len(injected),
            "red_flags_injected_alerted": len(injected & raised),
            "suppressed_by_reason": dict(sorted(reasons.items())),
            "alerts_acknowledged": sum(a.acknowledged_at is not None for a in data.alerts),
            "alert_actions": sum(f.kind == "action" for f in data.followups),
            "alert_outcomes": sum(f.kind == "outcome" for f in data.followups),
            "_alerts": [(a.patient_id, a.instance_id, a.rule_id, a.created_at) for a in data.alerts],
        }


def _quantile(values: list[int] | list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; 0 for none."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _nurse_id() -> int:
    from bot.sandbox.world import CLINICIAN_ID

    return CLINICIAN_ID


#: Yes/no items whose "yes" is something to report (red flags, NICE 24-hour pain features, same-day signs).
_REPORT_ITEMS: Final[frozenset[str]] = frozenset(
    {
        "rf_weakness",
        "rf_numbness",
        "rf_bladder_bowel",
        "rf_radicular_new",
        "sp_night_pain",
        "sp_straining",
        "pain_uncontrolled",
        "opioid_signs",
        "vomit_no_fluids",
        "cannot_swallow",
        "fever",
        "fever_unwell",
        "new_problem_any",
    }
)
#: Worst pain from which a day counts as bad (severe pain on the 0-10 scale: 7 or more, docs/clinical/alerts.md).
BAD_DAY_PAIN: Final[int] = 7


def bad_day(answers: Mapping[str, object]) -> bool:
    """Issue 35: a questionnaire with something to report (a "bad day"), read from the answers alone, so that the
    questionnaires before and after issue 35 are sorted the same way: worst pain 7 or more, a "yes" to a red flag or
    same-day sign, a side effect at "assez" or "beaucoup" (2-3), or a changed pain treatment. Any other is stable."""
    pain = answers.get("pain_worst")
    if isinstance(pain, (int, float)) and not isinstance(pain, bool) and pain >= BAD_DAY_PAIN:
        return True
    if any(answers.get(item) == "yes" for item in _REPORT_ITEMS) or answers.get("analgesic_same") == "no":
        return True
    return any(item.startswith("se_") and value in ("2", "3") for item, value in answers.items())


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


#: Items whose "yes" is a sign the patient has only when their course says so (a default "no" otherwise).
_NIGHT_ITEMS = ("sp_night_pain", "sp_straining")


def patient_answer(
    patient: Behaviour,
    item: Item,
    day: int | None,
    instance_id: int,
    timepoint: str,
    params: Parameters,
    *,
    by_phone: bool = False,
) -> Answer:
    """What this virtual patient answers to `item` (by item id where it has a clinical meaning, else a sensible
    default by item type, so new questions never stop the run); records each red flag reported by answer."""
    clinical = patient.clinical or Clinical()
    profile = patient.profile
    rng = _draw(patient.seed, patient.index, timepoint, item.id)
    study_day = 0 if day is None else day
    base = profile.worst_pain(day)
    worst = clinical.worst_pain(base, day)
    if item.allow_unknown and item.type != "multi" and rng.random() < params.p("dont_know"):
        return UNKNOWN
    if day is None and item.id == "on_chemo":
        return "yes" if clinical.on_chemo else "no"
    # A red flag is said in the questionnaires answered within its days, until said once: the team then takes
    # over (emergency department), so later questionnaires no longer carry it.
    if (
        day is not None
        and clinical.red_flag is not None
        and item.id == clinical.red_flag[1]
        and clinical.red_flag[0] <= day <= clinical.red_flag[0] + clinical.red_flag_persists
        and not any(rule.startswith("rf_") and inst != instance_id for inst, rule in clinical.injected.items())
    ):
        clinical.injected[instance_id] = item.id  # rf_weakness etc.: the rule has the item's name
        return "yes"
    if (
        day is not None
        and clinical.fever_day is not None
        and item.id == "fever"
        and clinical.fever_day <= day <= clinical.fever_day + 2
        and not any(rule == "fever_on_chemo" and inst != instance_id for inst, rule in clinical.injected.items())
    ):
        clinical.injected[instance_id] = "fever_on_chemo"
        return "yes"
    if item.id == "fever_chemo":
        return "yes" if clinical.on_chemo else "no"
    if item.id == "rf_screen":  # issue 35's gate: "some" when a sign of its list is said today
        says_flag = (
            day is not None
            and clinical.red_flag is not None
            and clinical.red_flag[0] <= day <= clinical.red_flag[0] + clinical.red_flag_persists
            and not any(rule.startswith("rf_") and inst != instance_id for inst, rule in clinical.injected.items())
        )
        night = clinical.night_pain and worst >= profile.baseline_pain and worst > 0
        return "some" if says_flag or night else "none"
    if item.id == "se_screen":  # issue 35's gate: "yes" for an effect at "assez" or more, or a fever day
        active = [
            grade for first, last, grade in clinical.side_effects.values() if day is not None and first <= day <= last
        ]
        feverish = (
            day is not None and clinical.fever_day is not None and clinical.fever_day <= day <= clinical.fever_day + 2
        )
        return "yes" if feverish or any(grade >= "2" for grade in active) else "no"
    if item.id == "pain_worst":
        return worst
    if item.id == "pain_average":
        return max(worst - 2, 0)
    if item.id in ("axial_spont_present", "axial_mech_present"):
        return "yes" if worst > 0 else "no"
    if item.id in ("axial_spont_score", "axial_mech_score"):
        return worst
    if item.id in _NIGHT_ITEMS:
        return "yes" if clinical.night_pain and worst >= profile.baseline_pain and worst > 0 else "no"
    if item.id in clinical.side_effects:
        first, last, grade = clinical.side_effects[item.id]
        return grade if day is not None and first <= day <= last else "0"
    regimen = _regimen_answer(clinical, item.id, study_day, worst, rng, by_phone=by_phone)
    if regimen is not None:
        return regimen
    if item.id in ("pgic", "satisfaction") and item.choices:
        return item.choices[len(item.choices) // 2].code
    return _default_answer(item, worst)


def _regimen_answer(
    clinical: Clinical, item_id: str, day: int, worst: int, rng: random.Random, *, by_phone: bool
) -> Answer | None:
    """The analgesic questions, from the patient's regimen of the day; None for any other item."""
    lines = clinical.lines(day)
    rescue = REGIMENS[clinical.regimen][1]
    if item_id == "team_regimen":
        return "no"  # the virtual team records no regimen (/traitement)
    if item_id == "analgesic_same":
        return "yes" if clinical.regimen_told == lines else "no"
    if item_id == "bg_taking":
        if not by_phone:
            clinical.regimen_told = lines
        return "yes" if lines else "no"
    if item_id.startswith(("bg_", "bg2_")):
        position = 1 if item_id.startswith("bg2_") else 0
        line = lines[position] if len(lines) > position else None
        field_name = item_id.split("_", 1)[1]
        if field_name == "more":
            return "yes" if len(lines) > 1 else "no"
        if line is None:
            return None
        values: dict[str, Answer | None] = {
            "product": line.product,
            "dose": _number(line.dose),
            "patch": _number(line.patch),
            "tablets": _number(line.tablets),
            "per_day": line.per_day,
            "units": "1",
        }
        value = values.get(field_name)
        return value if value is not None else None
    if item_id == "rescue_taking":
        return "yes" if rescue else "no"
    if item_id == "rescue_product" and rescue:
        return rescue[0]
    if item_id == "rescue_dose" and rescue:
        return _number(rescue[1])
    if item_id == "rescue_units":
        return "1"
    if item_id == "rescue_doses_24h":
        if not rescue:
            return 0
        return rng.randint(1, 3) if worst >= 7 else rng.randint(0, 1) if worst >= 5 else 0
    if item_id == "pain_uncontrolled":
        return "yes" if worst >= 8 else "no"
    if item_id == "other_analgesics":
        return ["paracetamol"]
    return None


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _default_answer(item: Item, worst: int) -> Answer:
    """An item the simulator knows nothing about: no symptom, the first choice, the smallest count, no message."""
    if item.type == "scale":
        return min(worst, 5)
    if item.type == "yesno":
        return "no"
    if item.type == "single":
        assert item.choices
        return item.choices[0].code
    if item.type == "multi":
        assert item.choices
        exclusive = [c.code for c in item.choices if getattr(c, "exclusive", False)]
        return [exclusive[0] if exclusive else item.choices[0].code]
    if item.type == "number":
        return _number(item.min) if item.min is not None and item.min >= 0 else 1  # type: ignore[return-value]  # a number item's min is a number here (checked >= 0 just before)
    if item.optional:
        return SKIPPED
    return "RAS"


def _input_for(
    patient: Behaviour,
    prompt: answering.Prompt,
    answer: str,
    toggle: str,
    params: Parameters,
    *,
    by_phone: bool = False,
) -> tuple[str | None, str | None]:
    """The press (callback data) or the typed text that gives this patient's answer to the current question."""
    item = prompt.item
    inst = prompt.instance
    value = patient_answer(
        patient, item, inst.study_day, inst.id, f"{inst.timepoint}:{inst.study_day}", params, by_phone=by_phone
    )
    instance, index = inst.id, prompt.item_index
    if item.type == "multi":
        assert isinstance(value, list)
        missing = [code for code in value if code not in prompt.selection]
        return f"{toggle}:{instance}:{index}:{missing[0] if missing else VALIDATE}", None
    if item.type in ("scale", "yesno", "single") or value in (SKIPPED, UNKNOWN):
        return f"{answer}:{instance}:{index}:{value}", None
    if isinstance(value, float):
        return None, f"{value:g}".replace(".", ",")
    return None, str(value)


async def _one_run(
    settings: object,
    out_dir: Path,
    cohort: list[Behaviour],
    *,
    call_list: bool,
    seed: int,
    legacy_alerting: bool = False,
    report: str | None = None,
    params: Parameters | None = None,
) -> dict[str, object]:
    """One run on its own database; `legacy_alerting`: the alerting of before issue 15 (the "before" column);
    `report`: write the telemonitoring report under that name in `out_dir`."""
    database = out_dir / (
        "before_issue15.sqlite3"
        if legacy_alerting
        else "with_call_list.sqlite3"
        if call_list
        else "without_call_list.sqlite3"
    )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    tz = settings.timezone  # type: ignore[attr-defined]  # settings is typed object in the signature; callers pass a bot.config.Settings
    start = datetime.combine(RT_START + timedelta(days=FIRST_JOIN_DAY), local_time(7, 0), tzinfo=tz)
    world = SandboxWorld(settings, database, start=start, tick_every=timedelta(hours=1), rate_limiter=False)  # type: ignore[arg-type]  # settings is a bot.config.Settings (typed object above)
    await world.start()
    try:
        assert world.services is not None
        world.services.legacy_alerting = legacy_alerting
        if legacy_alerting:  # and the rules of then (the side-effect and severe-pain rules have changed since)
            world.services.rules = rules_before_issue15(world.services)
        run = CohortRun(world, cohort, call_list=call_list, seed=seed, params=params)
        await run.run()
        if report:
            from bot.report.telemonitoring import build_telemonitoring

            await build_telemonitoring(world.services.store, out_dir, report)
        return await run.summary()
    finally:
        await world.stop()


#: questionnaires/rules.yaml as it was before issue 15, for the "before" run only (see the file's header).
RULES_BEFORE_ISSUE15 = Path(__file__).with_name("rules_before_issue15.yaml")


def rules_before_issue15(services: Services) -> RuleSet:
    """The rules of before issue 15, validated against today's questionnaires."""
    items = {item.id for q in services.questionnaires.values() for item in q.items}
    return load_rules(RULES_BEFORE_ISSUE15, known_items=items)


ALERT_FIGURES = (
    "alerts_by_severity",
    "alerts_per_patient_week",
    "patient_weeks",
    "questionnaires",
    "questionnaires_alerting_fraction",
    "red_flags_injected",
    "red_flags_alerted",
    "suppressed_by_reason",
)


#: Fields of summary.json that measure the machine, not the cohort (left out when two runs are compared).
TIMING_FIELDS = ("seconds",)


async def simulate(
    patients: int,
    seed: int,
    out_dir: Path,
    *,
    stream: TextIO | None = None,
    runs: str = "all",
    scenario: str = "published",
) -> int:
    """The runs on the same seed and scenario; write DIR/summary.json; 0 on success."""
    out = stream or sys.stdout
    began = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings()
        params = load_parameters(scenario)
    except (ConfigError, ValueError) as exc:
        print(exc, file=out)
        return 2
    tz = settings.timezone

    def cohort() -> list[Behaviour]:
        return draw_cohort(patients, seed, tz, params)

    with_list = await _one_run(
        settings, out_dir, cohort(), call_list=True, seed=seed, report="telemonitoring.csv", params=params
    )
    without: dict[str, object] = {}
    if runs in ("all", "day30"):
        without = await _one_run(settings, out_dir, cohort(), call_list=False, seed=seed, params=params)
    before: dict[str, object] = {}
    if runs in ("all", "alerts"):  # issue 15: the same seed with the alerting of before
        before = await _one_run(
            settings,
            out_dir,
            cohort(),
            call_list=True,
            seed=seed,
            legacy_alerting=True,
            report="telemonitoring_before.csv",
            params=params,
        )
    drawn = cohort()
    clinical = [p.clinical for p in drawn if p.clinical is not None]

    def count(name: str) -> int:
        return sum(1 for c in clinical if getattr(c, name))

    summary = {
        "seed": seed,
        **with_list,
        "d30_evaluable_fraction_without_call_list": without.get("d30_evaluable_fraction"),
        "d30_itt_fraction_without_call_list": without.get("d30_itt_fraction"),
        "without_call_list": without or None,
        "before_issue15": {key: before[key] for key in ALERT_FIGURES} if before else None,
        "mix": {
            "night_joins": sum(p.night_join for p in drawn),
            "enrolled_day0_after_fraction": sum(p.after_fraction for p in drawn),
            "silent_3_days_or_more_around_day_30": sum(p.silence is not None for p in drawn),
            "withdraw_planned": sum(p.withdraw_day is not None for p in drawn),
            "partial_questionnaire_probability": params.p("abandon_partway"),
            "nurse_reaches_per_call": params.p("nurse_reaches"),
            "single_fraction": sum(c.fractions == 1 for c in clinical),
            "response_planned": {
                k: sum(c.response == k for c in clinical)
                for k in ("complete", "partial", "indeterminate", "progression")
            },
            "red_flag": count("red_flag"),
            "red_flag_in_words": count("red_flag_in_words"),
            "fever_on_chemo": count("fever_day"),
            "on_chemo": count("on_chemo"),
            "opioid_titration": count("titration"),
            "opioid_titration_down": count("titration_down"),
            "pain_flare": count("flare"),
            "night_or_straining_pain": count("night_pain"),
            "regimen": {k: sum(c.regimen == k for c in clinical) for k in REGIMENS},
            "segment": {k: sum(c.segment == k for c in clinical) for k in params.weights("segment")},
            "side_effects": {
                item: {
                    grade: sum(c.side_effects.get(item, (0, 0, ""))[2] == grade for c in clinical)
                    for grade in ("1", "2", "3")
                }
                for item in ("se_nausea", "se_swallow", "se_diarrhoea", "se_fatigue")
            },
            "deaths_planned": count("death_day"),
            "hospital_stays": count("hospital"),
            "free_text_messages_planned": sum(len(c.messages) for c in clinical),
        },
        "seconds": round(time.monotonic() - began, 1),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"Scenario {scenario}, {patients} patients, seed {seed}: d30_evaluable_fraction "
        f"{with_list['d30_evaluable_fraction']} with the call list, {without.get('d30_evaluable_fraction')} "
        f"without; d30_itt_fraction {with_list['d30_itt_fraction']}; red flags planned / reported / alerted "
        f"{with_list['red_flags_planned']} / {with_list['red_flags_reported']} / {with_list['red_flags_alerted']}; "
        f"questionnaires alerting {with_list['questionnaires_alerting_fraction']}; alerts per patient-week "
        f"(same-day and info) {with_list['alerts_per_patient_week']}; {summary['seconds']} s; "
        f"{out_dir / 'summary.json'}",
        file=out,
    )
    return 0
