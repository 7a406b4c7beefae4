"""May the patient be on chemotherapy? The context item `chemo_possible` of the daily diary and the weekly check
(issue 35).

Why: fever is asked every day only where it can be neutropenic sepsis, an emergency (NICE CG151, 2012; Klastersky J.
et al., ESMO, Ann Oncol 2016): a patient whose baseline says chemotherapy, or "Je ne sais pas", or who has no
baseline answer (we never infer "no chemotherapy" from a missing answer). Everyone else is asked about fever behind
the "Un effet gênant aujourd'hui ?" gate, whose list names fever, shivers and feeling very unwell, and `fever_chemo`
is still asked at each fever (chemotherapy may have started since). docs/clinical/patient-burden.md. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["CHEMO_CONTEXT_ITEM", "BASELINE_CHEMO_ITEM", "PRIMARY_CONTEXT_ITEM", "chemo_possible"]

CHEMO_CONTEXT_ITEM: Final[str] = "chemo_possible"
"""The context item the bot supplies ("yes"/"no"), never asked."""
BASELINE_CHEMO_ITEM: Final[str] = "on_chemo"
"""The baseline question it is read from ("yes" / "no" / "_unknown")."""
PRIMARY_CONTEXT_ITEM: Final[str] = "primary_timepoint"
"""The follow-up's context item ("yes" at the primary time point, day 30; "no" otherwise), never asked: the items no
end point reads at days 15, 60 and 90 are asked at day 30 only (issue 35; docs/clinical/patient-burden.md). Kept here
with the other context item the bot supplies, rather than in a module of its own."""


def chemo_possible(baseline_answers: Mapping[str, object] | None) -> bool:
    """True unless the baseline was answered and its `on_chemo` answer is a plain "no"."""
    if baseline_answers is None:
        return True
    return baseline_answers.get(BASELINE_CHEMO_ITEM) != "no"
