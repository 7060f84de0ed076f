"""The pieces of llmnet-eval on their own: editing JSONC in place, the arithmetic of tune, percentiles,
the progress bar, and the file writes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from llmnet_eval.jsonc_edit import Document, EditError, Parser, node_object
from llmnet_eval.learn import Embeddings, option_changes
from llmnet_eval.metrics import percentile
from llmnet_eval.progress import ProgressBar, status
from llmnet_eval.selection import cover, fit_threshold, normalised, stratified_folds
from llmnet_eval.writing import create_file, replace_file, unified_diff

from llmnet_core import UsageError

JSONC = """{
  // the models
  "models": { "m": { "type": "external", "url": "http://localhost:1" } },
  "architecture": [
    { "name": "router", "layer": 0, "model": "m", "router": "semantic", "output-to": [1] },
    {
      "name": "billing", // money
      "layer": 1,
      "use-case": "invoices",
      "output-to": ["output"]
    },
    {
      "name": "tech",
      "layer": 1,
      "examples": [
        "it crashes", // a comment inside the old value
        "it hangs"
      ],
      "output-to": ["output"], // trailing comma style
    },
    /* the end */ { "name": "output", "adapter": "output" }
  ]
}
"""


def edit(text: str, node: str, values: dict) -> tuple[str, Document]:
    document = Document(text)
    document.set_members(node_object(document, node), values)
    return document.text(), document


def test_parser_reads_what_json_reads_and_keeps_positions():
    root = Parser(JSONC).parse()
    assert root.data["architecture"][1]["name"] == "billing"
    member = root.member("models")
    assert JSONC[member.key_start : member.key_start + 8] == '"models"'
    assert JSONC[member.value.start] == "{" and JSONC[member.value.end - 1] == "}"


@pytest.mark.parametrize("bad", ["{", '{"a" 1}', '{"a": 1} x', "/* open", "[1,,]"])
def test_parser_refuses_broken_text(bad):
    with pytest.raises(EditError):
        Parser(bad).parse()


def test_a_new_member_goes_after_the_last_one_in_its_indentation():
    text, document = edit(JSONC, "billing", {"examples": ["a refund", "my invoice"]})
    assert '      "output-to": ["output"],\n      "examples": ["a refund", "my invoice"]\n    },' in text
    assert "// the models" in text and "// money" in text and "/* the end */" in text
    assert Parser(text).parse().data["architecture"][1]["examples"] == ["a refund", "my invoice"]
    assert document.lost_comments == []


def test_an_inline_object_gets_the_member_inline():
    text, _ = edit(JSONC, "router", {"router-options": {"min-score": 0.2, "fallback": "tech"}})
    expected = '"output-to": [1], "router-options": {"min-score": 0.2, "fallback": "tech"} },'
    assert expected in text


def test_a_trailing_comma_and_a_comment_are_kept():
    text, _ = edit(JSONC, "tech", {"use-case": "bugs"})
    assert '"output-to": ["output"], // trailing comma style\n      "use-case": "bugs",\n    },' in text
    assert Parser(text).parse().data["architecture"][2]["use-case"] == "bugs"


def test_a_comment_after_the_last_value_stays_on_its_line():
    source = '{\n  "architecture": [\n    {\n      "name": "a",\n      "layer": 1 // one\n    }\n  ]\n}\n'
    text, _ = edit(source, "a", {"use-case": "x"})
    assert '"layer": 1, // one\n      "use-case": "x"\n    }' in text


def test_replacing_a_value_keeps_the_rest_and_reports_comments_lost_inside_it():
    long = [f"example request number {i} with enough words to need its own line" for i in range(3)]
    text, document = edit(JSONC, "tech", {"examples": long})
    assert document.lost_comments == ["examples"]
    assert '      "examples": [\n        "example request number 0' in text
    assert text.count("// trailing comma style") == 1 and "it crashes" not in text
    assert Parser(text).parse().data["architecture"][2]["examples"] == long


def test_line_endings_and_a_byte_order_mark_are_kept():
    source = "\ufeff" + JSONC.replace("\n", "\r\n")
    text, _ = edit(source, "billing", {"examples": ["x"]})
    assert text.startswith("\ufeff") and "\n" not in text.replace("\r\n", "")
    assert Parser(text).parse().data["architecture"][1]["examples"] == ["x"]


def test_unicode_and_escapes_survive():
    text, _ = edit(JSONC, "billing", {"examples": ['say "hi"\\n', "café ☕"]})
    assert Parser(text).parse().data["architecture"][1]["examples"] == ['say "hi"\\n', "café ☕"]
    assert "café ☕" in text


def test_a_missing_node_is_an_edit_error():
    with pytest.raises(EditError, match='no node named "nobody"'):
        node_object(Document(JSONC), "nobody")


def test_option_changes_keep_the_users_spelling():
    assert option_changes({"min_score": 0.1, "aggregate": "max"}, {"min-score": 0.3, "fallback": "x"}) == {
        "min_score": 0.3,
        "aggregate": "max",
        "fallback": "x",
    }


def test_cover_picks_the_medoid_first_then_the_farthest_group():
    vectors = [normalised(v) for v in ([1, 0.1], [1, 0], [1, -0.1], [0, 1], [0.1, 1])]
    assert cover(vectors[:3], 1) == [1]  # the middle one
    assert cover(vectors, 2)[1] in (3, 4)
    assert sorted(cover(vectors, 10)) == [0, 1, 2, 3, 4]  # no more than there are
    seeded = cover(vectors, 1, seeds=[normalised([1, 0])])  # the seed covers the first group already
    assert seeded[0] in (3, 4)


def test_fit_threshold_maximises_right_answers():
    best = [0.9, 0.8, 0.3, 0.2, 0.1]
    kept = [True, True, False, False, True]
    fell = [False, False, True, True, False]
    assert fit_threshold(best, kept, fell) == 0.55  # between 0.3 and 0.8: 4 of 5 right
    assert fit_threshold([0.5, 0.4], [True, True], [False, False]) is None  # abstaining never helps
    assert fit_threshold([0.5, 0.5], [False, True], [True, False]) is None  # equal scores cannot be split
    assert fit_threshold([0.4, 0.2], [False, False], [True, True]) == 0.41  # all below: above the highest


def test_stratified_folds_spread_every_class():
    classes = ["a"] * 6 + ["b"] * 4
    folds = stratified_folds(classes, 2, seed=1)
    assert sorted(folds[:6]).count(0) == 3 and sorted(folds[6:]).count(0) == 2
    assert folds == stratified_folds(classes, 2, seed=1)  # the same seed, the same folds


def test_percentile_is_nearest_rank():
    values = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0]
    assert (percentile(values, 0.5), percentile(values, 0.9)) == (5.0, 9.0)
    assert percentile([7.0], 0.9) == 7.0 and percentile([], 0.5) is None


async def test_embeddings_are_computed_once_and_requests_never_persisted():
    calls = []

    async def embed(texts, model=None, *, persist=False):
        calls.append((list(texts), persist))
        return [[float(len(t))] for t in texts]

    embeddings = Embeddings(embed, private={"a request"})
    assert await embeddings(["a request", "a use-case"], persist=True) == [[9.0], [10.0]]
    assert await embeddings(["a use-case", "a request"]) == [[10.0], [9.0]]
    assert calls == [(["a request"], False), (["a use-case"], True)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only():
    screen = Terminal()
    bar = ProgressBar(2, "llm", screen, delay=0)
    bar.advance()
    assert screen.getvalue() == "\r\033[Kllm  [############............]  1/2 · 0 s"
    bar.advance(failed=True)  # the last one is always drawn
    assert screen.getvalue().endswith("\r\033[Kllm  [########################]  2/2 · 1 error · 0 s")
    bar.close()
    assert screen.getvalue().endswith("\r\033[K")
    pipe = io.StringIO()
    quiet = ProgressBar(4, "llm", pipe, delay=0)
    quiet.advance()
    quiet.close()
    with status("embedding", pipe):
        pass
    assert pipe.getvalue() == ""
    with status("embedding", screen):
        assert screen.getvalue().endswith("embedding …")


def test_unified_diff():
    assert unified_diff("a\nb\n", "a\nb\n", "f.json") == ""
    diff = unified_diff("a\nb\n", "a\nc", "f.json")
    assert diff.startswith("--- f.json\n+++ f.json\n") and "-b\n+c\n\\ No newline at end of file\n" in diff


def test_replace_file_is_atomic_and_refuses_a_file_changed_meanwhile(tmp_path: Path):
    path = tmp_path / "c.jsonc"
    path.write_text("old", encoding="utf-8")
    os.chmod(path, 0o640)
    replace_file(str(path), "new", "old", lambda temporary: None)
    assert path.read_text(encoding="utf-8") == "new" and (path.stat().st_mode & 0o777) == 0o640
    with pytest.raises(UsageError, match="changed while it was being tuned"):
        replace_file(str(path), "newer", "old", lambda temporary: None)

    def refuse(temporary: Path) -> None:
        raise UsageError("does not validate")

    with pytest.raises(UsageError, match="does not validate"):
        replace_file(str(path), "bad", "new", refuse)
    assert path.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonc"]  # no temporary file left


def test_create_file_never_replaces_a_file(tmp_path: Path):
    path = tmp_path / "new.json"
    create_file(str(path), json.dumps({"a": 1}), lambda temporary: None)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}
    with pytest.raises(UsageError, match="already exists"):
        create_file(str(path), "{}", lambda temporary: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"]


def test_examples_are_drawn_from_requests_that_stand_on_their_own():
    from llmnet_eval.dataset import Item
    from llmnet_eval.learn import NodeTuner, Sample, Setting

    def sample(text: str, label: str, conversation: bool = False) -> Sample:
        messages = ({"role": "user", "content": text},) if conversation else ()
        return Sample(Item(1, text, (label,), messages), (label,))

    train = [
        sample("refund please", "billing"),
        sample("and the other one?", "billing", conversation=True),
        sample("my key is sk-1", "billing"),
        sample("refund please", "billing"),
        sample("and in Go?", "code", conversation=True),
        Sample(Item(1, "both", ("billing", "code")), ("billing", "code")),
    ]
    tuner = NodeTuner("router", None, Setting((), {}), train, None, is_secret=lambda t: "sk-1" in t)
    assert tuner.pools(train) == {"billing": ["refund please"], "code": ["and in Go?"]}


def test_changes_to_router_options_merge_into_the_object_the_file_has():
    from llmnet_eval.edits import Change, apply_to_data, apply_to_text

    source = '{"architecture": [{"name": "r", "router_options": {"aggregate": "max"}}, {"name": "h"}]}'
    changes = [Change("r", {"min-score": 0.2}, options=True), Change("h", {"examples": ["x"]})]
    text, lost = apply_to_text(source, changes)
    assert lost == []
    assert json.loads(text) == apply_to_data(json.loads(source), changes)
    assert json.loads(text)["architecture"][0] == {
        "name": "r",
        "router_options": {"aggregate": "max", "min-score": 0.2},
    }
    added, _ = apply_to_text('{"architecture": [{"name": "r"}]}', changes[:1])
    assert json.loads(added)["architecture"][0]["router-options"] == {"min-score": 0.2}
    with pytest.raises(EditError, match="router-options is not an object"):
        apply_to_text('{"architecture": [{"name": "r", "router-options": 3}]}', changes[:1])


async def test_decisions_while_tuning_get_the_conversation_before_the_routed_message():
    from llmnet_eval.dataset import Item
    from llmnet_eval.learn import NodeTuner, Sample, Setting

    from llmnet_core import Message, RouteDecision

    seen = []

    class Capture:
        async def choose(self, request):
            seen.append((request.text, request.history))
            return RouteDecision("math", "captured")

    turns = (
        {"role": "user", "content": "What is 15% of 240?"},
        {"role": "assistant", "content": "36."},
        {"role": "user", "content": "and 40%?"},
    )
    item = Item(1, "and 40%?", ("math",), turns)
    tuner = NodeTuner("router", Capture(), Setting((), {}), [], None)
    await tuner.decide(tuner.base, Sample(item, ("math",)))
    assert seen == [("and 40%?", (Message("user", "What is 15% of 240?"), Message("assistant", "36.")))]
