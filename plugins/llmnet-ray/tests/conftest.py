"""A real Ray cluster shared by a test module's tests: a head and a second node (`ray.cluster_utils.Cluster`),
one CPU each, a small object store, autoscaling metrics every 0.2 s; and `llmnet serve --ray` as users
run it, a subprocess whose output is read as it comes."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LLMNET = str(Path(sys.executable).with_name("llmnet"))
#: what the test cluster's processes inherit: quick autoscaling metrics, no usage reports
CLUSTER_ENV = {
    "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.2",
    "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.2",
    "RAY_USAGE_STATS_ENABLED": "0",
}
#: bytes of object store per simulated node (Ray's minimum is about 75 MB)
OBJECT_STORE = 100 * 1024 * 1024


@dataclass
class RayCluster:
    """The module's cluster: its address, and this process connected to it."""

    address: str
    cluster: object


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    import ray
    from ray.cluster_utils import Cluster

    patch = pytest.MonkeyPatch()
    for name, value in CLUSTER_ENV.items():
        patch.setenv(name, value)
    node = {"num_cpus": 1, "object_store_memory": OBJECT_STORE}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="llmnet-tests", logging_level="ERROR")
        yield RayCluster(cluster.address, cluster)
    finally:
        ray.shutdown()
        cluster.shutdown()
        patch.undo()
        gc.collect()  # Ray's objects go now, not in the middle of another module's tests


@dataclass
class Served:
    """A running `llmnet serve --ray`: its process, its address and what it printed so far."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM (to the process alone, as Kubernetes or `kill` send it) and its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise


def start_serve(args: list[str], *, timeout: float = 240, env: dict[str, str] | None = None) -> Served:
    """Start `llmnet serve ARGS` in a session of its own and wait for its banner (the URL it serves)."""
    process = subprocess.Popen(
        [LLMNET, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **CLUSTER_ENV, **(env or {})},
    )
    served = Served(process)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.append(line)
            if "Ctrl+C stops" in line:
                served.url = line.split("http://", 1)[1].split("/v1", 1)[0]
                served.url = f"http://{served.url}"
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(1) and time.monotonic() < deadline:
        pass
    if not served.url:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        raise AssertionError(f"llmnet serve --ray did not start:\n{served.output()}")
    return served


@pytest.fixture(scope="session")
def launch() -> object:
    """`launch(args, env=...)`: start `llmnet serve ARGS` and wait until it serves (see `start_serve`)."""
    return start_serve
