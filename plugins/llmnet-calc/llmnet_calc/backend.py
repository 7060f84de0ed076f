"""The `calculator` backend: answers from `solve`, in this process, without a model."""

from __future__ import annotations

from llmnet_core import Backend, BackendError, ChatRequest, ChatResponse, ModelSpec, Problem, Usage

from .solve import NOT_FOUND, solve


class CalculatorBackend(Backend):
    """Answers arithmetic, counting and unit conversions exactly, without a model."""

    description = "arithmetic, counting and unit conversions, computed exactly in-process (no model)"

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """A calculator has no address; any other field is accepted and ignored."""
        if spec.url:
            return [
                Problem(
                    f"models.{spec.name}.url",
                    "a calculator model runs in this process and has no address",
                    'remove "url"',
                )
            ]
        return []

    @property
    def location(self) -> str:
        return "in-process calculator"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One sentence: the computed answer, why it has none, or that no calculation was found."""
        if request.choices:
            raise BackendError(
                f'model "{self.spec.name}" (calculator) cannot choose among routes',
                hint="route with another model, or give the node conditions that leave one target",
            )
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        answer = solve(question)
        text = answer.text if answer is not None else NOT_FOUND
        return ChatResponse(text=text, usage=Usage(), model=request.model, finish_reason="stop")
