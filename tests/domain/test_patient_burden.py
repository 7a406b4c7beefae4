"""Issue 35: the adaptive diary and weekly check keep every rule reachable, and raise the same alerts as before.

For each answer-driven rule of questionnaires/rules.yaml and each questionnaire it applies to, a virtual patient
carries the finding that fires it. The patient walks the questionnaire as a patient would: the finding's answer
where it is asked, "yes" to a gate exactly when something behind it is to be reported (the gate names it), and a
quiet answer everywhere else. The test checks that every item of the finding is still asked, and that the alerts
raised (rule, severity, advice) are those the same patient raised with the questionnaire as it was before issue 35
(tests/data/questionnaires_before_issue35/, the 1.5 files). Pure domain: engine + rules. A few end-to-end journeys
through the real Application follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from harness import Bench, Patient, answer_all, current_prompt, give

from bot.domain import engine
from bot.domain.chemo_context import CHEMO_CONTEXT_ITEM, chemo_possible
from bot.domain.questionnaire import SKIPPED, Item, Questionnaire, Value, load_questionnaire, load_questionnaires
from bot.domain.rules import EventCondition, PainPoint, RuleContext, evaluate_answers, load_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_questionnaires(ROOT / "questionnaires")
BEFORE = {
    qid: load_questionnaire(ROOT / "tests" / "data" / "questionnaires_before_issue35" / f"{qid}.yaml")
    for qid in ("daily", "weekly", "followup")
}
#: Issue 35, step 2 (the baseline in two parts, the follow-up's side-effect gate, no message item in the repeated
#: questionnaires): the files as they were just before it (baseline 1.2, daily / weekly / follow-up 2.0).
BEFORE_SPLIT = {
    qid: load_questionnaire(ROOT / "tests" / "data" / "questionnaires_before_baseline_split" / f"{qid}.yaml")
    for qid in ("baseline", "daily", "weekly", "followup")
}
#: The questionnaire each shipped one is compared with: the diary, weekly check and follow-up with their files of
#: before issue 35; both parts of the baseline with the baseline in one part (1.2).
COMPARED_WITH = {**BEFORE, "baseline": BEFORE_SPLIT["baseline"], "baseline_more": BEFORE_SPLIT["baseline"]}
#: The message item is no longer asked in the repeated questionnaires (the patient writes at any time, every
#: message is screened and forwarded: `test_a_message_typed_after_a_quiet_diary_reaches_the_team`).
NO_MESSAGE_ITEM = ("daily", "weekly", "followup")
RULES = load_rules(ROOT / "questionnaires" / "rules.yaml")
TODAY = date(2027, 3, 20)

#: The gates of version 2.0 and their (open, closed) answers.
GATES: dict[str, tuple[str, str]] = {
    "rf_screen": ("some", "none"),
    "se_screen": ("yes", "no"),
    "new_problem_any": ("yes", "no"),
}


@dataclass(frozen=True)
class Finding:
    """A patient whose answers carry one rule's finding: the answers that show it, the baseline facts."""

    answers: Mapping[str, Value]
    pain_worst: int = 3
    baseline_on_chemo: str | None = "no"  # "yes" / "no" / "_unknown"; None: no baseline
    baseline_pain: int | None = 3
    baseline_omed: float | None = 60.0
    current_omed: float | None = 60.0
    on_fentanyl_patch: bool = False
    pain_history: tuple[int, ...] = ()  # worst pain of the days before, oldest first
    context: Mapping[str, str] = field(default_factory=dict)  # context items (regimen_changed_recently)


