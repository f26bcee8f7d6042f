import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core.settings import REPO_ROOT

RULES_DIR = REPO_ROOT / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_rules_are_valid() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 27 rules found" in result.stdout


def test_every_alert_fires_in_the_unit_tests() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
    fired = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]}
    silent = {
        check["alertname"] for case in cases for check in case["alert_rule_test"] if not check["exp_alerts"]
    }
    assert alerts == {
        "ShopbotSlowTurns",
        "ShopbotHighErrorRate",
        "ShopbotServerErrors",
        "ShopbotFallbackRateSpike",
        "ShopbotHandoffRateSpike",
        "ShopbotHandoffQueueBacklog",
        "ShopbotUnfamiliarMessagesDrift",
        "ShopbotDeclineRateDrift",
        "ShopbotLowConfidenceDrift",
        "ShopbotThumbsDownRateHigh",
        "ShopbotUngroundedAnswersHigh",
    }
    assert fired == alerts, "each alert has a case where it fires"
    assert silent == alerts, "each alert has a case where it stays silent"


def test_every_recorded_series_an_alert_reads_is_recorded_before_it() -> None:
    # Within a group rules run in order: a rule reading one recorded after it sees the previous
    # evaluation's value, and a typo reads nothing at all (the alert would never fire).
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        recorded: set[str] = set()
        for rule in group["rules"]:
            used = set(re.findall(r"shopbot:[a-z0-9_]+:[a-z0-9_]+", rule["expr"]))
            assert used <= recorded, f"{rule.get('alert') or rule.get('record')} reads {used - recorded}"
            if "record" in rule:
                recorded.add(rule["record"])
    drift = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if r.get("alert", "").endswith(
        ("Drift", "RateHigh", "AnswersHigh"))}
    assert len(drift) == 5
    for name, rule in drift.items():
        assert rule["for"] == "30m", name
        assert "GET /api/turns?flag=" in rule["annotations"]["description"], name
        assert "GET /api/drift" in rule["annotations"]["description"], name


@pytest.mark.parametrize(
    ("alert", "old", "new"),
    [
        ("ShopbotHighErrorRate", "> 0.05", "> 0.5"),
        ("ShopbotUnfamiliarMessagesDrift",
         "unfamiliar_share:ratio1h > 1.5 *", "unfamiliar_share:ratio1h > 19 *"),
    ],
)
def test_promtool_catches_a_wrong_expectation(tmp_path: Path, alert: str, old: str, new: str) -> None:
    # Guards the test above: a broken threshold must make `promtool test rules` fail. Only the
    # cases about that alert run (promtool simulates whole days; the full file takes a while).
    rules = (RULES_DIR / "alerts.yml").read_text()
    assert rules.count(old) == 1
    (tmp_path / "alerts.yml").write_text(rules.replace(old, new))
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())
    tests["tests"] = [c for c in tests["tests"] if any(t["alertname"] == alert for t in c["alert_rule_test"])]
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests))
    result = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr
