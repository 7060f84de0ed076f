"""The async pipeline executor: routing loop, conditions, hooks, hop limit, trace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from .answering import asking_node, check_features, own_ids, tag_response, tagging
from .base import Backend, NodeKind, Router, Transport
from .caching import Caches
from .composition import Composition, NodeConfig, default_composition_path, load_composition
from .composition.schema import HookConfig
from .composition.specs import node_models, node_spec
from .conditions import parse_condition
from .errors import (
    ConditionError,
    HopLimitError,
    LLMNetError,
    PipelineError,
    RoutingError,
    StepTimeoutError,
)
from .events import NO_SPAN, span, wants
from .hooks import HookRunner, apply_transform
from .interpolate import find_secret_references, resolve_secrets
from .model_calls import NO_ANSWER, ModelCalls, NodeModel
from .plugins import PluginHost, get_host
from .redact import Redactor
from .resources import Resources
from .run import ChunkCallback, RequestState, RunResult, TokenCallback, request_parameters, split_messages
from .secret_blocks import load_secrets
from .trace import Hop, Trace
from .types import AnswerOptions, Candidate, HookCall, Message, ModelSpec, RouteDecision, RouteRequest
from .variables import VariableScope

#: the next node, how it was chosen (for the trace table) and the decision's details
Choice = tuple[str, str, dict[str, Any] | None]
#: `make(node, spec, cls, resources)`: the backend that serves `node`'s calls of the model `spec`, whose
#: plugin's class is `cls` (a stand-in that forwards the calls to where the node is deployed)
BackendFactory = Callable[[str, ModelSpec, type[Backend], Resources], Backend]


class Pipeline:
    """A composition ready to run requests: `async with Pipeline.from_file(p) as pipe: await pipe.run(q)`."""

    def __init__(
        self,
        composition: Composition,
        *,
        host: PluginHost | None = None,
        max_hops: int | None = None,
        variables: Mapping[str, Any] | None = None,
        backends: BackendFactory | None = None,
    ) -> None:
        self.composition = composition
        self.host = host or get_host()
        self.registries = self.host.registries
        self.host.install_observers()
        self.max_hops = max_hops or composition.file.settings.max_hops
        self.variables = dict(variables or {})
        self.resources = Resources()
        self.redactor = Redactor()
        self.secrets: dict[str, dict[str, str]] = {}
        self._started = False
        #: makes each node's own backend of a model (a deployer's stand-in that calls it elsewhere); without
        #: it, the nodes that call a model share one backend of the plugin that provides it
        self._make_backend = backends
        self._backends: dict[tuple[str, str], Backend] = {}
        self._transports: dict[str, Transport] = {}
        self._delegates: dict[str, NodeKind] = {}
        self._routers: dict[str, Router] = {}
        self._nodes = composition.nodes
        #: per node name: whether its answer is the output (`_is_final`), can be (`_may_be_final`), and
        #: whether none of its targets has an `if` (computed on first use: the composition does not change)
        self._final: dict[str, bool] = {}
        self._may_final: dict[str, bool] = {}
        self._unconditional: dict[str, bool] = {}
        self._functions = {
            name: reg.value for name, reg in self.registries.condition_functions.entries.items()
        }
        caches = Caches(
            composition.file.settings.cache,
            self.registries.caches,
            self.resources,
            self.redactor,
            lambda: self.secrets,
        )
        #: each node's model calls: its fallback models, its response cache
        self.calls = ModelCalls(self._backend, caches, self.redactor, composition.file.settings.cooldown)
        self.hooks = HookRunner(
            self._transport,
            lambda fn: composition.file.functions[fn].type,
            self._functions,
            self.redactor,
        )

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Pipeline:
        """Load and validate a composition file (raises CompositionError listing every problem)."""
        host = kwargs.get("host") or get_host()
        return cls(load_composition(path, registries=host.registries), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **kwargs: Any) -> Pipeline:
        """Build a pipeline from an already parsed composition."""
        host = kwargs.get("host") or get_host()
        return cls(load_composition(data, registries=host.registries), **kwargs)

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # a run that was stopped (cancelled, Ctrl-C) rather than one that failed does not wait for its
        # observe hooks
        await self.aclose(wait=exc_type is None or issubclass(exc_type, Exception))

    async def start(self) -> None:
        """Load every secret block once; a missing block or variable is an error naming it."""
        if self._started:
            return
        try:
            self.secrets = await load_secrets(self.composition, self.registries, self.redactor)
        except LLMNetError as exc:
            raise self._redacted(exc) from None
        if find_secret_references(self.composition.raw.get("architecture")):
            self._nodes = {
                name: NodeConfig.model_validate(resolve_secrets(node.model_dump(by_alias=True), self.secrets))
                for name, node in self._nodes.items()
            }
        self._started = True
        default_router = self.composition.file.settings.router
        for node in self._nodes.values():
            for model in node_models(node, default_router, self.registries.routers):
                if self._backend_key(node, model) not in self._backends:
                    # a failure here belongs to the first real call, which reports it with its context
                    with contextlib.suppress(Exception):
                        await self._backend(node, model).prepare()

    async def aclose(self, *, wait: bool = True) -> None:
        """Wait for observe hooks (`wait=False`: cancel them), then close backends, transports and pooled
        connections.

        Cancelled while it waits (the process is told to stop), it cancels the observe hooks too: their
        transports clean up (a shell hook's process group is killed), and the rest is still closed.
        """
        try:
            if wait:
                await self.hooks.drain()
        finally:
            try:
                await self.hooks.cancel()  # nothing is left after a full drain
            finally:
                for item in [*self._backends.values(), *self._transports.values(), *self._delegates.values()]:
                    with contextlib.suppress(Exception):
                        await item.aclose()
                await self.resources.aclose()

    def _backend(self, node: NodeConfig, model: str | None = None) -> Backend:
        """The backend of `model` (default: the node's own model), created on first use."""
        name = model or node.model
        assert name is not None
        key = self._backend_key(node, name)
        if key not in self._backends:
            if name not in self.composition.file.models:
                raise RoutingError(
                    f'node "{node.name}": model "{name}" is not defined in models',
                    hint=f"defined models: {', '.join(sorted(self.composition.file.models)) or 'none'}",
                )
            spec = self.composition.model_spec(name, self.secrets)
            if spec.api_key:
                self.redactor.add([spec.api_key])
            cls = self.registries.backends.get(spec.backend)
            if cls is None:
                raise PipelineError(
                    f'node "{node.name}": no installed plugin provides the backend "{spec.backend}"',
                    hint="run `llmnet plugins` to see what is installed",
                )
            if self._make_backend is None:
                self._backends[key] = cls(spec, self.resources)
            else:
                self._backends[key] = self._make_backend(node.name, spec, cls, self.resources)
        return self._backends[key]

    def _backend_key(self, node: NodeConfig, model: str) -> tuple[str, str]:
        return (node.name if self._make_backend is not None else "", model)

    def _transport(self, function: str) -> Transport:
        if function not in self._transports:
            spec = self.composition.function_spec(function, self.secrets)
            cls = self.registries.transports.get(spec.type)
            if cls is None:
                raise PipelineError(f'function "{function}": no installed plugin provides "{spec.type}"')
            self._transports[function] = cls(spec, self.resources)
        return self._transports[function]

    def _router(self, node: NodeConfig) -> Router:
        name = node.router or self.composition.file.settings.router
        if name not in self._routers:
            cls = self.registries.routers.get(name)
            if cls is None:
                raise RoutingError(
                    f'node "{node.name}": unknown routing strategy "{name}"',
                    hint="run `llmnet plugins` to see what is installed",
                )
            self._routers[name] = cls()
        return self._routers[name]

    def _redacted(self, exc: LLMNetError) -> LLMNetError:
        exc.message = self.redactor(exc.message)
        exc.args = (exc.message,)
        if exc.hint:
            exc.hint = self.redactor(exc.hint)
        return exc

    # -- running -----------------------------------------------------------------------------------

    async def run(
        self,
        prompt: str | Sequence[Message | Mapping[str, str]],
        *,
        variables: Mapping[str, Any] | None = None,
        on_token: TokenCallback | None = None,
        request_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        route_only: bool = False,
        source: str = "library",
        answer: AnswerOptions | None = None,
        on_chunk: ChunkCallback | None = None,
    ) -> RunResult:
        """Send one request through the pipeline and return the final output and the trace.

        `prompt` is a text or a chat history. Routing, conditions and `$INPUT` see the last *user*
        message; answering nodes get the whole history (system prompts and earlier turns before it,
        any later messages after it, in order). `parameters` (temperature, top_p, max_tokens, stop,
        seed) apply to the model call of every node whose answer can be the output. `on_token`
        receives the final answer's pieces as they are generated. `route_only` takes every routing
        decision without asking any handler or delegated node to answer (each passes its input on, and the
        trace marks it `skipped`): what `llmnet eval` measures. `source` says who asked ("run", "chat",
        "serve", "library"), for observers (metrics, traces). `answer` (tools, response format, logprobs)
        goes to the node whose answer can be the output, refused (UnsupportedFeatureError) when its
        backend cannot do it; a conversation that ends with tool results goes back to the node that asked
        for the calls (see `answering.py`). `on_chunk` receives every streamed piece, tool calls too.
        """
        messages, last = split_messages(prompt)
        before, text, after = messages[:last], messages[last].content, messages[last + 1 :]
        request = RequestState(
            before,
            after,
            request_parameters(parameters),
            on_token,
            route_only=route_only,
            answer=answer or NO_ANSWER,
            on_chunk=on_chunk,
        )
        trace = Trace(request_id=request_id or os.urandom(16).hex())
        with span("request", trace.request_id, source=source, redact=self.redactor, trace=trace) as observed:
            if observed.recording:
                observed.attributes["composition"] = self.composition_path
                observed.attributes["composition_name"] = self.composition.file.name
                observed.attributes["messages"] = messages
            try:
                output = await self._run_request(request, text, variables, trace)
            finally:
                if observed.recording:
                    observed.attributes["usage"] = trace.usage
            if observed.recording:
                observed.attributes["answer"] = output
        return RunResult(output, trace, request.finish_reason, request.tool_calls, request.logprobs)

    async def _run_request(
        self, request: RequestState, text: str, variables: Mapping[str, Any] | None, trace: Trace
    ) -> str:
        if not self._started:
            await self.start()
        scope = VariableScope(
            text, trace.request_id, {**self.variables, **(variables or {})}, self.registries, self._nodes
        )
        started = time.perf_counter()
        try:
            return await self._walk(request, text, scope, trace)
        except LLMNetError as exc:
            trace.error = self.redactor(exc.message)
            exc.trace = trace
            raise self._redacted(exc) from None
        finally:
            trace.total_ms = (time.perf_counter() - started) * 1000

    @cached_property
    def composition_path(self) -> str | None:
        """The composition's file, None for the bundled default pipeline or one built from a dict."""
        source = self.composition.source
        if source == "<composition>" or source == str(default_composition_path()):
            return None
        return source

    async def _walk(self, request: RequestState, data: str, scope: VariableScope, trace: Trace) -> str:
        current, chosen_by, decision = self.composition.entry, "entry", None
        asking = asking_node(request.after, self._nodes)
        if asking is not None and self._nodes[asking].model is not None and asking != current:
            current, chosen_by = asking, "tool result"  # the node that asked for the calls answers again
        visits = 0
        while True:
            node = self._nodes[current]
            role = "output" if node.adapter == "output" else "handler"
            hop = Hop(len(trace.hops) + 1, node.name, node.layer, role, chosen_by, decision)
            trace.hops.append(hop)
            if node.adapter == "output":
                return data
            visits += 1
            if visits > self.max_hops:
                raise HopLimitError(
                    f'hop limit {self.max_hops} reached at node "{node.name}" ({" → ".join(trace.path)})',
                    hint="add a $HOP_COUNT condition to end the loop, or raise --max-hops",
                )
            started = time.perf_counter()
            scope.enter(node, data, visits - 1)
            context = NO_SPAN  # a span's attributes are gathered only when some observer wants it
            if wants("hop"):
                context = span("hop", node.name, node=node.name, layer=node.layer, role=role, hop=hop)
            with context as observed:
                try:
                    data, (current, chosen_by, decision) = await self._visit(node, request, data, scope, hop)
                finally:
                    hop.ms = (time.perf_counter() - started) * 1000
                if observed.recording:
                    observed.attributes["role"] = hop.role

    async def _visit(
        self, node: NodeConfig, request: RequestState, data: str, scope: VariableScope, hop: Hop
    ) -> tuple[str, Choice]:
        """Run one node: pre-hooks, model call or routing, post-hooks; returns the data and the next hop.

        The entry node routes; it answers itself only when its one remaining target is an output node.
        """
        pre, post = node.hooks.pre, node.hooks.post
        if pre:
            data = await self._hooks(pre, "pre", node, data, scope, hop)
        scope.set_input(data)
        kind = self.registries.node_kinds.get(node.adapter)
        if node.name == self.composition.entry and kind is None:
            targets = self._filter_targets(node, scope)
            if not (len(targets) == 1 and self.composition.is_output(targets[0])):
                hop.role = "router"
                choice = await self._choose(node, targets, data, scope, hop, request.before)
                scope.decided(choice[0])
                if post:
                    data = await self._hooks(post, "post", node, data, scope, hop)
                return data, choice
        if request.route_only:
            hop.role = "skipped"
            output = data
        elif kind is not None:
            hop.role = node.adapter
            if self._may_be_final(node):
                check_features(node.name, request.answer, None, node.adapter)
            output = await self._delegate(node, kind, data, scope)
            request.finish_reason = None
        else:
            hop.role = "handler"
            output = await self._answer(node, request, data, hop, scope)
            if request.tool_calls:  # the caller runs its tools and asks again: this walk ends here
                out = next(t for t in self.composition.targets[node.name] if self.composition.is_output(t))
                return output, (out, "tool calls", None)
        if post:
            output = await self._hooks(post, "post", node, output, scope, hop)
        scope.set_input(output)
        targets = self._filter_targets(node, scope)
        choice = await self._choose(node, targets, output, scope, hop, request.before)
        scope.decided(choice[0])
        return output, choice

    async def _hooks(
        self, hooks: list[HookConfig], phase: str, node: NodeConfig, data: str, scope: VariableScope, hop: Hop
    ) -> str:
        """Run a node's pre- or post-hooks (an aborting hook that timed out raises StepTimeoutError)."""
        return await self.hooks.run(
            hooks, phase=phase, node=node.name, data=data, variables=scope.values(), hop=hop
        )

    def _is_final(self, node: NodeConfig) -> bool:
        """True when whatever this node answers is the pipeline's output (so it can be streamed)."""
        found = self._final.get(node.name)
        if found is None:
            targets = self.composition.targets.get(node.name, [])
            found = bool(targets) and all(self.composition.is_output(t) for t in targets)
            found = self._final[node.name] = found and not node.hooks.post
        return found

    def _may_be_final(self, node: NodeConfig) -> bool:
        """True when this node's answer can become the pipeline's output (one of its targets is an
        output node): the caller's sampling parameters apply to its model call."""
        found = self._may_final.get(node.name)
        if found is None:
            targets = self.composition.targets.get(node.name, [])
            found = self._may_final[node.name] = any(self.composition.is_output(t) for t in targets)
        return found

    def _filter_targets(self, node: NodeConfig, scope: VariableScope) -> list[str]:
        targets = self.composition.targets.get(node.name, [])
        if not targets:
            raise RoutingError(
                f'node "{node.name}" has nowhere to send its result (no output-to)',
                hint="add output-to naming the next node or the output node",
            )
        unconditional = self._unconditional.get(node.name)
        if unconditional is None:
            unconditional = all(self._nodes[name].if_ is None for name in targets)
            self._unconditional[node.name] = unconditional
        if unconditional:
            scope.last_conditions = {}
            return list(targets)
        results: dict[str, bool] = {}
        functions = self._functions
        for name in targets:
            condition = self._nodes[name].if_
            if condition is None:
                results[name] = True
                continue
            try:
                results[name] = parse_condition(condition).evaluate(scope.for_target(name), functions)
            except ConditionError as exc:
                raise ConditionError(
                    f'node "{name}": if {condition!r}: {exc.message}', hint=exc.hint
                ) from None
        kept = [name for name, ok in results.items() if ok]
        scope.last_conditions = {name: results[name] for name in targets if self._nodes[name].if_ is not None}
        if kept:
            return kept
        if self.composition.file.settings.no_match == "all":
            return list(targets)
        detail = "; ".join(f"{n}: {self._nodes[n].if_} → false" for n in targets)
        raise RoutingError(
            f'node "{node.name}": no target\'s condition holds ({detail}) with {scope.describe(targets[0])}',
            hint='add a target without "if" as a fallback, or set settings.no-match to "all"',
        )

    async def _choose(
        self,
        node: NodeConfig,
        targets: list[str],
        text: str,
        scope: VariableScope,
        hop: Hop,
        history: Sequence[Message] = (),
    ) -> Choice:
        """Pick the next node among `targets`, in a "route" span for observers."""
        context = NO_SPAN
        if wants("route"):
            context = span("route", node.name, node=node.name, candidates=targets)
        with context as observed:
            if len(targets) == 1:
                choice = self._only(targets[0], scope)
            else:
                choice = await self._decide(node, targets, text, scope, hop, history)
            if observed.recording:
                detail = choice[2] or {}
                observed.attributes.update(
                    chosen=choice[0],
                    chosen_by=choice[1],
                    strategy=detail.get("strategy", choice[1]),
                    scores=detail.get("scores", {}),
                )
        return choice

    def _only(self, target: str, scope: VariableScope) -> Choice:
        """The one target left (by its conditions, or the only one there is): no router to ask."""
        conditions = dict(scope.last_conditions)
        how = "condition" if conditions else "only target"
        return target, how, {"conditions": conditions} if conditions else None

    async def _decide(
        self,
        node: NodeConfig,
        targets: list[str],
        text: str,
        scope: VariableScope,
        hop: Hop,
        history: Sequence[Message] = (),
    ) -> Choice:
        """Pick the next node among several `targets`: the node's router decides."""
        conditions = dict(scope.last_conditions)
        router = self._router(node)
        strategy = node.router or self.composition.file.settings.router
        candidates = tuple(
            Candidate(
                name=t,
                use_case=self._nodes[t].use_case or "",
                examples=tuple(self._nodes[t].examples),
                is_output=self.composition.is_output(t),
            )
            for t in targets
        )
        model = NodeModel(node, hop, scope.request_id, self._backend, self.calls)
        has_model = node.model is not None
        request = RouteRequest(
            text=text,
            candidates=candidates,
            node=node.name,
            variables=scope.strings(),
            complete=model.complete if has_model else None,
            options=node.router_options,
            embed=model.embed,
            score=model.score if has_model else None,
            history=tuple(history),
        )
        started = time.perf_counter()
        decision: RouteDecision = await router.choose(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if decision.target not in targets:
            raise RoutingError(
                f'node "{node.name}": routing strategy "{strategy}" chose "{decision.target}", '
                f"which is not one of {', '.join(targets)}"
            )
        detail: dict[str, Any] = {
            "strategy": strategy,
            "candidates": list(targets),
            "reason": decision.reason,
            "answer": decision.answer,
            "scores": dict(decision.scores),
            "ms": elapsed_ms,
        }
        if conditions:
            detail["conditions"] = conditions
        label = f"{strategy} router"
        if decision.scores:
            label += f" {decision.scores.get(decision.target, 0):.2f}"
        return decision.target, label, detail

    async def _answer(
        self, node: NodeConfig, request: RequestState, data: str, hop: Hop, scope: VariableScope
    ) -> str:
        if node.model is None:
            raise PipelineError(
                f'node "{node.name}" has no model to answer with',
                hint=f'add "model": "<key of models>" to node "{node.name}"',
            )
        backend = self._backend(node)
        answer = request.answer if self._may_be_final(node) else None
        if answer is not None:
            check_features(node.name, answer, backend)
        messages = [Message("system", node.context)] if node.context else []
        messages += [*request.before, Message("user", data), *request.after]
        params = request.parameters if request.parameters and self._may_be_final(node) else {}
        final = self._is_final(node)
        stream = request.on_token if request.on_token is not None and final else None
        chunks = tagging(request.on_chunk, node.name) if request.on_chunk is not None and final else None
        messages = own_ids(messages, self._nodes)
        response = await self.calls.call(
            node, messages, params, hop, scope.request_id, stream, answer=answer, on_chunk=chunks
        )
        request.finish_reason = response.finish_reason
        request.tool_calls = tag_response(response, node.name) if answer is not None else ()
        request.logprobs = response.logprobs
        return response.text

    async def _delegate(self, node: NodeConfig, kind: type[NodeKind], data: str, scope: VariableScope) -> str:
        """A node whose adapter a plugin provides: its work is done elsewhere, its reply is the output."""
        if node.name not in self._delegates:
            self._delegates[node.name] = kind(node_spec(node, self.composition.base_dir), self.resources)
        delegate = self._delegates[node.name]
        timeout = delegate.spec.timeout
        call = HookCall(node.name, "node", "transform", node.name, data, scope.strings(), timeout)
        try:
            reply = await asyncio.wait_for(delegate.call(call), timeout)
        except LLMNetError:
            raise
        except TimeoutError:
            raise StepTimeoutError(
                f'node "{node.name}" ({node.adapter} node) gave no answer within {timeout:g} s'
            ) from None
        except Exception as exc:  # noqa: BLE001 - a plugin's bug becomes a clear error
            raise PipelineError(f'node "{node.name}" ({node.adapter} node) failed: {exc}') from None
        return apply_transform(reply, data)
