"""`llmnet serve --ray` without an address starts a local Ray for itself, serves the examples' pipeline
on it, and on SIGTERM stops it whole: no Ray process it started is left behind."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from llmnet_core.composition import read_composition

ROOT = Path(__file__).resolve().parents[3]


def descendants(pid: int) -> set[int]:
    """The processes below `pid` now (from /proc), zombies left out."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_local_ray_is_started_for_the_server_and_stopped_with_it(fake_server, launch, tmp_path) -> None:
    from llmnet_testing import free_port

    model = fake_server("Refunds take five days.", name="support")
    data, _ = read_composition(ROOT / "examples" / "support.json")
    for entry in data["models"].values():
        entry["url"] = model.url
    path = tmp_path / "support.json"
    path.write_text(json.dumps(data))
    served = launch([str(path), "--ray", "--port", str(free_port())])
    try:
        started = descendants(served.process.pid)
        assert len(started) > 3  # Ray's own processes and the replicas
        answer = httpx.post(
            f"{served.url}/v1/chat/completions",
            json={"model": "support", "messages": [{"role": "user", "content": "refund?"}]},
            timeout=60,
        )
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"] == "Refunds take five days."
        assert "on a local Ray started here" in served.output()
    finally:
        code = served.stop()
    assert code == 0, served.output()
    deadline = time.monotonic() + 30  # a worker notices its raylet is gone within a few seconds
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [pid for pid in started if alive(pid)] == [], "Ray processes left behind"
