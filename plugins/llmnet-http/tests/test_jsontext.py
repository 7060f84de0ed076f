"""JSON bodies: orjson's bytes are the standard library's, and what orjson refuses is still handled."""

from __future__ import annotations

import json
import math
from types import MappingProxyType

import pytest
from llmnet_http import json_bytes, json_value


def _stdlib(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "value",
    [
        {"model": "m", "messages": [{"role": "user", "content": 'Grüß dich — ☕ "quoted"\n'}]},
        {"temperature": 0.7, "top_p": 1, "max_tokens": 64, "stop": ["\n"], "seed": -3, "stream": True},
        {"tools": ({"type": "function", "function": {"name": "f", "parameters": {}}},), "x": None},
    ],
)
def test_a_body_is_written_as_the_standard_library_writes_it(value):
    assert json_bytes(value) == _stdlib(value)


def test_what_orjson_cannot_write_is_written_by_the_standard_library():
    value = {"big": 2**70, 3: "three"}  # past 64 bits, a key that is not a string
    assert json_bytes(value) == _stdlib(value) == b'{"big":1180591620717411303424,"3":"three"}'
    with pytest.raises(TypeError):  # what neither can write fails as it did
        json_bytes({"options": MappingProxyType({"a": 1})})


def test_an_answer_is_read_as_the_standard_library_reads_it():
    data = '{"choices":[{"message":{"content":"Grüß dich"}}],"n":1.5,"ok":true}'
    assert json_value(data.encode()) == json_value(data) == json.loads(data)


def test_what_orjson_refuses_is_read_by_the_standard_library():
    assert math.isnan(json_value(b'{"x": NaN}')["x"])
    assert json_value('{"n": 1180591620717411303424}'.encode("utf-16")) == {"n": 2**70}
    with pytest.raises(ValueError):
        json_value(b'{"unfinished": ')
