"""Dates: shifting them, finding them in text, and the ways one date can be written."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_DATE = re.compile(r"^(\d{4})(-?)(\d{2})\2(\d{2})(.*)$", re.S)
_TIME = re.compile(r"^\d{2}(:?)\d{2}(\1\d{2}(\.\d+)?)?$")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"

#: Dates as people and converters write them in text: ISO and DICOM (year first, the
#: separator repeated, or none), day first with dots or slashes (European and US
#: orders are both read), and with a month name.
DATE_IN_TEXT = re.compile(
    r"(?<![\w.])(?:"
    r"(?P<iso>(?:19|20)\d{2}(?P<sep>[-/.]?)(?:0[1-9]|1[0-2])(?P=sep)(?:0[1-9]|[12]\d|3[01]))(?=$|\D|\d{4,6}(?:\.\d+)?(?!\d))"
    r"|(?P<dmy>(?:0?[1-9]|[12]\d|3[01])[./-](?:0?[1-9]|1[0-2]|[12]\d|3[01])[./-](?:19|20)\d{2})(?!\d)"
    rf"|(?P<named>(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+(?:19|20)\d{{2}})"
    rf"|(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}))"
    r")",
    re.IGNORECASE,
)


def shift_date_value(value: Any, days: int) -> Any | None:
    """Shift a date or date-time by ``days``, keeping its format; ``None`` if unparsable.

    Accepts ISO dates and date-times (``2019-03-04``, ``2019-03-04T10:22:31.000000``),
    DICOM DA/DT (``20190304``, ``20190304102231.000``) and lists of them. A time of day
    alone (``10:22:31``, ``102231.5``) is returned unchanged, as in ``scans.tsv``.
    """
    if isinstance(value, list):
        shifted = [shift_date_value(item, days) for item in value]
        return None if any(item is None for item in shifted) else shifted
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _TIME.match(text):
        return value
    match = _DATE.match(text)
    if not match:
        return None
    year, sep, month, day, rest = match.groups()
    if rest and not re.match(r"^([T ]|\d|[+&Z-]|$)", rest):
        return None
    try:
        date = dt.date(int(year), int(month), int(day)) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{date.year:04d}{sep}{date.month:02d}{sep}{date.day:02d}{rest}"


def _parse(match: re.Match) -> list[dt.date]:
    """The calendar dates a match can mean (day-first text can be read two ways)."""
    if match.group("iso"):
        digits = re.sub(r"\D", "", match.group("iso"))
        candidates = [(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))]
    elif match.group("dmy"):
        a, b, year = (int(x) for x in re.split(r"[./-]", match.group("dmy")))
        candidates = [(year, b, a), (year, a, b)]
    else:
        words = re.findall(r"[a-z]+|\d+", match.group("named").lower())
        numbers = [int(w) for w in words if w.isdigit()]
        month = next(i + 1 for i, name in enumerate(_MONTHS) for w in words if name.startswith(w[:3]) and len(w) >= 3)
        candidates = [(numbers[-1], month, numbers[0])]
    dates = []
    for year, month, day in candidates:
        try:
            dates.append(dt.date(year, month, day))
        except ValueError:
            continue
    return dates


def find_dates(text: str) -> list[tuple[int, int, list[dt.date]]]:
    """``(start, end, dates)`` of every calendar date written in ``text``."""
    found = []
    for match in DATE_IN_TEXT.finditer(text):
        dates = _parse(match)
        if dates:
            found.append((match.start(), match.end(), dates))
    return found


def date_spellings(date: dt.date) -> list[str]:
    """The usual ways of writing ``date``: ISO, DICOM, slashes and dots, both day orders."""
    y, m, d = f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}"
    return list(
        dict.fromkeys(
            [
                f"{y}-{m}-{d}",
                f"{y}{m}{d}",
                f"{y}/{m}/{d}",
                f"{y}.{m}.{d}",
                f"{d}.{m}.{y}",
                f"{d}/{m}/{y}",
                f"{m}/{d}/{y}",
                f"{d}-{m}-{y}",
            ]
        )
    )
