"""Trial endpoints as pure functions: consensus pain response, pain flare, RELIEVE pain-type profile, statistics.

Why pure: these functions decide what a trial reports as its primary endpoint, so they must be testable in
isolation, replayable on exported data and free of any I/O, clock, Telegram or database dependency.

Clinical source for every rule and number here: `docs/clinical/pain-response.md`, which fixes our exact
operational reading of
- the International Bone Metastases Consensus Working Party endpoints: Chow E. et al., "Update of the international
  consensus on palliative radiotherapy endpoints for future clinical trials in bone metastases", Int J Radiat Oncol
  Biol Phys 2012;82(5):1730-1737 (doi:10.1016/j.ijrobp.2011.02.008); first version Radiother Oncol 2002;64:275-280;
- pain flare: Hird A. et al., Int J Radiat Oncol Biol Phys 2009;75(1):193-197; Chow E. et al., Radiother Oncol
  2005;75:64-69;
and `docs/clinical/instruments.md` for the four pain types of the RELIEVE study (NCT06746103).

Every invalid input raises `ValueError` (including wrong types such as `bool` or `float` pain scores): a silently
coerced value in an endpoint computation is worse than a crash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    # constants (pain-response.md)
    "PAIN_SCALE_MIN",
    "PAIN_SCALE_MAX",
    "PAIN_CHANGE_THRESHOLD",
    "STABLE_PAIN_BAND",
    "ANALGESIC_INCREASE_FACTOR",
    "ANALGESIC_REDUCTION_FACTOR",
    "EVALUABLE_MIN_BASELINE_PAIN",
    "FLARE_WINDOW_DAYS_AFTER_LAST_FRACTION",
    "OMED_RELATIVE_TOLERANCE",
    "Z_95",
    "RELIEVE_PAIN_TYPES",
    # pain response
    "Reading",
    "READINGS",
    "PainResponse",
    "RESPONSE_ORDER",
    "pain_response",
    "analgesic_increase",
    "analgesic_reduction",
    "is_evaluable",
    # pain flare
    "DiaryDay",
    "FlareResult",
    "detect_pain_flare",
    # RELIEVE
    "pain_type_profile",
    # statistics
    "wilson_interval",
    "newcombe_difference",
    "ResponseSummary",
    "summarise_responses",
]

# ---------------------------------------------------------------------------------------------------------------
# Clinical constants — the only place these numbers live.
# Source: docs/clinical/pain-response.md (Chow E. et al., Int J Radiat Oncol Biol Phys 2012;82(5):1730-1737;
# Radiother Oncol 2002;64:275-280; flare: Hird A. et al., Int J Radiat Oncol Biol Phys 2009;75(1):193-197).
# ---------------------------------------------------------------------------------------------------------------
PAIN_SCALE_MIN: Final[int] = 0
"""Numeric rating scale floor: 0 = no pain (pain-response.md, "Inputs")."""
PAIN_SCALE_MAX: Final[int] = 10
"""Numeric rating scale ceiling: 10 = worst pain imaginable (pain-response.md, "Inputs")."""
PAIN_CHANGE_THRESHOLD: Final[int] = 2
"""A change of 2 points or more is a response (Δ ≤ −2) or a progression (Δ ≥ +2); also the flare rise
(worst pain ≥ baseline + 2)."""
STABLE_PAIN_BAND: Final[int] = 1
""""Pain stable or at most 1 point above baseline": −1 ≤ Δ ≤ 1 (pain-response.md, "Terms")."""
ANALGESIC_INCREASE_FACTOR: Final[float] = 1.25
"""Analgesic increase: follow-up OMED ≥ 1.25 × baseline OMED (a rise of 25 % or more) when baseline OMED > 0."""
ANALGESIC_REDUCTION_FACTOR: Final[float] = 0.75
"""Analgesic reduction: baseline OMED > 0 and follow-up OMED ≤ 0.75 × baseline OMED (a fall of 25 % or more)."""
EVALUABLE_MIN_BASELINE_PAIN: Final[int] = 2
"""A patient is evaluable for pain response when baseline worst pain ≥ 2."""
FLARE_WINDOW_DAYS_AFTER_LAST_FRACTION: Final[int] = 10
"""Flare window: day 0 (first fraction) to 10 days after the last fraction, inclusive."""

# Not clinical: numerical and statistical conventions.
OMED_RELATIVE_TOLERANCE: Final[float] = 1e-9
"""OMEDs are products of conversion factors (codeine × 1/6: 200 mg → 33.333…, 150 mg → 25.0 is exactly 75 % but
`25.0 <= 0.75 * 33.333…` is False in binary floating point). The 1.25 / 0.75 thresholds are inclusive, so a dose
within this relative tolerance of a threshold counts as *at* the threshold. 1e-9 is far below any real dose step.
The comparison itself is done in exact rational arithmetic, so no underflow (e.g. subnormal doses, where 1.25 × B
rounds back to B) can make a dose count as both an increase and a reduction."""
Z_95: Final[float] = 1.959964
"""Standard normal quantile for a two-sided 95 % confidence interval."""

RELIEVE_PAIN_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "axial_spontaneous": "axial_spont",
        "axial_mechanical": "axial_mech",
        "radicular_spontaneous": "radic_spont",
        "radicular_mechanical": "radic_mech",
    }
)
"""The four pain types of RELIEVE (NCT06746103; instruments.md) → questionnaire item-id prefix. Each type has an
item `<prefix>_present` ("yes"/"no") and, when present, `<prefix>_score` (0–10)."""

_YES: Final[str] = "yes"
_NO: Final[str] = "no"


# ---------------------------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------------------------
def _check_pain(value: object, name: str) -> int:
    """Return `value` if it is an int on the 0–10 scale; `bool` and `float` are refused, not coerced."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int from {PAIN_SCALE_MIN} to {PAIN_SCALE_MAX}, got {value!r}")
    if not PAIN_SCALE_MIN <= value <= PAIN_SCALE_MAX:
        raise ValueError(f"{name} must be from {PAIN_SCALE_MIN} to {PAIN_SCALE_MAX}, got {value!r}")
    return value


