"""The history behind the rules (baseline pain and OMED, trend) is built once per questionnaire, and is right.

`clinical_context.prior_history` caches what came before the questionnaire being answered, so that an answer does
not replay the patient's whole history (benchmarks/README.md, profile). These tests drive the real bot: the rules
that need the history must still fire, and the cache must be rebuilt as soon as that history changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date, timedelta

from harness import Bench, Patient, answer_all, current_prompt, give

from bot.domain.models import Instance
from bot.services import clinical_context
from bot.storage import instances

RT = date(2027, 3, 3)  # the bench starts on Monday 2027-03-01, 10:00 in Paris
BASELINE = {
    "pain_worst": 3,
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 30,
    "bg_per_day": 2,
    "rescue_taking": "no",
}  # 60 mg/day of oral morphine: OMED 60 (docs/clinical/opioids.md)


def fired(bench: Bench, instance_id: int) -> list[str]:
    connection = sqlite3.connect(bench.database)
    rows = connection.execute("SELECT rule_id FROM alerts WHERE instance_id = ? ORDER BY id", (instance_id,))
    return [rule for (rule,) in rows.fetchall()]


async def first_diary(bench: Bench, user_id: int, study_id: str) -> tuple[Patient, Instance]:
    """Join, answer the baseline, then move on until the first daily diary is being asked; return it."""
    patient = await bench.join(user_id, study_id, RT)
    await answer_all(bench, patient, BASELINE)
    for _ in range(120):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            return patient, prompt.instance
        await bench.advance(timedelta(minutes=30))
    raise AssertionError("no daily diary by day 0, 10:00 (+ 12 h)")


async def prior_history(bench: Bench, diary: Instance) -> clinical_context.PriorHistory:
    assert bench.services is not None
    async with bench.services.store.read() as tx:
        return await clinical_context.prior_history(tx, bench.services, diary)


async def test_rules_see_the_baseline_and_the_history_is_loaded_once_per_questionnaire(bench: Bench) -> None:
    patient, diary = await first_diary(bench, 4001, "P-H1")
    await give(bench, patient, 6)  # worst pain 6 against 3 at baseline: a rise of 3 points
    assert fired(bench, diary.id) == ["pain_rise_from_baseline"]

    prior = await prior_history(bench, diary)
    assert [inst.questionnaire_id for inst, _ in prior.entries] == ["baseline"]
    assert prior.entries[0][1]["pain_worst"] == 3
    for value in ("some", "no", "no", "no", "no"):  # the red-flag screen (issue 35), four neurological questions
        await give(bench, patient, value)
    assert await prior_history(bench, diary) is prior  # reused, not reloaded

    # The analgesics doubled (OMED 60 → 120): the increase is judged against the baseline, once the diary ends.
    await answer_all(bench, patient, {"analgesic_same": "no", **BASELINE, "bg_dose": 60, "pain_worst": 6})
    assert fired(bench, diary.id) == ["pain_rise_from_baseline", "analgesic_increase"]


async def test_the_cached_history_is_rebuilt_when_an_earlier_questionnaire_changes(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient, diary = await first_diary(bench, 4002, "P-H2")
    before = await prior_history(bench, diary)
    baseline = before.entries[0][0]
    # A change to an earlier questionnaire (the bot never makes one while a diary is open; a repair could):
    async with services.store.transaction() as tx:
        await instances.add_answer(
            tx,
            instance_id=baseline.id,
            item_id="pain_worst",
            value=7,
            answered_at=bench.clock.now(),
            received_at=bench.clock.now(),
            is_correction=True,
        )
        await tx.commit()
    after = await prior_history(bench, diary)
    assert after is not before
    assert after.entries[0][1]["pain_worst"] == 7
    await give(bench, patient, 8)  # 8 against the corrected 7: no rise of 2 points
    assert fired(bench, diary.id) == []


async def test_an_earlier_questionnaire_placed_after_the_current_one_is_ordered_by_time(bench: Bench) -> None:
    """The fast path assumes the questionnaire answered is the latest; otherwise the history is sorted by time."""
    _patient, diary = await first_diary(bench, 4003, "P-H3")
    prior = await prior_history(bench, diary)
    earlier = replace(diary, id=diary.id + 1000, opens_at=prior.entries[0][0].opens_at - timedelta(days=1))
    assert not prior.precedes(earlier)
    assert bench.services is not None
    ordered, regimens = clinical_context.with_current(bench.services, prior, earlier, {"pain_worst": 2})
    assert [inst.id for inst, _ in ordered] == [earlier.id, prior.entries[0][0].id]
    assert clinical_context.omed_mg(bench.services, regimens[prior.entries[0][0].id]) == 60
