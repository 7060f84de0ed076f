"""The `vault` provider against a real OpenBao dev server: KV v2 and v1, AppRole, namespaces, and a
clear message for every failure (down, sealed, 403, 404, missing variable), never showing a credential."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from llmnet_testing import free_port
from llmnet_vault.provider import VaultSecrets
from urllib3.exceptions import InsecureRequestWarning

from llmnet_core import SecretError, SecretSpec


async def load(options: dict[str, Any], name: str = "vault", base_dir: Path = Path()) -> dict[str, str]:
    spec = SecretSpec(name=name, source="vault", options=options, base_dir=base_dir)
    return dict(await VaultSecrets(spec).load())


async def failure(options: dict[str, Any], name: str = "vault") -> SecretError:
    with pytest.raises(SecretError) as caught:
        await load(options, name)
    return caught.value


EXPECTED = {"API_KEY": "sk-test-api-v2-4567", "ORG": "acme", "RETRIES": "3", "EXTRA": '{"region": "eu"}'}
MOUNT_LOOKUP = "/v1/sys/internal/ui/mounts/"


@pytest.fixture
def recording_proxy(vault_env) -> Iterator[tuple[str, list[str]]]:
    """A proxy in front of the session's server: its address, and the path of each request it passed on."""
    requested: list[str] = []
    target = urlsplit(vault_env.address)

    class Forward(BaseHTTPRequestHandler):
        def forward(self) -> None:
            requested.append(urlsplit(self.path).path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                reply = upstream.getresponse()
                payload = reply.read()
            finally:
                upstream.close()
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_LIST = forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["secret/data/llmnet/api", "secret/llmnet/api", "/secret/data/llmnet/api/"])
async def test_kv2_api_path_and_logical_path(vault_env, path):
    assert await load({"path": path}) == EXPECTED


async def test_kv2_variables_filter_and_an_older_version(vault_env):
    options = {"path": "secret/data/llmnet/api", "variables": ["API_KEY"]}
    assert await load(options) == {"API_KEY": "sk-test-api-v2-4567"}
    assert await load({**options, "version": 1}) == {"API_KEY": "sk-test-api-0123"}


async def test_kv1_mount(vault_env):
    assert await load({"path": "kv/llmnet/api"}) == {"API_KEY": "sk-test-v1-8899"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"path": "secret/data/llmnet/api", "kv-version": 2}, "sk-test-api-v2-4567"),
        ({"path": "secret/llmnet/api", "kv_version": 2, "mount": "secret"}, "sk-test-api-v2-4567"),
        ({"path": "kv/llmnet/api", "kv-version": 1}, "sk-test-v1-8899"),
    ],
)
async def test_kv_version_given_skips_the_mount_lookup(vault_env, recording_proxy, options, expected):
    address, requested = recording_proxy
    values = await load({**options, "address": address, "variables": ["API_KEY"]})
    assert values["API_KEY"] == expected
    assert requested and not [path for path in requested if path.startswith(MOUNT_LOOKUP)], requested


async def test_without_kv_version_the_mount_is_looked_up(vault_env, recording_proxy):
    """The proxy does see the lookup when it is made, so the test above cannot pass by missing it."""
    address, requested = recording_proxy
    values = await load({"path": "kv/llmnet/api", "address": address})
    assert values == {"API_KEY": "sk-test-v1-8899"}
    assert requested == [f"{MOUNT_LOOKUP}kv/llmnet/api", "/v1/kv/llmnet/api"]


async def test_explicit_address_token_env_and_namespace(vault_env, monkeypatch):
    monkeypatch.delenv("VAULT_ADDR")
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("TEAM_TOKEN", vault_env.root_token)
    options = {"address": vault_env.address, "token-env": "TEAM_TOKEN", "namespace": "team"}
    assert await load({**options, "path": "secret/data/llmnet/api"}) == {"API_KEY": "sk-team-5566"}
    options = {"address": vault_env.address, "token_env": "TEAM_TOKEN", "namespace": "team"}
    assert await load({**options, "path": "secret/llmnet/api"}) == {"API_KEY": "sk-team-5566"}


