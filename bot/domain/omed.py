"""Oral morphine equivalent daily dose (OMED) from what the patient actually takes.

Source: `docs/clinical/opioids.md`. We record product, dose per intake, intakes per day and rescue doses, and
compute OMED here from a conversion table kept as data (`questionnaires/opioids.yaml`, one source per row). The
table is swappable (`fr_sor`, the French practice column, is the default; `cdc_2022` is kept; a site may add its own)
and every result carries the id of the table used.

Never silently converted: a substance without a factor in the table (buprenorphine or transmucosal fentanyl in the
CDC table), a product outside the catalogue ("autre") or a dose the patient did not give makes the line
*unconverted*. Decision: the total `mg` is then `None` (not a partial sum), so an endpoint or a rule cannot mistake
an underestimate for the truth; `converted_mg` gives the part that could be converted, for display next to the list
of what was not. A factor the literature disagrees on (methadone, transmucosal fentanyl: `confirm: true` in the
table) does convert, and the result lists it in `to_confirm` for the site pharmacist. A line with zero intakes (e.g. no Abstral taken today) is 0 mg whatever the product.

Pure: loading the YAML is the only I/O, in `load_opioid_catalogue`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.questionnaire import MARKERS, Value
from bot.domain.yaml_io import load_yaml

__all__ = [
    "OTHER_PRODUCT",
    "TEAM_CONFIRM_ITEM",
    "MICROGRAMS_PER_MG",
    "UNITS_PER_DOSE",
    "Unit",
    "Role",
    "ConversionRow",
    "ConversionTable",
    "Product",
    "OpioidCatalogue",
    "OpioidCatalogueError",
    "UnknownTableError",
    "DoseLine",
    "Regimen",
    "OmedLine",
    "OmedResult",
    "load_opioid_catalogue",
    "compute_omed",
    "regimen_from_answers",
]

OTHER_PRODUCT: Final[str] = "autre"
"""The catalogue code for "a product not in the list" (free text in `bg_other` / `rescue_other`)."""
MICROGRAMS_PER_MG: Final[int] = 1000

Unit = Literal["mg", "ug_per_h", "ug", "tablet"]
"""What a product's dose per intake is counted in (see the header of opioids.yaml)."""
Role = Literal["background", "rescue"]

_STRICT = ConfigDict(extra="forbid", frozen=True)
_CODE_PATTERN: Final[str] = r"^[a-z0-9]{1,12}$"


class OpioidCatalogueError(Exception):
    """The opioid catalogue file cannot be used; the message names the file and the problem."""


class UnknownTableError(KeyError):
    """The requested conversion table does not exist in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown conversion table"


# ---------------------------------------------------------------------------------------------------------------
# Catalogue models
# ---------------------------------------------------------------------------------------------------------------
class ConversionRow(BaseModel):
    """substance + route → factor to oral morphine (None = no reliable factor)."""

    model_config = _STRICT

    substance: str = Field(min_length=1)
    route: str = Field(min_length=1)
    factor: float | None = Field(ge=0)
    per: Literal["mg", "ug", "ug_per_h"] = "mg"
    """What the factor multiplies: the daily amount in mg, the daily amount in µg (transmucosal fentanyl, whose
    published factors are per µg), or a patch rate in µg/h."""
    confirm: bool = False
    """The literature varies for this factor: the OMED is given, marked "to confirm by the site pharmacist"."""
    source: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _fraction(cls, data: Any) -> Any:
        """Accept "1/6": a factor written as in the source rather than as a rounded decimal."""
        if isinstance(data, dict) and isinstance(data.get("factor"), str):
            try:
                data = {**data, "factor": float(Fraction(data["factor"].strip()))}
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"factor {data['factor']!r} is not a number or a fraction like 1/6") from None
        return data


class ConversionTable(BaseModel):
    model_config = _STRICT

    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    factors: tuple[ConversionRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rows(self) -> ConversionTable:
        keys = [(row.substance, row.route) for row in self.factors]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"{key[0]} ({key[1]}) has two rows")
        return self

    def row(self, substance: str, route: str) -> ConversionRow | None:
        for row in self.factors:
            if row.substance == substance and row.route == route:
                return row
        return None


class Product(BaseModel):
    """A product patients recognise (brand), mapped to substance and route."""

    model_config = _STRICT

    code: str = Field(pattern=_CODE_PATTERN)
    label: str = Field(min_length=1)
    substance: str | None
    route: str | None
    unit: Unit
    patch: bool
    rescue: bool
    """The product's usual role: rescue doses ("interdoses") or background treatment."""
    mg_per_unit: float | None = Field(default=None, gt=0)
    """Opioid content of one tablet/capsule (unit "tablet" only)."""
    ask_patient: bool = True
    """False: only for a regimen entered by the clinician (not a patient choice)."""
    source: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        if self.patch != (self.unit == "ug_per_h"):
            raise ValueError("a patch is counted in ug_per_h, and only a patch is")
        if (self.unit == "tablet") != (self.mg_per_unit is not None):
            raise ValueError("mg_per_unit is required for unit tablet, and only for it")
        if (self.substance is None) != (self.route is None):
            raise ValueError("substance and route are both given or both null")
        return self


