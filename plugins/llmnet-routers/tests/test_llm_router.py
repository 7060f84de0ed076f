"""The `llm` strategy's parsing of a model's answer: exact, normalised, or named in a longer reply."""

from __future__ import annotations

import pytest
from llmnet_routers.llm import parse_choice


@pytest.mark.parametrize(
    ("answer", "expected", "how"),
    [
        ("billing", "billing", "exact"),
        ("Billing", "billing", "case-insensitive"),
        ('"tech-support".', "tech-support", "exact"),
        ("Tech Support", "tech-support", "normalised"),
        ("I think tech-support fits best, not billing", "tech-support", "named in the reply"),
        ("<think>billing or tech-support?</think>billing", "billing", "exact"),
        ("nothing useful", None, "no candidate named"),
    ],
)
def test_router_answers_are_parsed_robustly(answer, expected, how):
    assert parse_choice(answer, ["billing", "tech-support"]) == (expected, how)
