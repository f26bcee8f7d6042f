"""The drift alerts on real data: a real Prometheus scrapes the real app while messages are replayed.

Prometheus (scraping and evaluating the shipped monitoring/prometheus/alerts.yml every second)
sees the shop's own FAQ questions and stays quiet, then a stream of off-topic messages raises
the unfamiliar and decline drift alerts. Their ``for: 30m`` keeps them pending here, which is
enough: the expressions fired on what the bot really logged.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.auth.guard import Role
from bot.server import create_app
from bot.web.keys import METRICS
from core.settings import REPO_ROOT, Settings
from harness.polling import until
from harness.server_process import free_port, terminate, wait_listening
from tests.monitoring.drift_streams import OFF_TOPIC, on_topic
from tests.signin import sign_in

pytestmark = pytest.mark.slow

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = REPO_ROOT / "monitoring" / "prometheus" / "alerts.yml"
# What the live router's replay would export for the shop's usual traffic.
BASELINE = {"decline_rate": 0.05, "unfamiliar_share": 0.05, "low_confidence_share": 0.1}
DRIFT = {"ShopbotUnfamiliarMessagesDrift", "ShopbotDeclineRateDrift"}
DRIFT_GROUP = "shopbot-drift"  # the rule group of RULES that records the rates and holds DRIFT


@contextmanager
def prometheus(target_port: int, directory: Path) -> Iterator[str]:
    """A Prometheus scraping ``127.0.0.1:target_port`` every second with the shipped rules."""
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "shopbot", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}
        ],
    }))
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, proc, "prometheus", log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(proc)


class Prom:
    """The few Prometheus HTTP API calls the test needs."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def value(self, query: str) -> float | None:
        """The single sample's value of an instant query, None when the result is empty."""
        async with self.http.get(f"{self.base}/api/v1/query", params={"query": query}) as resp:
            result = (await resp.json())["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    async def alerts(self) -> dict[str, dict[str, Any]]:
        """Pending and firing alerts by name."""
        async with self.http.get(f"{self.base}/api/v1/alerts") as resp:
            return {a["labels"]["alertname"]: a for a in (await resp.json())["data"]["alerts"]}

    async def last_evaluation(self, group: str) -> str:
        """When the rule group ``group`` was last evaluated (Prometheus's own timestamp)."""
        async with self.http.get(f"{self.base}/api/v1/rules") as resp:
            groups = (await resp.json())["data"]["groups"]
        return str(next(g["lastEvaluation"] for g in groups if g["name"] == group))


async def replay(shop: aiohttp.ClientSession, messages: list[str], prefix: str) -> None:
    # One conversation each: three declines in a row would hand a conversation to a person.
    for i, text in enumerate(messages):
        body = {"sender": f"{prefix}-{i}", "message": text}
        async with shop.post("/webhooks/rest/webhook", json=body) as resp:
            assert resp.status == 200


async def test_off_topic_stream_raises_the_drift_alerts_and_faq_questions_do_not(
    aiohttp_server: Any, shop_settings: Settings, tmp_path: Path
) -> None:
    app = create_app(shop_settings)
    server = await aiohttp_server(app, port=free_port())
    app[METRICS].set_model_baseline("router", BASELINE)
    familiar = on_topic()
    with prometheus(server.port, tmp_path) as base:
        async with aiohttp.ClientSession() as http, \
                aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as shop:
            prom = Prom(http, base)

            async def ready() -> bool:
                # It listens before its storage is open; until then it answers 503.
                async with http.get(f"{base}/-/ready") as resp:
                    return resp.status == 200

            await until(ready, timeout_s=30, interval_s=0.5, what="Prometheus to be ready")
            await until(partial(prom.value, 'up{job="shopbot"} == 1'), timeout_s=30, interval_s=0.5,
                        what="the first scrape")
            await replay(shop, familiar, "faq")

            def saw(turns: int) -> Callable[[], Awaitable[float | None]]:
                async def check() -> float | None:
                    seen = await prom.value("shopbot:routed_turns:increase1h")
                    return seen if seen is not None and seen >= turns else None

                return check

            # The guard (50 routed turns an hour) is met, so only the rates keep the alerts quiet.
            assert await until(saw(len(familiar)), timeout_s=60, interval_s=0.5,
                               what="the FAQ turns in the recording rules") >= 50
            assert await prom.value("shopbot:unfamiliar_share:ratio1h") == 0
            assert await prom.value("shopbot:decline_rate:ratio1h") == 0
            assert await prom.value("shopbot:unfamiliar_share:baseline") == BASELINE["unfamiliar_share"]
            # Three more evaluations of the drift group over the same data: the first one seen may
            # predate the recording above, the later ones ran the alert expressions on it.
            evaluations: set[str] = set()

            async def evaluated_again() -> bool:
                evaluations.add(await prom.last_evaluation(DRIFT_GROUP))
                return len(evaluations) > 3

            await until(evaluated_again, timeout_s=30, interval_s=0.2,
                        what=f"three more evaluations of the {DRIFT_GROUP} rules")
            assert not DRIFT & set(await prom.alerts())

            await replay(shop, OFF_TOPIC, "off")
            await until(saw(len(familiar) + len(OFF_TOPIC)), timeout_s=60, interval_s=0.5,
                        what="the off-topic turns in the recording rules")

            async def raised() -> dict[str, dict[str, Any]] | None:
                alerts = await prom.alerts()
                return alerts if set(alerts) >= DRIFT else None

            alerts = await until(raised, timeout_s=60, interval_s=0.5, what="the drift alerts")
            unfamiliar = await prom.value("shopbot:unfamiliar_share:ratio1h")
            declined = await prom.value("shopbot:decline_rate:ratio1h")
            # Of the hour's turns (FAQ and off-topic), more than half the off-topic are unfamiliar.
            assert unfamiliar is not None and declined is not None
            assert unfamiliar * (len(familiar) + len(OFF_TOPIC)) > 0.5 * len(OFF_TOPIC)
            assert declined > 0.2
            for name in DRIFT:
                assert alerts[name]["state"] in ("pending", "firing")
                assert alerts[name]["labels"]["severity"] == "warning"
                assert "GET /api/drift" in alerts[name]["annotations"]["description"]
            assert "baseline of 5%" in alerts["ShopbotUnfamiliarMessagesDrift"]["annotations"]["description"]

            # Where the alert sends auditors: the unfamiliar messages, redacted, ready to promote.
            headers = await sign_in(shop, app, "ada", Role.AUDITOR)
            async with shop.get("/api/drift?hours=2", headers=headers) as resp:
                assert resp.status == 200
                drift = await resp.json()
            assert drift["baseline"] == BASELINE
            assert drift["examples"] and {e["user_text"] for e in drift["examples"]} <= set(OFF_TOPIC)
