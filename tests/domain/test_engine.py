"""The pure questionnaire engine: navigation, visibility, input parsing, display; property tests on the shipped
questionnaires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.domain.engine as engine
from bot.domain.engine import (
    InvalidAnswer,
    answer_from_button,
    answer_from_selection,
    answer_from_text,
    condition_holds,
    display_value,
    effective_answers,
    next_item,
    progress,
    summary_lines,
    visible_items,
)
from bot.domain.questionnaire import SKIPPED, UNKNOWN, Item, Questionnaire, Value, load_questionnaires
from bot.i18n import _

SHIPPED = load_questionnaires(Path(__file__).resolve().parents[2] / "questionnaires")


def _q(*items: dict[str, Any]) -> Questionnaire:
    return Questionnaire.model_validate(
        {"id": "t", "version": "1.0", "title": "Test", "source": "test", "items": list(items)}
    )


def _item(**fields: Any) -> Item:
    fields.setdefault("id", "x")
    fields.setdefault("text", "Question ?")
    return Item.model_validate(fields)


BRANCHING = _q(
    {"id": "pain", "type": "scale", "short": "Douleur", "text": "Douleur ? 0 = aucune, 10 = maximale."},
    {"id": "taking", "type": "yesno", "short": "Traitement", "text": "Traitement ?"},
    {
        "id": "product",
        "type": "single",
        "short": "Produit",
        "text": "Lequel ?",
        "choices": [{"code": "skenan", "label": "Skenan"}, {"code": "durogesic", "label": "Durogesic (patch)"}],
        "show_if": {"item": "taking", "equals": "yes"},
    },
    {
        "id": "dose",
        "type": "number",
        "short": "Dose",
        "text": "Dose ?",
        "min": 0,
        "max": 20,
        "unit": "mg",
        "decimals": True,
        "show_if": {"item": "product", "not_in": ["durogesic"]},
    },
    {
        "id": "patch",
        "type": "number",
        "short": "Patch",
        "text": "Patch ?",
        "min": 1,
        "max": 300,
        "unit": "µg/h",
        "show_if": {"item": "product", "in": ["durogesic"]},
    },
    {"id": "severe", "type": "yesno", "short": "Sévère", "text": "Grave ?", "show_if": {"item": "pain", "gte": 7}},
    {
        "id": "others",
        "type": "multi",
        "short": "Autres",
        "text": "Autres ?",
        "choices": [
            {"code": "paracetamol", "label": "Paracétamol"},
            {"code": "ains", "label": "AINS"},
            {"code": "aucun", "label": "Aucun", "exclusive": True},
        ],
    },
    {"id": "note", "type": "text", "short": "Message", "text": "Message ?", "optional": True, "max_length": 20},
)


# ---------------------------------------------------------------------------------------------------------------
# Navigation and visibility
# ---------------------------------------------------------------------------------------------------------------
def test_next_item_walks_visible_items_in_order_and_returns_none_at_the_end() -> None:
    answers: dict[str, Value] = {}
    asked = []
    script = {"pain": 3, "taking": "no", "others": ["aucun"], "note": SKIPPED}
    while (item := next_item(BRANCHING, answers)) is not None:
        asked.append(item.id)
        answers[item.id] = script[item.id]
    assert asked == ["pain", "taking", "others", "note"]


def test_a_yes_opens_the_branch_and_the_product_picks_the_dose_item() -> None:
    answers: dict[str, Value] = {"pain": 8, "taking": "yes", "product": "durogesic"}
    assert [i.id for i in visible_items(BRANCHING, answers)] == [
        "pain",
        "taking",
        "product",
        "patch",
        "severe",
        "others",
        "note",
    ]
    assert next_item(BRANCHING, answers).id == "patch"  # type: ignore[union-attr]


def test_not_in_on_an_unanswered_item_is_false_so_nothing_is_inferred_from_silence() -> None:
    answers: dict[str, Value] = {"pain": 2, "taking": "yes"}
    assert "dose" not in [i.id for i in visible_items(BRANCHING, answers)]


def test_a_skipped_or_unknown_controlling_answer_hides_its_dependents() -> None:
    q = _q(
        {"id": "fever", "type": "yesno", "text": "Fièvre ?", "allow_unknown": True, "optional": True},
        {"id": "a", "type": "yesno", "text": "A ?", "show_if": {"item": "fever", "equals": "yes"}},
        {"id": "b", "type": "yesno", "text": "B ?", "show_if": {"item": "fever", "not_in": ["yes"]}},
    )
    for marker in (SKIPPED, UNKNOWN):
        assert [i.id for i in visible_items(q, {"fever": marker})] == ["fever"]
    assert [i.id for i in visible_items(q, {"fever": "no"})] == ["fever", "b"]


def test_all_and_any_combine_conditions() -> None:
    q = _q(
        {"id": "a", "type": "yesno", "text": "A ?"},
        {"id": "n", "type": "scale", "text": "N ? 0 = non, 10 = oui."},
        {
            "id": "both",
            "type": "yesno",
            "text": "?",
            "show_if": {"all": [{"item": "a", "equals": "yes"}, {"item": "n", "gte": 5}]},
        },
        {
            "id": "either",
            "type": "yesno",
            "text": "?",
            "show_if": {"any": [{"item": "a", "equals": "yes"}, {"item": "n", "gte": 5}]},
        },
    )
    ids = lambda answers: [i.id for i in visible_items(q, answers)]  # noqa: E731
    assert ids({"a": "yes", "n": 5}) == ["a", "n", "both", "either"]
    assert ids({"a": "no", "n": 5}) == ["a", "n", "either"]
    assert ids({"a": "yes", "n": 4}) == ["a", "n", "either"]
    assert ids({"a": "no", "n": 4}) == ["a", "n"]


def test_a_condition_on_a_multi_item_looks_at_the_ticked_codes() -> None:
    q = _q(
        {
            "id": "m",
            "type": "multi",
            "text": "?",
            "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}],
        },
        {"id": "if_a", "type": "yesno", "text": "?", "show_if": {"item": "m", "equals": "a"}},
        {"id": "if_no_b", "type": "yesno", "text": "?", "show_if": {"item": "m", "not_in": ["b"]}},
    )
    assert [i.id for i in visible_items(q, {"m": ["a", "c"]})] == ["m", "if_a", "if_no_b"]
    assert [i.id for i in visible_items(q, {"m": ["b", "c"]})] == ["m"]


def test_a_text_value_never_equals_a_number_in_a_condition() -> None:
    q = _q(
        {"id": "p", "type": "scale", "text": "? 0 = a, 10 = b."},
        {"id": "x", "type": "yesno", "text": "?", "show_if": {"item": "p", "equals": 7}},
    )
    assert [i.id for i in visible_items(q, {"p": 7})] == ["p", "x"]
    assert [i.id for i in visible_items(q, {"p": "7"})] == ["p"]


def test_progress_counts_the_currently_visible_items() -> None:
    answers: dict[str, Value] = {"pain": 8, "taking": "yes"}
    assert progress(BRANCHING, answers, BRANCHING.item("product")) == (3, 6)
    answers["product"] = "skenan"
    assert progress(BRANCHING, answers, BRANCHING.item("dose")) == (4, 7)
    with pytest.raises(ValueError):
        progress(BRANCHING, answers, BRANCHING.item("patch"))


def test_changing_an_earlier_answer_hides_the_branch_and_ignores_its_old_answers() -> None:
    answers: dict[str, Value] = {
        "pain": 8,
        "taking": "yes",
        "product": "skenan",
        "dose": 30,
        "severe": "yes",
        "others": ["paracetamol"],
        "note": "merci",
    }
    assert next_item(BRANCHING, answers) is None
    answers["taking"] = "no"
    answers["pain"] = 2
    assert next_item(BRANCHING, answers) is None
    assert set(effective_answers(BRANCHING, answers)) == {"pain", "taking", "others", "note"}
    assert len(summary_lines(BRANCHING, answers)) == 4
    assert not any("Skenan" in line for line in summary_lines(BRANCHING, answers))
    answers["taking"] = "yes"  # changed back: the kept answers count again
    assert "dose" in effective_answers(BRANCHING, answers)


def test_switching_product_to_a_patch_asks_the_patch_rate_and_drops_the_mg_dose() -> None:
    answers: dict[str, Value] = {"pain": 2, "taking": "yes", "product": "skenan", "dose": 30}
    answers["product"] = "durogesic"
    assert next_item(BRANCHING, answers).id == "patch"  # type: ignore[union-attr]
    assert "dose" not in effective_answers(BRANCHING, answers)


def test_changing_relieve_presence_to_no_hides_its_score_in_the_baseline() -> None:
    q = SHIPPED["baseline_more"]  # the baseline's second part holds the RELIEVE pain types (issue 35)
    answers: dict[str, Value] = {
        "pain_average": 4,
        "axial_spont_present": "yes",
        "axial_spont_score": 5,
    }
    assert "axial_spont_score" in effective_answers(q, answers)
    answers["axial_spont_present"] = "no"
    assert "axial_spont_score" not in [i.id for i in visible_items(q, answers)]
    assert next_item(q, answers).id == "axial_mech_present"  # type: ignore[union-attr]
    assert len(summary_lines(q, answers)) == 2


def test_daily_unchanged_treatment_skips_the_regimen_and_asks_only_the_rescue_count() -> None:
    q = SHIPPED["daily"]
    answers: dict[str, Value] = {
        "pain_worst": 4,
        "rf_screen": "some",
        "rf_weakness": "no",
        "rf_numbness": "no",
        "rf_bladder_bowel": "no",
        "rf_radicular_new": "no",
        "sp_night_pain": "no",
        "sp_straining": "no",
        "analgesic_same": "yes",
    }
    assert next_item(q, answers).id == "rescue_doses_24h"  # type: ignore[union-attr]
    answers["analgesic_same"] = "no"
    # issue 32: a changed treatment asks the signs of opioid toxicity at once, before the new regimen
    assert next_item(q, answers).id == "opioid_signs"  # type: ignore[union-attr]
    answers["opioid_signs"] = "no"
    assert next_item(q, answers).id == "bg_taking"  # type: ignore[union-attr]
    answers.update({"bg_taking": "no", "rescue_taking": "no"})
    assert next_item(q, answers).id == "other_analgesics"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------
# Buttons and selections
# ---------------------------------------------------------------------------------------------------------------
def test_buttons_give_typed_values() -> None:
    assert answer_from_button(BRANCHING.item("pain"), "0") == 0
    assert answer_from_button(BRANCHING.item("pain"), "10") == 10
    assert answer_from_button(BRANCHING.item("taking"), "no") == "no"
    assert answer_from_button(BRANCHING.item("product"), "durogesic") == "durogesic"
    assert answer_from_button(BRANCHING.item("note"), SKIPPED) == SKIPPED


@pytest.mark.parametrize(
    ("item_id", "code"),
    [
        ("pain", "11"),
        ("pain", "-1"),
        ("pain", "07"),
        ("pain", "5.0"),
        ("taking", "oui"),
        ("product", "oxynorm"),
        ("pain", SKIPPED),
        ("taking", UNKNOWN),
        ("others", "ains"),
        ("dose", "12"),
        ("note", "hello"),
    ],
)
def test_impossible_buttons_are_refused(item_id: str, code: str) -> None:
    with pytest.raises(InvalidAnswer):
        answer_from_button(BRANCHING.item(item_id), code)


def test_the_unknown_button_works_only_where_allowed() -> None:
    fever = _item(type="yesno", allow_unknown=True)
    assert answer_from_button(fever, UNKNOWN) == UNKNOWN
    with pytest.raises(InvalidAnswer):
        answer_from_button(fever, SKIPPED)


def test_a_selection_becomes_a_sorted_list_of_codes() -> None:
    assert answer_from_selection(BRANCHING.item("others"), {"paracetamol", "ains"}) == ["ains", "paracetamol"]
    assert answer_from_selection(BRANCHING.item("others"), ["aucun"]) == ["aucun"]


def test_an_empty_selection_is_refused_unless_the_item_is_optional() -> None:
    with pytest.raises(InvalidAnswer):
        answer_from_selection(BRANCHING.item("others"), set())
    optional = _item(type="multi", optional=True, choices=[{"code": "a", "label": "A"}])
    assert answer_from_selection(optional, set()) == SKIPPED


def test_an_exclusive_choice_cannot_be_ticked_with_others() -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answer_from_selection(BRANCHING.item("others"), {"aucun", "ains"})
    assert "Aucun" in caught.value.message


def test_a_selection_with_an_unknown_code_is_refused() -> None:
    with pytest.raises(InvalidAnswer):
        answer_from_selection(BRANCHING.item("others"), {"morphine"})


# ---------------------------------------------------------------------------------------------------------------
# Typed text
# ---------------------------------------------------------------------------------------------------------------
DOSE = _item(type="number", min=0, max=20, decimals=True, unit="mg")
COUNT = _item(type="number", min=0, max=20)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("7,5", 7.5),
        ("7.5", 7.5),
        ("0", 0),
        ("20", 20),
        ("12,50", 12.5),
        ("7,0", 7),
        ("７", 7),
        ("٧", 7),
        ("۷,۵", 7.5),
        ("٧٫٥", 7.5),
        ("7 mg", 7),
        ("7mg", 7),
        ("7,5 MG", 7.5),
    ],
)
def test_typed_numbers_are_accepted_in_the_ways_patients_write_them(text: str, value: float) -> None:
    result = answer_from_text(DOSE, text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "abc",
        "1e3",
        "7/10",
        "",
        "   ",
        "NaN",
        "inf",
        "21",
        "20,5",
        "7,",
        ",5",
        "1 000",
        "7²",
        "７/１０",
        "7 kg",
        "9" * 40,
        "+7",
    ],
)
def test_typed_numbers_that_are_not_plain_amounts_in_range_are_refused(text: str) -> None:
    with pytest.raises(InvalidAnswer):
        answer_from_text(DOSE, text)


def test_decimals_are_refused_where_the_item_does_not_allow_them() -> None:
    assert answer_from_text(COUNT, "3") == 3
    with pytest.raises(InvalidAnswer) as caught:
        answer_from_text(COUNT, "3,5")
    assert caught.value.message == _(
        "Please type a whole number between {min} and {max} (for example {example})."
    ).format(min="0", max="20", example="2")


def test_the_number_message_says_the_range_with_french_decimals() -> None:
    item = _item(type="number", min=0.5, max=12.5, decimals=True)
    with pytest.raises(InvalidAnswer) as caught:
        answer_from_text(item, "13")
    assert caught.value.message == _("Please type a number between {min} and {max} (for example {example}).").format(
        min="0,5", max="12,5", example="2"
    )


def test_invalid_answer_messages_go_through_the_translation_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_", lambda msgid: "FR<" + msgid + ">")
    with pytest.raises(InvalidAnswer) as caught:
        answer_from_text(COUNT, "abc")
    assert caught.value.message.startswith("FR<Please type a whole number between 0 and 20")


def test_a_scale_accepts_a_typed_whole_number_from_0_to_10() -> None:
    pain = BRANCHING.item("pain")
    assert answer_from_text(pain, "7") == 7
    assert answer_from_text(pain, " 10 ") == 10
    for text in ("11", "7,5", "sept", "7/10"):
        with pytest.raises(InvalidAnswer):
            answer_from_text(pain, text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("oui", "yes"),
        ("Oui", "yes"),
        ("OUI !", "yes"),
        ("oui.", "yes"),
        ("óui", "yes"),
        ("non", "no"),
        ("NON", "no"),
        ("Non...", "no"),
        (" non ! ", "no"),
    ],
)
def test_yes_no_can_be_typed_in_french(text: str, value: str) -> None:
    assert answer_from_text(BRANCHING.item("taking"), text) == value


@pytest.mark.parametrize("text", ["peut-être", "o", "yes", "oui non", ""])
def test_other_typed_words_for_yes_no_are_refused(text: str) -> None:
    with pytest.raises(InvalidAnswer):
        answer_from_text(BRANCHING.item("taking"), text)


def test_free_text_is_stripped_and_limited_to_its_max_length() -> None:
    note = BRANCHING.item("note")
    assert answer_from_text(note, "  Bonjour docteur  ") == "Bonjour docteur"
    assert answer_from_text(note, "x" * 20) == "x" * 20
    for text in ("", "   \n", "x" * 21, SKIPPED):
        with pytest.raises(InvalidAnswer):
            answer_from_text(note, text)


def test_typing_on_a_button_only_item_asks_for_the_buttons() -> None:
    for item_id in ("product", "others"):
        with pytest.raises(InvalidAnswer) as caught:
            answer_from_text(BRANCHING.item(item_id), "Skenan")
        assert caught.value.message == _("Please answer with the buttons below the question.")


# ---------------------------------------------------------------------------------------------------------------
# Display and summary
# ---------------------------------------------------------------------------------------------------------------
def test_display_values_in_french() -> None:
    assert display_value(BRANCHING.item("pain"), 7) == "7"
    assert display_value(BRANCHING.item("taking"), "yes") == _("Yes")
    assert display_value(BRANCHING.item("taking"), "no") == _("No")
    assert display_value(BRANCHING.item("product"), "durogesic") == "Durogesic (patch)"
    assert display_value(BRANCHING.item("dose"), 12.5) == "12,5 mg"
    assert display_value(BRANCHING.item("dose"), 30) == "30 mg"
    assert display_value(BRANCHING.item("others"), ["paracetamol", "ains"]) == "Paracétamol, AINS"
    assert display_value(BRANCHING.item("note"), SKIPPED) == _("Skipped")
    assert display_value(BRANCHING.item("taking"), UNKNOWN) == _("I don't know")


def test_summary_lists_visible_answered_items_with_short_labels() -> None:
    answers: dict[str, Value] = {
        "pain": 8,
        "taking": "yes",
        "product": "skenan",
        "dose": 12.5,
        "severe": "no",
        "others": ["aucun"],
        "note": "Un message très long pour l'équipe",
    }
    lines = summary_lines(BRANCHING, answers)
    assert lines[0] == _("{label}: {value}").format(label="Douleur", value="8")
    assert lines[3] == _("{label}: {value}").format(label="Dose", value="12,5 mg")
    assert len(lines) == 7


def test_summary_cuts_long_free_text_to_a_preview() -> None:
    note = _item(id="note", type="text", short="Message", max_length=500)
    q = _q(note.model_dump(exclude_none=True))
    line = summary_lines(q, {"note": "a" * 300})[0]
    assert line.endswith("…") and len(line) < 100


# ---------------------------------------------------------------------------------------------------------------
# Property tests over the shipped questionnaires
# ---------------------------------------------------------------------------------------------------------------
def _valid_answer(draw: Any, item: Item) -> Value:
    """A random valid answer, produced through the same entry points the bot uses."""
    options = ["normal"]
    if item.optional:
        options.append(SKIPPED)
    if item.allow_unknown:
        options.append(UNKNOWN)
    how = draw(st.sampled_from(options))
    if how != "normal":
        return answer_from_button(item, how)
    if item.type == "scale":
        return answer_from_button(item, str(draw(st.integers(0, 10))))
    if item.type == "yesno":
        return answer_from_button(item, draw(st.sampled_from(["yes", "no"])))
    if item.type == "single":
        return answer_from_button(item, draw(st.sampled_from(item.codes)))
    if item.type == "multi":
        exclusive = [c.code for c in item.choices or () if c.exclusive]
        others = [c.code for c in item.choices or () if not c.exclusive]
        if exclusive and draw(st.booleans()):
            return answer_from_selection(item, {draw(st.sampled_from(exclusive))})
        return answer_from_selection(item, draw(st.sets(st.sampled_from(others), min_size=1)))
    if item.type == "number":
        assert item.min is not None and item.max is not None
        whole = draw(st.integers(int(item.min) + (item.min != int(item.min)), int(item.max)))
        text = f"{whole},5" if item.decimals and whole < item.max and draw(st.booleans()) else str(whole)
        return answer_from_text(item, text)
    return answer_from_text(
        item,
        draw(
            st.text(min_size=1, max_size=30).filter(
                lambda s: s.strip() != "" and s.strip() not in ("_skip", "_unknown")
            )
        ),
    )


def _drive(draw: Any, q: Questionnaire, answers: dict[str, Value]) -> list[str]:
    asked: list[str] = []
    while (item := next_item(q, answers)) is not None:
        assert item.id not in asked, f"{item.id} asked twice"
        assert len(asked) < len(q.items), "did not finish within len(items) steps"
        position, total = progress(q, answers, item)
        assert 1 <= position <= total
        asked.append(item.id)
        answers[item.id] = _valid_answer(draw, item)
    return asked


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("qid", sorted(SHIPPED))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_a_random_run_asks_every_visible_item_once_in_order_and_finishes(qid: str, data: st.DataObject) -> None:
    q = SHIPPED[qid]
    answers: dict[str, Value] = {}
    asked = _drive(data.draw, q, answers)
    visible = [i.id for i in visible_items(q, answers)]
    assert asked == visible  # nothing visible was skipped, nothing hidden was asked, order kept
    assert all(item.id in answers for item in visible_items(q, answers))
    assert len(summary_lines(q, answers)) == len(visible)


@pytest.mark.parametrize("qid", sorted(SHIPPED))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_changing_an_earlier_answer_re_evaluates_visibility(qid: str, data: st.DataObject) -> None:
    q = SHIPPED[qid]
    answers: dict[str, Value] = {}
    first_run = _drive(data.draw, q, answers)
    changed = data.draw(st.sampled_from(first_run))
    answers[changed] = _valid_answer(data.draw, q.item(changed))
    visible = visible_items(q, answers)
    visible_ids = {i.id for i in visible}
    effective = effective_answers(q, answers)
    # answers to items that became hidden are ignored everywhere
    assert set(effective) == {i for i in answers if i in visible_ids}
    assert len(summary_lines(q, answers)) == len(effective)
    nxt = next_item(q, answers)
    assert nxt is None or (nxt.id in visible_ids and nxt.id not in answers)
    # each visible item's condition holds on the answers that count (with the context items the bot supplies,
    # "no" unless supplied: never asked, so never in the answers here); each hidden one's does not
    facts = {i.id: "no" for i in q.items if i.context and i.id not in effective}
    for item in q.items:
        if item.show_if is not None:
            assert engine.condition_holds(item.show_if, {**facts, **effective}) == (item.id in visible_ids)
    # finishing again only asks newly opened items, each once
    second_run = _drive(data.draw, q, answers)
    assert set(second_run).isdisjoint(first_run)
    assert all(i.id in answers for i in visible_items(q, answers))


def test_an_unknown_leaf_in_show_if_holds_only_for_je_ne_sais_pas() -> None:
    """Issue 32: a fever not measured ("Je ne sais pas") asks for shivers; a yes, a no or a skip does not."""
    q = SHIPPED["daily"]
    item = q.item("fever_unwell")
    assert item.show_if is not None
    assert condition_holds(item.show_if, {"fever": UNKNOWN})
    for value in ("yes", "no", SKIPPED):
        assert not condition_holds(item.show_if, {"fever": value})
    assert not condition_holds(item.show_if, {})
