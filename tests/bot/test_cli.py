"""The ``shopbot`` command line: help for every command and the turn-log export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import build_parser, main
from bot.serving.turnlog import SINK
from core.settings import Settings

COMMANDS = [
    "run", "setup", "prepare", "index", "train", "train-generator", "eval", "eval-recommender", "logs",
    "customer-token", "evaluate", "replay", "deploy", "rollback", "models", "catalogue", "refit-recommender",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: shopbot" in capsys.readouterr().out


def test_customer_token_matches_what_the_bot_verifies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.engine.identity import IdentityVerifier
    from tests.identity import IDENTITY_ENV, SECRET

    monkeypatch.setenv("SHOPBOT_IDENTITY_SECRET_ENV", IDENTITY_ENV)
    assert main(["customer-token", "17841"]) == 0
    hmac_token = capsys.readouterr().out.strip()
    assert main(["customer-token", "17841", "--jwt"]) == 0
    jwt = capsys.readouterr().out.strip()
    verifier = IdentityVerifier(SECRET)
    assert verifier.verify({"customer_id": "17841", "customer_token": hmac_token}) == "17841"
    assert verifier.verify({"customer_token": jwt}) == "17841"
    monkeypatch.setenv("SHOPBOT_IDENTITY_SECRET_ENV", "SHOPBOT_NO_SUCH_SECRET")
    assert main(["customer-token", "17841"]) == 2
    assert "SHOPBOT_NO_SUCH_SECRET" in capsys.readouterr().err


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


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _csv(path, rows):  # type: ignore[no-untyped-def]
    path.write_text(HEADER + "".join(
        f"{inv},{code},ITEM {code},1,2011-0{month}-01 10:00:00,1.0,{cust},United Kingdom\n"
        for inv, code, month, cust in rows
    ))
    return path


def test_eval_recommender_on_small_files(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    # Customer 1 keeps re-buying 20001; everybody else buys 20002, so popularity misses it.
    train = _csv(tmp_path / "train.csv", [
        ("500001", "20001", 1, "1.0"), ("500002", "20001", 2, "1.0"),
        ("500003", "20002", 1, "2.0"), ("500004", "20002", 2, "3.0"), ("500005", "20002", 3, "4.0"),
    ])
    test = _csv(tmp_path / "test.csv", [("500006", "20001", 4, "1.0"), ("500007", "20003", 4, "9.0")])
    assert main(["eval-recommender", "--train", str(train), "--test", str(test), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"shipped", "popularity", "n_customers"}
    assert result["n_customers"] == 1, "customer 9 is not in the train file"
    assert set(result["shipped"]) == {"recall_at_10", "ndcg_at_10", "coverage"}
    assert result["shipped"]["recall_at_10"] == 1.0
    assert result["shipped"]["ndcg_at_10"] == 1.0, "the repeat purchase is ranked first"


def test_eval_recommender_splits_one_file_leave_last_invoice_out(  # type: ignore[no-untyped-def]
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Customer 1's last invoice (500006) re-buys 20001: held out, and found by repeat purchase.
    rows = [
        ("500001", "20001", 1, "1.0"), ("500002", "20001", 2, "1.0"),
        ("500003", "20002", 1, "2.0"), ("500004", "20002", 2, "3.0"), ("500005", "20002", 3, "4.0"),
        ("500006", "20001", 4, "1.0"),
    ]
    assert main(["eval-recommender", "--transactions", str(_csv(tmp_path / "all.csv", rows)), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_customers"] == 1 and result["shipped"]["recall_at_10"] == 1.0
    assert main(["eval-recommender", "--train", str(tmp_path / "all.csv")]) == 2
    assert "--transactions" in capsys.readouterr().err


def test_cli_errors_are_clear(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code = main(["eval-recommender", "--train", str(tmp_path / "missing.csv"), "--test", "x"])
    assert code == 2 and "shopbot: error:" in capsys.readouterr().err
