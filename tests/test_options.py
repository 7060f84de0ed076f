"""The core's options helpers (`llmnet_core.options`): `PluginOptions`, `known_fields`, `option_problems`
and `parse_options`, the one way every plugin reads and reports its entry's options. (The options of
HTTP model backends, `HTTPBackendOptions`, are llmnet-http's and tested there.)"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmnet_core import (
    BackendError,
    PluginOptions,
    Problem,
    SecretError,
    TransportError,
    option_problems,
    parse_options,
)
from llmnet_core.options import known_fields

SECRET = "s3cr3t-canary-value"


class Tls(PluginOptions):
    ca_file: str | None = None
    server_name: str | None = None


class Acme(PluginOptions):
    """A typical transport's options: a required URL, kebab-case keys, nesting, lists, maps, a union."""

    url: str
    max_retries: int = Field(3, ge=0)
    tls: bool | Tls = False
    args: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    mode: Literal["fast", "safe"] = "fast"

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class Partial(PluginOptions):
    """An entry read only in part (a model entry's own keys): unknown keys are someone else's."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None


def problems(data: object, where: str = "functions.acme") -> list[str]:
    options, found = option_problems(Acme, data, where)  # type: ignore[arg-type]
    assert options is None and found
    return [str(problem) for problem in found]


# -- PluginOptions and known_fields -----------------------------------------------------------------------


def test_keys_are_kebab_case_and_snake_case_is_accepted_too() -> None:
    kebab = parse_options(Acme, {"url": "http://h", "max-retries": 5}, "functions.acme")
    snake = parse_options(Acme, {"url": "http://h", "max_retries": 5}, "functions.acme")
    assert kebab.max_retries == snake.max_retries == 5
    assert kebab == snake


def test_options_are_frozen() -> None:
    options = parse_options(Acme, {"url": "http://h"}, "functions.acme")
    with pytest.raises(ValidationError):
        options.url = "http://elsewhere"  # type: ignore[misc]
    assert options.url == "http://h"


def test_known_fields_are_the_written_keys_in_declaration_order() -> None:
    assert known_fields(Acme) == ["url", "max-retries", "tls", "args", "headers", "mode"]
    assert known_fields(Tls) == ["ca-file", "server-name"]

    class Plain(BaseModel):  # not a PluginOptions: no aliases, the field names themselves
        first_name: str
        age: int = 0

    assert known_fields(Plain) == ["first_name", "age"]


def test_a_model_that_reads_part_of_an_entry_ignores_the_rest() -> None:
    options = parse_options(
        Partial, {"source": "m.gguf", "runner": "llama-cpp"}, "models.m", error=BackendError
    )
    assert options.source == "m.gguf"
    assert option_problems(Partial, {"anything": 1}, "models.m") == (Partial(), [])


# -- option_problems ----------------------------------------------------------------------------------------


def test_valid_options_come_back_with_no_problems() -> None:
    options, found = option_problems(
        Acme, {"url": "https://h", "tls": {"ca-file": "ca.pem"}}, "functions.acme"
    )
    assert found == []
    assert options is not None and isinstance(options.tls, Tls) and options.tls.ca_file == "ca.pem"


def test_any_mapping_is_read() -> None:
    options, found = option_problems(Acme, MappingProxyType({"url": "http://h"}), "functions.acme")
    assert found == [] and options is not None and options.url == "http://h"


def test_a_missing_field_is_required_with_the_known_fields_as_hint() -> None:
    _, found = option_problems(Acme, {}, "functions.acme")
    assert found == [
        Problem(
            "functions.acme.url", "is required", "known fields: url, max-retries, tls, args, headers, mode"
        )
    ]
    assert found[0].severity == "error"


def test_an_unknown_key_names_the_closest_known_one() -> None:
    assert problems({"url": "http://h", "max_retris": 2}) == [
        'functions.acme.max_retris: unknown field (did you mean "max-retries"?) '
        "(known fields: url, max-retries, tls, args, headers, mode)"
    ]
    (only,) = problems({"url": "http://h", "zzz": 1})
    assert only.startswith("functions.acme.zzz: unknown field (")  # nothing close: no suggestion


def test_both_spellings_of_one_key_are_given_twice() -> None:
    (only,) = problems({"url": "http://h", "max_retries": 1, "max-retries": 2})
    assert only.startswith("functions.acme.max_retries: given twice, as max_retries and max-retries")


def test_an_entry_that_is_not_an_object() -> None:
    (only,) = problems(["url", "http://h"])
    assert only.startswith("functions.acme: must be an object (known fields: url,")


def test_places_go_down_nested_models_lists_and_maps() -> None:
    found = problems(
        {"url": "http://h", "tls": {"ca-file": 3}, "args": ["a", 3], "headers": {"X-Team": 3}, "mode": "slow"}
    )
    assert found == [
        "functions.acme.tls.ca-file: Input should be a valid string",
        "functions.acme.args[1]: Input should be a valid string",
        "functions.acme.headers.X-Team: Input should be a valid string",
        "functions.acme.mode: Input should be 'fast' or 'safe'",
    ]


def test_a_union_reports_only_the_branch_that_matches_the_kind_of_input() -> None:
    # tls given as an object: its own fields' errors matter, not "should be a valid boolean"
    (only,) = problems({"url": "http://h", "tls": {"ca_fil": "ca.pem"}})
    assert only.startswith('functions.acme.tls.ca_fil: unknown field (did you mean "ca-file"?)')


def test_a_validators_message_is_used_without_pydantics_prefix() -> None:
    assert problems({"url": "ftp://h"}) == ["functions.acme.url: must start with http:// or https://"]


def test_messages_never_contain_the_values_given() -> None:
    found = problems({"url": SECRET, "max-retries": SECRET, "tls": {"server-name": [SECRET]}})
    assert len(found) == 3
    assert all(SECRET not in text for text in found)


def test_where_may_be_a_function_of_the_field() -> None:
    def place(field: str) -> str:
        return f"architecture[2].router-options{'.' + field if field else ''}"

    _, found = option_problems(Acme, {"max-retries": -1}, place)
    assert [p.path for p in found] == [
        "architecture[2].router-options.url",
        "architecture[2].router-options.max-retries",
    ]
    _, whole = option_problems(Acme, "text", place)
    assert [p.path for p in whole] == ["architecture[2].router-options"]


def test_a_custom_hint_replaces_known() -> None:
    _, found = option_problems(
        Acme, {}, "functions.acme", hint="an acme function takes: type, timeout, {known}"
    )
    assert (
        found[0].hint == "an acme function takes: type, timeout, url, max-retries, tls, args, headers, mode"
    )


# -- parse_options ------------------------------------------------------------------------------------------


def test_parse_options_returns_the_model() -> None:
    options = parse_options(Acme, {"url": "http://h", "tls": True, "args": ["-v"]}, "functions.acme")
    assert isinstance(options, Acme)
    assert (options.url, options.tls, options.args, options.mode) == ("http://h", True, ["-v"], "fast")


def test_parse_options_raises_every_problem_on_one_line() -> None:
    with pytest.raises(TransportError) as info:
        parse_options(Acme, {"max-retries": -1, "heders": {}}, "functions.acme")
    error = info.value
    assert error.message == (
        "functions.acme.url: is required; "
        "functions.acme.max-retries: Input should be greater than or equal to 0; "
        'functions.acme.heders: unknown field (did you mean "headers"?)'
    )
    assert "\n" not in error.message
    assert error.hint == "known fields: url, max-retries, tls, args, headers, mode"


@pytest.mark.parametrize("kind", [BackendError, SecretError])
def test_parse_options_raises_the_error_class_asked_for(kind: type) -> None:
    with pytest.raises(kind) as info:
        parse_options(Acme, {}, "secrets.vault", error=kind, hint="see the README; {known}")
    assert info.value.message == "secrets.vault.url: is required"
    assert info.value.hint == "see the README; url, max-retries, tls, args, headers, mode"
