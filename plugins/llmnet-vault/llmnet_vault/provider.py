"""The `vault` secret provider: one KV v1/v2 secret (or any readable path) from Vault or OpenBao.

hvac is synchronous, so the whole load runs in a worker thread. At start-up a block makes one read,
plus one mount lookup (`sys/internal/ui/mounts/<path>`) unless `kv-version` is given, plus the login
for AppRole. Every failure becomes a `SecretError` that names the block, the address and the path;
credential values are masked in anything Vault answers before it is shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from llmnet_core import SecretError, SecretProvider

from .options import VaultOptions, address_of, env_label, parse_vault_options, tls_verify

T = TypeVar("T")


@dataclass
class Location:
    """Where a secret lives: the engine's mount (no trailing /), its kind, and the path inside it."""

    mount: str
    kind: str  # "kv1", "kv2" or "other" (a plain read of the whole path)
    rest: str

    @property
    def shown(self) -> str:
        """The path as the HTTP API reads it, for messages."""
        if self.kind == "kv2":
            return f"{self.mount}/data/{self.rest}"
        return f"{self.mount}/{self.rest}" if self.rest else self.mount


@dataclass
class _Context:
    """What every message of one load needs; `credentials` are masked in whatever Vault answers."""

    block: str
    address: str
    path: str
    token_source: str
    token_fix: str
    credentials: list[str] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        for value in self.credentials:
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def error(self, message: str, hint: str | None = None) -> SecretError:
        return SecretError(self.scrub(f"secrets.{self.block}: {message}"), hint=hint and self.scrub(hint))


class VaultSecrets(SecretProvider):
    """Secrets from HashiCorp Vault or OpenBao: KV v2, KV v1, or any path that answers key/value data."""

    description: ClassVar[str] = "KV v1/v2 secrets from HashiCorp Vault or OpenBao (hvac)"

    async def load(self) -> Mapping[str, str]:
        """Log in if asked, find the engine behind `path`, read it once and return the wanted keys."""
        options = parse_vault_options(self.spec)
        block = self.spec.name
        address = address_of(options, block)
        verify = tls_verify(options, block, self.spec.base_dir)
        label = env_label(options.token_env, "token-env", block)
        context = _Context(
            block,
            _shown_address(address),
            options.path,
            token_source=f"the token from {label}",
            token_fix=f"export a valid token in {_export_name(options.token_env)}",
        )
        token = ""
        if options.auth.method == "token":
            token = os.environ.get(options.token_env, "").strip()
            if not token:
                raise context.error(
                    f"environment variable {label} (the Vault token) is not set",
                    hint=f"export {_export_name(options.token_env)}=<token>, "
                    f"or set secrets.{block}.token-env to the variable that holds it",
                )
            context.credentials.append(token)
        return await asyncio.to_thread(_load, options, context, address, token, verify)


def _load(
    options: VaultOptions, context: _Context, address: str, token: str, verify: bool | str
) -> dict[str, str]:
    """The blocking part: runs in a worker thread."""
    import hvac

    client = hvac.Client(
        url=address, token=token, namespace=options.namespace, verify=verify, timeout=options.timeout
    )
    try:
        if options.auth.method == "approle":
            _approle_login(client, options, context)
        location = _locate(client, options, context)
        data = _read(client, options, location, context)
    finally:
        client.adapter.close()
    return _pick(data, options, location, context)


