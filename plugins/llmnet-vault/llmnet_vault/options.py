"""The options of a `vault` secret block, validated with pydantic; errors name `secrets.<name>.<field>`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from llmnet_core import PluginOptions, SecretError, SecretSpec, parse_options

#: names shown in messages as they are; anything else may be a credential pasted by mistake
_CONVENTIONAL = re.compile(r"^[A-Z_][A-Z0-9_]*$")
HINT = "options of source vault: {known} (see the llmnet-vault README)"


def _env_name(value: str) -> str:
    """An environment variable's name; a value that looks like a token fails this (tokens contain dots)."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a value")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


class AuthOptions(PluginOptions):
    """`auth`: how to get a Vault token. `token` (default) reads it from `token-env`; `approle` logs in."""

    method: Literal["token", "approle"] = "token"
    mount: str | None = Field(None, min_length=1, description="AppRole auth mount (default approle)")
    role_id: str | None = Field(None, min_length=1, description="the role ID itself (not a secret)")
    role_id_env: EnvName | None = Field(None, description="variable holding the role ID")
    secret_id_env: EnvName | None = Field(None, description="variable holding the secret ID")

    @model_validator(mode="after")
    def _only_for_approle(self) -> AuthOptions:
        given = [f for f in ("mount", "role_id", "role_id_env", "secret_id_env") if getattr(self, f)]
        if self.method == "token" and given:
            raise ValueError(f"{given[0].replace('_', '-')} applies to method approle only")
        if self.role_id and self.role_id_env:
            raise ValueError("give role-id or role-id-env, not both")
        return self


class VaultOptions(PluginOptions):
    """`{source: vault, address, path, variables, token-env, auth, namespace, ...}`."""

    address: str | None = Field(None, description="e.g. https://vault.example.com:8200 (default: VAULT_ADDR)")
    path: str = Field(min_length=1, description="secret/data/llmnet/api (KV v2), kv/llmnet/api (KV v1)")
    variables: list[str] = Field(default_factory=list, description="keys to load; empty: every key")
    token_env: EnvName = Field("VAULT_TOKEN", description="variable holding the token")
    auth: AuthOptions = Field(default_factory=AuthOptions)
    namespace: str | None = Field(None, min_length=1, description="Vault Enterprise / OpenBao namespace")
    kv_version: Literal[1, 2] | None = Field(None, description="skip the mount lookup: 1 or 2")
    mount: str | None = Field(None, min_length=1, description="with kv-version: the engine's mount path")
    version: int | None = Field(None, ge=1, description="KV v2: read this version instead of the latest")
    ca_file: str | None = Field(None, min_length=1, description="CA bundle to verify the server with")
    verify: bool | None = Field(None, description="false: do not verify TLS (default: verify)")
    timeout: float = Field(10.0, gt=0, le=600, description="seconds per request")

    @field_validator("address")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8200)")
        return value.rstrip("/") if value else value

    @field_validator("variables")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        if any(not name for name in names):
            raise ValueError("names must not be empty")
        return names

    @field_validator("path", "mount")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().strip("/")
        if not value:
            raise ValueError("must name a path, not just /")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VaultOptions:
        if self.mount and self.kv_version is None:
            raise ValueError("mount is used only together with kv-version (otherwise it is looked up)")
        if self.mount and not (self.path + "/").startswith(self.mount + "/"):
            raise ValueError(f'path "{self.path}" does not start with mount "{self.mount}"')
        if self.version is not None and self.kv_version == 1:
            raise ValueError("version applies to KV v2 only")
        return self


def parse_vault_options(spec: SecretSpec) -> VaultOptions:
    """Validate a block's options; the message names each bad field and never echoes a value."""
    return parse_options(VaultOptions, spec.options, f"secrets.{spec.name}", error=SecretError, hint=HINT)


def env_label(name: str, field: str, block: str) -> str:
    """How a message names a credential variable: by name when it looks like one, else by its field
    (someone may have pasted the token itself into `token-env`)."""
    return name if _CONVENTIONAL.match(name) else f"the one named in secrets.{block}.{field}"


def address_of(options: VaultOptions, block: str) -> str:
    """`address`, else VAULT_ADDR; neither is a clear error."""
    address = options.address or os.environ.get("VAULT_ADDR", "").strip().rstrip("/")
    if not address:
        raise SecretError(
            f"secrets.{block}: no Vault address: secrets.{block}.address is not set "
            "and neither is VAULT_ADDR",
            hint=f'export VAULT_ADDR=https://vault.example.com:8200, or add "address" to secrets.{block}',
        )
    if not re.match(r"^https?://[^/\s]+", address):
        raise SecretError(
            f"secrets.{block}: VAULT_ADDR must start with http:// or https://",
            hint="e.g. export VAULT_ADDR=http://127.0.0.1:8200",
        )
    return address


def tls_verify(options: VaultOptions, block: str, base_dir: Path) -> bool | str:
    """What hvac's `verify` gets: `ca-file`, else VAULT_CACERT / VAULT_CAPATH, else True; False when
    `verify` is false (or, with no option given, when VAULT_SKIP_VERIFY is set as the Vault CLI reads it)."""
    if options.verify is False:
        return False
    if options.ca_file:
        path = Path(options.ca_file).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        if not path.is_file():
            raise SecretError(
                f"secrets.{block}.ca-file: {path} does not exist",
                hint="a relative path starts at the composition's folder",
            )
        return str(path)
    skip = os.environ.get("VAULT_SKIP_VERIFY", "").strip().lower() in ("1", "true", "t", "yes")
    if options.verify is None and skip:
        return False
    return os.environ.get("VAULT_CACERT") or os.environ.get("VAULT_CAPATH") or True