async def test_approle_login(vault_env, monkeypatch):
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("LLMNET_ROLE_ID", vault_env.facts["role_id"])
    monkeypatch.setenv("LLMNET_SECRET_ID", vault_env.facts["secret_id"])
    auth = {"method": "approle", "role-id-env": "LLMNET_ROLE_ID", "secret-id-env": "LLMNET_SECRET_ID"}
    values = await load({"path": "secret/data/llmnet/api", "variables": ["ORG"], "auth": auth})
    assert values == {"ORG": "acme"}
    # role-id written in the composition, default variable for the secret ID, explicit mount
    monkeypatch.setenv("VAULT_SECRET_ID", vault_env.facts["secret_id"])
    auth = {"method": "approle", "role-id": vault_env.facts["role_id"], "mount": "approle"}
    assert await load({"path": "secret/llmnet/api", "variables": ["ORG"], "auth": auth}) == {"ORG": "acme"}


async def test_approle_token_outside_its_policy_is_refused(vault_env, monkeypatch):
    monkeypatch.setenv("VAULT_ROLE_ID", vault_env.facts["role_id"])
    monkeypatch.setenv("VAULT_SECRET_ID", vault_env.facts["secret_id"])
    error = await failure({"path": "secret/data/other/db", "kv-version": 2, "auth": {"method": "approle"}})
    assert "refused the token from the AppRole login at auth/approle" in error.message
    assert "HTTP 403" in error.message and "token_policies" in error.hint


# -- failures -------------------------------------------------------------------------------------


async def test_wrong_token_is_403_naming_the_variable_not_the_value(vault_env, monkeypatch):
    wrong = "s.WrongToken0123456789"
    monkeypatch.setenv("VAULT_TOKEN", wrong)
    error = await failure({"path": "secret/data/llmnet/api"}, name="openai")
    assert error.message.startswith(f"secrets.openai: Vault at {vault_env.address} refused the token from ")
    assert "VAULT_TOKEN" in error.message and "HTTP 403" in error.message
    assert "wrong or expired" in error.hint and "export a valid token in VAULT_TOKEN" in error.hint
    assert wrong not in str(error) and vault_env.root_token not in str(error)


async def test_limited_token_outside_its_policy_is_403(vault_env, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", vault_env.facts["limited_token"])
    assert (await load({"path": "secret/llmnet/api", "variables": ["ORG"]})) == {"ORG": "acme"}
    error = await failure({"path": "secret/data/other/db"})
    assert "refused the token from VAULT_TOKEN while reading secret/data/other/db" in error.message
    assert "secret/data/other/db" in error.hint
    assert vault_env.facts["limited_token"] not in str(error)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("secret/data/llmnet/nope", "secret llmnet/nope not found in the KV v2 engine at secret/"),
        ("secret/llmnet/nope", "secret llmnet/nope not found in the KV v2 engine at secret/"),
        ("kv/llmnet/nope", "secret llmnet/nope not found in the KV v1 engine at kv/"),
    ],
)
async def test_missing_path_is_404_naming_path_and_mount(vault_env, path, expected):
    error = await failure({"path": path})
    assert error.message.startswith(f"secrets.vault: {expected}")
    assert "secrets.vault.path" in error.hint


async def test_unknown_mount(vault_env):
    error = await failure({"path": "nosuch/data/llmnet/api"})
    assert (
        error.message
        == 'secrets.vault: no secrets engine is mounted at "nosuch/" (or the token may not use it)'
    )


async def test_path_naming_only_the_mount(vault_env):
    error = await failure({"path": "secret/data"})
    assert "names the mount secret/ only" in error.message


async def test_missing_variable_names_it_and_the_path_but_no_value(vault_env):
    error = await failure({"path": "secret/data/llmnet/api", "variables": ["API_KEY", "NOPE"]})
    assert (
        error.message == "secrets.vault: variable NOPE not found in the Vault secret secret/data/llmnet/api"
    )
    assert "API_KEY, EXTRA, ORG, RETRIES" in error.hint
    assert "sk-test-api" not in str(error)


