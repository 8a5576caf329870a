"""Whole numbers written by users: query and path parameters, headers, strings in bodies.

``int()`` takes much more than a plain decimal: other scripts' digits (``int("١٢")`` is 12),
a sign or spaces (``"+1"``, ``" 1"``), underscores (``"1_0"``); and ``str.isdigit()`` says yes
to characters ``int()`` then refuses (``"²"``: a 500 where the check was trusted). Every user
string that becomes a number goes through ``decimal`` (a test) or ``parse_int`` (a test that
refuses with BadRequest): ASCII digits with an optional leading minus, within bounds.

Pure: no HTTP, no service. Each API words its own refusals (``message``, ``kind``) where its
real counterpart has known words; the default names the field and the bounds.
"""

from __future__ import annotations

import re

from caas.errors import BadRequest

INT32_MAX = 2**31 - 1  # an Integer column (flavor sizes, quotas, volume sizes, ...)
# No number a user writes may leave the signed 64-bit range, whatever the bounds of its field:
# a database column holds no more, and a query with a larger value fails in the driver.
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
# Longer numbers are refused unread: int() of thousands of digits costs time (and beyond 4,300
# digits raises).
_DECIMAL = re.compile(r"-?[0-9]{1,100}")


def decimal(text: object, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """The integer ``text`` writes in plain ASCII decimal (an optional leading ``-``, then
    digits: no ``+``, spaces, underscores, other scripts' digits or ``0x``), or None when
    ``text`` is not such a string or its value lies outside ``minimum``..``maximum`` (None on a
    side: the end of the 64-bit range)."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        return None
    return _within(int(text), minimum, maximum)


def parse_int(value: object, field: str, minimum: int | None = 0, maximum: int | None = None, *,
              strings: bool = True, message: str | None = None, kind: str | None = None) -> int:
    """``value`` as an int within ``minimum``..``maximum`` (None: as ``decimal``): an int
    (never a bool) or, when ``strings``, a string as ``decimal`` reads it. Otherwise
    BadRequest with ``message`` (and the API's error ``kind``), by default one that names
    ``field``, shows the value and says what is expected."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = _within(value, minimum, maximum)
    else:
        number = decimal(value, minimum, maximum) if strings else None
    if number is None:
        raise BadRequest(message or f"Invalid input for {field}: {_shown(value)} is not {_expected(minimum, maximum)}.",
                         kind=kind)
    return number


def _within(value: int, minimum: int | None, maximum: int | None) -> int | None:
    low = INT64_MIN if minimum is None else max(minimum, INT64_MIN)
    high = INT64_MAX if maximum is None else min(maximum, INT64_MAX)
    return value if low <= value <= high else None


def _expected(minimum: int | None, maximum: int | None) -> str:
    """What a refusal asks for: "an integer from 0 to 255", "an integer >= -1", ..."""
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def _shown(value: object) -> str:
    """The value as a refusal quotes it: at most 60 characters of it."""
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."
