"""Activities and their listeners: a listener added while one is under way hears of it when it asks to
(`replay`), and `show_activity` shows what is under way and what starts, until it is stopped."""

from __future__ import annotations

import io
import threading

from llmnet_core import activity, show_activity
from llmnet_core.progress import add_listener


def test_a_listener_added_during_an_activity_hears_of_it_when_it_asks() -> None:
    began, release = threading.Event(), threading.Event()

    def work() -> None:
        with activity("loading a model in the background"):
            began.set()
            release.wait(10)

    worker = threading.Thread(target=work)
    worker.start()
    began.wait(10)
    heard: list[tuple[str, str]] = []
    late: list[tuple[str, str]] = []
    remove = add_listener(lambda event, text, seconds: heard.append((event, text)), replay=True)
    remove_late = add_listener(lambda event, text, seconds: late.append((event, text)))
    release.set()
    worker.join(10)
    remove()
    remove_late()
    assert heard == [
        ("start", "loading a model in the background"),
        ("end", "loading a model in the background"),
    ]
    assert late == [("end", "loading a model in the background")]  # without replay: only what follows


def test_show_activity_writes_each_activity_until_stopped() -> None:
    stream = io.StringIO()
    with show_activity(stream) as stop:
        with activity("loading one"):
            pass
        stop()
        with activity("loading two"):  # after stop: not shown
            pass
    assert stream.getvalue() == "loading one …\n"
    quiet = io.StringIO()
    with show_activity(quiet, enabled=False), activity("loading three"):
        pass
    assert quiet.getvalue() == ""