async def test_server_down_names_the_address(vault_env, monkeypatch):
    port = free_port()
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{port}")
    error = await failure({"path": "secret/data/llmnet/api", "timeout": 5})
    assert error.message.startswith(
        f"secrets.vault: could not reach the Vault server at http://127.0.0.1:{port} (connection refused)"
    )
    assert "VAULT_ADDR" in error.hint and "running" in error.hint


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (for the timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


async def test_an_address_that_is_not_vault(vault_env, fake_server):
    other = fake_server()  # a real HTTP server, speaking OpenAI's API rather than Vault's
    error = await failure({"address": other.url, "path": "secret/data/llmnet/api"})
    assert error.message == f"secrets.vault: {other.url} has no Vault API for the mount lookup (HTTP 404)"
    assert "is it a Vault server?" in error.hint


async def test_a_server_that_never_answers_times_out(vault_env, silent_server):
    error = await failure({"address": silent_server, "path": "secret/data/x", "timeout": 0.3})
    assert f"the Vault server at {silent_server} did not answer within the timeout" in error.message
    assert "secrets.vault.timeout" in error.hint


async def test_sealed_server(start_another_bao, monkeypatch):
    other = start_another_bao()
    client = other.client()
    client.sys.seal()
    client.adapter.close()
    monkeypatch.setenv("VAULT_TOKEN", other.root_token)
    error = await failure({"address": other.address, "path": "secret/data/llmnet/api"})
    assert error.message == f"secrets.vault: the Vault server at {other.address} is sealed"
    assert "unseal" in error.hint
    assert other.root_token not in str(error)


async def test_approle_with_a_wrong_secret_id(vault_env, monkeypatch):
    wrong = "00000000-1111-2222-3333-444444444444"
    monkeypatch.setenv("VAULT_ROLE_ID", vault_env.facts["role_id"])
    monkeypatch.setenv("VAULT_SECRET_ID", wrong)
    error = await failure({"path": "secret/data/llmnet/api", "auth": {"method": "approle"}})
    assert error.message == (
        "secrets.vault: AppRole login at auth/approle/login was refused: invalid role ID or secret ID"
    )
    assert "VAULT_SECRET_ID" in error.hint
    assert wrong not in str(error) and vault_env.facts["role_id"] not in str(error)


async def test_approle_on_a_mount_without_approle(vault_env, monkeypatch):
    monkeypatch.setenv("VAULT_ROLE_ID", vault_env.facts["role_id"])
    monkeypatch.setenv("VAULT_SECRET_ID", vault_env.facts["secret_id"])
    error = await failure({"path": "secret/x", "auth": {"method": "approle", "mount": "elsewhere"}})
    assert "no AppRole auth method is mounted at auth/elsewhere" in error.message


async def test_tls_needs_the_servers_ca(start_another_bao, monkeypatch, tmp_path):
    tls = start_another_bao(tls=True)
    client = tls.client()
    client.secrets.kv.v2.create_or_update_secret(path="app", secret={"API_KEY": "sk-over-tls-1234"})
    client.adapter.close()
    monkeypatch.setenv("VAULT_TOKEN", tls.root_token)
    for name in ("VAULT_CACERT", "VAULT_CAPATH", "VAULT_SKIP_VERIFY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    options = {"address": tls.address, "path": "secret/data/app"}
    error = await failure(options)
    assert error.message.startswith(f"secrets.vault: TLS with the Vault server at {tls.address} failed")
    assert "ca-file" in error.hint
    (tmp_path / "ca.pem").write_bytes(tls.ca_file.read_bytes())
    spec = SecretSpec("vault", "vault", {**options, "ca-file": "ca.pem"}, base_dir=tmp_path)
    assert dict(await VaultSecrets(spec).load()) == {"API_KEY": "sk-over-tls-1234"}
    with pytest.warns(InsecureRequestWarning):  # urllib3 says so, and rightly
        assert await load({**options, "verify": False}) == {"API_KEY": "sk-over-tls-1234"}
    monkeypatch.setenv("VAULT_CACERT", str(tls.ca_file))  # honoured when neither option is given
    assert await load(options) == {"API_KEY": "sk-over-tls-1234"}


# -- configuration errors -------------------------------------------------------------------------


async def test_no_address_anywhere(vault_env, monkeypatch):
    monkeypatch.delenv("VAULT_ADDR")
    error = await failure({"path": "secret/x"})
    assert "no Vault address" in error.message and "VAULT_ADDR" in error.message
    assert "export VAULT_ADDR=" in error.hint


async def test_unset_token_variable(vault_env, monkeypatch):
    monkeypatch.delenv("VAULT_TOKEN")
    error = await failure({"path": "secret/x"})
    assert error.message == "secrets.vault: environment variable VAULT_TOKEN (the Vault token) is not set"
    assert error.hint.startswith("export VAULT_TOKEN=<token>")


async def test_a_token_pasted_into_token_env_is_never_echoed(vault_env):
    for pasted in ("hvs.CAESIJlU9Y2w", "myrootpassword"):
        error = await failure({"path": "secret/x", "token-env": pasted})
        assert pasted not in str(error)
        assert "secrets.vault" in error.message


async def test_unset_approle_variables(vault_env, monkeypatch):
    monkeypatch.delenv("VAULT_TOKEN")
    error = await failure({"path": "secret/x", "auth": {"method": "approle", "role-id-env": "MY_ROLE"}})
    assert "environment variable MY_ROLE (the AppRole role ID) is not set" in error.message
    monkeypatch.setenv("MY_ROLE", "role")
    error = await failure({"path": "secret/x", "auth": {"method": "approle", "role-id-env": "MY_ROLE"}})
    assert "VAULT_SECRET_ID (the AppRole secret ID) is not set" in error.message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "secrets.vault.path: is required"),
        ({"path": "a", "pth": "b"}, 'secrets.vault.pth: unknown field (did you mean "path"?)'),
        ({"path": "a", "address": "vault:8200"}, "secrets.vault.address: must start with http://"),
        ({"path": "a", "mount": "a"}, "secrets.vault: mount is used only together with kv-version"),
        ({"path": "a/b", "kv-version": 3}, "secrets.vault.kv-version: Input should be 1 or 2"),
        ({"path": "a/b", "kv-version": 1, "version": 2}, "secrets.vault: version applies to KV v2 only"),
        ({"path": "a", "auth": {"method": "ldap"}}, "secrets.vault.auth.method: Input should be 'token'"),
        ({"path": "a", "auth": {"role-id": "r"}}, "secrets.vault.auth: role-id applies to method approle"),
        (
            {"path": "a", "auth": {"methd": "x"}},
            'secrets.vault.auth.methd: unknown field (did you mean "method"?)',
        ),
        ({"path": "a", "token_env": "A", "token-env": "B"}, "secrets.vault.token_env: given twice, as"),
        ({"path": "a", "timeout": 0}, "secrets.vault.timeout: Input should be greater than 0"),
    ],
)
async def test_bad_options_name_the_field(vault_env, options, expected):
    error = await failure(options)
    assert error.message.startswith(expected)
    assert "options of source vault" in error.hint


async def test_ca_file_that_does_not_exist(vault_env, tmp_path):
    spec = SecretSpec(
        name="v", source="vault", options={"path": "x/y", "ca-file": "certs/ca.pem"}, base_dir=tmp_path
    )
    with pytest.raises(SecretError) as caught:
        await VaultSecrets(spec).load()
    assert caught.value.message == f"secrets.v.ca-file: {tmp_path / 'certs' / 'ca.pem'} does not exist"


# -- plugin wiring ------------------------------------------------------------------------------


def test_registered_through_the_entry_point(host):
    assert host.registries.secret_providers.get("vault") is VaultSecrets
    assert host.registries.provided_by("llmnet-vault")["secret sources"] == ["vault"]


def test_importing_the_plugin_does_not_import_hvac():
    code = "import sys, llmnet_vault; sys.exit(1 if {'hvac', 'requests'} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
