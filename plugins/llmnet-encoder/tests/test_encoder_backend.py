"""The sentence-encoder backend on the real bundled all-MiniLM-L6-v2: vector shape and length, what is similar
to what, batches against single texts, truncation, unicode, the refusal to answer, and model folders."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from llmnet_encoder.backend import SentenceEncoderBackend
from llmnet_encoder.model import bundled_files

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Resources

DIMENSIONS = 384


def encoder(name: str = "enc", base_dir: Path | None = None, **entry) -> SentenceEncoderBackend:
    parameters = entry.pop("parameters", {})
    spec = ModelSpec(
        name=name,
        backend="sentence-encoder",
        options={"runner": "sentence-encoder", **entry},
        parameters=parameters,
        base_dir=base_dir or Path.cwd(),
    )
    return SentenceEncoderBackend(spec, Resources())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


async def test_each_text_gets_one_unit_length_vector_of_the_models_size():
    vectors = await encoder().embed(["Where is my parcel?", "How do I bake bread?", ""])
    assert len(vectors) == 3
    for vector in vectors:
        assert len(vector) == DIMENSIONS
        assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
        assert math.hypot(*vector) == pytest.approx(1.0, abs=1e-5)
    assert await encoder().embed([]) == []


@pytest.mark.parametrize(("quantize", "within"), [(False, 0.01), (True, 0.03)])
async def test_the_models_published_similarities_are_reproduced(quantize: bool, within: float):
    """all-MiniLM-L6-v2's documentation shows these three sentences' cosine similarities."""
    weather, sunny, stadium = await encoder(parameters={"quantize": quantize}).embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert cosine(weather, sunny) == pytest.approx(0.6660, abs=within)
    assert cosine(weather, stadium) == pytest.approx(0.1046, abs=within)
    assert cosine(sunny, stadium) == pytest.approx(0.1411, abs=within)


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence():
    question, paraphrase, unrelated = await encoder().embed(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the tallest mountain in Africa?",
        ]
    )
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.3


@pytest.mark.parametrize("quantize", [False, True])
async def test_a_batch_gives_each_text_the_vector_it_gets_alone(quantize: bool):
    texts = [
        "short",
        "A somewhat longer sentence about invoices, refunds and the annual subscription plan.",
        "short",  # the same text twice
        "Why does my Python loop print None at the end?",
        "Bonjour, je voudrais réserver une table pour deux personnes ce soir.",
    ]
    # batches of two, so that texts of different lengths share padded batches
    batched = await encoder(parameters={"batch_size": 2, "quantize": quantize}).embed(texts)
    single = encoder(parameters={"quantize": quantize})
    for text, vector in zip(texts, batched, strict=True):
        (alone,) = await single.embed([text])
        assert cosine(vector, alone) == pytest.approx(1.0, abs=1e-5)
        assert max(abs(a - b) for a, b in zip(vector, alone, strict=True)) < 1e-4


async def test_a_very_long_text_is_cut_at_the_models_length():
    words = [f"word{n}" for n in range(5000)]
    start = " ".join(words[:400])  # already more than 256 tokens
    long_a, long_b, beginning = await encoder().embed(
        [start + " " + " ".join(words[400:]), start + " something else entirely", start]
    )
    # only the first 256 tokens count, so what follows them changes nothing
    assert long_a == pytest.approx(long_b, abs=1e-6)
    assert long_a == pytest.approx(beginning, abs=1e-6)
    short = encoder(parameters={"max_length": 8})
    cut, whole = await short.embed(
        ["one two three four five six seven eight nine ten", "one two three four five six"]
    )
    assert cosine(cut, whole) == pytest.approx(1.0, abs=1e-5)  # [CLS] + 6 words + [SEP]


async def test_unicode_text_is_embedded():
    texts = [
        "Crème brûlée à la café",
        "creme brulee a la cafe",
        "東京の天気はどうですか",
        "مرحبا بالعالم",
        "🙂🚀 emoji only 🎉",
        "\u200b\t\n",
    ]
    vectors = await encoder().embed(texts)
    for vector in vectors:
        assert len(vector) == DIMENSIONS
        assert math.hypot(*vector) == pytest.approx(1.0, abs=1e-5)
    # the model is uncased and strips accents: both spellings are the same tokens
    assert cosine(vectors[0], vectors[1]) == pytest.approx(1.0, abs=1e-5)


async def test_answering_is_refused_with_a_pointer_to_semantic_routing():
    backend = encoder("minilm")
    request = ChatRequest(messages=(Message("user", "hello"),), model="minilm")
    with pytest.raises(BackendError) as caught:
        await backend.complete(request)
    assert "sentence encoder" in caught.value.message and "cannot answer" in caught.value.message
    assert '"embedding-model": "minilm"' in caught.value.hint
    with pytest.raises(BackendError, match="cannot answer"):
        async for _ in backend.stream(request):
            pass
    with pytest.raises(BackendError, match="cannot score"):
        await backend.score_choices([Message("user", "hi")], ["a", "b"])


def check(tmp_path: Path, **entry) -> list[tuple[str, str]]:
    parameters = entry.pop("parameters", {})
    url = entry.pop("url", None)
    spec = ModelSpec(
        name="enc",
        backend="sentence-encoder",
        url=url,
        options={"runner": "sentence-encoder", **entry},
        parameters=parameters,
        base_dir=tmp_path,
    )
    return [(p.path, p.message) for p in SentenceEncoderBackend.check(spec)]


def test_check_names_each_bad_option_by_its_path(tmp_path: Path):
    assert check(tmp_path) == []
    assert check(tmp_path, parameters={"n_threads": 2, "max-length": 128, "batch_size": 8}) == []
    found = check(tmp_path, parameters={"n_threads": 0, "temperature": 0.2, "max_length": "long"})
    paths = {path for path, _ in found}
    assert paths == {
        "models.enc.parameters.n_threads",
        "models.enc.parameters.temperature",
        "models.enc.parameters.max_length",
    }
    assert [path for path, _ in check(tmp_path, source="")] == ["models.enc.source"]
    assert [path for path, _ in check(tmp_path, url="http://127.0.0.1:9")] == ["models.enc.url"]


def test_check_refuses_a_source_that_is_not_a_model(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "lonely").mkdir()
    (tmp_path / "lonely" / "model.onnx").write_bytes(b"")
    for source, says in [
        ("missing", "does not exist"),
        ("empty", "has no model.onnx or onnx/model.onnx"),
        ("notes.txt", "is not an .onnx file or a folder"),
        ("lonely/model.onnx", "no tokenizer.json"),
    ]:
        found = check(tmp_path, source=source)
        assert len(found) == 1, found
        path, message = found[0]
        assert path == "models.enc.source"
        assert says in message
        with pytest.raises(BackendError, match=f"models.enc.source: .*{says}"):
            encoder(base_dir=tmp_path, source=source)


def model_folder(folder: Path, *, nested: bool = False, **configs: dict) -> Path:
    """A folder laid out like a sentence-transformers export of the bundled model."""
    files = bundled_files()
    graph = folder / ("onnx/model.onnx" if nested else "model.onnx")
    graph.parent.mkdir(parents=True, exist_ok=True)
    graph.symlink_to(files.graph)
    shutil.copy(files.tokenizer, folder / "tokenizer.json")
    for name, data in configs.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return folder


async def test_a_model_folder_or_file_can_be_the_source(tmp_path: Path):
    text = "Where can I download last year's invoices?"
    (bundled,) = await encoder().embed([text])
    model_folder(tmp_path / "folder", nested=True)
    model_folder(tmp_path / "flat")
    for source in ["folder", "flat", str(tmp_path / "flat" / "model.onnx"), "folder/onnx/model.onnx"]:
        backend = encoder(base_dir=tmp_path, source=source)
        assert backend.location == source
        (vector,) = await backend.embed([text])
        assert vector == pytest.approx(bundled, abs=1e-5)


async def test_a_folder_brings_its_length_and_pooling(tmp_path: Path):
    words = " ".join(f"word{n}" for n in range(40))
    folder = model_folder(
        tmp_path / "short",
        **{
            "sentence_bert_config.json": {"max_seq_length": 10},
            "1_Pooling/config.json": {"pooling_mode_cls_token": True},
        },
    )
    backend = encoder(base_dir=tmp_path, source=str(folder))
    assert backend.settings.max_length == 10
    assert backend.settings.files.pooling == "cls"
    assert (
        encoder(base_dir=tmp_path, source=str(folder), parameters={"max_length": 500}).settings.max_length
        == 10
    )
    first, second = await backend.embed([words, words + " and more"])
    assert first == pytest.approx(second, abs=1e-6)
    odd = model_folder(tmp_path / "odd", **{"1_Pooling/config.json": {"pooling_mode_max_tokens": True}})
    assert check(tmp_path, source=str(odd)) == [
        (
            "models.enc.source",
            f"{odd / '1_Pooling' / 'config.json'} asks for pooling_mode_max_tokens, which is not supported",
        )
    ]


async def test_a_file_that_is_no_model_fails_on_first_use_with_a_clear_error(tmp_path: Path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"this is not an onnx graph")
    shutil.copy(bundled_files().tokenizer, folder / "tokenizer.json")
    backend = encoder(base_dir=tmp_path, source="broken")
    for _ in range(2):  # the failure is remembered, not retried
        with pytest.raises(BackendError, match=r"could not make an int8 copy of .*broken/model\.onnx"):
            await backend.embed(["hello"])
    floats = encoder(base_dir=tmp_path, source="broken", parameters={"quantize": False})
    with pytest.raises(BackendError, match=r"could not load the sentence encoder .*broken/model\.onnx"):
        await floats.embed(["hello"])


async def test_the_int8_copy_is_made_once_and_embeds_almost_like_the_floats(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LLMNET_CACHE_DIR", str(tmp_path / "cache"))
    texts = ["The weather is lovely today.", "Where can I download my invoices?", "Solve 2x - 5 = 9"]
    floats = await encoder(parameters={"quantize": False}).embed(texts)
    # a length of its own, so that this test loads a model (and makes its int8 copy) of its own
    quantized = encoder(parameters={"max_length": 255})
    assert quantized.settings.quantize
    int8 = await quantized.embed(texts)
    for a, b in zip(floats, int8, strict=True):
        assert cosine(a, b) > 0.97
        assert math.hypot(*b) == pytest.approx(1.0, abs=1e-5)
    (copy,) = (tmp_path / "cache" / "encoders").iterdir()  # and no partial files left behind
    assert copy.name.endswith(".int8.onnx")
    again = encoder(parameters={"max_length": 254})  # another load finds the copy
    for a, b in zip(await again.embed(texts), int8, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    assert len(list((tmp_path / "cache" / "encoders").iterdir())) == 1
    assert [path for path, _ in check(tmp_path, parameters={"quantize": "yes"})] == [
        "models.enc.parameters.quantize"
    ]
