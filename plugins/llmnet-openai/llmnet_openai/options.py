"""The `parameters` of an `openai-api` model entry, typed: the generation parameters OpenAI-compatible
servers read, so that `llmnet validate` refuses `"temperature": "hot"` at its JSON path (exit 2)
instead of the server refusing every request.

The backend sends the parameters as written, so values are checked as JSON values (a number in quotes is
text, which OpenAI's API refuses). Keys not declared here (a server's own, such as vLLM's
`repetition_penalty` or llama.cpp's `cache_prompt`) go to the server unchecked; a declared one spelt in
kebab-case (`max-tokens`) is refused, as no server reads that name.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from llmnet_core import ModelSpec, Problem, option_problems


def _number(says: str, **bounds: float) -> Any:
    """An optional finite number (an integer is one too) within `bounds`; `says` is the hint's words."""
    return Field(None, allow_inf_nan=False, description=f"a number without quotes, {says}", **bounds)


def _texts(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise ValueError("must be a text or a list of texts")


#: `stop`: one message for both forms (a union would report one per form)
Stop = Annotated[Any, AfterValidator(_texts)]


class Parameters(BaseModel):
    """The generation parameters of a model entry that OpenAI's API and vLLM / llama.cpp servers read."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    temperature: float | None = _number("≥ 0, e.g. 0.2", ge=0)
    top_p: float | None = _number("above 0 and at most 1, e.g. 0.9", gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, description="a whole number ≥ 1, e.g. 256")
    max_completion_tokens: int | None = Field(None, ge=1, description="a whole number ≥ 1, e.g. 256")
    seed: int | None = Field(None, description="a whole number, e.g. 42")
    stop: Stop | None = Field(None, description='a text or a list of texts, e.g. ["\\n\\n"]')
    presence_penalty: float | None = _number("from -2 to 2", ge=-2, le=2)
    frequency_penalty: float | None = _number("from -2 to 2", ge=-2, le=2)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] | None = Field(
        None, description='an object of token ids and numbers from -100 to 100, e.g. {"50256": -100}'
    )
    top_k: int | None = Field(None, ge=-1, description="a whole number, e.g. 40 (vLLM: -1 is off)")
    min_p: float | None = _number("from 0 to 1, e.g. 0.05", ge=0, le=1)
    user: str | None = Field(None, description="a text naming the end user to the provider")


def parameter_problems(spec: ModelSpec) -> list[Problem]:
    """The problems of the entry's `parameters`, each at its JSON path (`models.m.parameters.top_p`)
    with a hint saying what the parameter takes: what `check` adds for them."""
    place = f"models.{spec.name}.parameters"
    problems: list[Problem] = []
    for key in map(str, spec.parameters):
        name = key.replace("-", "_")
        if name != key and name in Parameters.model_fields:
            hint = f"Servers read the parameters' names as written: write {name}."
            problems.append(
                Problem(f"{place}.{key}", f"is not a parameter name (did you mean {name}?)", hint)
            )
    _, found = option_problems(Parameters, spec.parameters, place)
    for problem in found:
        name = re.split(r"[.\[]", problem.path.removeprefix(f"{place}."), maxsplit=1)[0]
        field = Parameters.model_fields.get(name)
        hint = f"{name} takes {field.description}." if field and field.description else problem.hint
        problems.append(Problem(problem.path, problem.message, hint, problem.severity))
    return problems
