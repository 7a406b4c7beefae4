"""The trial file (questionnaires/trial.yaml): which reading of the consensus pain response is primary, and the
between-arm comparison (arms, non-inferiority margin) the report states.

Why a data file: these are pre-specified analysis choices of one trial, signed by its statistician, not code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.endpoints import Reading
from bot.domain.models import ARMS
from bot.domain.yaml_io import load_yaml
from bot.resources import data_path

__all__ = ["DEFAULT_TRIAL_PATH", "Comparison", "TrialSpec", "TrialFileError", "load_trial"]

DEFAULT_TRIAL_PATH: Final[Path] = data_path("questionnaires") / "trial.yaml"

_STRICT = ConfigDict(extra="forbid", frozen=True)


class TrialFileError(Exception):
    """The trial file cannot be used; the message names the file and the problem."""


class Comparison(BaseModel):
    model_config = _STRICT

    reference_arm: str
    experimental_arm: str
    non_inferiority_margin: float = Field(gt=0, lt=1)
    """A proportion: non-inferior when the lower bound of the difference (experimental − reference) > −margin."""
    margin_source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _arms(self) -> Comparison:
        for arm in (self.reference_arm, self.experimental_arm):
            if arm not in ARMS:
                raise ValueError(f'arm "{arm}" is not one of {", ".join(ARMS)}')
        if self.reference_arm == self.experimental_arm:
            raise ValueError("the reference and experimental arms must differ")
        return self


class TrialSpec(BaseModel):
    model_config = _STRICT

    version: str
    primary_reading: Reading
    primary_reading_source: str = Field(min_length=1)
    comparison: Comparison


def load_trial(path: str | Path = DEFAULT_TRIAL_PATH) -> TrialSpec:
    """Read and validate the trial file, or raise `TrialFileError` naming the file and the problem."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TrialFileError(f"{path}: cannot be read as YAML ({exc})") from None
    try:
        return TrialSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise TrialFileError(f"{path}: {where + ': ' if where else ''}{message}") from None
