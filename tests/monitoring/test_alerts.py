import shutil
import subprocess
from pathlib import Path

import yaml

from core.settings import REPO_ROOT

RULES_DIR = REPO_ROOT / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_rules_are_valid() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


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
    }
    assert fired == alerts, "each alert has a case where it fires"
    assert silent == alerts, "each alert has a case where it stays silent"


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    # Guards the test above: a broken threshold must make `promtool test rules` fail.
    for name in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    rules = tmp_path / "alerts.yml"
    rules.write_text(rules.read_text().replace("> 0.05", "> 0.5"))
    result = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ShopbotHighErrorRate" in result.stdout + result.stderr
