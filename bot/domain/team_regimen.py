"""The analgesic regimen a clinician records for a patient (/traitement): parsing the command, describing it.

Why a clinician entry: some regimens cannot come from the patient (a subcutaneous pump, methadone started in
hospital, a product the patient cannot name), and a team sometimes knows better than a confused answer. The entry
is a complete `Regimen` with `source` "clinician"; it is carried forward like any complete regimen until the
patient reports another, and the patient is asked to confirm it at the next questionnaire (item
`team_regimen_ok`, shown only when the context item `team_regimen` says an entry is waiting).

Syntax, typed after the study id (one product per part, parts separated by ";" or "+"):
    <product> <dose>[x<intakes per day>] [; <product> <dose>[x<n>] ...] raison: <why>
    /traitement P-001 skenan 60x2 ; actiskenan 10x3 raison: relais après hospitalisation
    /traitement P-001 morphinesc 30 raison: pompe posée en HDJ       (a pump: mg over 24 h, one "intake")
    /traitement P-001 aucun raison: opioïdes arrêtés
The dose is per intake in the product's unit (mg; µg/h for a patch, no "x"; µg for transmucosal fentanyl; number
of tablets for a combination product); a rescue product's count is the rescue doses per day. Without "x" a
product is taken once a day. The role (background or rescue) is the catalogue's. Products: the catalogue codes of
opioids.yaml, including those not offered to patients (ask_patient: false). The reason is required.

Pure: no I/O; messages through gettext.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from bot.domain.omed import TEAM_CONFIRM_ITEM, DoseLine, OpioidCatalogue, Product, Regimen
from bot.i18n import _

__all__ = [
    "TEAM_CONTEXT_ITEM",
    "TEAM_CONFIRM_ITEM",
    "TEAM_PLACEHOLDER",
    "NO_OPIOID",
    "RegimenCommandError",
    "TeamEntry",
    "parse_regimen_command",
    "describe_regimen",
]

TEAM_CONTEXT_ITEM: Final[str] = "team_regimen"
"""Context item of the questionnaires (never asked): "yes" when a clinician's regimen awaits confirmation."""
TEAM_PLACEHOLDER: Final[str] = "{team_regimen}"
"""Replaced in the question text by `describe_regimen` of the entry waiting for confirmation."""
NO_OPIOID: Final[frozenset[str]] = frozenset({"aucun", "rien", "none"})
_REASON: Final[re.Pattern[str]] = re.compile(r"\b(?:raison|motif|reason)\s*:", re.IGNORECASE)
_DOSE: Final[re.Pattern[str]] = re.compile(
    r"^([0-9]+(?:[.,][0-9]+)?)\s*(?:[x×*]\s*([0-9]+(?:[.,][0-9]+)?))?$", re.IGNORECASE
)
MAX_PER_DAY: Final[float] = 24
"""More than 24 intakes a day is a typing error."""


class RegimenCommandError(ValueError):
    """The command cannot be read; the message (French) says what is expected."""


@dataclass(frozen=True)
class TeamEntry:
    regimen: Regimen
    reason: str


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def _find_product(name: str, catalogue: OpioidCatalogue) -> Product | None:
    key = _fold(name)
    for product in catalogue.products:
        if key in (product.code, _fold(product.label)):
            return product
    return None


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _line(part: str, catalogue: OpioidCatalogue) -> DoseLine:
    words = part.split()
    # The product name may have several words ("dafalgan codéiné 2x3"): the dose is the last word(s).
    for cut in range(len(words) - 1, 0, -1):
        product = _find_product(" ".join(words[:cut]), catalogue)
        dose = _DOSE.match("".join(words[cut:]))
        if product is not None and dose is not None:
            break
    else:
        raise RegimenCommandError(
            _('Cannot read "{part}": write a product code and a dose, e.g. skenan 60x2.').format(part=part.strip())
        )
    if product.code == "autre" or product.substance is None:
        raise RegimenCommandError(
            _('"{product}" has no conversion: name the product from the list.').format(product=product.label)
        )
    amount = _number(dose.group(1))
    per_day = _number(dose.group(2)) if dose.group(2) else 1.0
    if product.patch and dose.group(2):
        raise RegimenCommandError(_("A patch takes its rate in µg/h only (e.g. durogesic 25)."))
    if amount <= 0 or not 0 < per_day <= MAX_PER_DAY:
        raise RegimenCommandError(
            _('Cannot read "{part}": the dose and the number per day must be above 0.').format(part=part.strip())
        )
    return DoseLine(
        role="rescue" if product.rescue else "background", product=product.code, dose=amount, per_day=per_day
    )


def parse_regimen_command(text: str, catalogue: OpioidCatalogue) -> TeamEntry:
    """The regimen and reason typed after the study id (see the module docstring), or `RegimenCommandError`."""
    found = _REASON.search(text)
    reason = text[found.end() :].strip() if found else ""
    if not reason:
        raise RegimenCommandError(_('The reason is required: end the command with "raison: ..."'))
    body = text[: found.start()].strip() if found else text
    parts = [part.strip() for part in re.split(r"[;+]", body) if part.strip()]
    if not parts:
        raise RegimenCommandError(_('Give at least one product, or "aucun" when the patient takes no opioid.'))
    if len(parts) == 1 and _fold(parts[0]) in NO_OPIOID:
        return TeamEntry(Regimen(lines=(), source="clinician"), reason)
    lines = tuple(_line(part, catalogue) for part in parts)
    return TeamEntry(Regimen(lines=lines, source="clinician"), reason)


def _amount(product: Product, line: DoseLine) -> str:
    dose = f"{line.dose:g}".replace(".", ",") if line.dose is not None else "?"
    if product.unit == "ug_per_h":
        return _("{dose} µg/h patch").format(dose=dose)
    if product.unit == "ug":
        return f"{dose} µg"
    if product.unit == "tablet":
        return _("{dose} tablet(s)").format(dose=dose)
    return f"{dose} mg"


def describe_regimen(regimen: Regimen, catalogue: OpioidCatalogue) -> str:
    """The regimen in plain French, one product per line ("Skenan 60 mg, 2 fois par jour")."""
    if not regimen.lines:
        return _("no opioid medicine")
    lines = []
    for line in regimen.lines:
        product = catalogue.product(line.product or "")
        if product is None:
            continue
        amount = _amount(product, line)
        count = f"{line.per_day:g}".replace(".", ",") if line.per_day is not None else "?"
        if product.patch:
            lines.append(f"- {product.label}: {amount}")
        elif line.role == "rescue":
            lines.append(
                "- "
                + _("{product} {amount} when needed, up to {count} times a day").format(
                    product=product.label, amount=amount, count=count
                )
            )
        else:
            lines.append(
                "- "
                + _("{product} {amount}, {count} time(s) a day").format(
                    product=product.label, amount=amount, count=count
                )
            )
    return "\n".join(lines)
