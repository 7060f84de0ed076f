"""One conversation through a pipeline: the history sent as `messages` with each turn, the answer
streamed, Ctrl-C stopping the answer under way (the request is cancelled, the conversation goes on),
and the chat commands (`/trace`, `/reset`, `/exit`, `/help`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from llmnet_core import LLMNetError, Pipeline, show_activity

from .display import AnswerPrinter, OutputFailed, note, route_line

log = logging.getLogger("llmnet.chat")

HELP = """\
commands: /trace (the last request's route, hop by hop) · /reset (forget the conversation) · /exit
several lines: end a line with \\ to go on, or put \"\"\" alone on a line before and after them
Ctrl-C stops an answer (the conversation goes on) · Ctrl-D or /exit leaves · //text sends /text"""


class Stopped(Exception):
    """The answer was stopped by Ctrl-C."""


class ChatSession:
    """The conversation so far and the pipeline that answers it (started and closed by the caller)."""

    def __init__(
        self, pipeline: Pipeline, *, system: str | None = None, show_route: bool = True, spinner: bool = False
    ) -> None:
        self.pipeline = pipeline
        self.system = system
        self.show_route = show_route
        #: show the models still loading (a spinner) while a turn waits for them: on a terminal only
        self.spinner = spinner
        self.history: list[dict[str, str]] = []
        self.last_trace: Any = None
        #: turns that failed (a piped chat exits with 1 when any did)
        self.failures = 0

    def messages(self, text: str) -> list[dict[str, str]]:
        """What the next request sends: the system prompt, the conversation so far, the new turn."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.history, {"role": "user", "content": text}]

    def command(self, word: str) -> bool:
        """Run a chat command; returns False when the chat should end (`/exit`)."""
        name = word.strip().lower()
        if name in ("/exit", "/quit"):
            return False
        if name == "/reset":
            self.history.clear()
            note("(conversation forgotten: the next message starts afresh)")
        elif name == "/trace":
            if self.last_trace is None:
                note("(no request yet: /trace shows the last one's route)")
            else:
                sys.stderr.write(self.last_trace.render(self.pipeline.redactor) + "\n")
                sys.stderr.flush()
        elif name == "/help":
            note(HELP)
        else:
            note(f"unknown command {word.strip()}; /help lists them (//text sends /text as a message)")
        return True

    async def turn(self, text: str) -> None:
        """Send `text` with the conversation so far, print the answer as it comes, then the route line.
        A failure or Ctrl-C is reported and leaves the conversation as it was."""
        printer = AnswerPrinter(self.pipeline.redactor)
        try:
            with show_activity(enabled=self.spinner) as stop:
                printer.before_write = stop
                request = self.pipeline.run(self.messages(text), on_token=printer, source="chat")
                result = await _stoppable(request)
        except Stopped:
            printer.finish()
            note("(stopped)")
            return
        except LLMNetError as exc:
            printer.finish()
            self.last_trace = exc.trace if exc.trace is not None else self.last_trace
            self.failures += 1
            _error(exc.message, exc.hint)
            return
        except OutputFailed:  # stdout is gone (a closed pipe): the chat ends, as llmnet run does
            raise
        except Exception as exc:  # a plugin's bug fails this turn, not the conversation
            log.debug("the turn failed", exc_info=True)  # with --debug: where it happened
            printer.finish()
            self.failures += 1
            detail = self.pipeline.redactor(f"{type(exc).__name__}: {exc}")
            _error(f"internal error: {detail}", "run again with llmnet --debug chat to see where it happened")
            return
        if printer.started:
            printer.finish()
        else:
            printer.whole(result.output)
            printer.finish()
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": result.output}]
        self.last_trace = result.trace
        if self.show_route:
            note(route_line(result.trace.to_dict(self.pipeline.redactor)))


async def _stoppable(request: Any) -> Any:
    """Await `request` in its own task, which Ctrl-C (SIGINT) cancels: raises Stopped then. Where no
    signal handler can be installed (not the main thread), Ctrl-C behaves as Python's default."""
    task = asyncio.ensure_future(request)
    loop = asyncio.get_running_loop()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, stop)
        installed = True
    try:
        return await task
    except asyncio.CancelledError:
        if stopped and task.cancelled():
            raise Stopped from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def _error(message: str, hint: str | None) -> None:
    """`error: what` and an indented hint on stderr, as llmnet reports errors everywhere."""
    text = message + (f"\n{hint}" if hint else "")
    sys.stderr.write("error: " + text.replace("\n", "\n       ") + "\n")
    sys.stderr.flush()
