"""``GET /health`` and ``GET /metrics`` on a small app."""

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.web.keys import METRICS
from bot.web.ops import add_routes
from monitoring.metrics import ShopbotMetrics
from tests.monitoring.test_metrics import _record


async def test_metrics_endpoint_serves_the_app_registry(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    app = web.Application()
    app[METRICS] = ShopbotMetrics()
    add_routes(app)
    client = await aiohttp_client(app)
    app[METRICS].observe_turn(_record())
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("shopbot_turns_total", (("route", "faq"),))] == 1
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).rstrip().endswith("# EOF")
