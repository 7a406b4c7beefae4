"""Questionnaire format (pydantic models) and the YAML loader.

Why a data format: the wording of an instrument is clinical data that a clinician reviews and versions, and a site
that holds a licence for an instrument we may not ship (EORTC QLQ-C30, BPI, EQ-5D…, see
`docs/clinical/instruments.md`) drops it in as a local file. Item ids are stable because exports, escalation
rules and endpoints refer to them; the text can change with the version, the ids cannot.

Why so strict: a questionnaire that silently never asks a red-flag item is a patient-safety bug. Every problem is
caught when the file is loaded (start-up), and reported as one sentence naming the file, the item and the problem.

Answer values (plain JSON-able values carried by the engine and the database):
scale → int 0..10; yesno → "yes" / "no"; single → the choice code; multi → sorted list of codes;
number → int if integral else float; text → stripped str; markers `SKIPPED` ("_skip") and `UNKNOWN` ("_unknown").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.yaml_io import load_yaml

__all__ = [
    "SKIPPED",
    "UNKNOWN",
    "MARKERS",
    "Value",
    "ItemType",
    "Choice",
    "Condition",
    "Item",
    "Questionnaire",
    "QuestionnaireFileError",
    "NOT_QUESTIONNAIRE_FILES",
    "load_questionnaire",
    "load_questionnaires",
    "canonical_text",
    "content_hash",
]

log = logging.getLogger(__name__)

SKIPPED: Final[str] = "_skip"
"""Stored when the patient pressed "Passer" on an optional item."""
UNKNOWN: Final[str] = "_unknown"
"""Stored when the patient pressed "Je ne sais pas" on an item that allows it."""
MARKERS: Final[frozenset[str]] = frozenset({SKIPPED, UNKNOWN})

Value = int | float | str | list[str]
"""An answer as stored (see the module docstring)."""

ItemType = Literal["scale", "yesno", "single", "multi", "number", "text"]

SCALE_MIN: Final[int] = 0
SCALE_MAX: Final[int] = 10
"""Numeric rating scale 0–10 ("échelle numérique"), instruments.md: 0 = pas de douleur, 10 = maximale imaginable."""
TEXT_DEFAULT_MAX_LENGTH: Final[int] = 500
TEXT_MAX_MAX_LENGTH: Final[int] = 1000
SHORT_MAX_LENGTH: Final[int] = 40

NOT_QUESTIONNAIRE_FILES: Final[frozenset[str]] = frozenset(
    {
        "opioids.yaml",
        "schedule.yaml",
        "rules.yaml",
        "sites.yaml",
        "free_text_red_flags.yaml",
        "trial.yaml",
        "caregivers.yaml",
    }
)
"""Data files that live next to the questionnaires but are not questionnaires."""

ITEM_ID_PATTERN: Final[str] = r"^[a-z0-9_]{1,24}$"
CHOICE_CODE_PATTERN: Final[str] = r"^[a-z0-9]{1,12}$"
QUESTIONNAIRE_ID_PATTERN: Final[str] = r"^[a-z0-9_]+$"
VERSION_PATTERN: Final[str] = r"^[0-9]+(\.[0-9]+)*$"

_YAML_BOOL_HINT: Final[str] = "write it in quotes (YAML reads a bare yes/no/on/off/true/false as a boolean)"


class _ItemProblem(ValueError):
    """A problem found while checking the whole questionnaire, attached to one item (for the error message)."""

    def __init__(self, item_id: str, problem: str) -> None:
        super().__init__(problem)
        self.item_id = item_id
        self.problem = problem


class QuestionnaireFileError(Exception):
    """A questionnaire file cannot be used. The message is one sentence: file, item (if any), problem."""

    def __init__(self, path: str | Path, problem: str, item_id: str | None = None) -> None:
        self.path = str(path)
        self.item_id = item_id
        self.problem = problem
        where = f'{self.path}, item "{item_id}"' if item_id else self.path
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------
_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _code_from_yaml(value: Any, what: str) -> Any:
    """Accept a bare integer code (`code: 1`) as "1"; refuse booleans, whose spelling in the file is ambiguous."""
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is a boolean: {_YAML_BOOL_HINT}")
    if isinstance(value, int):
        return str(value)
    return value


class Choice(BaseModel):
    """One button of a single/multi item."""

    model_config = _STRICT

    code: str = Field(pattern=CHOICE_CODE_PATTERN)
    label: str = Field(min_length=1)
    exclusive: bool = False
    """For multi items: this choice cannot be combined with others (e.g. "aucun")."""

    @model_validator(mode="before")
    @classmethod
    def _coerce_code(cls, data: Any) -> Any:
        if isinstance(data, dict) and "code" in data:
            data = {**data, "code": _code_from_yaml(data["code"], "choice code")}
        return data


_LEAF_KINDS: Final[tuple[str, ...]] = ("equals", "in", "not_in", "gte", "unknown")
_GROUP_KINDS: Final[tuple[str, ...]] = ("all", "any")


class Condition(BaseModel):
    """`show_if` condition on earlier answers.

    `{item, equals: v}` | `{item, in: [v…]}` | `{item, not_in: [v…]}` | `{item, gte: n}` | `{item, unknown: true}` |
    `{all: [...]}` | `{any: [...]}`. `unknown: true` holds only when the patient answered "Je ne sais pas" (an item
    with `allow_unknown`): not knowing is itself the reason to ask more (a fever not measured, issue 32). On a multi item, `equals`/`in` mean "one of the ticked codes is…" and `not_in` "none of the
    ticked codes is…". A condition on an item that was not shown, not answered, skipped or unknown is false
    (including `not_in`): we never infer anything from a missing answer.
    """

    model_config = _STRICT

    item: str | None = None
    equals: str | int | float | None = None
    in_: tuple[str | int | float, ...] | None = Field(default=None, alias="in")
    not_in: tuple[str | int | float, ...] | None = None
    gte: float | None = None
    unknown: Literal[True] | None = None
    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a condition must be a mapping such as {item: pain_worst, gte: 5}")
        unknown = sorted(str(k) for k in data if k not in ("item", *_LEAF_KINDS, *_GROUP_KINDS))
        if unknown:
            raise ValueError(
                f'unknown condition key "{unknown[0]}" (use item with equals, in, not_in, gte or unknown; or all / any)'
            )
        kinds = [k for k in (*_LEAF_KINDS, *_GROUP_KINDS) if k in data]
        if len(kinds) != 1:
            raise ValueError("a condition needs exactly one of equals, in, not_in, gte, unknown, all, any")
        kind = kinds[0]
        if kind in _GROUP_KINDS:
            if "item" in data:
                raise ValueError(f'a condition with "{kind}" takes no "item"')
            if not isinstance(data[kind], list) or not data[kind]:
                raise ValueError(f'"{kind}" needs a non-empty list of conditions')
            return data
        if not isinstance(data.get("item"), str):
            raise ValueError(f'a condition with "{kind}" needs the "item" it looks at')
        if kind == "unknown":
            if data["unknown"] is not True:
                raise ValueError('"unknown" takes only the value true')
            return data
        values = data[kind] if kind in ("in", "not_in") else [data[kind]]
        if kind in ("in", "not_in") and (not isinstance(values, list) or not values):
            raise ValueError(f'"{kind}" needs a non-empty list of values')
        for value in values:
            if isinstance(value, bool):
                raise ValueError(f'the value {value!r} in "{kind}" is a boolean: {_YAML_BOOL_HINT}')
            if value is None or not isinstance(value, (str, int, float)):
                raise ValueError(f'"{kind}" values must be text or numbers, not {value!r}')
        if kind == "gte" and not isinstance(data["gte"], (int, float)):
            raise ValueError('"gte" needs a number')
        return data

    @property
    def kind(self) -> str:
        """Which of equals / in / not_in / gte / all / any this condition is."""
        for kind, value in (
            ("equals", self.equals),
            ("in", self.in_),
            ("not_in", self.not_in),
            ("gte", self.gte),
            ("unknown", self.unknown),
            ("all", self.all_),
            ("any", self.any_),
        ):
            if value is not None:
                return kind
        raise AssertionError("validated condition without a kind")  # pragma: no cover

    def leaves(self) -> Iterator[Condition]:
        """Every leaf condition (those with an `item`), depth first."""
        if self.item is not None:
            yield self
        for child in (self.all_ or ()) + (self.any_ or ()):
            yield from child.leaves()

    def values(self) -> tuple[str | int | float, ...]:
        """The values a leaf compares with."""
        if self.equals is not None:
            return (self.equals,)
        if self.in_ is not None:
            return self.in_
        if self.not_in is not None:
            return self.not_in
        if self.gte is not None:
            return (self.gte,)
        return ()


class Item(BaseModel):
    """One question. `id` is stable: exports, escalation rules and endpoints refer to it."""

    model_config = _STRICT

    id: str = Field(pattern=ITEM_ID_PATTERN)
    type: ItemType
    text: str = Field(min_length=1)
    """The French question. For scale items the anchors are in the text (0 = …, 10 = …)."""
    short: str | None = Field(default=None, min_length=1, max_length=SHORT_MAX_LENGTH)
    """Short French label for the end-of-questionnaire summary."""
    text_proxy: str | None = Field(default=None, min_length=1)
    """The question as a caregiver reads it, about "votre proche" (issue 36); None: the patient's wording, under the
    instruction to answer as the patient would."""
    choices: tuple[Choice, ...] | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = Field(default=None, min_length=1)
    decimals: bool = False
    max_length: int | None = None
    optional: bool = False
    allow_unknown: bool = False
    show_if: Condition | None = None
    context: bool = False
    """Never asked: a yes/no fact the bot supplies (e.g. `team_regimen`, "the team recorded a regimen to
    confirm"), read by the `show_if` of later items; "no" when the bot supplies nothing (`bot.domain.engine`)."""

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_type(cls, data: Any) -> Any:
        """Scale is always 0..10 and text defaults to 500 characters, so the engine reads `min`/`max`/`max_length`
        from one place whatever the type."""
        if not isinstance(data, dict):
            raise ValueError("an item must be a mapping with at least id, type and text")
        data = dict(data)
        kind = data.get("type")
        if kind == "scale":
            for bound, expected in (("min", SCALE_MIN), ("max", SCALE_MAX)):
                if bound in data and data[bound] != expected:
                    raise ValueError(f"scale items are always {SCALE_MIN} to {SCALE_MAX}; remove {bound}")
                data[bound] = expected
        if kind == "text":
            data.setdefault("max_length", TEXT_DEFAULT_MAX_LENGTH)
        return data

    @model_validator(mode="after")
    def _fields_fit_type(self) -> Item:
        kind = self.type
        if kind in ("single", "multi"):
            if not self.choices:
                raise ValueError(f"a {kind} item needs choices")
            codes = [c.code for c in self.choices]
            duplicates = sorted({c for c in codes if codes.count(c) > 1})
            if duplicates:
                raise ValueError(f'choice code "{duplicates[0]}" appears twice')
            if kind == "single" and any(c.exclusive for c in self.choices):
                raise ValueError("exclusive is only meaningful on multi items")
        elif self.choices is not None:
            raise ValueError(f"a {kind} item takes no choices (only single and multi items do)")
        if kind == "number":
            if self.min is None or self.max is None:
                raise ValueError("a number item needs min and max")
            if not (math.isfinite(self.min) and math.isfinite(self.max)):
                raise ValueError("min and max must be finite numbers")
            if self.min < 0:
                raise ValueError("min must be 0 or more (negative numbers are not accepted from patients)")
            if self.min >= self.max:
                raise ValueError("min must be smaller than max")
            if not self.decimals and (self.min != int(self.min) or self.max != int(self.max)):
                raise ValueError("min and max must be whole numbers unless decimals is true")
        elif kind != "scale" and (self.min is not None or self.max is not None):
            raise ValueError(f"a {kind} item takes no min/max (only number items do)")
        if kind != "number" and (self.unit is not None or self.decimals):
            raise ValueError(f"a {kind} item takes no unit/decimals (only number items do)")
        if kind == "text":
            assert self.max_length is not None
            if not 1 <= self.max_length <= TEXT_MAX_MAX_LENGTH:
                raise ValueError(f"max_length must be between 1 and {TEXT_MAX_MAX_LENGTH}")
        elif self.max_length is not None:
            raise ValueError(f"a {kind} item takes no max_length (only text items do)")
        if self.context and (kind != "yesno" or self.show_if is not None):
            raise ValueError("a context item is a yesno item without show_if")
        return self

    def choice(self, code: str) -> Choice | None:
        """The choice with this code, if any."""
        for choice in self.choices or ():
            if choice.code == code:
                return choice
        return None

    @property
    def codes(self) -> tuple[str, ...]:
        """Choice codes in display order (empty for items without choices)."""
        return tuple(c.code for c in self.choices or ())


class Questionnaire(BaseModel):
    """An instrument: ordered items plus metadata. `items` order is the asking order."""

    model_config = _STRICT

    id: str = Field(pattern=QUESTIONNAIRE_ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
    title: str = Field(min_length=1)
    intro: str | None = None
    source: str = Field(min_length=1)
    """Where the items come from, and the licence note."""
    items: tuple[Item, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _version_is_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("version"), (int, float)):
            raise ValueError(f'version must be written in quotes, e.g. version: "{data["version"]}"')
        return data

    @model_validator(mode="after")
    def _items_fit_together(self) -> Questionnaire:
        seen: dict[str, Item] = {}
        for item in self.items:
            if item.id in seen:
                raise _ItemProblem(item.id, "this item id is used twice in the questionnaire")
            if item.show_if is not None:
                for leaf in item.show_if.leaves():
                    assert leaf.item is not None
                    target = seen.get(leaf.item)
                    if target is None:
                        raise _ItemProblem(item.id, f'show_if refers to "{leaf.item}", which is not asked before it')
                    _check_condition_values(item.id, leaf, target)
            seen[item.id] = item
        return self

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError if there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)


def _check_condition_values(item_id: str, leaf: Condition, target: Item) -> None:
    """A condition that compares with a value the target item can never hold would silently never fire."""
    kind = leaf.kind
    where = f'show_if on "{target.id}"'
    if kind == "gte":
        if target.type not in ("scale", "number"):
            raise _ItemProblem(item_id, f"{where}: gte only works on scale or number items, not {target.type}")
        return
    if kind == "unknown":
        if not target.allow_unknown:
            raise _ItemProblem(
                item_id, f'{where}: unknown only works on an item with allow_unknown (no "Je ne sais pas" otherwise)'
            )
        return
    for value in leaf.values():
        if isinstance(value, str) and value in MARKERS:
            raise _ItemProblem(
                item_id, f'{where}: cannot test for "{value}" (a skipped or unknown answer never matches)'
            )
        if target.type == "yesno":
            ok = value in ("yes", "no")
            expected = '"yes" or "no"'
        elif target.type in ("single", "multi"):
            ok = isinstance(value, str) and value in target.codes
            expected = "one of its choice codes (" + ", ".join(target.codes) + ")"
        elif target.type in ("scale", "number"):
            assert target.min is not None and target.max is not None
            ok = isinstance(value, (int, float)) and target.min <= value <= target.max
            expected = f"a number from {_plain(target.min)} to {_plain(target.max)}"
        else:  # text: comparing free text is fragile; only presence-style tests make sense, and we have none
            raise _ItemProblem(item_id, f"{where}: conditions on free-text items are not supported")
        if not ok:
            raise _ItemProblem(item_id, f"{where}: {value!r} is not a possible answer, expected {expected}")


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


# ---------------------------------------------------------------------------------------------------------------
# Loader
# ---------------------------------------------------------------------------------------------------------------
def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionnaireFileError(path, "the file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireFileError(path, f"the file cannot be read as UTF-8 text ({exc})") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise QuestionnaireFileError(path, f"the file is not valid YAML{at} ({problem})") from None


def _describe(raw: dict[str, Any], exc: ValidationError) -> tuple[str | None, str]:
    """Turn the first pydantic error into (item id, one-clause problem)."""
    errors = exc.errors()
    # An invalid item is dropped before the length check of `items`, which then reports a spurious "too short".
    errors = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) == ("items",))] or errors
    error = errors[0]
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, _ItemProblem):
        item_id: str | None = original.item_id
        problem = original.problem
    else:
        loc = list(error["loc"])
        item_id = None
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            raw_items = raw.get("items")
            raw_item = raw_items[loc[1]] if isinstance(raw_items, list) and loc[1] < len(raw_items) else None
            if isinstance(raw_item, dict) and isinstance(raw_item.get("id"), str):
                item_id = raw_item["id"]
            else:
                item_id = None
                loc = [f"item number {loc[1] + 1}", *loc[2:]]
            if item_id is not None:
                loc = loc[2:]
        field = ".".join(str(part) for part in loc if part not in ("function-after", "function-before"))
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            problem = f'unknown field "{field}"' if field else "unknown field"
        elif error["type"] == "missing":
            problem = f'missing field "{field}"'
        elif field:
            problem = f'field "{field}": {message}'
        else:
            problem = message
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return item_id, problem


