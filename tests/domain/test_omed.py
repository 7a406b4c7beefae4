"""OMED: the conversion tables and brand catalogue (opioids.yaml), worked cases, and regimens from answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.domain.engine import effective_answers
from bot.domain.omed import (
    DoseLine,
    OpioidCatalogue,
    OpioidCatalogueError,
    Regimen,
    UnknownTableError,
    compute_omed,
    load_opioid_catalogue,
    regimen_from_answers,
)
from bot.domain.questionnaire import SKIPPED, Value, load_questionnaires

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_PATH = ROOT / "questionnaires" / "opioids.yaml"
CATALOGUE = load_opioid_catalogue(CATALOGUE_PATH)
QUESTIONNAIRES = load_questionnaires(ROOT / "questionnaires")


def bg(product: str | None, dose: float | None, per_day: float | None = 1) -> DoseLine:
    return DoseLine(role="background", product=product, dose=dose, per_day=per_day)


def rescue(product: str | None, dose: float | None, per_day: float | None) -> DoseLine:
    return DoseLine(role="rescue", product=product, dose=dose, per_day=per_day)


def omed(*lines: DoseLine, table: str | None = None) -> float | None:
    return compute_omed(Regimen(lines=lines), CATALOGUE, table).mg


# ---------------------------------------------------------------------------------------------------------------
# Worked cases: every (substance, route) row with a factor, in both tables (opioids.md)
# ---------------------------------------------------------------------------------------------------------------
WORKED = [
    # (line, fr_sor mg/day, cdc_2022 mg/day or None = unconverted, (substance, route))
    (bg("skenan", 30, 2), 60, 60, ("morphine", "oral")),
    (bg("morphinesc", 10, 2), 40, None, ("morphine", "subcutaneous")),
    (bg("morphineiv", 5, 2), 30, None, ("morphine", "intravenous")),
    (bg("oxycontin", 20, 2), 80, 60, ("oxycodone", "oral")),
    (bg("sophidone", 4, 2), 60, 40, ("hydromorphone", "oral")),
    (bg("durogesic", 25), 60, 60, ("fentanyl", "transdermal")),
    (bg("topalgic", 100, 2), 40, 40, ("tramadol", "oral")),
    (bg("dafalgancod", 2, 3), 30, 27, ("codeine", "oral")),  # 2 tablets × 30 mg × 3 = 180 mg codeine
    (bg("palexia", 100, 2), 80, 80, ("tapentadol", "oral")),
    (bg("temgesic", 0.2, 3), 18, None, ("buprenorphine", "sublingual")),
    (bg("methadone", 10, 3), 141, 141, ("methadone", "oral")),  # 30 mg × 4.7, to confirm (opioids.md)
    (rescue("abstral", 100, 2), 26, None, ("fentanyl", "buccal")),  # 200 µg × 0.13, to confirm
    (rescue("instanyl", 50, 2), 16, None, ("fentanyl", "nasal")),  # 100 µg × 0.16, to confirm
]


@pytest.mark.parametrize(("line", "fr", "cdc", "key"), WORKED)
def test_each_conversion_factor_on_a_worked_case(line: DoseLine, fr: float, cdc: float | None, key: object) -> None:
    assert omed(line, table="fr_sor") == pytest.approx(fr)
    if cdc is None:
        result = compute_omed(Regimen(lines=(line,)), CATALOGUE, "cdc_2022")
        assert result.mg is None and result.unconverted == [f"{key[0]}/{key[1]}"]  # type: ignore[index]
    else:
        assert omed(line, table="cdc_2022") == pytest.approx(cdc)


def test_every_table_row_with_a_factor_has_a_worked_case() -> None:
    covered = {key for *_, key in WORKED}
    for table in CATALOGUE.tables.values():
        with_factor = {(row.substance, row.route) for row in table.factors if row.factor is not None}
        assert with_factor <= covered


def test_the_patch_rate_converts_at_2_4_per_microgram_per_hour_whatever_the_intakes_field_says() -> None:
    assert omed(bg("durogesic", 25, per_day=None)) == pytest.approx(60)
    assert omed(bg("durogesic", 12)) == pytest.approx(28.8)


def test_combination_tablets_count_the_opioid_content_of_each_tablet() -> None:
    assert omed(bg("ixprim", 2, 3)) == pytest.approx(45)  # 6 × 37.5 mg tramadol × 0.2
    assert omed(bg("lamaline", 2, 3)) == pytest.approx(6)  # 6 × 1 mg morphine
    assert omed(bg("izalgi", 1, 4)) == pytest.approx(10)  # 4 × 2.5 mg morphine


def test_background_and_rescue_doses_add_up() -> None:
    assert omed(bg("skenan", 30, 2), rescue("actiskenan", 10, 3)) == pytest.approx(90)
    assert omed(bg("oxycontin", 20, 2), rescue("oxynorm", 5, 2)) == pytest.approx(100)


def test_the_default_table_is_the_french_column_and_results_say_which_table_was_used() -> None:
    regimen = Regimen(lines=(bg("oxycontin", 20, 2),))
    default = compute_omed(regimen, CATALOGUE)
    assert CATALOGUE.default_table == "fr_sor"
    assert (default.table, default.mg) == ("fr_sor", 80)
    cdc = compute_omed(regimen, CATALOGUE, "cdc_2022")
    assert (cdc.table, cdc.mg) == ("cdc_2022", 60)


def test_an_unknown_table_is_an_error_listing_the_available_ones() -> None:
    with pytest.raises(UnknownTableError) as caught:
        compute_omed(Regimen(lines=(bg("skenan", 30, 2),)), CATALOGUE, "who_1996")
    assert "who_1996" in str(caught.value) and "cdc_2022, fr_sor" in str(caught.value)


def test_a_site_table_swapped_in_changes_the_result(tmp_path: Path) -> None:
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    site = {**raw["tables"]["fr_sor"], "title": "Site", "source": "pharmacie du site"}
    site["factors"] = [dict(r, factor=1.5) if r["substance"] == "oxycodone" else r for r in site["factors"]]
    raw["tables"]["site"] = site
    raw["default_table"] = "site"
    path = tmp_path / "opioids.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = compute_omed(Regimen(lines=(bg("oxycontin", 20, 2),)), load_opioid_catalogue(path))
    assert (result.table, result.mg) == ("site", 60)


# ---------------------------------------------------------------------------------------------------------------
# Never silently converted
# ---------------------------------------------------------------------------------------------------------------
def test_methadone_converts_with_a_factor_marked_to_confirm_by_the_site_pharmacist() -> None:
    for table in ("fr_sor", "cdc_2022"):
        result = compute_omed(Regimen(lines=(bg("skenan", 30, 2), bg("methadone", 10, 3))), CATALOGUE, table)
        assert result.mg == pytest.approx(60 + 141) and result.complete
        assert result.to_confirm == ["methadone/oral"]
        assert [d.to_confirm for d in result.details] == [False, True]


def test_abstral_rescue_doses_give_a_number_to_confirm() -> None:
    result = compute_omed(Regimen(lines=(bg("durogesic", 25), rescue("abstral", 100, 2))), CATALOGUE)
    assert (result.mg, result.unconverted, result.to_confirm) == (pytest.approx(86), [], ["fentanyl/buccal"])
    assert result.details[1].amount_unit == "ug" and result.details[1].daily_amount == 200


def test_transmucosal_fentanyl_is_not_converted_by_a_table_without_a_factor() -> None:
    result = compute_omed(Regimen(lines=(bg("durogesic", 25), rescue("effentora", 100, 2))), CATALOGUE, "cdc_2022")
    assert (result.mg, result.unconverted, result.converted_mg) == (None, ["fentanyl/buccal"], 60)


def test_a_subcutaneous_morphine_pump_gives_a_number() -> None:
    # A pump's dose is the mg over 24 h, one "intake" (opioids.yaml): 30 mg/24 h SC × 2 = 60 mg/day OMED.
    result = compute_omed(Regimen(lines=(bg("morphinesc", 30, 1),)), CATALOGUE)
    assert (result.mg, result.to_confirm, result.catalogue_version) == (60, [], CATALOGUE.version)


def test_results_carry_the_catalogue_version() -> None:
    assert compute_omed(Regimen(), CATALOGUE).catalogue_version == "1.1"


def test_no_rescue_dose_taken_is_zero_mg_even_for_a_product_without_a_factor() -> None:
    result = compute_omed(Regimen(lines=(bg("durogesic", 25), rescue("instanyl", 50, 0))), CATALOGUE)
    assert (result.mg, result.unconverted) == (60, [])


def test_a_product_outside_the_catalogue_or_a_missing_dose_is_unconverted() -> None:
    assert compute_omed(Regimen(lines=(bg("autre", 10, 2),)), CATALOGUE).unconverted == ["autre"]
    assert compute_omed(Regimen(lines=(bg(None, None, None),)), CATALOGUE).unconverted == ["unknown product"]
    assert compute_omed(Regimen(lines=(bg("zzz", 10, 2),)), CATALOGUE).unconverted == ["zzz"]
    missing = compute_omed(Regimen(lines=(bg("skenan", None, 2),)), CATALOGUE)
    assert (missing.mg, missing.unconverted) == (None, ["morphine/oral"])


def test_no_opioid_at_all_is_zero_mg() -> None:
    result = compute_omed(Regimen(), CATALOGUE)
    assert (result.mg, result.complete) == (0, True)


# ---------------------------------------------------------------------------------------------------------------
# Regimen from answers
# ---------------------------------------------------------------------------------------------------------------
BASELINE_ANSWERS: dict[str, Value] = {
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 30,
    "bg_per_day": 2,
    "rescue_taking": "yes",
    "rescue_product": "actiskenan",
    "rescue_dose": 10,
    "rescue_doses_24h": 3,
}


def test_baseline_answers_give_background_and_rescue_lines() -> None:
    regimen = regimen_from_answers(BASELINE_ANSWERS, None)
    assert regimen.background == (bg("skenan", 30, 2),)
    assert regimen.rescue == (rescue("actiskenan", 10, 3),)
    assert compute_omed(regimen, CATALOGUE).mg == pytest.approx(90)


def test_a_patch_is_read_from_its_rate_item_and_counted_once() -> None:
    regimen = regimen_from_answers(
        {"bg_taking": "yes", "bg_product": "durogesic", "bg_patch": 50, "rescue_taking": "no"}, None
    )
    assert regimen.lines == (bg("durogesic", 50, 1),)
    assert compute_omed(regimen, CATALOGUE).mg == pytest.approx(120)


def test_combination_tablets_are_read_from_the_tablet_count() -> None:
    regimen = regimen_from_answers(
        {"bg_taking": "yes", "bg_product": "ixprim", "bg_tablets": 2, "bg_per_day": 3, "rescue_taking": "no"}, None
    )
    assert compute_omed(regimen, CATALOGUE).mg == pytest.approx(45)


def test_unchanged_treatment_carries_the_previous_regimen_with_todays_rescue_count() -> None:
    previous = regimen_from_answers(BASELINE_ANSWERS, None)
    today = regimen_from_answers({"analgesic_same": "yes", "rescue_doses_24h": 5}, previous)
    assert today.background == previous.background
    assert today.rescue == (rescue("actiskenan", 10, 5),)
    assert compute_omed(today, CATALOGUE).mg == pytest.approx(110)


def test_unchanged_treatment_without_a_previous_record_is_unknown_not_zero() -> None:
    today = regimen_from_answers({"analgesic_same": "yes", "rescue_doses_24h": 0}, None)
    result = compute_omed(today, CATALOGUE)
    assert result.mg is None and result.unconverted == ["unknown product"]


def test_unchanged_treatment_with_no_previous_rescue_and_zero_doses_adds_nothing() -> None:
    previous = Regimen(lines=(bg("oxycontin", 20, 2),))
    today = regimen_from_answers({"analgesic_same": "yes", "rescue_doses_24h": 0}, previous)
    assert today.lines == previous.lines


def test_a_changed_treatment_replaces_the_previous_one() -> None:
    previous = regimen_from_answers(BASELINE_ANSWERS, None)
    today = regimen_from_answers({"analgesic_same": "no", "bg_taking": "no", "rescue_taking": "no"}, previous)
    assert today.lines == ()
    assert compute_omed(today, CATALOGUE).mg == 0


def test_answers_to_several_dose_items_are_refused_rather_than_guessed() -> None:
    regimen = regimen_from_answers(
        {
            "bg_taking": "yes",
            "bg_product": "skenan",
            "bg_dose": 30,
            "bg_patch": 25,
            "bg_per_day": 2,
            "rescue_taking": "no",
        },
        None,
    )
    assert compute_omed(regimen, CATALOGUE).mg is None


def test_a_skipped_dose_makes_the_line_unconverted() -> None:
    answers = {**BASELINE_ANSWERS, "bg_dose": SKIPPED}
    assert compute_omed(regimen_from_answers(answers, None), CATALOGUE).mg is None


def test_a_daily_diary_driven_through_the_engine_gives_the_expected_omed() -> None:
    q = QUESTIONNAIRES["daily"]
    answers: dict[str, Value] = {
        "pain_worst": 5,
        "analgesic_same": "no",
        "bg_taking": "yes",
        "bg_product": "oxycontin",
        "bg_dose": 20,
        "bg_per_day": 2,
        "rescue_taking": "yes",
        "rescue_product": "oxynorm",
        "rescue_dose": 5,
        "rescue_doses_24h": 4,
        "bg_patch": 100,  # stale answer from before the patient changed product: hidden, must not count
    }
    regimen = regimen_from_answers(effective_answers(q, answers), None)
    assert compute_omed(regimen, CATALOGUE).mg == pytest.approx(80 + 40)


def test_a_regimen_round_trips_through_json() -> None:
    regimen = regimen_from_answers(BASELINE_ANSWERS, None)
    assert Regimen.model_validate_json(regimen.model_dump_json()) == regimen


# ---------------------------------------------------------------------------------------------------------------
# The questionnaires agree with the catalogue
# ---------------------------------------------------------------------------------------------------------------
ASKING_ANALGESICS = sorted(qid for qid, q in QUESTIONNAIRES.items() if any(i.id == "bg_product" for i in q.items))
"""Every questionnaire that asks the analgesics (the baseline's second part, issue 35, does not)."""


def test_the_questionnaires_that_ask_analgesics_are_the_expected_ones() -> None:
    assert set(ASKING_ANALGESICS) == {"baseline", "daily", "followup", "weekly"}


@pytest.mark.parametrize("qid", ASKING_ANALGESICS)
def test_product_choices_in_the_questionnaires_come_from_the_catalogue(qid: str) -> None:
    q = QUESTIONNAIRES[qid]
    for item_id, role in (("bg_product", "background"), ("rescue_product", "rescue")):
        shown = [(c.code, c.label) for c in q.item(item_id).choices or ()]
        expected = [(p.code, p.label) for p in CATALOGUE.patient_products(role)]  # type: ignore[arg-type]
        assert shown == expected, item_id


@pytest.mark.parametrize("qid", ASKING_ANALGESICS)
def test_the_dose_item_shown_matches_the_products_unit(qid: str) -> None:
    q = QUESTIONNAIRES[qid]
    background = [p for p in CATALOGUE.patient_products("background")]
    patches = {p.code for p in background if p.patch}
    tablets = {p.code for p in background if p.unit == "tablet"}
    assert patches and tablets
    assert set(q.item("bg_patch").show_if.in_ or ()) == patches  # type: ignore[union-attr]
    assert set(q.item("bg_tablets").show_if.in_ or ()) == tablets  # type: ignore[union-attr]
    assert set(q.item("bg_dose").show_if.not_in or ()) == patches | tablets  # type: ignore[union-attr]
    assert set(q.item("bg_per_day").show_if.not_in or ()) == patches  # type: ignore[union-attr]
    assert all(p.unit in ("mg", "ug") for p in CATALOGUE.patient_products("rescue"))


# ---------------------------------------------------------------------------------------------------------------
# Catalogue loading
# ---------------------------------------------------------------------------------------------------------------
def test_a_factor_written_as_a_fraction_is_exact() -> None:
    codeine = CATALOGUE.tables["fr_sor"].row("codeine", "oral")
    assert codeine is not None and codeine.factor == pytest.approx(1 / 6, rel=1e-15)


def test_every_row_cites_its_source() -> None:
    for table in CATALOGUE.tables.values():
        assert table.source
        assert all(row.source for row in table.factors)


def _broken_catalogue(tmp_path: Path, change: object) -> Path:
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    change(raw)  # type: ignore[operator]
    path = tmp_path / "opioids.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda raw: raw.update(default_table="who"), 'default_table "who"'),
        (lambda raw: raw["products"].append(dict(raw["products"][0])), 'product code "skenan" appears twice'),
        (lambda raw: raw["products"][0].update(patch=True), "patch"),
        (lambda raw: raw["products"][0].update(unit="ug_per_h", patch=True), "converts morphine (oral) per mg"),
        (lambda raw: raw["tables"]["fr_sor"]["factors"][0].update(factor="one"), "not a number or a fraction"),
        (lambda raw: raw.__setitem__("products", [p for p in raw["products"] if p["code"] != "autre"]), '"autre"'),
    ],
)
def test_a_broken_catalogue_is_refused_naming_the_file(tmp_path: Path, change: object, problem: str) -> None:
    path = _broken_catalogue(tmp_path, change)
    with pytest.raises(OpioidCatalogueError) as caught:
        load_opioid_catalogue(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)


def test_the_catalogue_model_is_immutable() -> None:
    assert isinstance(CATALOGUE, OpioidCatalogue)
    with pytest.raises(ValidationError):  # a frozen pydantic model refuses the assignment
        CATALOGUE.default_table = "cdc_2022"  # type: ignore[misc]
