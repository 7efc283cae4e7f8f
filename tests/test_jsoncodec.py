"""promptlyd.jsoncodec: orjson, with the standard library where orjson refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptlyd import jsoncodec

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(values)
def test_what_is_written_reads_back_the_same(value: Any) -> None:
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value


def test_what_orjson_refuses_to_write_is_written_the_slow_way() -> None:
    big = {"n": 2**70, 1: "key not a string"}
    assert json.loads(jsoncodec.dumps(big)) == {"n": 2**70, "1": "key not a string"}
    assert jsoncodec.dumps({"é": 1}) == '{"é":1}'.encode()  # UTF-8, compact, both ways
    assert jsoncodec.dumps({"é": 2**70}) == ('{"é":' + str(2**70) + "}").encode()


def test_what_python_reads_and_orjson_does_not_is_read() -> None:
    got = jsoncodec.loads(b'{"x": NaN, "y": -Infinity}')
    assert math.isnan(got["x"]) and got["y"] == -math.inf


@pytest.mark.parametrize("bad", [b'{"id": ', b"", b"\xff\xfe", "<html>"])
def test_what_is_not_json_even_to_python_is_a_value_error(bad: str | bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(bad)
