"""PLACEHOLDER until the clindocs branch lands (same public API)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FreeTextFlag:
    category: str
    label: str
    severity: str


@dataclass(frozen=True)
class FreeTextVocabulary:
    version: str
    source: str
    patterns: tuple[tuple[FreeTextFlag, re.Pattern[str]], ...]


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def load_free_text_vocabulary(path: Path) -> FreeTextVocabulary:
    flags = (
        (FreeTextFlag("leg_weakness", "Faiblesse des jambes", "urgent"), r"(sens plus|faiblesse|paraly).*(jambe)"),
        (FreeTextFlag("bladder_bowel", "Urines ou selles", "urgent"), r"(arrive plus|peux plus).*(urin|pipi)"),
        (FreeTextFlag("fever", "Fièvre", "urgent"), r"\bfievre\b|39|38"),
    )
    return FreeTextVocabulary("0", "placeholder", tuple((f, re.compile(p)) for f, p in flags))


def screen_free_text(text: str, vocabulary: FreeTextVocabulary) -> tuple[FreeTextFlag, ...]:
    folded = _fold(text)
    return tuple(flag for flag, pattern in vocabulary.patterns if pattern.search(folded))