#: One finding per answer-driven rule. Written by hand from rules.yaml, so a rule added there without a finding
#: here fails `test_every_answer_rule_has_a_finding`.
FINDINGS: dict[str, Finding] = {
    "rf_weakness": Finding({"rf_weakness": "yes"}),
    "rf_numbness": Finding({"rf_numbness": "yes"}),
    "rf_bladder_bowel": Finding({"rf_bladder_bowel": "yes"}),
    "rf_radicular_new": Finding({"rf_radicular_new": "yes"}),
    "rf_weakness_inclusion": Finding({"rf_weakness": "yes"}),
    "rf_numbness_inclusion": Finding({"rf_numbness": "yes"}),
    "rf_bladder_bowel_inclusion": Finding({"rf_bladder_bowel": "yes"}),
    "rf_radicular_new_inclusion": Finding({"rf_radicular_new": "yes"}),
    "fever_on_chemo": Finding({"fever": "yes", "fever_chemo": "yes"}, baseline_on_chemo="yes"),
    "fever_chemo_unknown": Finding({"fever": "yes", "fever_chemo": "_unknown"}, baseline_on_chemo="_unknown"),
    "fever_unwell_on_chemo": Finding(
        {"fever": "_unknown", "fever_unwell": "yes", "fever_chemo": "yes"}, baseline_on_chemo="yes"
    ),
    "fever_unwell_chemo_unknown": Finding(
        {"fever": "_unknown", "fever_unwell": "yes", "fever_chemo": "_unknown"}, baseline_on_chemo="_unknown"
    ),
    "fever_unwell_no_chemo": Finding({"fever": "_unknown", "fever_unwell": "yes", "fever_chemo": "no"}),
    "opioid_toxicity_patch": Finding({"drowsy_breathing": "yes"}, on_fentanyl_patch=True),
    "opioid_toxicity": Finding({"opioid_signs": "yes"}, context={"regimen_changed_recently": "yes"}),
    "opioid_neurotoxicity": Finding({"jerks_seeing": "yes"}),
    "breathless": Finding({"breathless": "yes"}),
    "confusion_new": Finding({"confusion_thirst": "yes", "confusion_new": "yes"}),
    "spinal_pain_night": Finding({"sp_night_pain": "yes"}),
    "spinal_pain_straining": Finding({"sp_straining": "yes"}),
    "pain_severe": Finding({}, pain_worst=9),
    "pain_severe_no_baseline": Finding({}, pain_worst=8, baseline_pain=None, baseline_on_chemo=None),
    "pain_high_persistent": Finding({}, pain_worst=8, baseline_pain=7, pain_history=(8, 8)),
    "pain_uncontrolled": Finding({"rescue_doses_24h": 2, "pain_uncontrolled": "yes"}, pain_worst=7, baseline_pain=6),
    "pain_rise_from_baseline": Finding({}, pain_worst=6, baseline_pain=3),
    "analgesic_increase": Finding({"rescue_doses_24h": 2}, current_omed=80.0),
    "rescue_doses_high": Finding({"rescue_doses_24h": 5}),
    "fever_no_chemo": Finding({"fever": "yes", "fever_chemo": "no"}),
    "hypercalcaemia_symptoms": Finding({"confusion_thirst": "yes"}),
    "constipation": Finding({"no_stool_3d": "yes"}),
    "possible_fracture": Finding({"new_pain_elsewhere": "yes"}),
    "vomiting_no_fluids": Finding({"vomit_no_fluids": "yes"}),
    "cannot_swallow": Finding({"cannot_swallow": "yes"}),
    "nausea_severe": Finding({"se_nausea": "3"}),
    "swallow_severe": Finding({"se_swallow": "3"}),
    "diarrhoea_severe": Finding({"se_diarrhoea": "3"}),
    "fatigue_severe": Finding({"se_fatigue": "3"}),
    "se_nausea_expected": Finding({"se_nausea": "2"}),
    "se_swallow_expected": Finding({"se_swallow": "2"}),
    "se_diarrhoea_reported": Finding({"se_diarrhoea": "2"}),
    "se_fatigue_reported": Finding({"se_fatigue": "2"}),
    "se_skin_reported": Finding({"se_skin": "3"}),
    "free_text": Finding({"message_team": "J'ai une question sur mon rendez-vous"}),
}


def _depends_on(q: Questionnaire, item_id: str, gate: str) -> bool:
    """Is `item_id` shown only through `gate` (its show_if reads the gate, directly or through earlier items)?"""
    item = q.item(item_id)
    if item.show_if is None:
        return False
    for leaf in item.show_if.leaves():
        assert leaf.item is not None
        if leaf.item == gate or _depends_on(q, leaf.item, gate):
            return True
    return False


