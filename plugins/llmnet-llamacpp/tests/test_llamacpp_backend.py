"""The llama-cpp backend on the real bundled model (Gemma 3 270M): answers, limits, streaming, concurrency,
embeddings and choice scoring. Greedy decoding (temperature 0) keeps the answers reproducible: prompts are
evaluated in the same batches whatever ran before, so the same request gets the same answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llmnet_llamacpp.backend import LlamaCppBackend

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Pipeline, Resources


def backend(**parameters) -> LlamaCppBackend:
    spec = ModelSpec(name="local", backend="llama-cpp", parameters={"temperature": 0, **parameters})
    return LlamaCppBackend(spec, Resources())


def ask(text: str, **parameters) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), model="local", parameters=parameters)


def first_of_a_process(tmp_path: Path, **parameters) -> LlamaCppBackend:
    """A backend on a context of its own (the bundled file under another name), so that its first call is
    the first call of a new process."""
    from llmnet_llamacpp.bundled import bundled_model_path

    alias = tmp_path / "same-model.gguf"
    alias.symlink_to(bundled_model_path())
    spec = ModelSpec(
        name="local",
        backend="llama-cpp",
        options={"source": str(alias)},
        parameters={"temperature": 0, **parameters},
    )
    return LlamaCppBackend(spec, Resources())


#: a router's fixed instructions, longer than a run of `evaluation.RUN` tokens, so that calls keep some
ROUTING = """Choose the handler for the request. Answer with the handler's name only.

