"""The versions stamped on every derived OMED and every alert when it is derived or raised (issue 17).

Why: a trial must be able to say which conversion table and which rules produced a number, years later, after
opioids.yaml or rules.yaml changed. opioids.yaml has a `version` and named tables; rules.yaml's `version` is the
format version (1), so the rules are identified by it plus a hash of the rules as loaded (what actually ran).
Pure.
"""

from __future__ import annotations

import hashlib
from typing import Final

from bot.domain.omed import OpioidCatalogue
from bot.domain.rules import RuleSet

__all__ = ["VERSIONS_SETTING", "rules_version", "versions"]

VERSIONS_SETTING: Final[str] = "versions"
"""Key of the `settings` row holding the versions loaded at start-up (read when an alert is stored)."""
RULES_FORMAT: Final[str] = "1"
"""rules.yaml `version` (the only one `bot.domain.rules.parse_rules` accepts)."""


def rules_version(rules: RuleSet) -> str:
    """ "1+sha256:<16 hex>": rules.yaml's version and a hash of the validated rules (wording of a comment aside,
    any change of a rule changes it)."""
    digest = hashlib.sha256(repr(rules.rules).encode("utf-8")).hexdigest()[:16]
    return f"{RULES_FORMAT}+sha256:{digest}"


def versions(opioids: OpioidCatalogue, rules: RuleSet) -> dict[str, str]:
    """What an alert or an OMED is stamped with."""
    return {"opioids": opioids.version, "table": opioids.default_table, "rules": rules_version(rules)}