def _approle_login(client: Any, options: VaultOptions, context: _Context) -> None:
    """Exchange the role ID and secret ID for a token (kept on the client, masked in messages)."""
    auth, block = options.auth, context.block
    mount = (auth.mount or "approle").strip("/")
    role_env = auth.role_id_env or "VAULT_ROLE_ID"
    role_id = auth.role_id or os.environ.get(role_env, "").strip()
    if not role_id:
        raise context.error(
            f"environment variable {env_label(role_env, 'auth.role-id-env', block)} (the AppRole role ID) "
            "is not set",
            hint=f"export {_export_name(role_env)}=<role id>, or set secrets.{block}.auth.role-id",
        )
    secret_env = auth.secret_id_env or "VAULT_SECRET_ID"
    secret_label = env_label(secret_env, "auth.secret-id-env", block)
    secret_id = os.environ.get(secret_env, "").strip()
    if not secret_id:
        raise context.error(
            f"environment variable {secret_label} (the AppRole secret ID) is not set",
            hint=f"export {_export_name(secret_env)}=<secret id>",
        )
    context.credentials += [role_id, secret_id]
    where = f"AppRole login at auth/{mount}/login"
    mount_hint = f"check secrets.{block}.auth.mount (`vault auth list` shows the mounts)"
    reply = _call(
        context,
        where,
        lambda: client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount),
        {
            400: (
                f"{where} was refused: invalid role ID or secret ID",
                f"check the role ID (secrets.{block}.auth) and the secret ID in {secret_label}; "
                "secret IDs expire and may be limited in uses",
            ),
            # Vault answers 403 for a path no auth method serves: the request itself carries no token
            403: (f"{where}: no AppRole auth method is mounted at auth/{mount}/", mount_hint),
            404: (f"{where}: no AppRole auth method is mounted at auth/{mount}/", mount_hint),
        },
    )
    token = (reply or {}).get("auth", {}).get("client_token") if isinstance(reply, dict) else None
    if not token:
        raise context.error(f"{where} answered no client token")
    context.credentials.append(token)
    context.token_source = f"the token from the AppRole login at auth/{mount}"
    context.token_fix = "check the policies of the AppRole role (token_policies)"


def _locate(client: Any, options: VaultOptions, context: _Context) -> Location:
    """Find the secrets engine behind `path` and which KV version it is."""
    path = options.path
    if options.kv_version is not None:
        mount = options.mount or path.split("/", 1)[0]
        return _location(mount, f"kv{options.kv_version}", path)
    where = f"looking up the mount of {path}"
    reply = _call(
        context,
        where,
        lambda: client.adapter.get(f"/v1/sys/internal/ui/mounts/{path}"),
        {
            403: (
                f'no secrets engine is mounted at "{path.split("/", 1)[0]}/" (or the token may not use it)',
                f"check secrets.{context.block}.path; list the mounts with `vault secrets list`",
            ),
            404: (
                f"{context.address} has no Vault API for the mount lookup (HTTP 404)",
                f"is it a Vault server? check secrets.{context.block}.address, "
                'or set "kv-version" (1 or 2) to skip the lookup',
            ),
        },
        preflight_only=True,
    )
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("path"), str):
        raise context.error(
            f"{context.address} answered the mount lookup for {path} with something unexpected",
            hint=f'is {context.address} a Vault server? Or set "kv-version" (1 or 2) to skip the lookup',
        )
    version = str((data.get("options") or {}).get("version") or "1")
    kind = f"kv{version}" if data.get("type") in ("kv", "generic") and version in ("1", "2") else "other"
    return _location(data["path"].strip("/"), kind, path)


def _location(mount: str, kind: str, path: str) -> Location:
    rest = path[len(mount) :].strip("/") if (path + "/").startswith(mount + "/") else path
    if kind == "kv2" and (rest == "data" or rest.startswith("data/")):
        rest = rest[len("data") :].strip("/")  # the API path users copy: secret/data/llmnet/api
    return Location(mount, kind, rest)


def _read(client: Any, options: VaultOptions, location: Location, context: _Context) -> Any:
    """One read of the secret; returns its key/value map."""
    if not location.rest and location.kind != "other":
        raise context.error(
            f'path "{options.path}" names the mount {location.mount}/ only, not a secret in it',
            hint=f"e.g. {location.mount}/{'data/' if location.kind == 'kv2' else ''}llmnet/api",
        )
    not_found = (
        f"secret {location.rest or options.path} not found in the "
        f"{_engine_name(location)} at {location.mount}/ (read {location.shown})",
        f"check secrets.{context.block}.path; `vault kv list -mount={location.mount}` lists what exists",
    )
    if location.kind == "kv2":
        reply = _call(
            context,
            f"reading {location.shown}",
            lambda: client.secrets.kv.v2.read_secret_version(
                path=location.rest,
                mount_point=location.mount,
                version=options.version,
                raise_on_deleted_version=True,
            ),
            {404: not_found},
        )
        return ((reply or {}).get("data") or {}).get("data")
    if location.kind == "kv1":
        reply = _call(
            context,
            f"reading {location.shown}",
            lambda: client.secrets.kv.v1.read_secret(path=location.rest, mount_point=location.mount),
            {404: not_found},
        )
        return (reply or {}).get("data")
    reply = _call(
        context,
        f"reading {options.path}",
        lambda: client.adapter.get(f"/v1/{options.path}"),
        {404: (f"nothing found at {options.path}", f"check secrets.{context.block}.path")},
    )
    return reply.get("data") if isinstance(reply, dict) else None