Handlers:
- facts: questions of fact: history, geography, science, people, places, dates, definitions
- poems: writing poems, stories, song lyrics, slogans and jokes, rewriting and editing text
- code: programming: writing, explaining and debugging source code, compilers, libraries, build errors
- maths: arithmetic, algebra, equations, calculus, geometry, probability and statistics
- travel: trips, flights, hotels, visas, what to see and where to eat in a city"""

#: a node's system text (the same instructions on one line), longer than a run too
SYSTEM = "You are a careful assistant. " + " ".join(
    line for line in ROUTING.splitlines()[:1] + ROUTING.splitlines()[3:]
)


def single_node(**parameters) -> dict:
    return {
        "models": {
            "local": {"runner": "llama-cpp", "parameters": {"temperature": 0, "max_tokens": 16, **parameters}}
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "local", "output-to": ["out"]},
            {"name": "out", "adapter": "output"},
        ],
    }


async def test_answers_a_factual_question_through_a_pipeline():
    async with Pipeline.from_dict(single_node()) as pipeline:
        result = await pipeline.run("What is the capital of France?")
    alone = await backend(max_tokens=16).complete(ask("What is the capital of France?"))
    assert result.output and result.output == alone.text  # the model's own greedy answer
    assert result.usage.prompt_tokens > 5 and result.usage.completion_tokens >= 1
    assert result.trace.hops[0].backend == "llama-cpp"


async def test_max_tokens_is_respected():
    response = await backend().complete(ask("Write a long story about a dragon.", max_tokens=5))
    assert response.usage.completion_tokens <= 5
    assert response.finish_reason == "length"
    assert response.text


async def test_stream_gives_the_same_answer_in_pieces():
    model = backend(max_tokens=24)
    whole = await model.complete(ask("Name three colours of the rainbow."))
    # the same greedy answer whatever ran before: the prompt is evaluated in the same batches
    pieces = [chunk async for chunk in model.stream(ask("Name three colours of the rainbow."))]
    texts = [c.text for c in pieces if c.text]
    assert len(texts) > 1
    assert "".join(texts) == whole.text
    assert (
        pieces[-1].usage is not None and pieces[-1].usage.completion_tokens == whole.usage.completion_tokens
    )


async def test_the_same_request_gets_the_same_greedy_answer_whatever_ran_before(tmp_path: Path):
    def asking(question: str) -> ChatRequest:
        return ChatRequest(messages=(Message("system", SYSTEM), Message("user", question)), model="local")

    question = asking("Name three colours of the rainbow.")
    first = await first_of_a_process(tmp_path, max_tokens=24).complete(question)
    model = backend(max_tokens=24)
    await model.complete(asking("Name three colours of a traffic light."))  # the same system text
    assert await model.complete(question) == first
    assert await model.complete(question) == first
    await model.score_choices(question.messages, ["red", "blue"])
    assert await model.complete(question) == first
    pieces = [chunk async for chunk in model.stream(question)]
    assert "".join(c.text for c in pieces) == first.text


async def test_choice_scores_do_not_depend_on_what_ran_before(tmp_path: Path):
    choices = ["facts", "poems", "code", "maths", "travel"]
    messages = [Message("system", ROUTING), Message("user", "How do I sort a list in Python?")]
    first = await first_of_a_process(tmp_path).score_choices(messages, choices)
    model = backend(max_tokens=8)
    other = [Message("system", ROUTING), Message("user", "Write a poem about the sea.")]
    await model.score_choices(other, choices)  # the same routing prompt, another request
    assert await model.score_choices(messages, choices) == first
    assert await model.score_choices(messages, choices) == first
    await model.complete(ChatRequest(messages=tuple(messages), model="local"))
    assert await model.score_choices(messages, choices) == first


async def test_prompts_are_evaluated_in_whole_runs_from_their_first_token(monkeypatch):
    from llmnet_llamacpp.evaluation import RUN

    model = backend(max_tokens=4)
    context = (await model.model()).generation
    llama = await context.run(lambda llama: llama)
    evaluated: list[tuple[int, tuple[int, ...]]] = []
    original = llama.eval

    def recording(tokens):
        evaluated.append((llama.n_tokens, tuple(tokens)))  # where, and what (n_batch may split it)
        original(tokens)

    monkeypatch.setattr(llama, "eval", recording)

    def asking(text: str) -> list[Message]:
        return [Message("system", ROUTING), Message("user", text)]

    async def check(messages: list[Message], call, *, keeps: bool = False) -> None:
        _, prompt = await context.run(lambda llama: model._prompt(llama, messages))
        assert len(prompt) > 2 * RUN
        evaluated.clear()
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
        within = [(start, tokens) for start, tokens in evaluated if start < len(prompt)]
        assert within and within[-1][0] == (len(prompt) - 1) // RUN * RUN  # the last run, always
        for start, tokens in within:  # each one a whole run of the prompt, where a new process puts it
            assert start % RUN == 0 and tokens == tuple(prompt[start : start + RUN])
        assert within[0][0] > 0 or not keeps  # the runs of the same routing instructions are kept

    choices = ["facts", "poems"]
    for text in ["What is the capital of France?", "Write a poem about the sea."]:
        await check(asking(text), model.score_choices(asking(text), choices))
        await check(asking(text), model.score_choices(asking(text), choices), keeps=True)
        request = ChatRequest(messages=tuple(asking(text)), model="local")
        await check(asking(text), model.complete(request), keeps=True)
        await check(asking(text), model.complete(request), keeps=True)
        await check(asking(text), model.stream(request), keeps=True)


async def test_eight_concurrent_requests_are_queued_safely():
    model = backend(max_tokens=8)
    questions = [f"What is {n} plus {n}?" for n in range(1, 9)]
    answers = await asyncio.gather(*(model.complete(ask(q)) for q in questions))
    assert all(a.text and a.usage.completion_tokens >= 1 for a in answers)
    alone = await model.complete(ask(questions[3]))
    assert answers[3].text == alone.text  # no request saw another's state


async def test_a_stream_stopped_early_does_not_block_the_model():
    model = backend(max_tokens=64)
    stream = model.stream(ask("Tell me about the ocean."))
    first = await anext(stream)
    assert first.text
    await stream.aclose()
    question = ask("What is the capital of France?", max_tokens=8)
    after = await asyncio.wait_for(model.complete(question), 60)
    assert after.text and after == await model.complete(question)  # nothing of the stream is left over


async def test_embeddings_place_related_texts_closer():
    vectors = await backend().embed(
        ["How do I fix this Python error?", "My Java code does not compile", "A poem"]
    )
    assert len(vectors) == 3 and len(vectors[0]) > 100

    def cosine(a, b):
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


async def test_score_choices_prefers_the_right_answer():
    scores = await backend().score_choices(
        [Message("user", "What is the capital of France?")], ["Paris", "Tokyo"]
    )
    assert set(scores) == {"Paris", "Tokyo"}
    assert scores["Paris"] > scores["Tokyo"]
    assert all(s < 0 for s in scores.values())  # log-probabilities


async def test_a_missing_model_file_names_the_model_and_path(tmp_path: Path):
    spec = ModelSpec(name="mine", backend="llama-cpp", options={"source": "nope.gguf"}, base_dir=tmp_path)
    with pytest.raises(BackendError) as caught:
        await LlamaCppBackend(spec, Resources()).complete(ask("hi"))
    assert (
        "models.mine.source" in caught.value.message and str(tmp_path / "nope.gguf") in caught.value.message
    )


def test_a_misspelt_parameter_is_named():
    spec = ModelSpec(name="mine", backend="llama-cpp", parameters={"temprature": 0.5})
    with pytest.raises(BackendError) as caught:
        LlamaCppBackend(spec, Resources())
    assert "models.mine.parameters.temprature" in caught.value.message
    assert "temperature" in (caught.value.hint or "")


async def test_a_prompt_longer_than_the_context_is_a_clear_error():
    model = backend(n_ctx=64)
    with pytest.raises(BackendError) as caught:
        await model.complete(ask("word " * 200))
    assert "n_ctx" in caught.value.message and "parameters.n_ctx" in (caught.value.hint or "")


#: a chat template that writes every message, whatever its role, between turn markers
TURNS = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n"
    "{% endfor %}<start_of_turn>model\n"
)


async def test_a_chat_template_from_the_composition_is_used():
    plain, templated = (
        backend(max_tokens=8),
        LlamaCppBackend(
            ModelSpec(
                name="local",
                backend="llama-cpp",
                parameters={"temperature": 0, "max_tokens": 8},
                options={"chat-template": TURNS},
            ),
            Resources(),
        ),
    )
    a = await plain.complete(ask("Hello"))
    b = await templated.complete(ask("Hello"))
    # the template adds its turn markers around the same words: more prompt tokens
    assert b.usage.prompt_tokens > a.usage.prompt_tokens


@pytest.mark.parametrize("template", [None, TURNS], ids=["completion", "chat-template"])
async def test_the_node_context_and_the_conversations_system_message_reach_the_prompt(monkeypatch, template):
    import llmnet_llamacpp.backend as backend_module

    evaluated: list[str] = []
    original = backend_module.evaluate

    def recording(llama, tokens, **kwargs):
        evaluated.append(llama.detokenize(tokens, special=True).decode("utf-8", "replace"))
        return original(llama, tokens, **kwargs)

    monkeypatch.setattr(backend_module, "evaluate", recording)
    composition = single_node(max_tokens=1)
    composition["architecture"][0]["context"] = "Node rule: answer like a lighthouse keeper."
    if template is not None:
        composition["models"]["local"]["chat-template"] = template
    conversation = [
        {"role": "system", "content": "Caller rule: mention the tide."},
        {"role": "user", "content": "Where is the harbour?"},
    ]
    async with Pipeline.from_dict(composition) as pipeline:
        await pipeline.run(conversation)
    assert len(evaluated) == 1
    prompt = evaluated[0]
    positions = [
        prompt.find(text)
        for text in ("Node rule: answer like a lighthouse keeper.", "Caller rule: mention the tide.")
    ]
    assert -1 not in positions, prompt
    assert positions == sorted(positions) and positions[1] < prompt.find("Where is the harbour?"), prompt
    if template is not None:
        assert prompt.count("<start_of_turn>system\n") == 2, prompt


def test_stop_sequences_are_matched_across_pieces_and_held_back():
    from llmnet_llamacpp.generation import _held_back, generate

    class Scripted:
        def create_completion(self, tokens, stream, stop, **sampling):
            assert stream and stop == []
            for piece in ["Par", "is\nQu", "estion: next", " more"]:
                yield {"choices": [{"text": piece, "finish_reason": None}]}
            yield {"choices": [{"text": "", "finish_reason": "length"}]}

    emitted: list[str] = []
    usage, finish = generate(Scripted(), [1, 2, 3], {}, ["\nQuestion:"], emitted.append)
    assert "".join(emitted) == "Paris" and finish == "stop"
    assert all("\n" not in piece for piece in emitted)  # "\nQu" was held back, never shown
    assert usage.prompt_tokens == 3 and usage.completion_tokens == 3
    emitted.clear()
    usage, finish = generate(Scripted(), [1], {}, ["zzz"], emitted.append)
    assert "".join(emitted) == "Paris\nQuestion: next more" and finish == "length"
    assert _held_back("abc\nQ", ["\nQuestion:"]) == 2 and _held_back("abc", ["\nQ"]) == 0


async def test_the_answer_stops_where_the_model_starts_a_new_question():
    response = await backend(max_tokens=48).complete(ask("What is the capital of France?"))
    assert response.text and "Question:" not in response.text


async def test_configuration_vectors_are_kept_on_disk_and_requests_never(tmp_path: Path, monkeypatch):
    from llmnet_llamacpp.bundled import bundled_model_path

    source = str(bundled_model_path())
    monkeypatch.setenv("LLMNET_CACHE_DIR", str(tmp_path))

    def fresh() -> LlamaCppBackend:
        spec = ModelSpec(name="m", backend="llama-cpp", options={"source": source})
        return LlamaCppBackend(spec, Resources())

    first = await fresh().embed(["questions of fact", "poems and stories"], persist=True)
    stored = list((tmp_path / "embeddings").glob("*.json"))
    assert len(stored) == 1
    assert "questions of fact" not in stored[0].read_text()  # keyed by hash, not by the text
    second = fresh()
    cached = await second.embed(["poems and stories", "questions of fact"], persist=True)
    assert cached == [first[1], first[0]]
    before = stored[0].read_text()
    await second.embed(["a user's private request"])
    assert stored[0].read_text() == before


async def test_n_threads_bounds_the_prompt_threads_too() -> None:
    from llmnet_llamacpp.bundled import bundled_model_path
    from llmnet_llamacpp.models import LoadSettings, shared_model

    model = shared_model(LoadSettings(str(bundled_model_path()), n_ctx=256, n_threads=1))
    params = await model.generation.run(lambda llama: llama.context_params)
    assert (params.n_threads, params.n_threads_batch) == (1, 1)  # llama-cpp-python's default: every core
