"""The ``shopbot`` command line: help for every command and the turn-log export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from aiohttp.test_utils import TestClient

from bot.appkeys import SINK
from bot.cli import build_parser, main
from bot.settings import Settings


@pytest.mark.parametrize("command", ["run", "setup", "prepare", "index", "train-generator", "logs"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: shopbot" in capsys.readouterr().out


async def test_logs_export_shows_each_turn(
    client: TestClient,
    shop_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    questions = {
        "how long does delivery take?": "faq",
        "do you sell cookie jars?": "products",
        "what's the weather in Paris": "decline",
        "I want to talk to a person": "handoff",
    }
    for text in questions:
        resp = await client.post("/webhooks/rest/webhook", json={"sender": "cli", "message": text})
        assert resp.status == 200
    await client.app[SINK].flush()
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(shop_settings.var_dir))
    monkeypatch.setenv("SHOPBOT_DATABASE_URL", shop_settings.database_url)

    assert main(["logs", "export", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["user_text"] for r in rows] == list(questions)
    assert [r["route"] for r in rows] == list(questions.values())
    for row in rows:
        assert row["latency_ms"]["total"] >= row["latency_ms"]["embed"] > 0
        assert isinstance(row["flags"], list) and row["versions"]["encoder"]
    assert "declined" in rows[2]["flags"] and "handoff_requested" in rows[3]["flags"]

    assert main(["logs", "export", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["route"] for r in table] == list(questions.values())