def _engine_name(location: Location) -> str:
    return {"kv1": "KV v1 engine", "kv2": "KV v2 engine"}.get(location.kind, "secrets engine")


def _pick(data: Any, options: VaultOptions, location: Location, context: _Context) -> dict[str, str]:
    if not isinstance(data, dict):
        raise context.error(f"{location.shown} holds no key/value data")
    wanted = options.variables or list(data)
    missing = [name for name in wanted if name not in data]
    if missing:
        noun = "variable" if len(missing) == 1 else "variables"
        raise context.error(
            f"{noun} {', '.join(missing)} not found in the Vault secret {location.shown}",
            hint=f"the secret holds: {', '.join(sorted(map(str, data))) or 'nothing'}; "
            f"fix secrets.{context.block}.variables or add the key in Vault",
        )
    return {str(name): _as_text(data[name]) for name in wanted}


def _as_text(value: Any) -> str:
    """Vault values are JSON: strings stay as they are, anything else becomes its JSON text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


_STATUS = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "VaultNotInitialized": 501,
    "BadGateway": 502,
    "VaultDown": 503,
}


def _call(
    context: _Context,
    where: str,
    request: Callable[[], T],
    known: Mapping[int, tuple[str, str]],
    *,
    preflight_only: bool = False,
) -> T:
    """Run one hvac request and turn every failure into a SecretError that says what to do."""
    import hvac.exceptions
    import requests

    address = context.address
    try:
        return request()
    except requests.exceptions.SSLError:
        raise context.error(
            f"TLS with the Vault server at {address} failed while {where} (certificate not trusted?)",
            hint=f"set secrets.{context.block}.ca-file to the CA bundle (or VAULT_CACERT), "
            f"or verify: false for a test server",
        ) from None
    except requests.exceptions.Timeout:
        raise context.error(
            f"the Vault server at {address} did not answer within the timeout while {where}",
            hint=f"check that it is up, or raise secrets.{context.block}.timeout (seconds)",
        ) from None
    except requests.exceptions.ConnectionError as exc:
        why = "connection refused" if "refused" in str(exc).lower() else "connection failed"
        raise context.error(
            f"could not reach the Vault server at {address} ({why}) while {where}",
            hint=f"check VAULT_ADDR / secrets.{context.block}.address and that the server is running",
        ) from None
    except hvac.exceptions.VaultError as exc:
        status = _STATUS.get(type(exc).__name__)
        errors = context.scrub(", ".join(str(e) for e in (exc.errors or [])) or "no details")
        if status == 403 and preflight_only and "preflight" not in errors:
            known = {}  # a plain "permission denied": the token itself was refused
        if status in known:
            message, hint = known[status]
            raise context.error(message, hint=hint) from None
        raise _status_error(context, where, status, errors) from None
    except ValueError:  # the reply was not JSON
        raise context.error(
            f"{address} answered something that is not JSON while {where}",
            hint=f"is {address} a Vault server? check secrets.{context.block}.address",
        ) from None


def _status_error(context: _Context, where: str, status: int | None, errors: str) -> SecretError:
    address, block = context.address, context.block
    if status == 503 and "sealed" in errors.lower():
        return context.error(
            f"the Vault server at {address} is sealed",
            hint="unseal it (`bao operator unseal` / `vault operator unseal`), then run again",
        )
    if status == 501:
        return context.error(
            f"the Vault server at {address} is not initialized", hint="run `vault operator init` first"
        )
    if status in (401, 403):
        return context.error(
            f"Vault at {address} refused {context.token_source} while {where} (HTTP {status}: {errors})",
            hint=f"the token may be wrong or expired, or its policies may not allow reading {context.path}; "
            + context.token_fix,
        )
    shown = f"HTTP {status}" if status else "an error"
    return context.error(
        f"Vault at {address} answered {shown} while {where}: {errors}",
        hint=f"check secrets.{block} and the Vault server's logs",
    )


def _shown_address(address: str) -> str:
    """The address without any user:password@ part."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1", address)


def _export_name(name: str) -> str:
    return name if re.match(r"^[A-Z_][A-Z0-9_]*$", name) else "THE_VARIABLE"
