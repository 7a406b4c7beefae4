"""A BDPM product (denomination, form, routes, composition) → the exact product id of questionnaires/opioids.yaml,
or None when the catalogue has no such product (a non-opioid, an immediate-release generic…). Pure.

Why these rules (docs/clinical/medicine-photos.md): the catalogue lists what patients recognise (brands, and three
generic families), each with a substance and a route; its tablet products also carry the opioid per tablet. So a
box matches a product when
  1. its opioid substance is the product's (the BDPM substance name contains it; opium powder counts as morphine,
     as the catalogue counts Lamaline and Izalgi);
  2. one of its routes is the product's (BDPM « sublinguale » is the catalogue's "buccal" for transmucosal fentanyl
     and "sublingual" for buprenorphine);
  3. its name starts with the product's name (Skenan, Klipal…) — or, for the generic families whose label says
     « générique », it is named after the substance (or Matrifen) and its form is the family's (prolonged release
     for Oxycodone LP and Tramadol LP, a transdermal patch for the fentanyl patches);
  4. for products counted in tablets, its opioid strength is the product's mg per tablet (Klipal 600/50 vs 300/25).
Exactly one product must remain; otherwise there is no match (never a guess).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.omed import OpioidCatalogue, Product

#: Substance keyword in a BDPM substance name → the catalogue's substance.
SUBSTANCES = {
    "morphine": "morphine",
    "opium": "morphine",
    "oxycodone": "oxycodone",
    "hydromorphone": "hydromorphone",
    "fentanyl": "fentanyl",
    "tramadol": "tramadol",
    "codeine": "codeine",
    "tapentadol": "tapentadol",
    "buprenorphine": "buprenorphine",
    "methadone": "methadone",
}
#: BDPM route (« Voies d'administration ») → the catalogue routes it may be.
ROUTES = {
    "orale": {"oral"},
    "sublinguale": {"sublingual", "buccal"},
    "buccale": {"buccal"},
    "gingivale": {"buccal"},
    "transdermique": {"transdermal"},
    "nasale": {"nasal"},
    "sous-cutanee": {"subcutaneous"},
    "intraveineuse": {"intravenous"},
}
#: Other names a generic family's label lists (the fentanyl patches: « générique, Matrifen… »).
_PROLONGED = ("liberation prolongee", " lp ", " l.p. ")
_PATCH = ("transdermique", "patch")


def fold(text: str) -> str:
    """Lower case without accents: « Codéine » and « CODEINE » compare equal."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


@dataclass(frozen=True)
class Component:
    substance: str
    strength: str


@dataclass(frozen=True)
class BoxFacts:
    """What the BDPM says of the product in a box."""

    name: str
    form: str
    routes: tuple[str, ...]
    components: tuple[Component, ...]

    element: str = ""
    """What one unit is (« gélule », « comprimé », « dispositif transdermique »): CIS_COMPO's element."""

    @property
    def display(self) -> str:
        """« Skenan LP 30 mg, gélule »: the denomination up to its comma, brand words in title case, then the unit."""
        name = self.name.split(",")[0].replace("L.P.", "LP").strip()
        words = [w.capitalize() if w.isalpha() and w.isupper() and len(w) > 2 else w for w in name.split()]
        pretty = " ".join(words)
        tail = self.element or self.form
        return f"{pretty}, {tail}" if tail else pretty


def opioid_of(facts: BoxFacts) -> tuple[str, float | None] | None:
    """The catalogue substance and its strength in mg (or µg/h, µg) of the box's first opioid component."""
    for component in facts.components:
        folded = fold(component.substance)
        for keyword, substance in SUBSTANCES.items():
            if keyword in folded:
                return substance, parse_strength(component.strength)
    return None


def parse_strength(text: str) -> float | None:
    """« 37,5 mg » → 37.5; « 25 microgrammes/heure » → 25; None without a number."""
    match = re.search(r"\d+(?:[.,]\d+)?", text)
    return float(match.group(0).replace(",", ".")) if match else None


def _catalogue_routes(routes: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for route in routes:
        result |= ROUTES.get(fold(route).strip(), set())
    return result


def _is_generic(product: Product) -> bool:
    return "generique" in fold(product.label)


def _form_fits(product: Product, facts: BoxFacts) -> bool:
    text = f" {fold(facts.name)} {fold(facts.form)} "
    if product.patch:
        return any(word in text for word in _PATCH)
    label = f" {fold(product.label)} "
    if " lp " in label:
        return any(word in text for word in _PROLONGED)
    return True


def match_product(facts: BoxFacts, catalogue: OpioidCatalogue, *, among: Iterable[str] | None = None) -> str | None:
    """The catalogue product code of the box, or None (see the module docstring). `among`: only these codes."""
    opioid = opioid_of(facts)
    if opioid is None:
        return None
    substance, strength = opioid
    routes = _catalogue_routes(facts.routes)
    allowed = set(among) if among is not None else None
    candidates = [
        p
        for p in catalogue.products
        if p.ask_patient and p.substance == substance and p.route in routes and (allowed is None or p.code in allowed)
    ]
    words = _words(facts.name)
    brand = words[0] if words else ""
    named = [p for p in candidates if not _is_generic(p) and _words(p.label)[:1] == [brand]]
    if not named:
        named = [p for p in candidates if _is_generic(p) and brand in _words(p.label) and _form_fits(p, facts)]
    fitting = [
        p
        for p in named
        if p.unit != "tablet"
        or (strength is not None and p.mg_per_unit is not None and abs(p.mg_per_unit - strength) < 1e-6)
    ]
    return fitting[0].code if len(fitting) == 1 else None
