"""llmnet plugin: the `calculator` backend, which answers arithmetic ("What is 17 + 25?", "15% of 80",
"divide 144 by 12", simple word problems), counting ("How many letters are in 'banana'?") and unit
conversions exactly, without a model; and the condition function `calculable(text)`, true when it can.

A request in which it finds nothing to compute gets an answer that says so, never a guess.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


def calculable(text: Any) -> bool:
    """True when the calculator finds something to compute in the text."""
    from .solve import calculable as found

    return found(text)


@hookimpl(trylast=True)
def llmnet_register_backends(register: Any) -> None:
    """Register `calculator` (trylast, so another plugin may provide its own)."""
    from .backend import CalculatorBackend

    register("calculator", CalculatorBackend)


@hookimpl(trylast=True)
def llmnet_register_conditions(register: Any) -> None:
    """Register `calculable(text)` for `if` expressions."""
    register("calculable", calculable)
