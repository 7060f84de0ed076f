"""Error types: every failure llmnet reports to a person is one of these, with a place and a hint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class LLMNetError(Exception):
    """Base of every error llmnet reports; `hint` says how to fix it, `exit_code` what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: the trace of the request that failed, when the error came from `Pipeline.run`
        self.trace: Any = None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


@dataclass(frozen=True)
class Problem:
    """One finding of validation: where (a JSON path like `architecture[2].output-to[0]`), what, a hint."""

    path: str
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} ({self.hint})" if self.hint else text


class CompositionError(LLMNetError):
    """The composition file cannot be used; `problems` lists every error found (with JSON paths)."""

    exit_code = 2

    def __init__(self, source: str, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        count = len(errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}")
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        lines = [self.message]
        lines += [f"  {p.severity:<7} {p}" for p in self.problems]
        return "\n".join(lines)


class UsageError(LLMNetError):
    """The command line or the library call was used wrongly."""

    exit_code = 2


class ConditionSyntaxError(LLMNetError):
    """An `if` expression cannot be parsed; `position` is the 1-based column of the fault."""

    exit_code = 2

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        super().__init__(f"{message} at column {position} in {expression!r}")
        self.reason = message
        self.expression = expression
        self.position = position


class ConditionError(LLMNetError):
    """An `if` expression failed while being evaluated (for example a condition function raised)."""


class PipelineError(LLMNetError):
    """The pipeline failed while running a request."""


class BackendError(PipelineError):
    """A model backend failed: unreachable, timed out, answered an error or something unreadable."""

    def __init__(
        self, message: str, *, hint: str | None = None, url: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status


class TransportError(PipelineError):
    """A hook function failed in its transport (HTTP error, non-zero exit, closed socket, gRPC status...)."""


class StepTimeoutError(PipelineError):
    """A step of a request did not finish in time: a model call, a hook with `on_failure: abort`, or a
    `ws` node's peer. Servers answer it as a gateway timeout (HTTP 504) rather than a failure."""


class BackendTimeoutError(BackendError, StepTimeoutError):
    """A model backend gave no answer (or no connection) within its timeout."""


class TransportTimeoutError(TransportError, StepTimeoutError):
    """A hook function's peer gave no answer within the function's timeout."""


class SecretError(LLMNetError):
    """A secret could not be loaded: the block, variable, file or remote path is missing or unreachable."""

    exit_code = 2


class RoutingError(PipelineError):
    """No route could be chosen: every condition was false, or the router failed."""


class HopLimitError(PipelineError):
    """The request visited more nodes than the hop limit allows (a loop in `output-to`)."""


class UnsupportedFeatureError(UsageError):
    """A request asks its answering node for what that node cannot do (tools, a JSON schema, log-
    probabilities...): refused before the node's model is called. `node` and `feature` (a key of
    `FEATURES`) say which, `param` the request field that asked (servers answer HTTP 400 naming it)."""

    def __init__(self, message: str, *, node: str, feature: str, param: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.node = node
        self.feature = feature
        self.param = param
