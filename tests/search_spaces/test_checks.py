"""The int-not-bool checks every module uses."""

from __future__ import annotations

import numpy as np
import pytest

from search_spaces import ConfigError
from search_spaces._checks import check_int, is_int, is_number, is_real


@pytest.mark.parametrize(
    ("value", "plain", "expected"),
    [
        (3, False, True),
        (True, False, False),
        (np.int64(3), False, True),
        (np.int64(3), True, False),
        (3.0, False, False),
    ],
)
def test_is_int(value, plain, expected):
    assert is_int(value, plain=plain) is expected


def test_a_bool_is_no_number_and_nan_is_real_but_not_finite():
    assert not is_real(False) and is_real(float("nan")) and not is_number(float("nan")) and is_number(2.5)


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (True, {}, r"^n: expected an int >= 0, but got True\.$"),
        (0, {"low": 1}, r"^n: expected an int >= 1, but got 0\.$"),
        (8, {"high": 8, "accepted": "an int in [0, 8)"}, r"^n: expected an int in \[0, 8\), but got 8\.$"),
        (np.int64(2), {"plain": True}, r"^n: expected an int >= 0, but got "),
    ],
)
def test_check_int_names_the_field_the_rule_and_the_value(value, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        check_int(value, "n", **kwargs)
    check_int(3, "n")