class OpioidCatalogue(BaseModel):
    model_config = _STRICT

    version: str
    default_table: str
    tables: dict[str, ConversionTable] = Field(min_length=1)
    products: tuple[Product, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> OpioidCatalogue:
        if self.default_table not in self.tables:
            raise ValueError(f'default_table "{self.default_table}" is not one of the tables')
        codes = [p.code for p in self.products]
        for code in codes:
            if codes.count(code) > 1:
                raise ValueError(f'product code "{code}" appears twice')
        if OTHER_PRODUCT not in codes:
            raise ValueError(f'the catalogue needs the product "{OTHER_PRODUCT}"')
        for product in self.products:
            if product.substance is None or product.route is None:
                continue
            for table_id, table in self.tables.items():
                row = table.row(product.substance, product.route)
                if row is not None and row.per == "ug" and product.unit != "ug":
                    raise ValueError(
                        f'product "{product.code}" is counted in {product.unit} but table {table_id} converts '
                        f"{product.substance} ({product.route}) per ug"
                    )
                if row is not None and (row.per == "ug_per_h") != (product.unit == "ug_per_h"):
                    raise ValueError(
                        f'product "{product.code}" is counted in {product.unit} but table {table_id} converts '
                        f"{product.substance} ({product.route}) per {row.per}"
                    )
        return self

    def product(self, code: str) -> Product | None:
        for product in self.products:
            if product.code == code:
                return product
        return None

    def table(self, table_id: str | None = None) -> ConversionTable:
        """The table with this id (default: `default_table`), or `UnknownTableError`."""
        table_id = table_id or self.default_table
        if table_id not in self.tables:
            raise UnknownTableError(
                f'unknown conversion table "{table_id}" (available: {", ".join(sorted(self.tables))})'
            )
        return self.tables[table_id]

    def patient_products(self, role: Role) -> tuple[Product, ...]:
        """The products offered to the patient for a role, in catalogue order, "autre" last."""
        wanted = role == "rescue"
        chosen = [p for p in self.products if p.ask_patient and p.code != OTHER_PRODUCT and p.rescue == wanted]
        other = self.product(OTHER_PRODUCT)
        if other is None:  # cannot happen: the catalogue refuses to load without "autre" (see `_consistent`)
            raise ValueError(f'the catalogue needs the product "{OTHER_PRODUCT}"')
        return (*chosen, other)


def load_opioid_catalogue(path: str | Path) -> OpioidCatalogue:
    """Load and validate `opioids.yaml`, or raise `OpioidCatalogueError` naming the file and the problem."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise OpioidCatalogueError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise OpioidCatalogueError(f"{path}: must be a YAML mapping with version, default_table, tables, products")
    try:
        return OpioidCatalogue.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise OpioidCatalogueError(f"{path}: {where + ': ' if where else ''}{message}") from None


# ---------------------------------------------------------------------------------------------------------------
# Regimen
# ---------------------------------------------------------------------------------------------------------------
class DoseLine(BaseModel):
    """One product taken: dose per intake in the product's unit (mg, µg, tablets; a patch's rate in µg/h) and the
    number of intakes in 24 h (rescue: the rescue doses counted; patch: ignored). `None` = not known."""

    model_config = _STRICT

    role: Role
    product: str | None
    """Catalogue code; None when the product is not known (e.g. "same as last time" with no previous record)."""
    dose: float | None = Field(default=None, ge=0)
    per_day: float | None = Field(default=None, ge=0)
    note: str | None = None
    """Free text for "autre"."""

    @property
    def known(self) -> bool:
        """Is everything needed to convert this line given (a zero count needs nothing else)?"""
        if self.per_day == 0 or self.dose == 0:
            return True
        return self.product is not None and self.dose is not None and self.per_day is not None


class Regimen(BaseModel):
    """What the patient takes over 24 h: background lines and rescue lines. JSON-able (`model_dump`)."""

    model_config = _STRICT

    lines: tuple[DoseLine, ...] = ()
    carried_forward: bool = False
    """The background came from an earlier questionnaire ("same as last time"); exports mark it."""
    source: Literal["patient", "clinician"] = "patient"
    """Who described it: the patient's answers, or a clinician (/traitement, `bot.domain.team_regimen`), also when
    carried forward from such an entry; exports mark "clinician"."""

    @property
    def complete(self) -> bool:
        """Every line known: the only kind of regimen "same as last time" may carry forward (a partial or missed
        questionnaire must not pass its unknowns on to every later one)."""
        return all(line.known for line in self.lines)

    @property
    def background(self) -> tuple[DoseLine, ...]:
        return tuple(line for line in self.lines if line.role == "background")

    @property
    def rescue(self) -> tuple[DoseLine, ...]:
        return tuple(line for line in self.lines if line.role == "rescue")


def _number(value: Value | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _code(value: Value | None) -> str | None:
    """A choice code or a free text, not a skip/unknown marker."""
    if isinstance(value, str) and value not in MARKERS:
        return value
    return None


UNITS_PER_DOSE: Final[Mapping[str, float]] = {"1": 1.0, "2": 2.0, "3": 3.0, "4": 4.0, "half": 0.5}
"""Choice codes of `bg_units` / `bg2_units` / `rescue_units` (one tap: ½, 1, 2, 3 or 4 tablets at each intake)."""
TEAM_CONFIRM_ITEM: Final[str] = "team_regimen_ok"
"""The patient's answer to "the team recorded this regimen: is it what you take?" (questionnaires 1.3)."""
PAST_BACKGROUND: Final[str] = "rescue_taking"
"""The first item after the background block: once answered, an absent background item was not shown (an earlier
questionnaire version that did not ask it), not unanswered."""


