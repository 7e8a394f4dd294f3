"""Cells written to CSV files people open in a spreadsheet."""

from __future__ import annotations

from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula: an
    exported lead named `=HYPERLINK(...)` must stay text, so such cells get a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
