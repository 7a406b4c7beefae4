"""`python -m bot simulate --patients N --seed S --out DIR`: a seeded virtual cohort through day 38 (issue 16).

Why: the primary end point (pain response at day 30) is lost for every patient without a baseline or a day-30
answer. This run measures how many keep one — `d30_evaluable_fraction`: the day-30 pain response (Chow 2012, as
computed by the trial report, `bot.report.metrics`) is computable, among patients not withdrawn — twice on the same
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
import random
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as local_time, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.config import ConfigError, load_settings
from bot.domain.engine import SKIPPED
from bot.domain.rules import RuleSet, load_rules
from bot.domain.schedule import is_quiet  # noqa: F401 - re-exported for tests
from bot.sandbox.demo import Profile, answer_for
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
PARTIAL_QUESTIONNAIRE = 0.10
SILENT = 0.15
WITHDRAW = 0.05
ANSWERS_KEY_QUESTIONNAIRE = 0.97
ANSWERS_DIARY = 0.25
NURSE_REACHES = 0.70
NURSE_HOURS = (9, 14)
MAX_ROUNDS = 400
# Issue 15 (alerts): clinical trajectories, drawn from their own random stream per patient so that the day-30 mix
# above is unchanged. Simulation settings, not clinical thresholds.
RED_FLAG = 0.08          # reports a neurological red flag once, from a day between 1 and 37
FEVER_ON_CHEMO = 0.03    # on chemotherapy at inclusion, reports a fever once, from a day between 1 and 30
TITRATION = 0.30         # the opioids are raised once (Skenan 30 → 40, 45 or 60 mg twice a day) on day 2-20
FLARE = 0.15             # a pain flare: +3 points for 2-5 days, starting on day 3-25
FATIGUE = 0.40           # tiredness "un peu" from day 0 to day 20 (an expected side effect: the digest)
NAUSEA = 0.15            # nausea "un peu" from day 0 to day 10
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
_SAISIE = re.compile(r"/saisie (\S+)")


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
    decisions: dict[int, tuple[bool, int | None]] = field(default_factory=dict)  # instance → (answers, stop at)
    answered: dict[int, int] = field(default_factory=dict)  # instance → answers given
    clinical: Clinical | None = None  # issue 15: the clinical trajectory (None: benign)


@dataclass
class Clinical:
    """A patient's clinical events (issue 15), and what was injected into their answers (to count red flags)."""

    red_flag: tuple[int, str] | None = None  # (first day, item)
    fever_day: int | None = None
    titration: tuple[int, int] | None = None  # (day, new Skenan dose in mg, twice a day)
    flare: tuple[int, int] | None = None  # [first day, last day] of +3 points
    fatigue: bool = False
    nausea: bool = False
    injected: dict[int, str] = field(default_factory=dict)  # instance → the urgent rule its answer must raise
    titration_told: bool = False

    def worst_pain(self, base: int, day: int | None) -> int:
        if self.flare is not None and day is not None and self.flare[0] <= day <= self.flare[1]:
            return min(10, base + 3)
        return base


def draw_clinical(rng: random.Random) -> Clinical:
    """The clinical trajectory of one patient (pure, from its own random stream)."""
    clinical = Clinical()
    if rng.random() < RED_FLAG:
        clinical.red_flag = (rng.randint(1, 37), rng.choice(RED_FLAG_ITEMS))
    if rng.random() < FEVER_ON_CHEMO:
        clinical.fever_day = rng.randint(1, 30)
    if rng.random() < TITRATION:
        clinical.titration = (rng.randint(2, 20), rng.choice([40, 45, 60]))
    if rng.random() < FLARE:
        start = rng.randint(3, 25)
        clinical.flare = (start, start + rng.randint(2, 5) - 1)
    clinical.fatigue = rng.random() < FATIGUE
    clinical.nausea = rng.random() < NAUSEA
    return clinical


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