def _quiet(item: Item, finding: Finding) -> Value:
    """The answer of a patient with nothing to report on this item."""
    if item.id == "pain_worst":
        return finding.pain_worst
    if item.type == "scale":
        return 0
    if item.type == "yesno":
        return "no" if item.id != "analgesic_same" else "yes"
    if item.type == "single":
        return "0" if "0" in item.codes else item.codes[0]
    if item.type == "multi":
        exclusive = [c.code for c in item.choices or () if c.exclusive]
        return [exclusive[0] if exclusive else item.codes[0]]
    if item.type == "number":
        return item.min or 0
    return SKIPPED if item.optional else "RAS"


def walk_as_patient(q: Questionnaire, finding: Finding) -> tuple[list[str], dict[str, Value]]:
    """The items asked, in order, and the effective answers, for a patient carrying `finding`."""
    answers: dict[str, Value] = {"team_regimen": "no", "regimen_changed_recently": "no", **finding.context}
    if CHEMO_CONTEXT_ITEM in q.item_ids:
        baseline = None if finding.baseline_on_chemo is None else {"on_chemo": finding.baseline_on_chemo}
        answers[CHEMO_CONTEXT_ITEM] = "yes" if chemo_possible(baseline) else "no"
    answers = {k: v for k, v in answers.items() if k in q.item_ids}
    asked: list[str] = []
    for _ in range(len(q.items) + 1):
        item = engine.next_item(q, answers)
        if item is None:
            return asked, engine.effective_answers(q, answers)
        asked.append(item.id)
        if item.id in finding.answers:
            answers[item.id] = finding.answers[item.id]
        elif item.id in GATES:
            opens = any(_depends_on(q, wanted, item.id) for wanted in finding.answers if wanted in q.item_ids)
            answers[item.id] = GATES[item.id][0 if opens else 1]
        elif item.type == "yesno" and any(
            _depends_on(q, wanted, item.id) for wanted in finding.answers if wanted in q.item_ids
        ):
            answers[item.id] = "yes"  # e.g. "rescue_taking" in the baseline: the finding's rescue count is behind it
        else:
            answers[item.id] = _quiet(item, finding)
    raise AssertionError(f"{q.id}: the walk did not end")


def rule_context(finding: Finding, questionnaire_id: str) -> RuleContext:
    days = len(finding.pain_history)
    return RuleContext(
        baseline_pain_worst=finding.baseline_pain,
        baseline_omed=finding.baseline_omed,
        current_omed=finding.current_omed,
        on_chemo=finding.baseline_on_chemo == "yes",
        has_baseline=finding.baseline_pain is not None,
        on_fentanyl_patch=finding.on_fentanyl_patch,
        pain_history=tuple(
            PainPoint(day=TODAY - timedelta(days=days - i), pain_worst=p) for i, p in enumerate(finding.pain_history)
        ),
        today=TODAY,
    )


def alerts(q: Questionnaire, finding: Finding) -> tuple[list[str], set[tuple[str, str, str | None]]]:
    asked, answers = walk_as_patient(q, finding)
    drafts = evaluate_answers(RULES, q.id, answers, rule_context(finding, q.id))
    return asked, {(d.rule_id, d.severity, d.advice) for d in drafts}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for rule in RULES:
        if isinstance(rule.condition, EventCondition) and rule.id != "free_text":
            continue
        for qid in sorted(COMPARED_WITH):  # the questionnaires issue 35 changed: all of them, since step 2
            if rule.questionnaires is not None and qid not in rule.questionnaires:
                continue
            finding = FINDINGS[rule.id]
            if any(item not in SHIPPED[qid].item_ids for item in finding.answers):
                continue  # the questionnaire does not carry this finding (e.g. side effects in the weekly check)
            cases.append((rule.id, qid))
    return cases


def test_every_answer_rule_has_a_finding() -> None:
    answer_rules = {r.id for r in RULES if not isinstance(r.condition, EventCondition)} | {"free_text"}
    assert answer_rules == set(FINDINGS)


