"""The fake Ollama server speaks Ollama's documented protocol (checked with a plain HTTP client)."""

from __future__ import annotations

import json

import httpx
from llmnet_testing import FakeOllamaServer, word_pieces


def test_root_version_and_tags() -> None:
    with (
        FakeOllamaServer(models=["llama3.2", "gemma3:270m"]) as srv,
        httpx.Client(base_url=srv.url) as client,
    ):
        root = client.get("/")
        assert root.status_code == 200 and root.text == "Ollama is running"
        assert root.headers["content-type"].startswith("text/plain")
        assert client.head("/").status_code == 200
        assert client.get("/api/version").json() == {"version": "0.6.8"}
        tags = client.get("/api/tags").json()["models"]
        assert [m["name"] for m in tags] == ["llama3.2:latest", "gemma3:270m"]
        assert tags[0]["model"] == "llama3.2:latest" and len(tags[0]["digest"]) == 64
        assert tags[0]["details"]["format"] == "gguf"
        missing = client.get("/api/nothing")
        assert missing.status_code == 404 and missing.text == "404 page not found"
        assert [r.path for r in srv.requests] == ["/", "/", "/api/version", "/api/tags", "/api/nothing"]


def test_chat_without_stream_is_one_object() -> None:
    with (
        FakeOllamaServer(reply=lambda req: req["messages"][-1]["content"].upper()) as srv,
        httpx.Client() as client,
    ):
        request = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi you"}], "stream": False}
        answer = client.post(srv.url + "/api/chat", json=request)
        assert answer.headers["content-type"] == "application/json; charset=utf-8"
        body = answer.json()
        assert body["model"] == "llama3.2" and body["done"] is True and body["done_reason"] == "stop"
        assert body["message"] == {"role": "assistant", "content": "HI YOU"}
        assert body["prompt_eval_count"] == 2 and body["eval_count"] == 2
        assert all(isinstance(body[k], int) for k in ("total_duration", "load_duration", "eval_duration"))
        assert body["created_at"].endswith("Z")
        assert srv.chat_requests[0].json == request


def test_chat_streams_ndjson_by_default() -> None:
    with FakeOllamaServer(reply="a b c") as srv, httpx.Client() as client:
        request = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]}  # no "stream"
        with client.stream("POST", srv.url + "/api/chat", json=request) as response:
            assert response.headers["content-type"] == "application/x-ndjson"
            assert response.headers["transfer-encoding"] == "chunked"
            lines = [json.loads(line) for line in response.iter_lines() if line]
        assert [line["message"]["content"] for line in lines[:-1]] == ["a", " b", " c"]
        assert not any(line["done"] for line in lines[:-1])
        final = lines[-1]
        assert final["done"] is True and final["message"]["content"] == ""
        assert final["eval_count"] == 3 and final["prompt_eval_count"] == 1


def test_chat_errors_as_ollama_sends_them() -> None:
    with FakeOllamaServer(models=["llama3.2"]) as srv, httpx.Client(base_url=srv.url) as client:
        missing = client.post("/api/chat", json={"model": "phi4", "messages": []})
        assert missing.status_code == 404
        assert missing.json() == {"error": 'model "phi4" not found, try pulling it first'}
        assert client.post("/api/chat", json={"messages": []}).json() == {"error": "model is required"}
        assert client.post("/api/chat", content=b"").status_code == 400
        load = client.post("/api/chat", json={"model": "llama3.2", "messages": [], "stream": False}).json()
        assert load["done_reason"] == "load"
        unload = {"model": "llama3.2", "messages": [], "keep_alive": 0, "stream": False}
        assert client.post("/api/chat", json=unload).json()["done_reason"] == "unload"


def test_options_shape_the_answer() -> None:
    with FakeOllamaServer(reply="one two three STOP four") as srv, httpx.Client() as client:
        base = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}], "stream": False}
        limited = client.post(srv.url + "/api/chat", json={**base, "options": {"num_predict": 2}}).json()
        assert limited["message"]["content"] == "one two" and limited["done_reason"] == "length"
        stopped = client.post(srv.url + "/api/chat", json={**base, "options": {"stop": [" STOP"]}}).json()
        assert stopped["message"]["content"] == "one two three" and stopped["done_reason"] == "stop"


def test_pieces_concatenate_back() -> None:
    for text in ("Hello there, world", "  lead and trail  ", "", "one"):
        assert "".join(word_pieces(text)) == text
