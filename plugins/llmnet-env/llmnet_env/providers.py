"""The `env-file` and `env` secret providers: variables from a .env file or from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from llmnet_core import PluginOptions, SecretError, SecretProvider, SecretSpec, parse_env_file, parse_options

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Options = TypeVar("Options", bound=PluginOptions)


class EnvFileOptions(PluginOptions):
    """`{source: env-file, path, variables, interpolate}`."""

    path: str = Field(".env", min_length=1, description="the .env file; relative to the composition's folder")
    variables: list[str] = Field(default_factory=list, description="names to load; empty: every name")
    interpolate: bool = Field(True, description="expand ${NAME} and ${NAME:-default} inside values")

    @field_validator("variables")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return _check_names(names)


class EnvOptions(PluginOptions):
    """`{source: env, variable}` or `{source: env, variables: [...]}`."""

    variable: str | None = Field(None, description="one environment variable")
    variables: list[str] = Field(default_factory=list, description="several environment variables")

    @field_validator("variable")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not re.match(NAME_PATTERN, name):
            raise ValueError("must be an environment variable name (letters, digits and _)")
        return name

    @field_validator("variables")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return _check_names(names)

    @model_validator(mode="after")
    def _something(self) -> EnvOptions:
        if not self.variable and not self.variables:
            raise ValueError('give "variable": "NAME" (or "variables": ["NAME", ...])')
        return self

    @property
    def names(self) -> list[str]:
        """Every variable this block provides, in order, without repeats."""
        return list(dict.fromkeys([*([self.variable] if self.variable else []), *self.variables]))


def _check_names(names: list[str]) -> list[str]:
    for name in names:
        if not re.match(NAME_PATTERN, name):
            raise ValueError("each name must be letters, digits and _, not starting with a digit")
    return names


def read_options(model: type[Options], spec: SecretSpec) -> Options:
    """Validate a block's options; the error names `secrets.<name>.<field>` and never echoes a value."""
    hint = f'options of source "{spec.source}": source, {{known}}'
    return parse_options(model, spec.options, f"secrets.{spec.name}", error=SecretError, hint=hint)


def resolve_path(raw: str, base_dir: Path) -> Path:
    """`~` expanded; a relative path is taken from the composition file's folder."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


class EnvFileSecrets(SecretProvider):
    """Variables from a .env file, read with the core's dotenv parser (the one `--env-file` uses)."""

    description: ClassVar[str] = "variables from a .env file"

    async def load(self) -> Mapping[str, str]:
        """Read the file once; every listed variable must be in it."""
        options = read_options(EnvFileOptions, self.spec)
        name = self.spec.name
        path = resolve_path(options.path, self.spec.base_dir)
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise SecretError(
                f"secrets.{name}: the env file {path} {what}",
                hint=f"create it, or fix secrets.{name}.path "
                "(a relative path starts at the composition's folder)",
            )
        # a bare `NAME` line (no "=") sets nothing, so it is not a variable of the block
        present = parse_env_file(
            path, where=f"secrets.{name}: env file {path}", interpolate=options.interpolate, error=SecretError
        )
        wanted = options.variables or list(present)
        missing = [var for var in wanted if var not in present]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            raise SecretError(
                f"secrets.{name}: {noun} {', '.join(missing)} not found in {path}",
                hint=f"add {missing[0]}=... to {path}, or remove it from secrets.{name}.variables; "
                f"the file defines: {', '.join(sorted(present)) or 'nothing'}",
            )
        return {var: present[var] for var in wanted}


class EnvSecrets(SecretProvider):
    """Variables taken from the process environment, by name."""

    description: ClassVar[str] = "variables from the environment"

    async def load(self) -> Mapping[str, str]:
        """Read each named variable; an unset one is an error naming it."""
        options = read_options(EnvOptions, self.spec)
        names = options.names
        missing = [var for var in names if var not in os.environ]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            raise SecretError(
                f"secrets.{self.spec.name}: environment {noun} {', '.join(missing)} not set",
                hint=" ".join(f"export {var}=..." for var in missing) + " before running llmnet",
            )
        return {var: os.environ[var] for var in names}
