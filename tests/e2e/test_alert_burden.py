"""Issue 15, second part: what is left of the alert burden — one alert per severe-pain episode, mild expected side
effects recorded but not alerted, and the analgesic increase the team itself ordered.

Driven through the real bot and the Bot API stand-in, as in test_alert_loop.py: the patient answers with buttons,
the clinicians press the buttons under the alert in their group.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import Bench, Patient, answer_all, current_prompt
from test_alert_loop import BASELINE, REGIMEN, RT, SAME, diary, press, rows, told_to_wait_for_a_call

from bot.bootstrap import QUESTIONNAIRES_DIR
from bot.domain.rules import RepeatPolicy, RulesFileError, load_rules, parse_rules

#: What the patient answers to whatever the schedule sent while the clock jumped: the baseline regimen if asked.
STEADY = {**SAME, **REGIMEN, "bg_dose": 30}


def alerts_of(bench: Bench, rule_id: str) -> list[int]:
    return [r[0] for r in rows(bench, "SELECT id FROM alerts WHERE rule_id = ? ORDER BY id", rule_id)]


def suppressed_of(bench: Bench, rule_id: str) -> list[tuple]:
    return rows(bench, "SELECT reason, previous_alert_id FROM suppressed_alerts WHERE rule_id = ? ORDER BY id", rule_id)


async def catch_up(bench: Bench, patient: Patient, answers: dict[str, object]) -> None:
    """After a jump of the clock: answer whatever the schedule has sent meanwhile, with `answers`."""
    await bench.tick()
    while await current_prompt(bench, patient) is not None:
        await answer_all(bench, patient, answers)
        await bench.tick()


# ------------------------------------------------------------------------------------ severe pain: one per episode


async def test_a_persisting_severe_pain_does_not_alert_again_a_higher_one_does_and_so_does_a_new_episode(
    bench: Bench,
) -> None:
    patient = await bench.join(7101, "P-E1", RT)
    await answer_all(bench, patient, {**BASELINE, "pain_worst": 6})
    await diary(bench, patient, {**SAME, "pain_worst": 9})
    [first] = alerts_of(bench, "pain_severe")
    await press(bench, first, f"ack:{first}")

    # Still 9 more than a week later: a pain that persists a week after its alert (issue 33, bot.domain.news;
    # 3 days in issue 32) alerts once more — not at every diary: the diaries right after it are the same episode,
    # kept as the same news ("known"), not alerted.
    bench.clock.advance(timedelta(days=8))
    await catch_up(bench, patient, {**STEADY, "pain_worst": 9})
    [_, persisting] = alerts_of(bench, "pain_severe")
    await press(bench, persisting, f"ack:{persisting}")
    calls = told_to_wait_for_a_call(bench, patient)
    await diary(bench, patient, {**SAME, "pain_worst": 9})
    assert alerts_of(bench, "pain_severe") == [first, persisting]
    assert told_to_wait_for_a_call(bench, patient) == calls
    kept = suppressed_of(bench, "pain_severe")
    assert kept and set(kept) <= {("known", first), ("known", persisting)} and kept[-1] == ("known", persisting)
    assert rows(
        bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'alert_suppressed' AND entity_id = 'pain_severe'"
    ) == [(len(kept),)]

    # A higher score is news; then 10 again, or back to 9, is still that episode.
    await diary(bench, patient, {**SAME, "pain_worst": 10})
    [_, _, second] = alerts_of(bench, "pain_severe")
    assert told_to_wait_for_a_call(bench, patient) > calls
    await press(bench, second, f"ack:{second}")
    await diary(bench, patient, {**SAME, "pain_worst": 10})
    await diary(bench, patient, {**SAME, "pain_worst": 9})
    assert alerts_of(bench, "pain_severe") == [first, persisting, second]
    assert suppressed_of(bench, "pain_severe")[-2:] == [("known", second)] * 2

    # The worst pain falls below 9 in a completed questionnaire: the episode is over, and 9 again is a new one.
    await diary(bench, patient, {**SAME, "pain_worst": 6})
    assert alerts_of(bench, "pain_severe") == [first, persisting, second]
    await diary(bench, patient, {**SAME, "pain_worst": 9})
    assert len(alerts_of(bench, "pain_severe")) == 4


def test_the_shipped_severe_pain_rules_alert_once_per_episode() -> None:
    rules = load_rules(QUESTIONNAIRES_DIR / "rules.yaml")
    for rule_id, threshold in (("pain_severe", 9), ("pain_severe_no_baseline", 8)):
        repeat = rules.get(rule_id).repeat
        assert repeat is not None and repeat.within_days is None
        assert (repeat.until_below, repeat.unless_higher) == (threshold, "pain_worst")


def test_a_repeat_policy_is_a_window_or_an_episode_never_both() -> None:
    assert RepeatPolicy(until_below=9, unless_higher="pain_worst").until_below == 9
    for bad in ({}, {"within_days": 7, "until_below": 9, "unless_higher": "pain_worst"}, {"until_below": 9}):
        with pytest.raises(ValueError):
            RepeatPolicy.model_validate(bad)


# ------------------------------------------------------------------------------------ expected side effects


async def test_a_mild_expected_side_effect_is_stored_but_raises_no_alert_and_a_moderate_one_does(
    bench: Bench,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    import csv

    from bot.export import export

    patient = await bench.join(7103, "P-E3", RT)
    await answer_all(bench, patient, BASELINE)
    await diary(bench, patient, {**SAME, "se_fatigue": "1", "se_nausea": "1"})
    assert rows(bench, "SELECT rule_id FROM alerts") == []
    assert rows(bench, "SELECT COUNT(*) FROM suppressed_alerts") == [(0,)]  # not an alert held back: no alert at all
    stored = rows(
        bench,
        "SELECT a.item_id, a.value FROM answers a JOIN instances i ON i.id = a.instance_id"
        " WHERE i.questionnaire_id = 'daily' AND a.item_id IN ('se_fatigue', 'se_nausea')"
        " ORDER BY a.item_id",
    )
    assert stored == [("se_fatigue", '"1"'), ("se_nausea", '"1"')]
    services = bench.services
    assert services is not None
    await export("csv", services.store, tmp_path / "answers.csv", services.questionnaires, services.opioids)
    exported = {
        (r["item"], r["value"])
        for r in csv.DictReader((tmp_path / "answers.csv").open(encoding="utf-8"))
        if r["questionnaire"] == "daily"
    }
    assert {("se_fatigue", "1"), ("se_nausea", "1")} <= exported
    # ... and in what the team sees of the patient (/patient): the newest levels, "not at all" left out.
    await bench.clinician_says("/patient P-E3")
    [*_, photo] = [m for m in bench.group_messages() if m.photo_file_id]
    caption = photo.caption or ""
    assert "Effets secondaires au dernier questionnaire : " in caption, caption
    effects = caption.split("Effets secondaires au dernier questionnaire : ")[1]
    assert "Un peu" in effects and effects.count("Un peu") == 2 and "Pas du tout" not in effects

    # Moderate ("assez"): the digest; severe nausea ("beaucoup"): the same day.
    await diary(bench, patient, {**SAME, "se_fatigue": "2", "se_nausea": "1"})
    assert rows(bench, "SELECT rule_id, severity FROM alerts") == [("se_fatigue_reported", "info")]
    await diary(bench, patient, {**SAME, "se_fatigue": "0", "se_nausea": "3"})
    assert rows(bench, "SELECT rule_id, severity FROM alerts ORDER BY id")[1:] == [("nausea_severe", "same_day")]


# ------------------------------------------------------------------------------------ the increase the team ordered


async def _severe_pain_taken_care_of(bench: Bench, user_id: int, study_id: str, action: str) -> tuple[Patient, int]:
    patient = await bench.join(user_id, study_id, RT)
    await answer_all(bench, patient, {**BASELINE, "pain_worst": 6})  # Skenan 30 mg twice a day: 60 mg/day
    await diary(bench, patient, {**SAME, "pain_worst": 9})
    [alert] = alerts_of(bench, "pain_severe")
    await press(bench, alert, f"ack:{alert}")
    await press(bench, alert, f"act:{alert}:{action}")
    return patient, alert


def raised(dose: int, pain: int = 7) -> dict[str, object]:
    return {"pain_worst": pain, "analgesic_same": "no", **REGIMEN, "bg_dose": dose, "rescue_doses_24h": 0}


async def test_the_increase_the_team_recorded_it_made_is_kept_not_alerted_and_a_further_rise_alerts(
    bench: Bench,
) -> None:
    patient, pain_alert = await _severe_pain_taken_care_of(bench, 7104, "P-E4", "analgesics")
    calls = told_to_wait_for_a_call(bench, patient)
    await diary(bench, patient, raised(45))  # 90 mg/day, 1.5 x: the team's own change
    assert alerts_of(bench, "analgesic_increase") == []
    assert told_to_wait_for_a_call(bench, patient) == calls
    assert suppressed_of(bench, "analgesic_increase") == [("ordered", pain_alert)]
    assert rows(
        bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'alert_suppressed' AND entity_id = 'analgesic_increase'"
    ) == [(1,)]
    # Later reports at that dose compare with it: not news.
    await diary(bench, patient, {**SAME, "pain_worst": 7})
    assert alerts_of(bench, "analgesic_increase") == []
    assert suppressed_of(bench, "analgesic_increase")[-1] == ("acknowledged", pain_alert)
    # A further rise of 25 % over the dose the team set (90 → 120 mg/day) alerts.
    await diary(bench, patient, raised(60))
    assert len(alerts_of(bench, "analgesic_increase")) == 1
    assert told_to_wait_for_a_call(bench, patient) > calls


@pytest.mark.parametrize(
    ("action", "dose", "why"),
    [
        ("called", 45, "the team did not say it changed the analgesics"),
        ("analgesics", 70, "more than twice the dose compared with (140 > 2 x 60 mg/day)"),
    ],
)
async def test_an_increase_alerts_when_it_is_not_the_teams_recorded_change(
    bench: Bench,
    action: str,
    dose: int,
    why: str,
) -> None:
    patient, _ = await _severe_pain_taken_care_of(bench, 7105, "P-E5", action)
    await diary(bench, patient, raised(dose))
    assert len(alerts_of(bench, "analgesic_increase")) == 1, why
    assert suppressed_of(bench, "analgesic_increase") == []


async def test_the_teams_change_is_expected_only_within_its_window(bench: Bench) -> None:
    patient, pain_alert = await _severe_pain_taken_care_of(bench, 7106, "P-E6", "analgesics")
    bench.clock.advance(timedelta(days=15))  # expected_after.within_days is 14
    await catch_up(bench, patient, {**STEADY, "pain_worst": 7})
    assert alerts_of(bench, "analgesic_increase") == []
    await diary(bench, patient, raised(45))
    assert len(alerts_of(bench, "analgesic_increase")) == 1
    assert ("ordered", pain_alert) not in suppressed_of(bench, "analgesic_increase")


def test_expected_after_is_refused_on_a_rule_that_is_not_an_analgesic_increase() -> None:
    rule = {
        "id": "r",
        "severity": "same_day",
        "title": "t",
        "source": "s",
        "compare_with": "last_acknowledged",
        "condition": {"pain_rise_from_baseline": 2},
        "expected_after": {"action": "analgesics", "within_days": 14, "up_to": 2.0},
    }
    with pytest.raises(RulesFileError, match="expected_after"):
        parse_rules({"version": 1, "rules": [rule]}, known_items=None)
    bad_action = {
        **rule,
        "condition": {"analgesic_increase": 1.25},
        "expected_after": {"action": "prayed", "within_days": 14, "up_to": 2.0},
    }
    with pytest.raises(RulesFileError, match="unknown action"):
        parse_rules({"version": 1, "rules": [bad_action]}, known_items=None)