def _check_omed(value: object, name: str) -> float:
    """Return `value` as a float if it is a finite, non-negative number of mg/day."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of mg/day, got {value!r}")
    try:
        result = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} is not a plausible dose in mg/day, got {value!r}") from None
    if not math.isfinite(result) or result < 0:
        raise ValueError(f"{name} must be finite and ≥ 0 mg/day, got {value!r}")
    return result


def _check_count(value: object, name: str) -> int:
    """Return `value` if it is a non-negative int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int ≥ 0, got {value!r}")
    return value


def _at_least(value: Fraction, threshold: Fraction) -> bool:
    """`value ≥ threshold`, exactly, or within OMED_RELATIVE_TOLERANCE below it (see its docstring for why)."""
    if value >= threshold:
        return True
    return threshold - value <= Fraction(OMED_RELATIVE_TOLERANCE) * max(abs(value), abs(threshold))


# ---------------------------------------------------------------------------------------------------------------
# Consensus pain response
# ---------------------------------------------------------------------------------------------------------------
class PainResponse(str, Enum):
    """International consensus pain response categories (pain-response.md, "Categories")."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    INDETERMINATE = "indeterminate"
    PROGRESSION = "progression"

    @property
    def is_responder(self) -> bool:
        """Responders = complete + partial (pain-response.md)."""
        return self in (PainResponse.COMPLETE, PainResponse.PARTIAL)


RESPONSE_ORDER: Final[tuple[PainResponse, ...]] = (
    PainResponse.COMPLETE,
    PainResponse.PARTIAL,
    PainResponse.INDETERMINATE,
    PainResponse.PROGRESSION,
)
"""Categories from best to worst outcome (also the order in which tables list them)."""


def analgesic_increase(baseline_omed: float, followup_omed: float) -> bool:
    """Whether analgesics increased: F ≥ 1.25 × B when B > 0; F > 0 when B = 0 (pain-response.md, "Terms").

    Any opioid started from zero is an increase, however small, because no percentage of zero is meaningful.
    """
    b = _check_omed(baseline_omed, "baseline_omed")
    f = _check_omed(followup_omed, "followup_omed")
    if b == 0:
        return f > 0
    return _at_least(Fraction(f), Fraction(ANALGESIC_INCREASE_FACTOR) * Fraction(b))


def analgesic_reduction(baseline_omed: float, followup_omed: float) -> bool:
    """Whether analgesics were reduced: B > 0 and F ≤ 0.75 × B (pain-response.md, "Terms").

    Mutually exclusive with `analgesic_increase` (for B > 0, F cannot be both ≤ 0.75 B and ≥ 1.25 B).
    """
    b = _check_omed(baseline_omed, "baseline_omed")
    f = _check_omed(followup_omed, "followup_omed")
    if b == 0:
        return False
    return _at_least(Fraction(ANALGESIC_REDUCTION_FACTOR) * Fraction(b), Fraction(f))


def is_evaluable(baseline_pain: int | None) -> bool:
    """Whether a patient counts in the evaluable-only analysis: baseline worst pain ≥ 2 (pain-response.md).

    A patient with no baseline pain score (`None`) is not evaluable. An out-of-range score raises, because it means
    corrupted data, not a non-evaluable patient.
    """
    if baseline_pain is None:
        return False
    return _check_pain(baseline_pain, "baseline_pain") >= EVALUABLE_MIN_BASELINE_PAIN


Reading = Literal["project", "strict"]
"""Two defensible readings of the consensus progression category (pain-response.md, "Two readings"):
- "project": progression = (Δ ≥ +2 without analgesic reduction) or (analgesic increase with −1 ≤ Δ ≤ 1);
- "strict", word for word from Chow 2012: (Δ ≥ +2 with *stable* analgesics, neither increase nor reduction) or
  (analgesic increase with the pain "stable or 1 point above baseline", 0 ≤ Δ ≤ 1).
