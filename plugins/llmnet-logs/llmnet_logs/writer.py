"""Writing rows from one background thread, so that a request never waits for the disk or for another
process's lock; whatever goes wrong (a corrupt or locked file, a full disk) is logged at debug level and
the rows are dropped, never raised into a request."""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

from . import store

log = logging.getLogger("llmnet.logs")

#: rows written in one transaction at most
BATCH = 200
#: how long the process waits at exit for rows still queued (a locked file gives up sooner)
EXIT_WAIT = 5.0


class Writer:
    """A queue of (file, row) and the daemon thread that writes them; started on the first row."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Path, dict[str, Any]] | threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._connections: dict[Path, sqlite3.Connection] = {}

    def put(self, path: Path, row: dict[str, Any]) -> None:
        """Queue `row` for the log at `path` (returns at once)."""
        self._ensure_thread()
        self._queue.put((path, row))

    def flush(self, timeout_s: float = EXIT_WAIT) -> bool:
        """Wait until every row queued so far is written (or dropped); False when `timeout_s` ran out."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="llmnet-logs", daemon=True)
                self._thread.start()
                atexit.register(self.flush, EXIT_WAIT)

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending: dict[Path, list[dict[str, Any]]] = {}
            for item in items:
                if isinstance(item, threading.Event):
                    self._write_all(pending)  # everything queued before the marker, then say so
                    pending = {}
                    item.set()
                else:
                    pending.setdefault(item[0], []).append(item[1])
            self._write_all(pending)

    def _write_all(self, pending: dict[Path, list[dict[str, Any]]]) -> None:
        for path, rows in pending.items():
            try:
                store.insert(self._connection(path), rows)
            except Exception as exc:  # noqa: BLE001 - a log that cannot be written never breaks llmnet
                log.debug("request log %s: %d request(s) not logged: %s", path, len(rows), exc)
                self._forget(path)

    def _connection(self, path: Path) -> sqlite3.Connection:
        if path in self._connections and not path.exists():  # deleted meanwhile: start a new file
            self._forget(path)
        if path not in self._connections:
            self._connections[path] = store.connect(path)
        return self._connections[path]

    def _forget(self, path: Path) -> None:
        """Close the connection to `path` after a failure: the next row opens it afresh."""
        conn = self._connections.pop(path, None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


#: the process's writer
WRITER = Writer()
