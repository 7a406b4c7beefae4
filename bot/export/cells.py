"""Spreadsheet-safe CSV cells: a text cell that a spreadsheet would run as a formula is neutralised.

Why: exports are opened in Excel or LibreOffice by monitors and statisticians, and patient free text is exported
verbatim. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
(``=HYPERLINK(…)``, ``@SUM(…)``): OWASP's "CSV Injection" advice is to prefix such a cell with a single quote, which
spreadsheets show as text and analysts can strip. Numbers are not text: a negative number ("-3") is written as it
is, so it stays a number for R, pandas or a spreadsheet; so is a text that is exactly a number (the audit trail
stores values as JSON text), which a spreadsheet can only read as that number.
"""

from __future__ import annotations

import re
from typing import Final

FORMULA_STARTS: Final[tuple[str, ...]] = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula (OWASP, CSV Injection)."""
_PLAIN_NUMBER: Final[re.Pattern[str]] = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def safe_text(text: str) -> str:
    """`text` as a cell a spreadsheet shows as text: prefixed with ``'`` when it starts like a formula."""
    if not text.startswith(FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


def safe_cell(value: object) -> str:
    """Any stored value as a cell: None as empty, numbers as they are, text through `safe_text`."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return safe_text(str(value))
