"""Structured outputs as the fake servers answer them: the OpenAI `response_format` (`json_object`, or
`json_schema` with `name`, `schema` and `strict`), vLLM's guided choice (`guided_choice`, or
`structured_outputs.choice` since vLLM 0.10.2), and Ollama's `format` (`"json"` or a JSON schema).

A fake has no model to constrain, so it stands in for one: the reply text becomes a document valid under
the schema (a string field holds the text, an `enum` field the value the text names, or its first value
when it names none), and a guided choice becomes the choice the text names in the same way. A fake can
also behave like a server without support (`STRUCTURED_MODES`): refuse such requests with an HTTP 400, or
ignore the fields and answer the plain reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["STRUCTURED_MODES", "Refusal", "document", "named_choice"]

#: "follow": answer as a server that supports structured outputs; "reject": HTTP 400, as one that does
#: not; "ignore" (the fakes' default): the plain reply, as a server that drops fields it does not know
STRUCTURED_MODES = ("follow", "reject", "ignore")


class Refusal(ValueError):
    """A structured-output request the server refuses with HTTP 400 (the message says why)."""


def named_choice(choices: Sequence[Any], text: str) -> Any:
    """The choice `text` is (exactly), else the one it names first (case-insensitive), else the first."""
    if text in choices:
        return text
    lowered = text.lower()
    found = [(lowered.find(str(c).lower()), i) for i, c in enumerate(choices) if str(c).lower() in lowered]
    return choices[min(found)[1]] if found else choices[0]


def document(schema: Mapping[str, Any], text: str) -> Any:
    """A value valid under `schema` that carries `text`: enough of JSON Schema for the fakes' tests
    (`enum`, `const`, objects, arrays, strings, numbers, booleans, null)."""
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return named_choice(schema["enum"], text)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        return {key: document(_as_schema(sub), text) for key, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [document(_as_schema(items), text)]
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def _as_schema(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_json(text: str) -> str:
    """`text` when it is a JSON document already, else the text as a JSON string (`json_object` mode)."""
    try:
        json.loads(text)
    except ValueError:
        return json.dumps(text)
    return text


def _strict_problem(schema: Any, where: str = "()") -> str | None:
    """Why OpenAI's strict mode refuses `schema`: an object without `additionalProperties: false`, or
    with a property that is not `required`; None when it accepts it."""
    if not isinstance(schema, Mapping):
        return None
    if schema.get("type") == "object":
        properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        if schema.get("additionalProperties") is not False:
            return f"In context={where}, 'additionalProperties' is required to be supplied and to be false"
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return f"In context={where}, 'required' is required to include every key; missing {missing[0]!r}"
        for key, sub in properties.items():
            problem = _strict_problem(sub, f"('properties', {key!r})")
            if problem:
                return problem
    return None


def openai_text(request: Mapping[str, Any], text: str) -> str:
    """The reply text an OpenAI-compatible server that follows `request`'s structured-output fields
    answers; raises Refusal for fields it would refuse (a `json_schema` without `name` or `schema`, a
    strict schema OpenAI does not accept, an empty or non-text guided choice)."""
    choices = _guided_choices(request)
    if choices is not None:
        return str(named_choice(choices, text))
    form = request.get("response_format")
    if form is None:
        return text
    if not isinstance(form, Mapping) or form.get("type") not in ("text", "json_object", "json_schema"):
        raise Refusal("Invalid value for 'response_format.type': use 'text', 'json_object' or 'json_schema'")
    if form["type"] == "text":
        return text
    if form["type"] == "json_object":
        return as_json(text)
    spec = form.get("json_schema")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise Refusal("Missing required parameter: 'response_format.json_schema.name'")
    schema = spec.get("schema")
    if not isinstance(schema, Mapping):
        raise Refusal("Missing required parameter: 'response_format.json_schema.schema'")
    if spec.get("strict") is True and (problem := _strict_problem(schema)):
        raise Refusal(f"Invalid schema for response_format '{spec['name']}': {problem}")
    return json.dumps(document(schema, text), ensure_ascii=False)


def _guided_choices(request: Mapping[str, Any]) -> list[Any] | None:
    """vLLM's guided choice of a request (`structured_outputs.choice`, else `guided_choice`), or None."""
    outputs = request.get("structured_outputs")
    choices = outputs.get("choice") if isinstance(outputs, Mapping) else None
    choices = choices if choices is not None else request.get("guided_choice")
    if choices is None:
        return None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise Refusal("the guided choice must be a non-empty list of strings")
    return choices


def asks_structured_openai(request: Mapping[str, Any]) -> bool:
    """True when an OpenAI-compatible request asks for structured output (JSON, a schema, a choice)."""
    form = request.get("response_format")
    kind = form.get("type") if isinstance(form, Mapping) else None
    return kind not in (None, "text") or any(k in request for k in ("guided_choice", "structured_outputs"))


def ollama_text(request: Mapping[str, Any], text: str) -> str:
    """The reply text Ollama answers under `request`'s `format`: `"json"` makes it JSON, a schema a
    document valid under it; raises Refusal for any other `format`."""
    form = request.get("format")
    if form in (None, ""):
        return text
    if form == "json":
        return as_json(text)
    if isinstance(form, Mapping):
        return json.dumps(document(form, text), ensure_ascii=False)
    raise Refusal(f"invalid format: {json.dumps(form)}")
