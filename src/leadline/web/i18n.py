"""Languages and formats: gettext catalogues (Babel `.po` files, compiled in memory at start-up, so no binary
`.mo` is kept in the repository), and dates, numbers and currencies in the user's locale and time zone."""

from __future__ import annotations

import gettext
import io
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("en", "fr")
DEFAULT_LOCALE = "en"
CATALOGUES = Path(__file__).parent / "locale"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT_LOCALE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(accept_language: str | None) -> str:
    """The best of our locales for an Accept-Language header (English when nothing fits)."""
    wanted = []
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            wanted.append(tag)
    found = Locale.negotiate(wanted, list(LOCALES), sep="_")
    return found.language if found is not None else DEFAULT_LOCALE


class Formats:
    """Formatting helpers bound to one locale and time zone (exposed to templates as `fmt`)."""

    def __init__(self, locale: str, timezone: str = "UTC") -> None:
        self.locale = locale
        try:
            self.zone = ZoneInfo(timezone)
        except (KeyError, ValueError):
            self.zone = ZoneInfo("UTC")

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        return numbers.format_decimal(value, format=f"#,##0{'.' + '0' * digits if digits else ''}",
                                      locale=self.locale)

    def percent(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        if digits:
            pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
        return numbers.format_percent(value, format=pattern, locale=self.locale)

    def change(self, value: float | None) -> str:
        """A relative change with its sign (+12 %, −3 %)."""
        if value is None:
            return "–"
        text = self.percent(abs(value))
        return ("+" if value >= 0 else "−") + text

    def money(self, value: float | Decimal | None, currency: str | None = "EUR") -> str:
        if value is None:
            return "–"
        return numbers.format_currency(value, currency or "EUR", locale=self.locale)

    def datetime(self, value: datetime | None, format: str = "medium") -> str:
        if value is None:
            return "–"
        return dates.format_datetime(value.astimezone(self.zone), format=format, locale=self.locale)

    def date(self, value: datetime | None, format: str = "medium") -> str:
        if value is None:
            return "–"
        return dates.format_date(value.astimezone(self.zone).date(), format=format, locale=self.locale)

    def ago(self, value: datetime | None, now: datetime) -> str:
        if value is None:
            return "–"
        return dates.format_timedelta(value - now, add_direction=True, locale=self.locale)

    def hours(self, value: float | None) -> str:
        if value is None:
            return "–"
        return dates.format_timedelta(timedelta(hours=value), locale=self.locale)
