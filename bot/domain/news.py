"""What is news for the team (issue 33, "fewer, better alerts: the same news never alerts twice").

A non-urgent finding the team has already been told about, in the same episode and no worse, is *folded*: stored
(`suppressed_alerts`, reason `known`, or `inclusion` for what the team knew when it enrolled the patient), listed in
the next morning digest and in /patient, and not raised again. A new episode, a worse pain, a different finding, or
an episode still going `again_after_days` after the team was told alerts. Urgent rules are never folded.

Several rules say the same news in different words: "worst pain 9/10", "8/10 for 3 days" and "not relieved by the
treatment" are one news, *the pain is not controlled*; so they form one family, and a firing of any of them is the
same news as an alert of any other in the same episode. The clinical argument and sources are in
docs/clinical/alerts.md, section 14. These are clinical choices: kept here, in one table, with their source.

The policy is pure: the service (`bot.services.answering`) reads the facts (the last time the team was told,
whether a completed questionnaire since then was free of the finding, the worst pain then and now) and asks
`decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class Family:
    """Rules that report one finding. `known_at_inclusion`: the baseline answer is what the team knew when it
    referred and enrolled the patient (folded, reason `inclusion`, and the reference for later answers).
    `again_after_days`: an episode still going this long after the team was told is news again (None: never;
    the digest lists it every morning). `worse_when_pain_higher`: a worst pain higher than when the team was told
    is news (the pain family); for a yes/no sign (night pain) a higher score is the pain rules' news (a rise of 2
    from the baseline, 9/10), which alert on their own."""

    name: str
    rules: tuple[str, ...]
    known_at_inclusion: bool
    again_after_days: int | None
    worse_when_pain_higher: bool
    source: str


#: The families. A rule in none of them keeps the policy of its `repeat` in questionnaires/rules.yaml.
FAMILIES: tuple[Family, ...] = (
    Family(
        name="pain_not_controlled",
        rules=("pain_severe", "pain_severe_no_baseline", "pain_high_persistent", "pain_uncontrolled"),
        known_at_inclusion=False,
        worse_when_pain_higher=True,
        # A week of pain still not controlled after the team was told and acted: the plan did not work, which is
        # news (ESMO 2018, Fallon M. et al., Ann Oncol 2018;29(suppl 4):iv166-iv191: re-assess until controlled;
        # the digest shows the persisting pain every morning before that). docs/clinical/alerts.md (14).
        again_after_days=7,
        source="Caraceni A. et al., EAPC, Lancet Oncol 2012;13(2):e58-e68; Fallon M. et al., ESMO, Ann Oncol "
        "2018;29(suppl 4):iv166-iv191; Basch E. et al., Nat Med 2025;31(4):1225-1232 (alerts on severe or worsening "
        "symptoms); docs/clinical/alerts.md (14)",
    ),
    Family(
        name="spinal_pain_night",
        rules=("spinal_pain_night",),
        known_at_inclusion=True,
        again_after_days=None,
        worse_when_pain_higher=False,
        source="NICE NG234 (2023) 1.1 (contact within 24 hours for pain suggesting spinal metastases not yet known); "
        "docs/clinical/alerts.md (14)",
    ),
    Family(
        name="spinal_pain_straining",
        rules=("spinal_pain_straining",),
        known_at_inclusion=True,
        again_after_days=None,
        worse_when_pain_higher=False,
        source="NICE NG234 (2023) 1.1; docs/clinical/alerts.md (14)",
    ),
)

#: Patients do not answer at the same hour every day: "N days after" counts from half a day before.
ANSWER_HOUR_SLACK = timedelta(hours=12)

_BY_RULE = {rule: family for family in FAMILIES for rule in family.rules}

Verdict = Literal["news", "known", "inclusion"]


def family_of(rule_id: str) -> Family | None:
    """The family of a rule, or None (the rule keeps its own `repeat` policy)."""
    return _BY_RULE.get(rule_id)


@dataclass(frozen=True)
class Told:
    """The last time the team was told of this family's finding for the patient: an alert (`alert_id`), or the
    baseline answer (`alert_id` None). `pain` is the worst pain then (None when not asked)."""

    at: datetime
    alert_id: int | None
    pain: float | None


def decide(
    family: Family,
    *,
    baseline: bool,
    told: Told | None,
    episode_ended: bool,
    pain_now: float | None,
    now: datetime,
) -> Verdict:
    """Is this firing news?

    - at the baseline, a finding the team knew at inclusion is folded (`inclusion`), whatever it is;
    - never told, or the episode ended since (a completed questionnaire without the finding): news;
    - a worst pain higher than when the team was told: news (worse; the pain family);
    - the episode still going `again_after_days` after the team was told: news;
    - otherwise the same news: `known`.
    """
    if baseline and family.known_at_inclusion:
        return "inclusion"
    if told is None or episode_ended:
        return "news"
    if family.worse_when_pain_higher and pain_now is not None and told.pain is not None and pain_now > told.pain:
        return "news"
    if family.again_after_days is not None and told.at <= now - timedelta(days=family.again_after_days) + (
        ANSWER_HOUR_SLACK
    ):
        return "news"
    return "known"
