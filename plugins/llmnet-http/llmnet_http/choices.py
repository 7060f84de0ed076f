"""Answers restricted to fixed choices (`ChatRequest.choices`) from servers that may not know the
constraint: ask with it, and once, if the server fails that request in a way that may be a refusal, again
as a capped plain request; when that one is answered, the constraint was the trouble."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from llmnet_core import BackendError, ChatRequest, ChatResponse

#: statuses of a server that may be refusing a request shape it does not know: 400, 422 (FastAPI-based
#: servers), and 5xx (llama-cpp-python's server answers its validation errors with a 500)
REFUSED = (400, 422)

Ask = Callable[[], Awaitable[ChatResponse]]


def maybe_refused(status: int | None) -> bool:
    """Whether a constrained request that failed with `status` is worth asking again without the
    constraint: the plain request's answer then tells whether the constraint was the trouble."""
    return status is not None and (status in REFUSED or status >= 500)


class ChoiceAsker:
    """One backend's way to an answer among fixed choices: constrained until the server refused it once
    (`constrains`), capped plain text from then on, with a warning on `log` that names the model, the
    server and `what` it refused."""

    def __init__(self, log: logging.Logger, model: str, server: str, what: str) -> None:
        self.log, self.model, self.server, self.what = log, model, server, what
        self.constrains = True

    async def ask(self, request: ChatRequest, constrained: Ask, plain: Ask) -> ChatResponse:
        """The answer: `constrained()` read back as the choice (a JSON `{"choice": ...}` or the text), or,
        when the server refuses that, `plain()`."""
        refused: BackendError | None = None
        if self.constrains:
            try:
                response = await constrained()
            except BackendError as exc:
                if not maybe_refused(exc.status):
                    raise
                refused = exc
            else:
                return replace(response, text=request.choice_from_json(response.text) or response.text)
        response = await plain()
        if refused is not None:
            self.constrains = False
            self.log.warning(
                "models.%s: %s refused %s (%s); answers among fixed choices are asked as capped plain text "
                "from now on",
                self.model,
                self.server,
                self.what,
                refused.message,
            )
        return response