def _units(answers: Mapping[str, Value], key: str, past: bool) -> float | None:
    """Units (tablets, capsules, unidoses) per intake. Absent after the block was passed: 1 (questionnaires before
    1.2 asked the mg per intake directly); absent before that: not known."""
    if key not in answers:
        return 1.0 if past else None
    value = answers[key]
    if isinstance(value, str):
        return UNITS_PER_DOSE.get(value)
    return _number(value)


def _product_line(answers: Mapping[str, Value], prefix: str, past: bool) -> DoseLine:
    """One background product from the items `<prefix>_product`, `_dose` (strength) × `_units`, `_patch`,
    `_tablets` and `_per_day`."""
    # One of dose / patch / tablets is shown, depending on the product. If several are present the caller passed
    # answers of hidden items too: refuse to guess rather than pick the wrong unit.
    keys = (f"{prefix}_dose", f"{prefix}_patch", f"{prefix}_tablets")
    present = [key for key in keys if key in answers]
    dose = _number(answers[present[0]]) if len(present) == 1 else None
    if present == [keys[0]] and dose is not None:
        units = _units(answers, f"{prefix}_units", past)
        dose = dose * units if units is not None else None
    per_day = 1.0 if present == [keys[1]] else _number(answers.get(f"{prefix}_per_day"))
    return DoseLine(
        role="background",
        product=_code(answers.get(f"{prefix}_product")),
        dose=dose,
        per_day=per_day,
        note=_code(answers.get(f"{prefix}_other")),
    )


def _background_from_answers(answers: Mapping[str, Value]) -> tuple[DoseLine, ...]:
    taking = answers.get("bg_taking")
    if taking == "no":
        return ()
    if taking != "yes":
        return (DoseLine(role="background", product=None),)
    past = PAST_BACKGROUND in answers
    lines = [_product_line(answers, "bg", past)]
    more = answers.get("bg_more")
    if more == "yes":
        lines.append(_product_line(answers, "bg2", past))
    elif more is None and not past:
        lines.append(DoseLine(role="background", product=None))  # stopped before saying whether there is another
    return tuple(lines)