They differ exactly on Δ ≥ +2 with an analgesic increase, and on Δ = −1 with an analgesic increase (progression
in the project's reading, indeterminate in the strict one). A trial pre-specifies one (`primary_reading` in
questionnaires/trial.yaml); the report and the CSV give both."""
READINGS: Final[tuple[Reading, ...]] = ("project", "strict")


def pain_response(
    baseline_pain: int,
    baseline_omed: float,
    followup_pain: int,
    followup_omed: float,
    *,
    reading: Reading = "project",
) -> PainResponse:
    """Classify one follow-up time point by the international consensus (Chow 2012; pain-response.md).

    Pain is worst pain in the last 24 h at the treated site (0–10); OMED is total oral morphine equivalent daily
    dose in mg (regular + rescue). With Δ = follow-up − baseline pain, categories are checked in this order, the
    first match winning:

    1. complete: follow-up pain = 0 and no analgesic increase;
    2. partial: (Δ ≤ −2 and no analgesic increase) or (analgesic reduction and Δ ≤ 0);
    3. progression: (Δ ≥ 2 and no analgesic reduction) or (analgesic increase and −1 ≤ Δ ≤ 1);
    4. indeterminate: anything else.

    With `reading="strict"`, 3. is (Δ ≥ 2 and neither increase nor reduction) or (increase and 0 ≤ Δ ≤ 1)
    (`Reading`).

    Evaluability (baseline pain ≥ 2) is *not* checked here: every valid input gets a category so the function is
    total; filter with `is_evaluable` before counting responders. Raises `ValueError` for a pain outside the int
    range 0–10 or an OMED that is negative, non-finite or not a number.
    """
    _check_pain(baseline_pain, "baseline_pain")
    _check_pain(followup_pain, "followup_pain")
    increase = analgesic_increase(baseline_omed, followup_omed)
    reduction = analgesic_reduction(baseline_omed, followup_omed)
    delta = followup_pain - baseline_pain

    if followup_pain == 0 and not increase:
        return PainResponse.COMPLETE
    if (delta <= -PAIN_CHANGE_THRESHOLD and not increase) or (reduction and delta <= 0):
        return PainResponse.PARTIAL
    if reading == "strict":
        if (delta >= PAIN_CHANGE_THRESHOLD and not reduction and not increase) or (
            increase and 0 <= delta <= STABLE_PAIN_BAND
        ):
            return PainResponse.PROGRESSION
        return PainResponse.INDETERMINATE
    if reading != "project":
        raise ValueError(f"reading must be one of {', '.join(READINGS)}, got {reading!r}")
    if (delta >= PAIN_CHANGE_THRESHOLD and not reduction) or (
        increase and -STABLE_PAIN_BAND <= delta <= STABLE_PAIN_BAND
    ):
        return PainResponse.PROGRESSION
    return PainResponse.INDETERMINATE


# ---------------------------------------------------------------------------------------------------------------
# Pain flare
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiaryDay:
    """One daily-diary entry: `day` counted from the first fraction (day 0), worst pain 0–10 and OMED in mg/day.

    `None` means not answered. Values are validated on construction so a bad diary fails where it is built.
    """

    day: int
    worst_pain: int | None
    omed: float | None

    def __post_init__(self) -> None:
        if isinstance(self.day, bool) or not isinstance(self.day, int):
            raise ValueError(f"day must be an int, got {self.day!r}")
        if self.worst_pain is not None:
            _check_pain(self.worst_pain, "worst_pain")
        if self.omed is not None:
            _check_omed(self.omed, "omed")


@dataclass(frozen=True)
class FlareResult:
    """Outcome of `detect_pain_flare`.

    - `flare`: at least one worsening day followed by a return within the window;
    - `flare_days`: the worsening days (ascending) of every episode that returned;
    - `returned_on`: the first return day closing the *last* returned episode, so that
      `flare_days[0]..returned_on` spans all flare episodes (with one episode, the usual case, simply the day the
      flare ended); `None` when there is no flare;
    - `unresolved_worsening`: some worsening day has no return after it within the window (or within the diary so
      far) — not a flare; follow it as possible progression (pain-response.md).
    """

    flare: bool
    flare_days: list[int]
    returned_on: int | None
    unresolved_worsening: bool


def _is_worsening(pain: int, omed: float, baseline_pain: int, baseline_omed: float) -> bool:
    """Flare-day criterion: (pain ≥ baseline + 2 and no analgesic reduction) or (analgesic increase and pain not
    lower than baseline) (pain-response.md, "Pain flare"; Hird 2009)."""
    return (pain >= baseline_pain + PAIN_CHANGE_THRESHOLD and not analgesic_reduction(baseline_omed, omed)) or (
        analgesic_increase(baseline_omed, omed) and pain >= baseline_pain
    )


def _is_return(pain: int, omed: float, baseline_pain: int, baseline_omed: float) -> bool:
    """Return to baseline: pain ≤ baseline and baseline analgesics (no increase) (pain-response.md)."""
    return pain <= baseline_pain and not analgesic_increase(baseline_omed, omed)


def detect_pain_flare(
    baseline_pain: int, baseline_omed: float, diary: Sequence[DiaryDay], *, last_fraction_day: int
) -> FlareResult:
    """Detect a radiotherapy pain flare in the daily diary (Hird 2009; Chow 2005; pain-response.md).

    The window is day 0 (first fraction) to `last_fraction_day` + 10, inclusive; entries outside it are ignored.
    A day without both a worst-pain score and an OMED is skipped: with either missing, neither the worsening nor
    the return criterion can be decided (both involve pain and analgesics), so the day neither starts, extends nor
    ends an episode. A worsening episode starts on a worsening day and ends on the next return day; days in between
    that are neither (e.g. pain at baseline + 1) keep it open. The diary need not be sorted; two entries for the same
    day inside the window raise `ValueError`, since which one counts would be arbitrary.
    """
    _check_pain(baseline_pain, "baseline_pain")
    b_omed = _check_omed(baseline_omed, "baseline_omed")
    if isinstance(last_fraction_day, bool) or not isinstance(last_fraction_day, int) or last_fraction_day < 0:
        raise ValueError(f"last_fraction_day must be an int ≥ 0, got {last_fraction_day!r}")
    window_end = last_fraction_day + FLARE_WINDOW_DAYS_AFTER_LAST_FRACTION

    in_window: dict[int, DiaryDay] = {}
    for entry in diary:
        if not isinstance(entry, DiaryDay):
            raise ValueError(f"diary entries must be DiaryDay, got {entry!r}")
        if not 0 <= entry.day <= window_end:
            continue
        if entry.day in in_window:
            raise ValueError(f"two diary entries for day {entry.day}")
        in_window[entry.day] = entry

    flare_days: list[int] = []
    returned_on: int | None = None
    open_episode: list[int] = []
    for day in sorted(in_window):
        entry = in_window[day]
        if entry.worst_pain is None or entry.omed is None:
            continue
        if _is_worsening(entry.worst_pain, entry.omed, baseline_pain, b_omed):
            open_episode.append(day)
        elif open_episode and _is_return(entry.worst_pain, entry.omed, baseline_pain, b_omed):
            flare_days.extend(open_episode)
            returned_on = day
            open_episode = []

    return FlareResult(
        flare=bool(flare_days),
        flare_days=flare_days,
        returned_on=returned_on,
        unresolved_worsening=bool(open_episode),
    )


# ---------------------------------------------------------------------------------------------------------------
# RELIEVE pain-type profile
# ---------------------------------------------------------------------------------------------------------------
def pain_type_profile(answers: Mapping[str, object]) -> dict[str, int | None]:
    """Scores of the four RELIEVE pain types (NCT06746103; instruments.md) from questionnaire answers.

    For each type with item-id prefix P (see `RELIEVE_PAIN_TYPES`):
    - `P_present` == "no" → 0 (the type is absent; any `P_score` is ignored, as the questionnaire skips it);
    - `P_present` == "yes" → `P_score` (int 0–10), or `None` if the score was not answered;
    - `P_present` missing or `None` → `None` (not answered).
    Other keys in `answers` are ignored, so the whole questionnaire's answers can be passed. A present answer other
    than "yes"/"no" or a score that is not an int 0–10 raises `ValueError`.
    """
    profile: dict[str, int | None] = {}
    for pain_type, prefix in RELIEVE_PAIN_TYPES.items():
        present = answers.get(f"{prefix}_present")
        if present is None:
            profile[pain_type] = None
        elif present == _NO:
            profile[pain_type] = 0
        elif present == _YES:
            score = answers.get(f"{prefix}_score")
            profile[pain_type] = None if score is None else _check_pain(score, f"{prefix}_score")
        else:
            raise ValueError(f"{prefix}_present must be {_YES!r} or {_NO!r}, got {present!r}")
    return profile


# ---------------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score confidence interval for a binomial proportion (Wilson EB, JASA 1927;22:209-212).

    Chosen over the Wald interval because trial arms are small and responder rates can be near 0 or 1, where Wald
    gives zero-width or out-of-range intervals. With `n` = 0 there is no information, so the interval is the whole
    range (0.0, 1.0) rather than an error: a summary table of an arm with no patients yet still renders. The bounds
    are exactly 0.0 when `successes` = 0 and exactly 1.0 when `successes` = `n`.
    Raises `ValueError` unless 0 ≤ successes ≤ n (ints) and z is finite and > 0.
    """
    _check_count(successes, "successes")
    _check_count(n, "n")
    if successes > n:
        raise ValueError(f"successes ({successes}) must not exceed n ({n})")
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z) or z <= 0:
        raise ValueError(f"z must be a finite number > 0, got {z!r}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    lower = 0.0 if successes == 0 else max(0.0, centre - half_width)
    upper = 1.0 if successes == n else min(1.0, centre + half_width)
    return (lower, upper)


def newcombe_difference(
    successes_a: int, n_a: int, successes_b: int, n_b: int, z: float = Z_95
) -> tuple[float, float, float] | None:
    """Difference of two independent proportions p_a − p_b with its hybrid score interval (Newcombe RG, "Interval
    estimation for the difference between independent proportions", Stat Med 1998;17:873-890, method 10), built
    from the two Wilson intervals: L = d − √((p_a − l_a)² + (u_b − p_b)²), U = d + √((u_a − p_a)² + (p_b − l_b)²).

    Chosen for the between-arm comparison of responder rates for the same reason as Wilson: it behaves with small
    arms and rates near 0 or 1. None when either arm has no patient (no difference to estimate).
    """
    low_a, high_a = wilson_interval(successes_a, n_a, z)
    low_b, high_b = wilson_interval(successes_b, n_b, z)
    if n_a == 0 or n_b == 0:
        return None
    p_a, p_b = successes_a / n_a, successes_b / n_b
    d = p_a - p_b
    lower = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    upper = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return (d, max(-1.0, lower), min(1.0, upper))


@dataclass(frozen=True)
class ResponseSummary:
    """Pain-response counts and responder rates at one time point, in both analyses (pain-response.md).

    - `n_itt`: all enrolled patients — the intention-to-treat denominator, where non-evaluable patients and missing
      follow-ups count as non-responders;
    - `n_not_evaluable`: enrolled with baseline pain < 2 (or no baseline);
    - `n_missing`: evaluable but without an assessment at this time point;
    - `n_evaluable`: evaluable *and* assessed — the evaluable-only denominator (equals the sum of the four counts);
    - `rate_*` is `None` when its denominator is 0 (the Wilson interval is then (0.0, 1.0)).
    """

    n_itt: int
    n_not_evaluable: int
    n_missing: int
    n_evaluable: int
    n_complete: int
    n_partial: int
    n_indeterminate: int
    n_progression: int
    responders: int
    rate_itt: float | None
    ci_itt: tuple[float, float]
    rate_evaluable: float | None
    ci_evaluable: tuple[float, float]

    def count(self, category: PainResponse) -> int:
        """Number of assessed patients in `category`."""
        return {
            PainResponse.COMPLETE: self.n_complete,
            PainResponse.PARTIAL: self.n_partial,
            PainResponse.INDETERMINATE: self.n_indeterminate,
            PainResponse.PROGRESSION: self.n_progression,
        }[category]


def summarise_responses(
    results: Sequence[PainResponse | None], *, n_enrolled: int, n_not_evaluable: int
) -> ResponseSummary:
    """Summarise one time point: counts per category, responders, ITT and evaluable-only rates with Wilson CIs.

    `results` holds one entry per *evaluable* enrolled patient: their category, or `None` for a missing follow-up.
    Non-evaluable patients are not in `results` but counted by `n_not_evaluable`, so every enrolled patient is in
    exactly one place: `len(results) + n_not_evaluable` must equal `n_enrolled`, else `ValueError` (this catches a
    caller that double-counts or drops patients, which would silently move the ITT rate).
    """
    _check_count(n_enrolled, "n_enrolled")
    _check_count(n_not_evaluable, "n_not_evaluable")
    counts = {category: 0 for category in PainResponse}
    n_missing = 0
    for result in results:
        if result is None:
            n_missing += 1
        elif isinstance(result, PainResponse):
            counts[result] += 1
        else:
            raise ValueError(f"results must be PainResponse or None, got {result!r}")
    if len(results) + n_not_evaluable != n_enrolled:
        raise ValueError(f"{len(results)} evaluable results + {n_not_evaluable} not evaluable != {n_enrolled} enrolled")
    n_evaluable = len(results) - n_missing
    responders = counts[PainResponse.COMPLETE] + counts[PainResponse.PARTIAL]
    return ResponseSummary(
        n_itt=n_enrolled,
        n_not_evaluable=n_not_evaluable,
        n_missing=n_missing,
        n_evaluable=n_evaluable,
        n_complete=counts[PainResponse.COMPLETE],
        n_partial=counts[PainResponse.PARTIAL],
        n_indeterminate=counts[PainResponse.INDETERMINATE],
        n_progression=counts[PainResponse.PROGRESSION],
        responders=responders,
        rate_itt=responders / n_enrolled if n_enrolled else None,
        ci_itt=wilson_interval(responders, n_enrolled),
        rate_evaluable=responders / n_evaluable if n_evaluable else None,
        ci_evaluable=wilson_interval(responders, n_evaluable),
    )
