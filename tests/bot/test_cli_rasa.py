"""`shopbot rasa-check`, and `train`/`eval`/`run` with `--rasa-project`, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from retrieval.rasa_project import load_rasa_project
from retrieval.router import MODEL_FILE
from tests.retrieval.test_rasa_project import FORMS_PROJECT, SELECTOR, STARTER, write


@pytest.mark.parametrize("command", ["rasa-check", "run", "train", "eval"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert ("--rasa-project" in out) == (command != "rasa-check")


def test_rasa_check_lists_what_is_left_out_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write(tmp_path / "forms", FORMS_PROJECT)
    assert main(["rasa-check", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{project}: 5 intents learned (0 retrieval intents), 4 answered")
    listed = {line.split(": ", 2)[0] + ": " + line.split(": ", 2)[1] for line in out[1:-1]}
    for where in ("data/rules.yml:11: unsupported", "data/stories.yml:6: unsupported",
                  "domain.yml:8: changed", "data/nlu.yml:17: unsupported",
                  "data/stories.yml:6: changed", "data/stories.yml:18: unsupported",
                  "config.yml:5: unsupported"):
        assert where in listed, where
    # The two-message stories run in their context now: only the two that contradict each other are listed.
    assert "data/stories.yml:2: changed" not in listed and "data/stories.yml:8: changed" not in listed
    assert not [line for line in out if "keeps no dialogue context" in line]
    assert "domain.yml:13: unsupported" not in listed and "data/rules.yml:6: unsupported" not in listed, \
        "the form and its activation rule run"
    assert out[-1] == "5 unsupported, 4 changed (docs/rasa.md)"
    assert main(["rasa-check", str(project), "--strict"]) == 1
    capsys.readouterr()

    assert main(["rasa-check", str(SELECTOR), "--json", "--strict"]) == 0, "nothing unsupported"
    report = json.loads(capsys.readouterr().out)
    assert report["answered"]["chitchat/ask_name"] == ["utter_chitchat/ask_name"]
    assert report["intents"] == sorted(e.id for e in load_rasa_project(SELECTOR).entries)
    places = {(i["file"], i["line"]) for i in report["issues"]}
    assert ("config.yml", 5) in places and ("data/stories.yml", 5) not in places, \
        "the pipeline is listed; the stories run in their context"


def test_rasa_check_counts_intents_answered_only_in_their_context(capsys: pytest.CaptureFixture[str]) -> None:
    project = Path(__file__).parents[1] / "fixtures" / "rasa" / "contextbot"
    assert main(["rasa-check", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # "affirm" and "deny" mean something only after the question their stories ask first.
    assert {"affirm", "deny"} <= set(report["in_context"]) and not set(report["in_context"]) & set(
        report["answered"])
    assert main(["rasa-check", str(project)]) == 0
    headline = capsys.readouterr().out.splitlines()[0]
    assert f"{len(report['answered'])} answered, {len(report['in_context'])} more in context only" in headline


@pytest.mark.parametrize("argv", [
    ["rasa-check", "{bad}"], ["run", "--rasa-project", "{bad}"], ["train", "--rasa-project", "{bad}"],
    ["eval", "--rasa-project", "{bad}"],
])
def test_a_broken_project_is_a_clear_error(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path / "var"))
    bad = write(tmp_path / "bad", {"domain.yml": "intents: [greet\n", "data/nlu.yml": "nlu: []\n"})
    assert main([a.replace("{bad}", str(bad)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "shopbot: error: domain.yml:2: not valid YAML" in err and "Traceback" not in err
    assert not (tmp_path / "var" / "router").exists()


def test_eval_needs_knowledge_or_a_project(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.delenv("SHOPBOT_RASA_PROJECT", raising=False)
    assert main(["eval", "--json"]) == 2
    assert "--rasa-project PATH" in capsys.readouterr().err
    assert main(["eval", "--faq", "f.yml", "--cases", "c.jsonl", "--rasa-project", str(STARTER)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["eval", "--rasa-project", str(STARTER), "--folds", "1"]) == 2
    assert "at least 2 folds" in capsys.readouterr().err


@pytest.mark.slow
def test_train_learns_the_projects_intents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPBOT_RASA_PROJECT", str(STARTER))
    assert main(["train", "--tiny"]) == 0, "SHOPBOT_RASA_PROJECT alone is enough"
    [candidate] = (tmp_path / "var" / "models" / "router").glob("router-*")
    saved = json.loads((candidate / MODEL_FILE).read_text())
    assert saved["labels"] == [e.id for e in load_rasa_project(STARTER).entries]
    assert (candidate / "onnx").is_dir(), "exported for the server, as `shopbot train` does"
    capsys.readouterr()
    assert main(["train", "--tiny"]) == 0
    assert "trained on this knowledge already" in capsys.readouterr().out
    monkeypatch.delenv("SHOPBOT_RASA_PROJECT")
    assert main(["train", "--tiny", "--rasa-project", str(SELECTOR)]) == 0, "the option replaces the setting"
    labels = [json.loads((c / MODEL_FILE).read_text())["labels"]
              for c in (tmp_path / "var" / "models" / "router").glob("router-*")]
    assert len(labels) == 2 and any("chitchat/ask_name" in ls for ls in labels)


@pytest.mark.slow
def test_eval_cross_validates_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--rasa-project", str(STARTER), "--folds", "2", "--tiny", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    phrasings = sum(len(e.questions) for e in load_rasa_project(STARTER).entries)
    assert result["folds"] == 2 and result["n_phrasings"] == phrasings and result["n_intents"] == 7
    assert [f["fold"] for f in result["per_fold"]] == [0, 1]
    assert sum(f["n"] for f in result["per_fold"]) == phrasings, "every phrasing is held out exactly once"
    for figure in ("accuracy", "macro_f1", "decline_rate"):
        assert 0.0 <= result["mean"][figure] <= 1.0 and result["std"][figure] >= 0.0
        assert 0.0 <= result["pooled"][figure] <= 1.0
    assert result["mean"]["oos_declined"] is None, "the starter project has no out_of_scope examples"
    assert "cross-validation: folds" in err, "progress goes to stderr"
