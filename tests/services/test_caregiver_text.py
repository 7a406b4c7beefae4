"""What a caregiver reads (issue 36): the advice speaks to them about their relative, for every kind of advice, with
the emergency numbers; and a questionnaire without caregiver wording hashes as it did before."""

from __future__ import annotations

from datetime import datetime
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from bot.delivery.caregiver_text import caregiver_advice_text
from bot.domain.questionnaire import canonical_text, load_questionnaire
from bot.domain.rules import Advice

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_NOON = datetime(2027, 3, 2, 12, 0, tzinfo=PARIS)
SUNDAY_3AM = datetime(2027, 3, 7, 3, 0, tzinfo=PARIS)


@pytest.mark.parametrize("advice", get_args(Advice))
@pytest.mark.parametrize("when", [TUESDAY_NOON, SUNDAY_3AM])
def test_every_advice_speaks_to_the_caregiver_with_the_emergency_numbers(advice: str, when: datetime) -> None:
    text = caregiver_advice_text(advice, None, when)  # French: the bot's language
    assert "votre proche" in text, text
    assert "15 (SAMU)" in text and "112" in text and "114" in text
    if advice not in ("same_day", "same_day_now", "inclusion"):
        assert "maintenant" in text  # never "if it is still there": call now
    assert "appelez" in text.lower()


def test_a_questionnaire_without_caregiver_wording_hashes_as_before() -> None:
    weekly = load_questionnaire("questionnaires/weekly.yaml")
    assert all(item.text_proxy is None for item in weekly.items)
    assert "text_proxy" not in canonical_text(weekly)
    followup = load_questionnaire("questionnaires/followup.yaml")
    assert followup.item("pain_worst").text_proxy and "votre proche" in followup.item("pain_worst").text_proxy
    assert "text_proxy" in canonical_text(followup)  # the caregiver's wording is part of the text stamped as sent
