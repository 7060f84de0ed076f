"""A tiny local stand-in for three model servers, so examples/support.json runs without any model.

`python examples/demo_server.py` serves on 127.0.0.1:8765 until interrupted. The "router" answers with
the handler whose keywords the request contains; the handlers answer with a canned reply in their role.
"""

from __future__ import annotations

import time
from typing import Any

from llmnet_testing import FakeOpenAIServer

PORT = 8765
KEYWORDS = {
    "billing": ("invoice", "charge", "refund", "payment", "bill"),
    "tech": ("crash", "error", "bug", "install", "login"),
    "sales": ("price", "plan", "discount", "buy", "upgrade"),
}
ANSWERS = {
    "billing-model": "You were charged twice because a renewal retried; a refund is on its way.",
    "tech-model": "Try reinstalling the latest version; if the crash persists, send us the log file.",
    "sales-model": "The Team plan costs $12 per user per month, with 20% off when paid yearly.",
}


def reply(body: dict[str, Any]) -> str:
    """Answer as the model named in the request: the router picks a handler, handlers answer."""
    model = body.get("model", "")
    if model in ANSWERS:
        return ANSWERS[model]
    text = body["messages"][-1]["content"].lower()
    for handler, words in KEYWORDS.items():
        if any(word in text for word in words):
            return handler
    return "sales"


def start(port: int = PORT) -> FakeOpenAIServer:
    return FakeOpenAIServer(reply, name="demo", port=port).start()


if __name__ == "__main__":
    server = start()
    print(f"demo model server on {server.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
