"""The replies every hook transport must read alike, by `llmnet_core.decode_reply`'s rule: empty (or
only white space) and JSON `null` mean no change, a JSON object, array or string is that value, and any
other text (a number, `true`, plain words, broken JSON) is the text as sent.

A transport's tests send each reply over their peer and check that the hook gets the expected data:

    @pytest.mark.parametrize(("reply", "expected"), REPLY_CASES)
    async def test_a_reply_means_what_it_means(reply, expected):
        ...  # a peer that answers `reply`
        assert await transport.call(call) == expected == decode_reply(reply)
"""

from __future__ import annotations

from typing import Any

#: (the reply as the peer sends it, the data the hook gets)
REPLY_CASES: tuple[tuple[str, Any], ...] = (
    ('{"label": "spam"}', {"label": "spam"}),
    ('[1, "two"]', [1, "two"]),
    ('"abc"', "abc"),
    ("plain text", "plain text"),
    ("42", "42"),
    ("null", None),
    ("", None),
    ("  \n ", None),
    ("{not json", "{not json"),
)