def test_every_red_flag_item_of_the_diary_and_the_weekly_check_is_covered() -> None:
    """Each rule is exercised on the adaptive questionnaires wherever its items are asked."""
    covered = set(_cases())
    for qid in COMPARED_WITH:
        for rule in RULES:
            if isinstance(rule.condition, EventCondition) or (rule.questionnaires and qid not in rule.questionnaires):
                continue
            if rule.id == "free_text" and qid in NO_MESSAGE_ITEM:
                continue
            if qid.startswith("baseline"):  # the baseline's items are in one part or the other, never lost
                parts = [q for q in SHIPPED.values() if q.id.startswith("baseline")]
                if all(item in COMPARED_WITH[qid].item_ids for item in FINDINGS[rule.id].answers):
                    assert any(
                        (rule.id, q.id) in covered for q in parts if set(FINDINGS[rule.id].answers) <= set(q.item_ids)
                    ), rule.id
                continue
            if all(item in COMPARED_WITH[qid].item_ids for item in FINDINGS[rule.id].answers):
                assert (rule.id, qid) in covered, (rule.id, qid)


@pytest.mark.parametrize(("rule_id", "questionnaire_id"), _cases())
def test_a_patient_with_the_finding_is_still_asked_and_still_alerted(rule_id: str, questionnaire_id: str) -> None:
    q = SHIPPED[questionnaire_id]
    finding = FINDINGS[rule_id]
    asked, raised = alerts(q, finding)
    missing = [item for item in finding.answers if item not in asked]
    assert missing == [], f"{questionnaire_id} {q.version} no longer asks {missing} on the gate path: {asked}"
    assert rule_id in {rule for rule, _severity, _advice in raised}
    if questionnaire_id in COMPARED_WITH:  # the same alerts, severities and advice as with the questionnaire before
        _asked_before, raised_before = alerts(COMPARED_WITH[questionnaire_id], finding)
        assert raised == raised_before


def test_the_quiet_day_is_six_questions_and_raises_nothing() -> None:
    quiet = Finding({})
    for qid in ("daily", "weekly"):
        asked, raised = alerts(SHIPPED[qid], quiet)
        assert asked == [
            "pain_worst",
            "rf_screen",
            "analgesic_same",
            "rescue_doses_24h",
            "se_screen",
            "new_problem_any",
        ]
        assert raised == set()
        before, _ = alerts(BEFORE[qid], quiet)
        assert len(before) > 12


def test_fever_is_asked_every_day_when_chemotherapy_is_possible_and_behind_the_gate_otherwise() -> None:
    q = SHIPPED["daily"]
    for on_chemo, expected in (("yes", True), ("_unknown", True), (None, True), ("no", False)):
        asked, _ = alerts(q, Finding({}, baseline_on_chemo=on_chemo))
        assert ("fever" in asked) is expected, on_chemo
    asked, raised = alerts(q, Finding({"fever": "yes", "fever_chemo": "yes"}))  # chemotherapy started since
    assert "se_screen" in asked and "fever" in asked
    assert ("fever_on_chemo", "urgent", "fever") in raised


def test_rescue_doses_are_one_tap_on_buttons() -> None:
    for qid in ("daily", "weekly"):
        item = SHIPPED[qid].item("rescue_doses_24h")
        assert item.type == "scale" and engine.answer_from_button(item, "4") == 4
        assert item.show_if is not None


def test_the_gates_put_the_reporting_answer_first() -> None:
    """A habitual tap on the first button asks more, never less (docs/clinical/patient-burden.md)."""
    for qid in SHIPPED:
        for gate, (opened, _closed) in GATES.items():
            item = SHIPPED[qid].item(gate) if gate in SHIPPED[qid].item_ids else None
            if item is not None and item.type == "single":
                assert item.codes[0] == opened


def test_the_versions_were_bumped_and_the_old_files_still_load() -> None:
    assert {qid: (q.version, SHIPPED[qid].version) for qid, q in BEFORE.items()} == {
        "daily": ("1.5", "3.0"),
        "weekly": ("1.5", "3.0"),
        "followup": ("1.4", "3.0"),
    }
    assert {qid: q.version for qid, q in BEFORE_SPLIT.items()} == {
        "baseline": "1.2",
        "daily": "2.0",
        "weekly": "2.0",
        "followup": "2.0",
    }
    assert (SHIPPED["baseline"].version, SHIPPED["baseline_more"].version) == ("2.0", "2.0")


