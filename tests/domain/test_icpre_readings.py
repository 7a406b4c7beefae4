"""ICPRE both ways (issue 17): the project's reading and the strict one differ exactly on the documented cases;
the Newcombe interval for a between-arm difference."""

from __future__ import annotations

import itertools

import pytest

from bot.domain.endpoints import (
    PainResponse,
    analgesic_increase,
    newcombe_difference,
    pain_response,
)

BASELINE_PAIN, BASELINE_OMED = 8, 60.0


def test_pain_plus_2_with_omed_plus_25_percent() -> None:
    assert pain_response(8, 60, 10, 75) is PainResponse.PROGRESSION
    assert pain_response(8, 60, 10, 75, reading="strict") is PainResponse.INDETERMINATE


def test_pain_minus_1_with_omed_plus_25_percent() -> None:
    assert pain_response(8, 60, 7, 75) is PainResponse.PROGRESSION
    assert pain_response(8, 60, 7, 75, reading="strict") is PainResponse.INDETERMINATE


def test_the_readings_differ_exactly_on_the_documented_cases() -> None:
    """Over every baseline/follow-up pain and a range of OMEDs (down, stable, up 25 % and more, from zero): the
    readings differ iff the analgesics increased and Δ ≥ +2 or Δ = −1."""
    omeds = (0.0, 30.0, 45.0, 60.0, 70.0, 75.0, 90.0, 200.0)
    differing = 0
    for b_pain, f_pain, b_omed, f_omed in itertools.product(range(11), range(11), omeds, omeds):
        project = pain_response(b_pain, b_omed, f_pain, f_omed)
        strict = pain_response(b_pain, b_omed, f_pain, f_omed, reading="strict")
        delta = f_pain - b_pain
        documented = analgesic_increase(b_omed, f_omed) and (delta >= 2 or delta == -1)
        assert (project != strict) == documented, (b_pain, b_omed, f_pain, f_omed)
        if documented:
            assert (project, strict) == (PainResponse.PROGRESSION, PainResponse.INDETERMINATE)
            differing += 1
    assert differing > 100


def test_an_unknown_reading_is_refused() -> None:
    with pytest.raises(ValueError):
        pain_response(8, 60, 7, 75, reading="loose")  # type: ignore[arg-type]


def test_newcombe_hybrid_score_interval_matches_the_published_example() -> None:
    # Newcombe 1998, Table II, example (a): 56/70 − 48/80 = 0.2000, method 10: 0.0524 to 0.3339.
    result = newcombe_difference(56, 70, 48, 80)
    assert result is not None
    d, low, high = result
    assert d == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert newcombe_difference(1, 2, 0, 0) is None
