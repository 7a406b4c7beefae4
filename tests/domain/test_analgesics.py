"""Analgesic capture v2 (issue 17): the dose taken, not the box strength; several products; the last complete
regimen carried forward; the OMED stamped with the opioid table's version and marked when carried forward."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from harness import Bench, answer_all, current_prompt, give

from bot.domain.engine import effective_answers
from bot.domain.omed import compute_omed, load_opioid_catalogue, regimen_from_answers
from bot.domain.questionnaire import Value, load_questionnaires
from bot.export.dataset import instance_omeds, load_dataset
from bot.services.clinical_context import regimens

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_opioid_catalogue(ROOT / "questionnaires" / "opioids.yaml")
QUESTIONNAIRES = load_questionnaires(ROOT / "questionnaires")

TWO_SKENAN_30_TWICE: dict[str, Value] = {
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 30,
    "bg_per_day": 2,
    "bg_units": "2",
    "bg_more": "no",
    "rescue_taking": "no",
}
SKENAN_40_TWICE: dict[str, Value] = {**TWO_SKENAN_30_TWICE, "bg_dose": 40, "bg_units": "1"}  # 80 mg/day


def omed_of(answers: dict[str, Value], qid: str = "baseline") -> float | None:
    return compute_omed(regimen_from_answers(effective_answers(QUESTIONNAIRES[qid], answers), None), CATALOGUE).mg


def test_two_skenan_30_twice_a_day_is_120_mg_not_the_box_strength() -> None:
    assert omed_of(TWO_SKENAN_30_TWICE) == pytest.approx(120)
    assert omed_of({**TWO_SKENAN_30_TWICE, "bg_units": "half"}) == pytest.approx(30)


def test_two_background_products_add_up() -> None:
    answers = {**TWO_SKENAN_30_TWICE, "bg_more": "yes", "bg2_product": "durogesic", "bg2_patch": 25}
    assert omed_of(answers) == pytest.approx(120 + 60)
    # Uneven doses of one product (60 mg morning, 30 mg evening): the same box chosen twice.
    uneven = {
        **TWO_SKENAN_30_TWICE,
        "bg_dose": 60,
        "bg_units": "1",
        "bg_per_day": 1,
        "bg_more": "yes",
        "bg2_product": "skenan",
        "bg2_dose": 30,
        "bg2_units": "1",
        "bg2_per_day": 1,
    }
    assert omed_of(uneven) == pytest.approx(90)
    tablets = {**TWO_SKENAN_30_TWICE, "bg_more": "yes", "bg2_product": "zaldiar", "bg2_tablets": 2, "bg2_per_day": 3}
    assert omed_of(tablets) == pytest.approx(120 + 6 * 37.5 * 0.2)


def test_rescue_doses_are_counted_by_product_and_units() -> None:
    answers = {
        **TWO_SKENAN_30_TWICE,
        "rescue_taking": "yes",
        "rescue_product": "sevredol",
        "rescue_dose": 10,
        "rescue_units": "2",
        "rescue_doses_24h": 3,
    }
    assert omed_of(answers) == pytest.approx(120 + 60)
    abstral = {**answers, "rescue_product": "abstral", "rescue_dose": 100, "rescue_units": "1"}
    result = compute_omed(regimen_from_answers(effective_answers(QUESTIONNAIRES["baseline"], abstral), None), CATALOGUE)
    assert result.mg == pytest.approx(120 + 300 * 0.13) and result.to_confirm == ["fentanyl/buccal"]


def test_answers_from_before_version_1_2_keep_their_meaning() -> None:
    """1.1 asked the mg per intake and had neither bg_units nor bg_more: past the block, they mean 1 and "no"."""
    old = {"bg_taking": "yes", "bg_product": "skenan", "bg_dose": 30, "bg_per_day": 2, "rescue_taking": "no"}
    assert compute_omed(regimen_from_answers(old, None), CATALOGUE).mg == pytest.approx(60)


def test_a_questionnaire_stopped_inside_the_background_block_is_unknown_not_guessed() -> None:
    stopped = {"bg_taking": "yes", "bg_product": "skenan", "bg_dose": 30, "bg_per_day": 2}
    regimen = regimen_from_answers(stopped, None)
    assert not regimen.complete and compute_omed(regimen, CATALOGUE).mg is None


def _history(*answer_sets: dict[str, Value]) -> list[tuple[object, dict[str, object]]]:
    return [(SimpleNamespace(id=i), dict(a)) for i, a in enumerate(answer_sets, start=1)]


def test_a_partial_diary_does_not_change_a_later_day_30_omed() -> None:
    baseline = {**SKENAN_40_TWICE}
    partial = {"pain_worst": 4, "analgesic_same": "no", "bg_taking": "yes"}  # then missed
    same = {"analgesic_same": "yes", "rescue_doses_24h": 0}
    regs = regimens(_history(baseline, same, partial, same, same, same))  # type: ignore[arg-type]
    omeds = {i: compute_omed(r, CATALOGUE) for i, r in regs.items()}
    assert omeds[1].mg == pytest.approx(80)
    assert omeds[3].mg is None  # the partial diary itself: unknown
    assert omeds[6].mg == pytest.approx(80)  # the day-30 questionnaire: the last complete regimen
    assert [omeds[i].carried_forward for i in range(1, 7)] == [False, True, False, True, True, True]


def test_same_as_last_time_without_todays_rescue_count_is_unknown_and_does_not_become_the_reference() -> None:
    baseline = {
        **SKENAN_40_TWICE,
        "rescue_taking": "yes",
        "rescue_product": "actiskenan",
        "rescue_dose": 10,
        "rescue_doses_24h": 2,
    }
    regs = regimens(_history(baseline, {"analgesic_same": "yes"}, {"analgesic_same": "yes", "rescue_doses_24h": 1}))  # type: ignore[arg-type]
    assert compute_omed(regs[2], CATALOGUE).mg is None
    assert compute_omed(regs[3], CATALOGUE).mg == pytest.approx(90)


@pytest.mark.parametrize("qid", sorted(q for q in QUESTIONNAIRES if "bg_product" in QUESTIONNAIRES[q].item_ids))
def test_the_second_product_and_units_items_follow_the_catalogue(qid: str) -> None:
    """Every questionnaire that asks the analgesics (not the baseline's second part, issue 35)."""
    q = QUESTIONNAIRES[qid]
    assert q.item("bg2_product").choices == q.item("bg_product").choices
    for prefix in ("bg", "bg2"):
        assert q.item(f"{prefix}_units").show_if == q.item(f"{prefix}_dose").show_if
        assert [c.code for c in q.item(f"{prefix}_units").choices or ()] == ["1", "2", "3", "4", "half"]
    background = CATALOGUE.patient_products("background")
    patches = {p.code for p in background if p.patch}
    tablets = {p.code for p in background if p.unit == "tablet"}
    assert set(q.item("bg2_patch").show_if.in_ or ()) == patches  # type: ignore[union-attr]
    assert set(q.item("bg2_tablets").show_if.in_ or ()) == tablets  # type: ignore[union-attr]


def test_the_french_products_of_the_issue_are_in_the_catalogue_with_their_source() -> None:
    for code in (
        "oramorph",
        "sevredol",
        "targinact",
        "effentora",
        "zaldiar",
        "codoliprane",
        "klipal600",
        "fentapatch",
        "abstral",
        "instanyl",
    ):
        product = CATALOGUE.product(code)
        assert product is not None and product.source, code
        assert compute_omed(regimen_from_answers({"bg_taking": "no", "rescue_taking": "no"}), CATALOGUE).mg == 0


async def test_a_partial_diary_through_the_bot_does_not_poison_the_next_one(bench: Bench) -> None:
    """The real bot: baseline 80 mg/day, a diary left after "bg_taking" and missed, the next diary "same as last
    time": the export gives 80, marked carried forward, labelled with the table and its version."""
    patient = await bench.join(4101, "P-AN1", date(2027, 3, 3))
    await answer_all(bench, patient, {"pain_worst": 3, **SKENAN_40_TWICE})
    diaries: list[int] = []
    for _ in range(200):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily" and prompt.instance.id not in diaries:
            diaries.append(prompt.instance.id)
            if len(diaries) == 1:
                # worst pain, then (issue 35) the red-flag screen "Aucun de ces signes"
                for value in (3, "none"):
                    await give(bench, patient, value)
                while (await current_prompt(bench, patient)).item.id != "bg_taking":  # type: ignore[union-attr]
                    await give(bench, patient, "no")  # sphincter questions, then "treatment changed"
                await give(bench, patient, "yes")  # ... and the patient stops there: the diary is missed
            else:
                await answer_all(bench, patient, {"analgesic_same": "yes", "rescue_doses_24h": 0})
                break
        await bench.advance(timedelta(hours=1))
    assert len(diaries) == 2
    assert bench.services is not None
    dataset = await load_dataset(bench.services.store)
    patient_id = dataset.patients[0].id
    omeds = instance_omeds(dataset, patient_id, bench.services.questionnaires, bench.services.opioids)
    assert omeds[diaries[0]].mg is None
    second = omeds[diaries[1]]
    assert (second.mg, second.carried_forward, second.table, second.catalogue_version) == (
        pytest.approx(80),
        True,
        "fr_sor",
        "1.1",
    )
