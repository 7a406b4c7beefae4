"""The questionnaire format and loader: shipped instruments load, broken files fail with one clear sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.questionnaire import (
    NOT_QUESTIONNAIRE_FILES,
    Questionnaire,
    QuestionnaireFileError,
    load_questionnaire,
    load_questionnaires,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "questionnaires"
BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"

PAIN_TYPES = [
    f"{kind}_{part}"
    for kind in ("axial_spont", "axial_mech", "radic_spont", "radic_mech")
    for part in ("present", "score")
]
ANALGESICS = [
    "bg_taking",
    "bg_product",
    "bg_other",
    "bg_dose",
    "bg_patch",
    "bg_per_day",
    "bg_units",
    "bg_more",
    "bg2_product",
    "bg2_other",
    "bg2_dose",
    "bg2_patch",
    "bg2_tablets",
    "bg2_per_day",
    "bg2_units",
    "rescue_taking",
    "rescue_product",
    "rescue_dose",
    "rescue_units",
    "rescue_doses_24h",
    "other_analgesics",
]
SIDE_EFFECTS = ["se_nausea", "se_swallow", "se_diarrhoea", "se_fatigue", "se_skin"]
RED_FLAGS = ["rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new"]
QOL = ["qol_global", "interf_sleep", "interf_walking", "interf_mood", "interf_activity"]
SAME_DAY = ["vomit_no_fluids", "cannot_swallow", "fever"]

REQUIRED_IDS = {
    # Issue 35: the baseline in two parts; what must be known before the first fraction in the first.
    "baseline": ["pain_worst", *ANALGESICS, "on_chemo", "fever", *RED_FLAGS, "sp_night_pain"],
    "baseline_more": [
        "pain_average",
        *PAIN_TYPES,
        *SIDE_EFFECTS,
        "vomit_no_fluids",
        "cannot_swallow",
        *QOL,
        "message_team",
    ],
    "daily": ["pain_worst", "analgesic_same", *ANALGESICS, *SIDE_EFFECTS, *SAME_DAY, *RED_FLAGS],
    "followup": [
        "pain_worst",
        "pain_average",
        *PAIN_TYPES,
        "analgesic_same",
        *ANALGESICS,
        *SIDE_EFFECTS,
        *SAME_DAY,
        *RED_FLAGS,
        "sp_night_pain",
        *QOL,
        "pgic",
        "satisfaction",
    ],
    "weekly": ["pain_worst", "analgesic_same", *ANALGESICS, *RED_FLAGS],
}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Questionnaire]:
    return load_questionnaires(SHIPPED)


def _minimal(qid: str = "local", **extra: Any) -> dict[str, Any]:
    return {
        "id": qid,
        "version": "1.0",
        "title": "Titre",
        "source": "test",
        "items": [{"id": "q1", "type": "yesno", "text": "Oui ou non ?"}],
        **extra,
    }


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# Shipped instruments
# ---------------------------------------------------------------------------------------------------------------
def test_the_four_shipped_questionnaires_load_with_version_1_2(shipped: dict[str, Questionnaire]) -> None:
    """1.1: the NICE 24-hour items and the new symptom items (issue 14), baseline red flags "since the consultation".
    1.2: analgesics as taken (strength × units per intake × intakes per day, a second background product, more
    French products; issue 17). 1.3 (daily, weekly, follow-up): the confirmation of a regimen recorded by the care
    team (team_regimen, team_regimen_ok; issue 17). 1.4 (daily, weekly; issue 32): shivers when the temperature was
    not taken, opioid toxicity asked after a change of treatment, myoclonus / hallucinations, breathlessness, new
    confusion; the weekly check asks fever, vomiting and swallowing. 1.5 (daily, weekly; issue 32): opioid toxicity
    also asked when the treatment changed in the last 7 days (context item regimen_changed_recently). 2.0 (daily,
    weekly; issue 35): gates "Aucun de ces signes" (rf_screen) and "Un effet gênant aujourd'hui ?" (se_screen), the
    rescue count as one tap, fever asked every time only when chemotherapy is possible (context chemo_possible);
    follow-up 2.0: the red-flag screen only. Issue 35, step 2: baseline 2.0 (part 1, before the first fraction) and
    baseline_more 2.0 (part 2, the next day); daily, weekly, follow-up 3.0 (no message item: the patient writes at
    any time; follow-up: the side-effect gate, day-30-only items behind primary_timepoint)."""
    assert sorted(shipped) == ["baseline", "baseline_more", "daily", "followup", "weekly"]
    assert {q.id: q.version for q in shipped.values()} == {
        "baseline": "2.0",
        "baseline_more": "2.0",
        "daily": "3.0",
        "followup": "3.0",
        "weekly": "3.0",
    }


@pytest.mark.parametrize("qid", sorted(REQUIRED_IDS))
def test_each_questionnaire_asks_the_item_ids_other_modules_rely_on(
    shipped: dict[str, Questionnaire], qid: str
) -> None:
    missing = [i for i in REQUIRED_IDS[qid] if i not in shipped[qid].item_ids]
    assert missing == []


def test_on_chemo_and_pgic_are_asked_only_where_the_protocol_puts_them(shipped: dict[str, Questionnaire]) -> None:
    assert [qid for qid, q in shipped.items() if "on_chemo" in q.item_ids] == ["baseline"]
    assert [qid for qid, q in shipped.items() if "pgic" in q.item_ids] == ["followup"]
    assert "analgesic_same" not in shipped["baseline"].item_ids


def test_the_message_to_the_team_is_offered_once_then_the_intro_says_to_write_at_any_time(
    shipped: dict[str, Questionnaire],
) -> None:
    """Issue 35: the message item ends the baseline's second part (where the patient learns of it); the repeated
    questionnaires no longer ask it (one "Passer" tap nearly every day) and their intro says the patient may write
    at any time (every message is kept, screened and forwarded: bot/services/patient_messages.py)."""
    last = shipped["baseline_more"].items[-1]
    assert (last.id, last.type, last.optional, last.max_length) == ("message_team", "text", True, 500)
    assert "15" in last.text and "urgence" in last.text
    for qid in ("daily", "weekly", "followup"):
        assert "message_team" not in shipped[qid].item_ids
        assert "écrire à l'équipe" in shipped[qid].intro and "à tout moment" in shipped[qid].intro


def test_every_shipped_item_has_a_short_label_of_at_most_40_characters(shipped: dict[str, Questionnaire]) -> None:
    for q in shipped.values():
        for item in q.items:
            assert item.short and len(item.short) <= 40, (q.id, item.id)


def test_scale_items_state_their_anchors_in_the_text(shipped: dict[str, Questionnaire]) -> None:
    for q in shipped.values():
        for item in q.items:
            if item.type == "scale":
                assert "0 = " in item.text and "10 = " in item.text, (q.id, item.id)


def test_pain_type_scores_are_shown_only_when_the_pain_type_is_present(shipped: dict[str, Questionnaire]) -> None:
    for q in (shipped["baseline_more"], shipped["followup"]):
        for prefix in ("axial_spont", "axial_mech", "radic_spont", "radic_mech"):
            cond = q.item(f"{prefix}_score").show_if
            assert cond is not None and (cond.item, cond.equals) == (f"{prefix}_present", "yes")


def test_side_effects_use_the_codes_0_to_3_that_the_rules_refer_to(shipped: dict[str, Questionnaire]) -> None:
    for q in shipped.values():
        for item_id in SIDE_EFFECTS:
            if item_id in q.item_ids:
                assert q.item(item_id).codes == ("0", "1", "2", "3")


def _rule_answer_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["answer"]] if isinstance(node.get("answer"), str) else []
        return found + [ref for value in node.values() for ref in _rule_answer_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _rule_answer_refs(value)]
    return []


def test_every_item_the_escalation_rules_look_at_is_asked_somewhere(shipped: dict[str, Questionnaire]) -> None:
    rules = yaml.safe_load((SHIPPED / "rules.yaml").read_text(encoding="utf-8"))
    refs = set(_rule_answer_refs(rules))
    asked = {item_id for q in shipped.values() for item_id in q.item_ids}
    assert refs, "rules.yaml refers to no answer at all?"
    assert refs - asked == set()


# ---------------------------------------------------------------------------------------------------------------
# Directory loading
# ---------------------------------------------------------------------------------------------------------------
def test_data_files_next_to_the_questionnaires_are_skipped_by_name(tmp_path: Path) -> None:
    for name in NOT_QUESTIONNAIRE_FILES:  # even if one happened to have `items`
        _write(tmp_path / name, _minimal(qid=name.split(".")[0]))
    _write(tmp_path / "notes.yaml", {"comment": "no items here"})
    _write(tmp_path / "real.yaml", _minimal(qid="real"))
    assert list(load_questionnaires(tmp_path)) == ["real"]


def test_a_second_directory_adds_a_sites_local_licensed_instrument(tmp_path: Path) -> None:
    _write(tmp_path / "local" / "qlq.yaml", _minimal(qid="site_qlq", source="Licence EORTC de l'étude, non commis"))
    loaded = load_questionnaires(SHIPPED, tmp_path / "local")
    assert set(loaded) == {"baseline", "baseline_more", "daily", "followup", "weekly", "site_qlq"}


def test_the_same_questionnaire_id_in_two_files_is_an_error_naming_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path / "ours" / "daily.yaml", _minimal(qid="daily"))
    second = _write(tmp_path / "site" / "journal.yaml", _minimal(qid="daily"))
    with pytest.raises(QuestionnaireFileError) as caught:
        load_questionnaires(tmp_path / "ours", tmp_path / "site")
    assert str(first) in str(caught.value) and str(second) in str(caught.value)
    assert '"daily"' in str(caught.value)


def test_a_missing_directory_is_an_error_not_an_empty_result(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireFileError, match="does not exist"):
        load_questionnaires(tmp_path / "nowhere")


def test_a_broken_file_in_a_directory_stops_the_whole_load(tmp_path: Path) -> None:
    _write(tmp_path / "good.yaml", _minimal(qid="good"))
    (tmp_path / "bad.yaml").write_text((BROKEN / "show_if_later.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(QuestionnaireFileError, match="bad.yaml"):
        load_questionnaires(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# Broken files: one sentence naming the file, the item and the problem
# ---------------------------------------------------------------------------------------------------------------
BROKEN_CASES = [
    ("show_if_later.yaml", "pain_worst", 'show_if refers to "later_item", which is not asked before it'),
    ("duplicate_item.yaml", "pain_worst", "used twice"),
    ("choices_missing.yaml", "se_nausea", "a single item needs choices"),
    ("choices_forbidden.yaml", "fever", "takes no choices"),
    ("number_without_range.yaml", "bg_dose", "needs min and max"),
    ("unknown_type.yaml", "pain_worst", "'scale', 'yesno', 'single', 'multi', 'number' or 'text'"),
    ("unknown_field.yaml", "fever", 'unknown field "optionnal"'),
    ("bad_yaml.yaml", None, "not valid YAML at line 8"),
    ("unquoted_yes.yaml", "bg_dose", "write it in quotes"),
    ("impossible_condition_value.yaml", "bg_dose", "'oui' is not a possible answer"),
    ("bad_item_id.yaml", "Pain-Worst", 'field "id"'),
    ("version_number.yaml", None, 'version must be written in quotes, e.g. version: "1.0"'),
    ("text_limit_too_high.yaml", "message_team", "max_length must be between 1 and 1000"),
    ("scale_range.yaml", "pain_worst", "scale items are always 0 to 10"),
    ("gte_on_yesno.yaml", "fever_temp", "gte only works on scale or number items"),
    ("missing_title.yaml", None, 'missing field "title"'),
    ("two_condition_kinds.yaml", "fever", "exactly one of equals, in, not_in, gte, unknown, all, any"),
    ("duplicate_choice.yaml", "se_nausea", 'choice code "0" appears twice'),
    ("marker_condition.yaml", "other", 'cannot test for "_skip"'),
    ("top_level_list.yaml", None, "must be a YAML mapping"),
]


def test_every_broken_fixture_has_an_expected_error() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(name for name, _, _ in BROKEN_CASES)


@pytest.mark.parametrize(("name", "item_id", "problem"), BROKEN_CASES)
def test_a_broken_file_is_refused_with_file_item_and_problem(name: str, item_id: str | None, problem: str) -> None:
    path = BROKEN / name
    with pytest.raises(QuestionnaireFileError) as caught:
        load_questionnaire(path)
    error = caught.value
    message = str(error)
    assert message.startswith(str(path))
    assert problem in message
    assert error.item_id == item_id
    if item_id is not None:
        assert f'item "{item_id}"' in message
    assert "\n" not in message and "and 1 more problem" not in message


def test_the_show_if_error_reads_as_the_documented_sentence() -> None:
    path = BROKEN / "show_if_later.yaml"
    with pytest.raises(QuestionnaireFileError) as caught:
        load_questionnaire(path)
    assert str(caught.value) == (
        f'{path}, item "pain_worst": show_if refers to "later_item", which is not asked before it'
    )


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireFileError, match="missing.yaml: the file does not exist"):
        load_questionnaire(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------------------------
# Format details
# ---------------------------------------------------------------------------------------------------------------
def test_scale_items_are_0_to_10_and_text_items_default_to_500_characters() -> None:
    q = Questionnaire.model_validate(
        _minimal(
            items=[
                {"id": "pain", "type": "scale", "text": "Douleur ? 0 = aucune, 10 = maximale."},
                {"id": "note", "type": "text", "text": "Message ?"},
            ]
        )
    )
    assert (q.item("pain").min, q.item("pain").max) == (0, 10)
    assert q.item("note").max_length == 500


def test_bare_integer_choice_codes_are_read_as_text_codes() -> None:
    q = Questionnaire.model_validate(
        _minimal(
            items=[
                {"id": "pgic", "type": "single", "text": "Changement ?", "choices": [{"code": 1, "label": "Mieux"}]},
            ]
        )
    )
    assert q.item("pgic").codes == ("1",)


def test_a_boolean_choice_code_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="boolean"):
        Questionnaire.model_validate(
            _minimal(
                items=[
                    {"id": "x", "type": "single", "text": "?", "choices": [{"code": True, "label": "Oui"}]},
                ]
            )
        )


def test_a_nested_condition_may_only_refer_to_earlier_items_at_any_depth() -> None:
    items = [
        {"id": "a", "type": "yesno", "text": "A ?"},
        {
            "id": "b",
            "type": "yesno",
            "text": "B ?",
            "show_if": {"any": [{"item": "a", "equals": "yes"}, {"all": [{"item": "c", "equals": "no"}]}]},
        },
        {"id": "c", "type": "yesno", "text": "C ?"},
    ]
    with pytest.raises(ValueError, match='refers to "c", which is not asked before it'):
        Questionnaire.model_validate(_minimal(items=items))
