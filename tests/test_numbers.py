"""caas.numbers, the one way a user's text becomes a number: plain ASCII decimals within
bounds, nothing that int() or str.isdigit() would also take."""

from __future__ import annotations

import pytest

from caas.errors import BadRequest
from caas.numbers import INT64_MAX, INT64_MIN, decimal, parse_int
from tests.conftest import NOT_NUMBERS


@pytest.mark.parametrize("text,value", [("0", 0), ("7", 7), ("007", 7), ("-1", -1), ("-0", 0),
                                        (str(INT64_MAX), INT64_MAX), (str(INT64_MIN), INT64_MIN)])
def test_plain_decimals(text, value):
    assert decimal(text) == value


@pytest.mark.parametrize("text", NOT_NUMBERS + ["", "-", "--1", "1-", "٣", "¹", "１", "\u0661", "1\n", "\t1",
                                                 str(INT64_MAX + 1), str(INT64_MIN - 1), "1" * 5000])
def test_everything_else_is_no_number(text):
    assert decimal(text) is None
    with pytest.raises(BadRequest):
        parse_int(text, "field", None)


@pytest.mark.parametrize("value", [None, 1.0, True, False, b"1", [1], {"1": 1}])
def test_only_strings_and_ints_are_read(value):
    assert decimal(value) is None
    with pytest.raises(BadRequest):
        parse_int(value, "field")


def test_bounds():
    assert decimal("5", 0, 5) == 5 and decimal("6", 0, 5) is None and decimal("-1", 0) is None
    assert parse_int(-1, "quota", -1) == -1 and parse_int("255", "protocol", 0, 255) == 255
    for value in (256, "256", -2, 2**63, 10**30):
        with pytest.raises(BadRequest):
            parse_int(value, "protocol", -1, 255)


def test_ints_and_strings_by_choice():
    assert parse_int(3, "count") == 3 and parse_int("3", "count") == 3
    with pytest.raises(BadRequest):
        parse_int("3", "count", strings=False)


def test_the_refusal_names_the_field_or_says_what_it_is_told():
    with pytest.raises(BadRequest) as caught:
        parse_int("²", "since", 0)
    assert "since" in caught.value.message and "'²'" in caught.value.message
    with pytest.raises(BadRequest) as caught:
        parse_int("x" * 500, "limit", 0, 10)
    assert "from 0 to 10" in caught.value.message and len(caught.value.message) < 200
    with pytest.raises(BadRequest) as caught:
        parse_int("-3", "limit", message="limit param must be positive", kind="HTTPBadRequest")
    assert (caught.value.message, caught.value.kind) == ("limit param must be positive", "HTTPBadRequest")
