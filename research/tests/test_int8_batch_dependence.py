"""research/int8_batch_dependence.py: its texts, batchings and flip count on hand-made data."""

from __future__ import annotations

from pathlib import Path

from research_script import load_research_script

ib = load_research_script("int8_batch_dependence")


def test_conversation_texts_are_the_shoppers_messages_once_each() -> None:
    texts = ib.conversation_texts()
    assert texts == sorted(set(texts)) and len(texts) > 100
    assert "how much is the first one?" in texts


def test_each_batching_covers_every_row_once_in_batches_of_the_size() -> None:
    for batches in ib.batchings(10, 4, trials=3):
        assert sorted(i for rows in batches for i in rows) == list(range(10))
        assert [len(rows) for rows in batches] == [4, 4, 2]
    assert ib.batchings(10, 4, 2, seed=1) == ib.batchings(10, 4, 2, seed=1)


def test_flips_count_changed_decisions_declines_included() -> None:
    assert ib.flips(["a", None, "b"], ["a", "b", None]) == 2
    assert ib.flips(["a"], ["a"]) == 0


def test_the_down_projections_are_the_feed_forward_outputs_only(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    names = ["/l.0/attention/output/dense/MatMul", "/l.0/intermediate/dense/MatMul",
             "/l.0/output/dense/MatMul"]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1.0, 0.0, 0.0, 1.0])
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"y{i - 1}", "w"], [f"y{i}"], name=n)
             for i, n in enumerate(names)]
    y = helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 2])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], [w])), str(path))
    assert ib.down_projections(path) == ["/l.0/output/dense/MatMul"]


def test_a_statically_quantised_router_decides_a_message_the_same_alone_and_batched(tmp_path: Path) -> None:
    from retrieval.knowledge import KnowledgeEntry
    from retrieval.router import RouterConfig
    from retrieval.router_train import train_router
    from retrieval.turn_encoder import OnnxTurnEncoder, export_onnx

    entries = [KnowledgeEntry("returns", ("how do I return an item", "can I send it back", "refund please",
                                          "return policy", "I want my money back"), "30 days."),
               KnowledgeEntry("delivery", ("when will it arrive", "how long is shipping", "delivery time",
                                           "where is my parcel", "do you ship abroad"), "3 days."),
               KnowledgeEntry("out_of_scope", ("tell me a joke", "what is the capital of france",
                                               "play some music", "who won the match"), "")]
    router = tmp_path / "router"
    train_router(entries, router, config=RouterConfig.tiny(), progress=False)
    export_onnx(router)
    phrasings = sorted({q for e in entries for q in e.questions})
    static = ib.static_router(router, tmp_path / "static", phrasings)
    texts = [*phrasings, "is my refund on its way", "what's the weather"]
    result = ib.measure(OnnxTurnEncoder(static), static, texts, size=4, trials=2)
    assert result["decisions"] == 2 * len(texts) and result["flips"] == 0
    assert result["max_logit_change"] < 1e-4
    assert ib.throughput(OnnxTurnEncoder(static), texts, 4, batches=2) > 0