def draw_cohort(patients: int, seed: int, tz: ZoneInfo = PARIS) -> list[Behaviour]:
    """The cohort for this seed: same seed, same patients, same behaviours."""
    rng = random.Random(seed)
    cohort = []
    for index in range(patients):
        baseline = rng.randint(4, 9)
        day30 = max(0, min(10, baseline + rng.choice([-5, -4, -3, -2, -1, 0, 1, 2])))
        profile = Profile(
            key=f"p{index}", study_id=f"SIM-{index + 1:03d}", description="simulated",
            pain=((0, baseline), (14, (baseline + day30) // 2), (28, day30)),
            preferred=rng.choice(["matin", "matin", "midi", "soir"]),
        )
        night = rng.random() < NIGHT_JOIN
        after = rng.random() < AFTER_FRACTION_JOIN
        silence = None
        if rng.random() < SILENT:
            start = rng.randint(25, 31)
            silence = (start, start + rng.randint(3, 14) - 1)
        withdraw = rng.randint(1, 60) if rng.random() < WITHDRAW else None
        cohort.append(Behaviour(index, profile, _join_moment(rng, night, after, tz), night, after, silence, withdraw,
                                rng=random.Random(f"{seed}:{index}"),
                                clinical=draw_clinical(random.Random(f"{seed}:clinical:{index}"))))
    return cohort


class CohortRun:
    """One run of the cohort on its own database, with or without the nurse working the call list."""

    def __init__(self, world: SandboxWorld, cohort: list[Behaviour], *, call_list: bool, seed: int,
                 reach: float = NURSE_REACHES) -> None:
        self.world = world
        self.cohort = cohort
        self.call_list = call_list
        self.reach = reach
        self.nurse_rng = random.Random(f"{seed}:nurse")
        self.calls = 0
        self.reached = 0
        self.team_rng = random.Random(f"{seed}:team")
        self.plans: dict[int, dict[str, datetime | str | None]] = {}  # alert → when to ack / act / record outcome

    def study_day(self) -> int:
        return (self.world.clock.now().astimezone(self.world.settings.timezone).date() - RT_START).days

    async def join(self, patient: Behaviour) -> None:
        code, reply = await self.world.enroll(patient.profile.study_id, RT_START, 1)
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

    def _wants(self, patient: Behaviour, prompt: answering.Prompt) -> bool:
        day = self.study_day()
        if patient.silence is not None and patient.silence[0] <= day <= patient.silence[1]:
            return False
        instance = prompt.instance
        if instance.id not in patient.decisions:
            key = instance.questionnaire_id in ("baseline", "followup")
            answers = patient.rng.random() < (ANSWERS_KEY_QUESTIONNAIRE if key else ANSWERS_DIARY)
            stop = patient.rng.randint(1, 8) if patient.rng.random() < PARTIAL_QUESTIONNAIRE else None
            patient.decisions[instance.id] = (answers, stop)
        answers, stop = patient.decisions[instance.id]
        if not answers:
            return False
        if stop is not None and patient.answered.get(instance.id, 0) == stop:
            patient.decisions[instance.id] = (True, None)  # left partway; resumed at the next message (reminder)
            return False
        return True

    def _act(self, patient: Behaviour, prompt: answering.Prompt) -> bool:
        message_id = prompt.instance.question_message_id
        if message_id is None:
            return False
        data, text = _input_for(patient.profile, prompt, "q", "m", clinical=patient.clinical)
        user = patient.user_id
        if data is not None:
            self.world.standin.press_button(user, user, message_id, data)
        else:
            self.world.standin.send_text(user, user, text or "")
        if prompt.item.type != "multi" or (data or "").endswith(VALIDATE):
            patient.answered[prompt.instance.id] = patient.answered.get(prompt.instance.id, 0) + 1
        return True

    async def nurse_round(self) -> None:
        """The research nurse reads the call list in the group and phones everyone on it."""
        replies = await self.world.clinician_says("/appels")
        listed = [m.group(1) for reply in replies for m in _SAISIE.finditer(reply.text or "")]
        by_id = {p.profile.study_id: p for p in self.cohort}
        for study_id in listed:
            self.calls += 1
            if self.nurse_rng.random() >= self.reach:
                continue  # no answer; tried again at the next round
            self.reached += 1
            await self.phone_entry(by_id[study_id])

    async def phone_entry(self, patient: Behaviour) -> None:
        services = self.world.services
        assert services is not None
        replies = await self.world.clinician_says(f"/saisie {patient.profile.study_id}")
        for _ in range(200):
            message = next((m for m in reversed(self.world.standin.sent_messages(CLINICIAN_CHAT_ID))
                            if any(str(b.get("callback_data", "")).startswith(("pq:", "pm:"))
                                   for row in m.buttons() for b in row)), None)
            instance_id = await phone_entry.session_instance(services, _nurse_id())
            prompt = None if instance_id is None else await phone_entry.current_prompt(services, instance_id)
            if prompt is None:
                return
            data, text = _input_for(patient.profile, prompt, "pq", "pm")
            if data is not None:  # a question with buttons (a number or a text has none: it is typed)
                if message is None:
                    raise RuntimeError(f"phone entry of {patient.profile.study_id}: no buttons for {prompt.item.id}")
                await self.world.press(CLINICIAN_CHAT_ID, message.message_id, data)
            else:
                await self.world.clinician_says(text or "")
        raise RuntimeError(f"phone entry of {patient.profile.study_id} did not end: {replies!r}")

    async def team_round(self) -> None:
        """The clinicians take care of the alerts in their group, after a realistic delay, then say what they did
        and, days later, what it was (the closed loop of issue 15)."""
        services = self.world.services
        assert services is not None
        now = self.world.clock.now()
        async with services.store.read() as tx:
            rows = await sandbox_queries.alerts_awaiting_outcome(tx)
        for row in rows:
            alert_id, message_id = row.id, row.message_id
            plan = self.plans.get(alert_id)
            if plan is None:
                plan = self.plans[alert_id] = self._plan(row.rule_id, row.severity, row.delivered_at)
            kind = str(plan["kind"])
            try:
                if row.acknowledged_at is None:
                    if plan["ack"] is not None and plan["ack"] <= now:  # type: ignore[operator]
                        await self.world.press(CLINICIAN_CHAT_ID, message_id, f"ack:{alert_id}")
                        plan["acked_at"] = now
                    continue
                if "acted" not in plan:
                    action = _weighted(self.team_rng, ACTIONS_BY_KIND[kind])
                    await self.world.press(CLINICIAN_CHAT_ID, message_id, f"act:{alert_id}:{action}")
                    plan["acted"] = now
                    days = self.team_rng.randint(*OUTCOME_AFTER_DAYS)
                    plan["outcome"] = now + timedelta(days=days)
                    continue
                if plan["outcome"] is not None and plan["outcome"] <= now:  # type: ignore[operator]
                    outcome = _weighted(self.team_rng, OUTCOMES_BY_KIND[kind])
                    await self.world.press(CLINICIAN_CHAT_ID, message_id, f"out:{alert_id}:{outcome}")
                    plan["outcome"] = None
            except ValueError:  # the message no longer has that button (edited elsewhere): nothing to press
                plan["ack"] = None
                plan["outcome"] = None

    def _plan(self, rule_id: str, severity: str, delivered: datetime) -> dict[str, datetime | str | None]:
        kind = ("red_flag" if rule_id.startswith("rf_") or rule_id == "free_text_red_flag" else
                "fever" if rule_id.startswith("fever") else
                "analgesics" if rule_id == "analgesic_increase" else
                "pain" if rule_id.startswith("pain") or rule_id == "rescue_doses_high" else "other")
        tz = self.world.settings.timezone
        if severity == "urgent":
            ack = delivered + timedelta(minutes=self.team_rng.randint(*URGENT_ACK_MINUTES))
        else:
            ack = delivered + timedelta(minutes=self.team_rng.randint(*OTHER_ACK_MINUTES))
            local = ack.astimezone(tz)
            while local.weekday() >= 5 or not (WORKING_HOURS[0] <= local.hour < WORKING_HOURS[1]):
                local = (local + timedelta(hours=1)).replace(minute=self.team_rng.randrange(0, 60, 5))
            ack = local
        return {"kind": kind, "ack": ack}

    async def run(self) -> None:
        tz = self.world.settings.timezone
        assert self.world.services is not None
        spec = self.world.services.schedule
        pending = sorted(self.cohort, key=lambda p: p.join_at)
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
            day = self.study_day()
            for patient in self.cohort:
                if patient.joined and not patient.withdrawn and patient.withdraw_day is not None \
                        and day >= patient.withdraw_day:
                    await self.withdraw(patient)
            await self.react()
            local = self.world.clock.now().astimezone(tz)
            if self.call_list and local.weekday() < 5 and local.minute == 0 and local.hour in NURSE_HOURS:
                await self.nurse_round()

    async def summary(self) -> dict[str, object]:
        from bot.export.dataset import load_dataset
        from bot.report.metrics import ReportPlan, outcomes

        services = self.world.services
        assert services is not None
        dataset = await load_dataset(services.store)
        plan = ReportPlan.from_schedule(services.schedule)
        results = {o.study_id: o for o in outcomes(dataset, services.questionnaires, services.opioids, plan)}
        statuses = {p.study_id: p.status for p in dataset.patients}
        remaining = [s for s, status in statuses.items() if status != "withdrawn"]
        evaluable = [s for s in remaining if results[s].responses.get(plan.primary or "") is not None]
        by_status: dict[str, int] = {}
        for inst in dataset.instances:
            by_status[inst.status] = by_status.get(inst.status, 0) + 1
        phone = sum(1 for row in dataset.answers if row.source == "phone")
        alerting = await self.alert_summary()
        return {
            "patients": len(statuses),
            "withdrawn": len(statuses) - len(remaining),
            "questionnaires": by_status.get("completed", 0),
            "questionnaires_by_status": dict(sorted(by_status.items())),
            "d30_evaluable": len(evaluable),
            "d30_evaluable_fraction": round(len(evaluable) / len(remaining), 4) if remaining else None,
            "phone_answers": phone,
            "nurse_calls": self.calls,
            "nurse_calls_reached": self.reached,
            **alerting,
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
        by_severity = {s: sum(a.severity == s for a in data.alerts) for s in ("urgent", "same_day", "info")}
        weeks = activity.patient_weeks
        injected = {(instance, rule) for p in self.cohort if p.clinical for instance, rule in p.clinical.injected.items()}
        raised = {(a.instance_id, a.rule_id) for a in data.alerts}
        reasons: dict[str, int] = {}
        for s in data.suppressed:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        return {
            "alerts_by_severity": by_severity,
            "alerts_per_patient_week": {
                **{s: round(n / weeks, 4) if weeks else None for s, n in by_severity.items()},
                "same_day_and_info": round((by_severity["same_day"] + by_severity["info"]) / weeks, 4) if weeks
                else None,
            },
            "patient_weeks": round(weeks, 2),
            "questionnaires_alerting_fraction": round(len(activity.alerting_instances) / activity.questionnaires, 4)
            if activity.questionnaires else None,
            "red_flags_injected": len(injected),
            "red_flags_alerted": len(injected & raised),
            "suppressed_by_reason": dict(sorted(reasons.items())),
            "alerts_acknowledged": sum(a.acknowledged_at is not None for a in data.alerts),
            "alert_actions": sum(f.kind == "action" for f in data.followups),
            "alert_outcomes": sum(f.kind == "outcome" for f in data.followups),
        }


def _nurse_id() -> int:
    from bot.sandbox.world import CLINICIAN_ID

    return CLINICIAN_ID


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def clinical_answer(clinical: Clinical, profile: Profile, item_id: str, day: int | None, instance_id: int,
                    default: object) -> object:
    """The answer of a patient with clinical events (issue 15); records each injected red flag with its instance."""
    if day is None:  # the baseline
        return "yes" if item_id == "on_chemo" and clinical.fever_day is not None else default
    if clinical.red_flag is not None and item_id == clinical.red_flag[1] and day >= clinical.red_flag[0] \
            and instance_id not in clinical.injected and not any(r.startswith("rf_") for r in clinical.injected.values()):
        clinical.injected[instance_id] = item_id  # rf_weakness etc.: the rule has the item's name
        return "yes"
    if clinical.fever_day is not None and item_id == "fever" and day >= clinical.fever_day \
            and "fever_on_chemo" not in clinical.injected.values():
        clinical.injected[instance_id] = "fever_on_chemo"
        return "yes"
    if item_id == "pain_worst":
        return clinical.worst_pain(profile.worst_pain(day), day)
    if item_id == "pain_average":
        return max(clinical.worst_pain(profile.worst_pain(day), day) - 2, 0)
    if clinical.titration is not None and day >= clinical.titration[0]:
        if item_id == "analgesic_same":
            return "yes" if clinical.titration_told else "no"
        if item_id == "bg_dose":
            clinical.titration_told = True
            return clinical.titration[1]
    if item_id == "se_fatigue" and clinical.fatigue and 0 <= day <= 20:
        return "1"
    if item_id == "se_nausea" and clinical.nausea and 0 <= day <= 10:
        return "1"
    return default


def _input_for(profile: Profile, prompt: answering.Prompt, answer: str, toggle: str, *,
               clinical: Clinical | None = None) -> tuple[str | None, str | None]:
    """The press (callback data) or the typed text that gives this profile's answer to the current question."""
    item = prompt.item
    value = answer_for(profile, item, prompt.instance.study_day)
    if clinical is not None and item.type != "multi":
        value = clinical_answer(clinical, profile, item.id, prompt.instance.study_day, prompt.instance.id,
                                value)  # type: ignore[assignment]
    instance, index = prompt.instance.id, prompt.item_index
    if item.type == "multi":
        assert isinstance(value, list)
        missing = [code for code in value if code not in prompt.selection]
        return f"{toggle}:{instance}:{index}:{missing[0] if missing else VALIDATE}", None
    if item.type in ("scale", "yesno", "single") or value == SKIPPED:
        return f"{answer}:{instance}:{index}:{value}", None
    return None, str(value)


async def _one_run(settings: object, out_dir: Path, cohort: list[Behaviour], *, call_list: bool,
                   seed: int, legacy_alerting: bool = False, report: str | None = None) -> dict[str, object]:
    """One run on its own database; `legacy_alerting`: the alerting of before issue 15 (the "before" column);
    `report`: write the telemonitoring report under that name in `out_dir`."""
    database = out_dir / ("before_issue15.sqlite3" if legacy_alerting else
                          "with_call_list.sqlite3" if call_list else "without_call_list.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    tz = settings.timezone  # type: ignore[attr-defined]
    start = datetime.combine(RT_START + timedelta(days=FIRST_JOIN_DAY), local_time(7, 0), tzinfo=tz)
    world = SandboxWorld(settings, database, start=start, tick_every=timedelta(hours=1), rate_limiter=False)  # type: ignore[arg-type]
    await world.start()
    try:
        assert world.services is not None
        world.services.legacy_alerting = legacy_alerting
        if legacy_alerting:  # and the rules of then (the side-effect and severe-pain rules have changed since)
            world.services.rules = rules_before_issue15(world.services)
        run = CohortRun(world, cohort, call_list=call_list, seed=seed)
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


ALERT_FIGURES = ("alerts_by_severity", "alerts_per_patient_week", "patient_weeks", "questionnaires",
                 "questionnaires_alerting_fraction", "red_flags_injected", "red_flags_alerted", "suppressed_by_reason")


async def simulate(patients: int, seed: int, out_dir: Path, *, stream: TextIO | None = None,
                   runs: str = "all") -> int:
    """Both runs on the same seed; write DIR/summary.json; 0 on success."""
    out = stream or sys.stdout
    began = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=out)
        return 2
    with_list = await _one_run(settings, out_dir, draw_cohort(patients, seed, settings.timezone), call_list=True,
                               seed=seed, report="telemonitoring.csv")
    cohort = draw_cohort(patients, seed, settings.timezone)
    without: dict[str, object] = {}
    if runs in ("all", "day30"):
        without = await _one_run(settings, out_dir, cohort, call_list=False, seed=seed)
    before: dict[str, object] = {}
    if runs in ("all", "alerts"):  # issue 15: the same seed with the alerting of before
        before = await _one_run(settings, out_dir, draw_cohort(patients, seed, settings.timezone), call_list=True,
                                seed=seed, legacy_alerting=True, report="telemonitoring_before.csv")
    summary = {
        "seed": seed,
        **with_list,
        "d30_evaluable_fraction_without_call_list": without.get("d30_evaluable_fraction"),
        "without_call_list": without or None,
        "before_issue15": {key: before[key] for key in ALERT_FIGURES} if before else None,
        "mix": {
            "night_joins": sum(p.night_join for p in cohort),
            "enrolled_day0_after_fraction": sum(p.after_fraction for p in cohort),
            "silent_3_days_or_more_around_day_30": sum(p.silence is not None for p in cohort),
            "withdraw_planned": sum(p.withdraw_day is not None for p in cohort),
            "partial_questionnaire_probability": PARTIAL_QUESTIONNAIRE,
            "nurse_reaches_per_call": NURSE_REACHES,
            "red_flag": sum(p.clinical is not None and p.clinical.red_flag is not None for p in cohort),
            "fever_on_chemo": sum(p.clinical is not None and p.clinical.fever_day is not None for p in cohort),
            "opioid_titration": sum(p.clinical is not None and p.clinical.titration is not None for p in cohort),
            "pain_flare": sum(p.clinical is not None and p.clinical.flare is not None for p in cohort),
            "fatigue": sum(p.clinical is not None and p.clinical.fatigue for p in cohort),
            "nausea": sum(p.clinical is not None and p.clinical.nausea for p in cohort),
        },
        "seconds": round(time.monotonic() - began, 1),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"d30_evaluable_fraction: {with_list['d30_evaluable_fraction']} with the call list, "
          f"{without.get('d30_evaluable_fraction')} without ({patients} patients, seed {seed}); "
          f"alerts per patient-week (same-day and info): {with_list['alerts_per_patient_week']}, before: "
          f"{before.get('alerts_per_patient_week')}; {out_dir / 'summary.json'}", file=out)
    return 0