def _rescue_dose(answers: Mapping[str, Value]) -> float | None:
    """Strength × units per rescue dose (`rescue_units` absent: 1, as before questionnaire 1.2 and for sprays)."""
    dose = _number(answers.get("rescue_dose"))
    if dose is None:
        return None
    units = _units(answers, "rescue_units", past=True) if "rescue_units" in answers else 1.0
    return dose * units if units is not None else None


def regimen_from_answers(answers: Mapping[str, Value], previous: Regimen | None = None) -> Regimen:
    """The regimen described by one questionnaire's answers.

    Pass *effective* answers (`engine.effective_answers`): answers to items hidden by a changed branch must not
    count. Rules (documented in the questionnaires):
    - `analgesic_same` = "yes": the previous background lines are carried forward unchanged, and the rescue doses
      counted today (`rescue_doses_24h`) are of the previous rescue product at the previous dose. Without a
      previous regimen the lines are unknown (never assumed to be "nothing"). Pass the last *complete* regimen as
      `previous` (`bot.services.clinical_context.regimens` does).
    - `team_regimen_ok` = "yes" (the patient confirms the regimen a clinician recorded, which is then `previous`):
      the same, and the regimen keeps `source` "clinician".
    - otherwise (changed, or the baseline which has no `analgesic_same`): background from `bg_*` and, when
      `bg_more` = "yes", a second product from `bg2_*` (strength × units per intake × intakes per day; a patch
      counts its rate in µg/h, once), rescue from `rescue_product` × `rescue_dose` × `rescue_doses_24h`.
    """
    doses_today = _number(answers.get("rescue_doses_24h"))
    if answers.get("analgesic_same") == "yes" or answers.get(TEAM_CONFIRM_ITEM) == "yes":
        if previous is None:
            background: tuple[DoseLine, ...] = (DoseLine(role="background", product=None),)
        else:
            background = previous.background
        template = previous.rescue[0] if previous is not None and previous.rescue else None
        rescue: tuple[DoseLine, ...] = ()
        if "rescue_doses_24h" in answers:
            if template is not None:
                rescue = (template.model_copy(update={"per_day": doses_today}),)
            elif doses_today != 0:
                rescue = (DoseLine(role="rescue", product=None, per_day=doses_today),)
        elif template is not None:
            # Today's count not given: the product is known, not how many were taken (unknown, not zero).
            rescue = (template.model_copy(update={"per_day": None}),)
        return Regimen(
            lines=background + rescue,
            carried_forward=True,
            source=previous.source if previous is not None else "patient",
        )
    background = _background_from_answers(answers)
    taking = answers.get("rescue_taking")
    if taking == "yes":
        rescue = (
            DoseLine(
                role="rescue",
                product=_code(answers.get("rescue_product")),
                dose=_rescue_dose(answers),
                per_day=doses_today,
                note=_code(answers.get("rescue_other")),
            ),
        )
    elif taking == "no":
        rescue = ()
    else:
        rescue = (DoseLine(role="rescue", product=None, per_day=doses_today),)
    return Regimen(lines=background + rescue)


# ---------------------------------------------------------------------------------------------------------------
# OMED
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OmedLine:
    """How one regimen line was (or was not) converted — what an export or a clinician can check by hand."""

    role: Role
    product: str | None
    substance: str | None
    route: str | None
    daily_amount: float | None
    """mg/day of the substance, or µg/h for a patch."""
    amount_unit: Literal["mg", "ug", "ug_per_h"]
    factor: float | None
    mg: float | None
    reason: str | None = None
    """Why the line is not converted (None when it is)."""
    to_confirm: bool = False
    """Converted with a factor the literature disagrees on (`confirm: true` in the table)."""


