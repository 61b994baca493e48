"""Identifying text in prose (README, CHANGES, descriptions) and the spellings of a value.

:func:`spellings` gives the ways a removed value may be written elsewhere (``DOE^JOHN``
as ``John Doe``, ``2019-03-04T10:22:31.000000`` as ``04.03.2019``...), for redaction and
for the leftover scan. :func:`redact_text` removes known values, e-mail addresses,
telephone numbers and dates from free text. Personal names that match no known value
cannot be found by any rule; the release summary says so.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .dates import date_spellings, find_dates, shift_date_value

#: Spellings shorter than this would match by chance and are neither searched nor redacted.
MIN_VALUE_LENGTH = 4
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: A telephone number: 7-15 digits in groups of 2-5 separated by spaces, dots or dashes,
#: with an optional +country code and area code in parentheses.
PHONE = re.compile(r"(?<![\w.+/-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,5}){1,4}(?![\w/-])")
_SEPARATORS = re.compile(r"[\s^_.,;/\\-]+")
_JOINERS = (" ", "_", "-", ".", "^", ", ")


def _is_phone(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    groups = re.findall(r"\d+", text)
    return 7 <= len(digits) <= 15 and (text.startswith(("+", "(")) or max(map(len, groups)) >= 3) and len(groups) >= 2


def spellings(value: str) -> list[str]:
    """``value`` and the ways it may be written elsewhere, each at least :data:`MIN_VALUE_LENGTH` long.

    Words joined by other separators and, for two or three words (a person's name in
    DICOM ``FAMILY^GIVEN`` order), in the other order; every date in it in the usual
    formats. Matching is case-insensitive, so case needs no variants.
    """
    text = str(value).strip()
    out = [text]
    words = [w for w in _SEPARATORS.split(text) if w]
    if 2 <= len(words) <= 5 and all(not w.isdigit() for w in words):
        orders = [words, words[::-1]] if len(words) <= 3 else [words]
        out += [joiner.join(order) for order in orders for joiner in _JOINERS]
        out += ["".join(order) for order in orders if len("".join(order)) >= 8]
    for _, _, dates in find_dates(text):
        for date in dates:
            out += date_spellings(date)
    return [s for s in dict.fromkeys(out) if len(s) >= MIN_VALUE_LENGTH]


def spelling_regex(texts) -> re.Pattern | None:
    """One case-insensitive pattern matching any of ``texts`` (longest first), or ``None``."""
    texts = sorted({t for t in texts if len(t) >= MIN_VALUE_LENGTH}, key=len, reverse=True)
    if not texts:
        return None
    return re.compile("|".join(re.escape(t) for t in texts), re.IGNORECASE)


@dataclass
class Redactions:
    """What :func:`redact_text` removed: counts by kind, and the removed text itself."""

    counts: Counter = field(default_factory=Counter)
    removed: list[str] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if text not in self.removed:
            self.removed.append(text)


def redact_text(text: str, known: re.Pattern | None = None, *, shift_days: int | None = None) -> tuple[str, Redactions]:
    """Remove identifying text from prose.

    In order: e-mail addresses, dates (shifted by ``shift_days`` when given and written
    as ISO or DICOM dates, removed otherwise), spellings of known removed values
    (``known``, from :func:`spelling_regex`) and telephone numbers. Each is replaced by a
    bracketed note (``[e-mail removed]``).
    """
    done = Redactions()

    def replace(kind: str, note: str):
        def sub(match: re.Match) -> str:
            done.add(kind, match.group(0))
            return note

        return sub

    text = EMAIL.sub(replace("e-mail address", "[e-mail removed]"), text)
    pieces, last = [], 0
    for start, end, _ in find_dates(text):
        original = text[start:end]
        shifted = None if shift_days is None else shift_date_value(original, shift_days)
        pieces += [text[last:start], shifted if shifted is not None else "[date removed]"]
        done.add("date shifted" if shifted is not None else "date", original)
        last = end
    text = "".join(pieces) + text[last:]
    if known is not None:
        text = known.sub(replace("known identifying value", "[removed]"), text)

    def phone(match: re.Match) -> str:
        if not _is_phone(match.group(0)) or find_dates(match.group(0)):  # a (shifted) date is no number
            return match.group(0)
        done.add("telephone number", match.group(0))
        return "[telephone removed]"

    return PHONE.sub(phone, text), done


def find_patterns(text: str) -> Counter:
    """Counts of e-mail addresses and telephone numbers in ``text`` (for text kept as is)."""
    found = Counter()
    found["e-mail address"] = len(EMAIL.findall(text))
    for start, end, _ in reversed(find_dates(text)):  # a date is not a telephone number
        text = text[:start] + " " + text[end:]
    found["telephone number"] = sum(_is_phone(m.group(0)) for m in PHONE.finditer(text))
    return +found