# ---------------------------------------------------------------------------------------------------------------
# End to end: the real Application, the stand-in Bot API, a real database
# ---------------------------------------------------------------------------------------------------------------
RT = date(2027, 3, 3)


async def _open_diary(bench: Bench, patient: Patient) -> None:
    for _ in range(200):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            return
        if prompt is not None and prompt.instance.questionnaire_id == "baseline_more":
            await answer_all(bench, patient)  # the baseline's second part, the day after joining (issue 35)
            continue
        await bench.advance(timedelta(hours=1))
    raise AssertionError("no diary came")


async def test_a_quiet_diary_takes_six_taps_and_the_counter_only_goes_up(bench: Bench) -> None:
    patient = await bench.join(3501, "P-BU1", RT)
    await answer_all(bench, patient)  # the baseline
    await _open_diary(bench, patient)
    quiet = {
        "pain_worst": 3,
        "rf_screen": "none",
        "analgesic_same": "yes",
        "rescue_doses_24h": 0,
        "se_screen": "no",
        "new_problem_any": "no",
    }
    first = len(bench.texts(patient.chat_id))
    asked = await answer_all(bench, patient, quiet)
    assert asked == list(quiet)
    headers = [t.split("\n", 1)[0] for t in bench.texts(patient.chat_id)[first - 1 :] if t.startswith("Question")]
    numbers = [int(h.split()[1]) for h in headers if h.split()[1].isdigit()]
    assert numbers and numbers == sorted(numbers) and "/" not in "".join(headers)
    assert bench.group_messages() == [] or not any("🔴" in (m.text or "") for m in bench.group_messages())


async def test_a_red_flag_behind_the_screen_alerts_at_once(bench: Bench) -> None:
    patient = await bench.join(3502, "P-BU2", RT)
    await answer_all(bench, patient)
    await _open_diary(bench, patient)
    await give(bench, patient, 4)
    await give(bench, patient, "some")  # "Oui, au moins un de ces signes"
    asked = await answer_all(bench, patient, {"rf_bladder_bowel": "yes"})
    assert asked[:4] == ["rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new"]
    await bench.settle()
    group = [m.text or "" for m in bench.group_messages()]
    assert any("P-BU2" in t and "vessie" in t for t in group), group


async def test_a_fever_without_chemotherapy_is_reported_through_the_side_effect_gate(bench: Bench) -> None:
    patient = await bench.join(3503, "P-BU3", RT)
    await answer_all(bench, patient, {"on_chemo": "no"})
    await _open_diary(bench, patient)
    asked = await answer_all(
        bench, patient, {"rf_screen": "none", "se_screen": "yes", "fever": "yes", "fever_chemo": "yes"}
    )
    assert "fever" in asked and "fever_chemo" in asked
    await bench.settle()
    group = [m.text or "" for m in bench.group_messages()]
    assert any("P-BU3" in t and "neutropénie" in t for t in group), group


async def test_a_quiet_diary_on_chemotherapy_asks_fever(bench: Bench) -> None:
    patient = await bench.join(3504, "P-BU4", RT)
    await answer_all(bench, patient, {"on_chemo": "yes"})
    await _open_diary(bench, patient)
    asked = await answer_all(bench, patient, {"rf_screen": "none", "analgesic_same": "yes", "se_screen": "no"})
    assert "fever" in asked and "se_nausea" not in asked and "rf_weakness" not in asked


def test_finding_defaults_are_quiet() -> None:
    """The walk's quiet answers raise nothing on any questionnaire (else a finding would be credited wrongly)."""
    for q in SHIPPED.values():
        _asked, answers = walk_as_patient(q, replace(Finding({}), baseline_pain=3))
        assert evaluate_answers(RULES, q.id, answers, rule_context(Finding({}), q.id)) == []