@dataclass(frozen=True)
class OmedResult:
    mg: float | None
    """Total OMED in mg/day; None when any line is unconverted (see the module docstring)."""
    table: str
    """Id of the conversion table used; label every exported OMED with it (opioids.md)."""
    unconverted: list[str] = field(default_factory=list)
    """What could not be converted: "substance/route" (e.g. "methadone/oral"), "autre" or "unknown product"."""
    details: list[OmedLine] = field(default_factory=list)
    converted_mg: float = 0.0
    """Sum over the lines that were converted (a lower bound when `unconverted` is not empty)."""
    to_confirm: list[str] = field(default_factory=list)
    """"substance/route" converted with a factor to confirm by the site pharmacist (methadone, transmucosal
    fentanyl): the OMED is given, and exports say it must be checked."""
    catalogue_version: str = ""
    """`version` of opioids.yaml the OMED was computed with."""
    carried_forward: bool = False
    """The regimen was carried forward from an earlier questionnaire ("same as last time")."""
    source: str = "patient"
    """"patient" or "clinician" (`Regimen.source`)."""
    stamped: bool = False
    """Read from the stamp taken when its questionnaire was completed (`bot.export.dataset.instance_omeds`), not
    computed now."""
    rules_version: str = ""
    """The rules version stamped with it (`bot.domain.stamps`); empty when computed now."""

    @property
    def complete(self) -> bool:
        return not self.unconverted


def _daily_amount(product: Product, line: DoseLine, per: str = "mg") -> float | None:
    if line.dose is None:
        return None
    if product.unit == "ug_per_h":
        return line.dose
    if line.per_day is None:
        return None
    if product.unit == "mg":
        return line.dose * line.per_day
    if product.unit == "ug":
        return line.dose * line.per_day / (1 if per == "ug" else MICROGRAMS_PER_MG)
    assert product.mg_per_unit is not None
    return line.dose * product.mg_per_unit * line.per_day


def _convert(line: DoseLine, catalogue: OpioidCatalogue, table: ConversionTable) -> tuple[OmedLine, str | None]:
    """Convert one line; the second value is the `unconverted` entry, if any."""
    product = catalogue.product(line.product) if line.product is not None else None
    substance = product.substance if product is not None else None
    route = product.route if product is not None else None
    found = table.row(substance, route) if substance is not None and route is not None else None
    amount_unit: Literal["mg", "ug", "ug_per_h"] = (
        "ug_per_h"
        if product is not None and product.patch
        else "ug"
        if found is not None and found.per == "ug"
        else "mg"
    )

    def result(
        mg: float | None,
        reason: str | None = None,
        amount: float | None = None,
        factor: float | None = None,
        to_confirm: bool = False,
    ) -> OmedLine:
        return OmedLine(line.role, line.product, substance, route, amount, amount_unit, factor, mg, reason, to_confirm)

    if line.per_day == 0 or line.dose == 0:
        return result(0.0, amount=0.0), None
    if product is None:
        label = "unknown product" if line.product is None else line.product
        return result(None, "product not known" if line.product is None else "product not in the catalogue"), label
    if substance is None or route is None:
        return result(None, "product outside the catalogue (free text), to be reviewed"), product.code
    key = f"{substance}/{route}"
    row = table.row(substance, route)
    if row is None:
        return result(None, "no row for this substance and route in the table"), key
    if row.factor is None:
        return result(None, "no reliable conversion factor in the table", factor=None), key
    amount = _daily_amount(product, line, row.per)
    if amount is None:
        return result(None, "dose or number of intakes not known"), key
    return result(amount * row.factor, amount=amount, factor=row.factor, to_confirm=row.confirm), None


def compute_omed(regimen: Regimen, catalogue: OpioidCatalogue, table: str | None = None) -> OmedResult:
    """OMED in mg/day of `regimen` with the conversion table `table` (default: the catalogue's `default_table`,
    `fr_sor` as shipped). Raises `UnknownTableError` for a table the catalogue does not have."""
    table_id = table or catalogue.default_table
    conversion = catalogue.table(table_id)
    details: list[OmedLine] = []
    unconverted: list[str] = []
    for line in regimen.lines:
        converted, missing = _convert(line, catalogue, conversion)
        details.append(converted)
        if missing is not None:
            unconverted.append(missing)
    converted_mg = sum(d.mg for d in details if d.mg is not None)
    return OmedResult(
        mg=None if unconverted else converted_mg,
        table=table_id,
        unconverted=unconverted,
        details=details,
        converted_mg=converted_mg,
        to_confirm=sorted({f"{d.substance}/{d.route}" for d in details if d.to_confirm}),
        catalogue_version=catalogue.version,
        carried_forward=regimen.carried_forward,
        source=regimen.source,
    )
