{%- set registered = cookiecutter.__registered -%}
{%- if cookiecutter.kind == "backend" -%}
"""An llmnet plugin that provides a model backend (named `BACKEND_NAME` below).

llmnet loads this module through the `llmnet` entry point and calls the hook below. Keep the module
light: the backend's own module (and anything heavy it needs) is imported only inside the hook.
"""
{%- elif cookiecutter.kind == "transport" -%}
"""An llmnet plugin that provides a hook function type (named `TRANSPORT_NAME` below).

llmnet loads this module through the `llmnet` entry point and calls the hook below. Keep the module
light: the transport's own module (and anything heavy it needs) is imported only inside the hook.
"""
{%- elif cookiecutter.kind == "secret_provider" -%}
"""An llmnet plugin that provides a secret source (named `SOURCE_NAME` below).

llmnet loads this module through the `llmnet` entry point and calls the hook below. Keep the module
light: the provider's own module (and anything heavy it needs) is imported only inside the hook.
"""
{%- else -%}
"""An llmnet plugin that provides a condition function (named `FUNCTION_NAME` below).

llmnet loads this module through the `llmnet` entry point and calls the hook below. Keep the module
light: the functions' own module is imported only inside the hook.
"""
{%- endif %}

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "{{ cookiecutter.version }}"
{% if cookiecutter.kind == "backend" %}
#: what a `models` entry names: {"backend": BACKEND_NAME}
BACKEND_NAME = "{{ registered }}"


@hookimpl
def llmnet_register_backends(register: Any) -> None:
    """Register the echo backend."""
    from .backend import EchoBackend

    register(BACKEND_NAME, EchoBackend)
{%- elif cookiecutter.kind == "transport" %}
#: what a `functions` entry names: {"type": TRANSPORT_NAME}
TRANSPORT_NAME = "{{ registered }}"


@hookimpl
def llmnet_register_transports(register: Any) -> None:
    """Register the upper-casing function type."""
    from .transport import UpperTransport

    register(TRANSPORT_NAME, UpperTransport)
{%- elif cookiecutter.kind == "secret_provider" %}
#: what a `secrets` entry names: {"source": SOURCE_NAME, "values": {...}}
SOURCE_NAME = "{{ registered }}"


@hookimpl
def llmnet_register_secret_providers(register: Any) -> None:
    """Register the static secret source."""
    from .provider import StaticProvider

    register(SOURCE_NAME, StaticProvider)
{%- else %}
#: what an `if` expression calls: "FUNCTION_NAME($INPUT)"
FUNCTION_NAME = "{{ registered }}"


@hookimpl
def llmnet_register_conditions(register: Any) -> None:
    """Register the question-detecting condition function."""
    from .conditions import is_question

    register(FUNCTION_NAME, is_question)
{%- endif %}