def _parse(path: Path, raw: Any) -> Questionnaire:
    if not isinstance(raw, dict):
        raise QuestionnaireFileError(path, "the file must be a YAML mapping with id, version, title, source, items")
    try:
        return Questionnaire.model_validate(raw)
    except ValidationError as exc:
        item_id, problem = _describe(raw, exc)
        raise QuestionnaireFileError(path, problem, item_id) from None


def load_questionnaire(path: str | Path) -> Questionnaire:
    """Load and fully validate one questionnaire file, or raise `QuestionnaireFileError`."""
    path = Path(path)
    return _parse(path, _read_yaml(path))


def load_questionnaires(*directories: str | Path) -> dict[str, Questionnaire]:
    """Load every questionnaire in the directories (ours first, then e.g. a site's local licensed instruments).

    A `*.yaml` file is a questionnaire when its top level has `items`; the known non-questionnaire data files
    (`NOT_QUESTIONNAIRE_FILES`) are skipped by name. The same questionnaire id in two files is an error naming both:
    silently preferring one would change what patients are asked depending on file order.
    """
    if not directories:
        raise ValueError("load_questionnaires needs at least one directory")
    found: dict[str, Questionnaire] = {}
    origin: dict[str, Path] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            raise QuestionnaireFileError(directory, "the questionnaire directory does not exist")
        for path in sorted(directory.glob("*.yaml")):
            if path.name in NOT_QUESTIONNAIRE_FILES:
                continue
            raw = _read_yaml(path)
            if not isinstance(raw, dict) or "items" not in raw:
                log.info("Skipping %s: no items, not a questionnaire", path)
                continue
            questionnaire = _parse(path, raw)
            if questionnaire.id in found:
                raise QuestionnaireFileError(
                    path, f'questionnaire id "{questionnaire.id}" is already defined in {origin[questionnaire.id]}'
                )
            found[questionnaire.id] = questionnaire
            origin[questionnaire.id] = path
    return found


def canonical_text(questionnaire: Questionnaire) -> str:
    """The questionnaire as data (wording, choices, conditions, limits), as canonical JSON: what the patient was
    shown, independent of YAML formatting and comments."""
    data = questionnaire.model_dump(mode="json", by_alias=True)
    for item in data.get("items", ()):  # issue 36: an item without a caregiver's wording hashes as before
        if item.get("text_proxy") is None:
            item.pop("text_proxy", None)
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(questionnaire: Questionnaire) -> str:
    """SHA-256 of `canonical_text`: stamped on every instance when sent, so an answer names the exact text asked."""
    return "sha256:" + hashlib.sha256(canonical_text(questionnaire).encode("utf-8")).hexdigest()
