"""Answers restricted to fixed choices on the llama-cpp backend: the GBNF grammar built from the choices
(escaped for any name), and on the real bundled model (Gemma 3 270M) an answer that is always one of
the choices, whatever the names contain and whatever the model entry's own limits say."""

from __future__ import annotations

import ctypes

import pytest
from llmnet_llamacpp.backend import LlamaCppBackend
from llmnet_llamacpp.choices import choice_grammar, gbnf_literal, shortlist, vocabulary

from llmnet_core import ChatRequest, Message, ModelSpec, Pipeline, Resources

ROUTING = """Choose the handler for the request. Answer with the handler's name only.

Handlers:
{lines}"""

#: awkward candidate names: quotes, backslashes, spaces, punctuation, accents, CJK, an emoji, a prefix
#: of another name
AWKWARD = ['say "hi"', "back\\slash", "two words", "café", "日本語", "rocket 🚀", "code", "code-review"]


def backend(**parameters) -> LlamaCppBackend:
    spec = ModelSpec(name="local", backend="llama-cpp", parameters={"temperature": 0, **parameters})
    return LlamaCppBackend(spec, Resources())


def choosing(text: str, choices: list[str], **parameters) -> ChatRequest:
    lines = "\n".join(f"- {name}" for name in choices)
    messages = (Message("system", ROUTING.format(lines=lines)), Message("user", text))
    return ChatRequest(messages=messages, model="local", parameters=parameters, choices=tuple(choices))


# -- the grammar -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("billing", '"billing"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there", '"tab\\u0009here"'),
        ("café", '"caf\\u00E9"'),
        ("🚀", '"\\U0001F680"'),
        ("[x]", '"[x]"'),
    ],
)
def test_names_become_gbnf_literals(text: str, literal: str) -> None:
    assert gbnf_literal(text) == literal


def test_the_grammar_is_the_prefix_then_one_choice() -> None:
    assert choice_grammar(["a", "b"], " ") == 'root ::= " " ("a" | "b")\n'
    assert choice_grammar(["a", "a", "b"]) == 'root ::= ("a" | "b")\n'  # a repeated name once


async def test_llama_cpp_parses_the_grammar_of_any_names() -> None:
    """llama.cpp refuses a grammar it cannot parse (llama_sampler_init_grammar gives NULL): each awkward
    name, and all of them at once, must parse."""
    import llama_cpp

    model = await backend().model()
    vocab = await model.generation.run(lambda llama: llama_cpp.llama_model_get_vocab(llama.model))
    for names in [*([name] for name in AWKWARD), AWKWARD]:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, choice_grammar(names, " ").encode(), b"root")
        assert sampler, f"llama.cpp refused the grammar of {names}"
        llama_cpp.llama_sampler_free(sampler)


def grammar_accepts(llama, names: list[str], prefix: str, pieces: list[bytes]) -> set[int]:
    """The tokens of the whole vocabulary the grammar of `names` accepts after the tokens whose text is
    each of `pieces` (on the model's thread)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    grammar = llama_cpp.llama_sampler_init_grammar(vocab, choice_grammar(names, prefix).encode(), b"root")
    every, _ = vocabulary(llama)
    for piece in pieces:
        llama_cpp.llama_sampler_accept(grammar, every.index(piece))
    size = llama.n_vocab()
    data = (llama_cpp.llama_token_data * size)()
    for token in range(size):
        data[token].id, data[token].logit = token, 0.0
    array = llama_cpp.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(grammar, ctypes.byref(array))
    llama_cpp.llama_sampler_free(grammar)
    return {slot.id for slot in data if slot.logit == 0.0}


async def test_the_shortlist_holds_every_token_the_grammar_accepts() -> None:
    """The grammar is shown only the shortlist: over the whole vocabulary it accepts nothing else, at the
    start, after the prefix, and part-way through names."""
    model = await backend().model()

    def check(llama) -> None:
        listed = set(shortlist(llama, tuple((" " + n).encode() for n in AWKWARD)))
        assert len(listed) < 5000  # a short list: the grammar's work per step shrinks with it
        for pieces in ([], [b" "], [b" ", "日".encode()], [b" ", b"ca"], [b" ", b"code"]):
            accepted = grammar_accepts(llama, AWKWARD, " ", pieces)
            assert accepted and accepted <= listed, pieces

    await model.generation.run(check)


# -- on the bundled model ----------------------------------------------------------------------------


def test_the_backend_says_it_constrains_choices() -> None:
    assert backend().constrains_choices() is True


@pytest.mark.parametrize(
    "text",
    ["How do I reverse a list in Python?", "Write a haiku about snow.", "Tell me something", "?"],
)
async def test_the_answer_is_always_one_of_the_choices(text: str) -> None:
    choices = ["facts", "poems", "code", "maths"]
    answer = await backend().complete(choosing(text, choices))
    assert answer.text in choices
    assert answer.usage.completion_tokens <= 4


@pytest.mark.parametrize("text", ["Say hello in Japanese.", "I need a rocket.", "Order a coffee", "..."])
async def test_names_with_quotes_spaces_and_unicode_come_back_exactly(text: str) -> None:
    answer = await backend().complete(choosing(text, AWKWARD))
    assert answer.text in AWKWARD, answer.text


async def test_a_one_token_limit_on_the_model_does_not_cut_a_choice() -> None:
    """The entry's max_tokens is for its other answers: an answer among choices gets the room it needs
    (a limit the request itself sets still holds)."""
    choices = ["mathematics", "geography"]
    answer = await backend(max_tokens=1).complete(choosing("What is 2 + 2?", choices))
    assert answer.text in choices
    cut = await backend().complete(choosing("What is 2 + 2?", choices, max_tokens=1))
    assert cut.usage.completion_tokens == 1 and cut.finish_reason == "length"


async def test_a_streamed_answer_is_the_choice_too() -> None:
    model = backend()
    request = choosing("Write a poem about the sea.", AWKWARD)
    whole = await model.complete(request)
    pieces = [chunk.text async for chunk in model.stream(request)]
    assert "".join(pieces) == whole.text


async def test_the_llm_router_on_the_bundled_model_always_routes_to_a_candidate() -> None:
    names = ["weather", "cooking", "sports"]
    composition = {
        "models": {"local": {"runner": "llama-cpp", "parameters": {"max_tokens": 64}}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "local", "router": "llm", "output-to": [1]},
            *(
                {"name": name, "layer": 1, "model": "local", "use-case": f"questions about {name}"}
                for name in names
            ),
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }
    async with Pipeline.from_dict(composition) as pipeline:
        for text in ["Will it rain tomorrow?", "How long do I boil an egg?", "asdf qwerty", ""]:
            result = await pipeline.run(text or " ", route_only=True)
            decision = result.trace.hops[1].decision
            assert result.trace.hops[1].node in names
            assert decision["answer"] in names and decision["reason"] == "llm answer (exact)"
            assert result.trace.hops[0].usage.completion_tokens < 8  # a name, not a paragraph