async def test_a_diary_answered_in_1_5_stays_readable_after_the_upgrade_to_2_0(bench: Bench) -> None:
    """Old versions in exports: the 1.5 diary keeps its stamp, its hash, its separate red-flag answers and its typed
    rescue count; the 2.0 diary after it has the screens; the CSV and FHIR exports read both, each with its text."""
    import csv
    import io

    from bot.domain.questionnaire import content_hash
    from bot.export.csv_export import CSV_COLUMNS, csv_rows
    from bot.export.dataset import load_dataset
    from bot.export.fhir_export import build_bundle, validate_bundle

    services = bench.services
    assert services is not None
    shipped = services.questionnaires["daily"]
    services.questionnaires["daily"] = BEFORE["daily"]  # type: ignore[index]
    patient = await bench.join(3505, "P-BU5", RT)
    await answer_all(bench, patient)
    await _open_diary(bench, patient)
    old_asked = await answer_all(bench, patient, {"analgesic_same": "yes", "rescue_doses_24h": 12})
    assert "rf_weakness" in old_asked and "rf_screen" not in old_asked
    services.questionnaires["daily"] = shipped  # type: ignore[index]
    for _ in range(48):
        await bench.advance(timedelta(hours=1))
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            break
    new_asked = await answer_all(bench, patient, {"rf_screen": "none", "analgesic_same": "yes", "se_screen": "no"})
    assert "rf_screen" in new_asked

    dataset = await load_dataset(services.store)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor"))
    lines = [dict(zip(CSV_COLUMNS, row)) for row in csv.reader(io.StringIO(out.getvalue()))]
    daily = [line for line in lines if line["questionnaire"] == "daily" and line["derivation"] == ""]
    by_version = {(line["questionnaire_version"], line["questionnaire_hash"]) for line in daily}
    assert by_version == {("1.5", content_hash(BEFORE["daily"])), (shipped.version, content_hash(shipped))}
    old_items = {line["item"]: line["value"] for line in daily if line["questionnaire_version"] == "1.5"}
    assert old_items["rescue_doses_24h"] == "12" and old_items["rf_weakness"] == "no"
    new_items = {line["item"] for line in daily if line["questionnaire_version"] == shipped.version}
    assert "rf_screen" in new_items and "rf_weakness" not in new_items
    fhir = build_bundle(dataset, services.questionnaires, bench.clock.now())
    validate_bundle(fhir)
    versions = {
        entry["resource"]["version"]
        for entry in fhir["entry"]
        if entry["resource"]["resourceType"] == "Questionnaire" and "daily" in entry["resource"]["id"]
    }
    assert versions == {"1.5", shipped.version}


async def test_a_fever_on_chemotherapy_asked_without_the_gate_alerts_at_once(bench: Bench) -> None:
    """The context item `chemo_possible` keeps fever visible in the answers the rules read, not only on screen."""
    patient = await bench.join(3506, "P-BU6", RT)
    await answer_all(bench, patient, {"on_chemo": "yes"})
    await _open_diary(bench, patient)
    asked = await answer_all(
        bench,
        patient,
        {"rf_screen": "none", "analgesic_same": "yes", "se_screen": "no", "fever": "yes", "fever_chemo": "yes"},
    )
    assert "fever" in asked and "se_nausea" not in asked
    await bench.settle()
    group = [m.text or "" for m in bench.group_messages()]
    assert any("P-BU6" in t and "neutropénie" in t for t in group), group


async def test_the_clinicians_overview_reads_the_side_effect_gate(bench: Bench) -> None:
    """/patient lists the side effects of the latest questionnaire that asked them: a "Non" to the gate is "none
    today" (not an older diary's effects), and the gate itself is not listed as a side effect."""
    from bot.services.overview import overview
    from bot.storage.patients import find_by_study_id

    services = bench.services
    assert services is not None
    patient = await bench.join(3507, "P-BU7", RT)
    await answer_all(bench, patient)
    await _open_diary(bench, patient)
    await answer_all(bench, patient, {"rf_screen": "none", "se_screen": "yes", "se_nausea": "2"})

    async def side_effects() -> list[str]:
        async with services.store.read() as tx:
            stored = await find_by_study_id(tx, "P-BU7")
            assert stored is not None
            return (await overview(tx, services, stored)).side_effects

    lines = await side_effects()
    assert any(line.startswith("Nausées") for line in lines) and not any("gênant" in line for line in lines)
    for _ in range(48):
        await bench.advance(timedelta(hours=1))
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            break
    await answer_all(bench, patient, {"rf_screen": "none", "se_screen": "no"})
    assert await side_effects() == []
