"""The router profiles bench/serving.py serves one after the other (``--profiles fast,accurate``).

Each profile is the real server started with ``SHOPBOT_ROUTER_PROFILE=<profile>``. The ``fast``
profile's rows keep their keys (``turns_s``, ``one_p50``, …) so that its figures stay comparable
with earlier runs; every other profile's keys carry its name as a prefix (``accurate_turns_s``).

A profile is served from its seed router (var/router, var/router-accurate) and that router's ONNX
export; the ``accurate`` profile also needs the all-mpnet-base-v2 ONNX export (var/encoder/mpnet).
When any is missing or stale the bench runs ``SHOPBOT_ROUTER_PROFILE=<profile> shopbot setup``
itself. Making the mpnet export needs the model's wheels; without them the bench writes a row
that says the accurate profile was not measured, and exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

PROFILES = ("fast", "accurate")
NOT_MEASURED = "accurate profile not measured: run `make accurate`"


class Rows(Protocol):
    """What the bench's report offers: its rows and the numbers kept by key."""

    numbers: dict[str, float]

    def add(self, what: str, value: str, command: str, key: str = "", number: float = 0.0) -> None: ...


@dataclass(frozen=True)
class Profile:
    """One router profile as the bench serves and labels it."""

    name: str

    @property
    def env(self) -> dict[str, str]:
        return {"SHOPBOT_ROUTER_PROFILE": self.name}

    @property
    def command(self) -> str:
        return f"SHOPBOT_ROUTER_PROFILE={self.name} shopbot run"

    def key(self, key: str) -> str:
        """A row key unique to this profile (the ``fast`` profile's keys stay as they were)."""
        return key if not key or self.name == "fast" else f"{self.name}_{key}"

    def what(self, what: str) -> str:
        return f"`{self.name}` profile: {what}"

    def check_served(self, versions: dict[str, str]) -> None:
        """Raise when the server's router is not this profile's (read from ``GET /health``)."""
        router = versions.get("router", "")
        if ("all-mpnet-base-v2" in router) != (self.name == "accurate"):
            raise RuntimeError(f"SHOPBOT_ROUTER_PROFILE={self.name} served the router {router!r}")


def parse_profiles(text: str) -> list[Profile]:
    """``--profiles``: a comma-separated list of router profiles, each once."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of distinct profiles from {', '.join(PROFILES)}; got {text!r}")
    return [Profile(n) for n in names]


def missing(profile: Profile) -> str:
    """Why ``profile`` cannot be served as things are (empty: it can)."""
    from core.settings import Settings
    from retrieval.mpnet import export_meta
    from retrieval.turn_encoder import onnx_is_current

    settings = Settings(router_profile="fast" if profile.name == "fast" else "accurate")
    if profile.name == "accurate" and export_meta(settings.mpnet_dir) is None:
        return f"no all-mpnet-base-v2 export under {settings.mpnet_dir}"
    if not (settings.router_dir / "router.json").is_file():
        return f"no {profile.name} seed router under {settings.router_dir}"
    if not onnx_is_current(settings.router_dir):
        return f"no current ONNX export of the {profile.name} router under {settings.router_dir}"
    return ""


def prepare(report: Rows, profile: Profile, root: Path) -> bool:
    """Make ``profile`` servable (``shopbot setup`` for it) when it is not; whether it is now."""
    reason = missing(profile)
    if not reason:
        return True
    from core.settings import Settings
    from retrieval.mpnet import export_meta, wheel_parts

    # Training the accurate router needs only the mpnet export; making the export needs the wheels.
    if (profile.name == "accurate" and export_meta(Settings(router_profile="accurate").mpnet_dir) is None
            and not wheel_parts()):
        not_measured(report, profile, f"{reason}, and the all-mpnet-base-v2 wheels are not installed")
        return False
    setup = f"SHOPBOT_ROUTER_PROFILE={profile.name} shopbot setup"
    print(f"{reason}: running `{setup}`" + (" (the all-mpnet-base-v2 export once and the accurate seed "
          "router: a few minutes)" if profile.name == "accurate" else ""), flush=True)
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "shopbot"), "setup"],
                          env={**os.environ, **profile.env}, cwd=root, check=False)
    took = time.perf_counter() - start
    reason_was, reason = reason, missing(profile)
    if done.returncode != 0 or reason:
        not_measured(report, profile, f"`{setup}` exited with {done.returncode} after {took:.0f} s"
                     + (f" ({reason})" if reason else ""))
        return False
    report.add(profile.what("prepared by the bench"), f"{took:.0f} s", f"{setup} ({reason_was})")
    return True


def not_measured(report: Rows, profile: Profile, why: str) -> None:
    what = NOT_MEASURED if profile.name == "accurate" else f"{profile.name} profile not measured"
    print(f"{what}: {why}", file=sys.stderr, flush=True)
    report.add(what, "**not measured**", why, profile.key("not_measured"), 1.0)


def measure_profiles(report: Rows, profiles: list[Profile], root: Path,
                     serve: Callable[[Profile], None]) -> bool:
    """Serve and measure each profile in turn, then the ratio rows; whether every one was measured.

    A failure of the ``fast`` profile ends the bench as before; any other profile's is a row.
    """
    measured = True
    for profile in profiles:
        if not prepare(report, profile, root):
            measured = False
            continue
        try:
            serve(profile)
        except Exception as err:  # noqa: BLE001 - reported as a row, and the bench exits non-zero
            if profile.name == "fast":
                raise
            not_measured(report, profile, f"the server failed: {type(err).__name__}: {err}")
            measured = False
    ratio_rows(report)
    return measured


def ratio_rows(report: Rows) -> None:
    """The accurate profile against the encoder's ceiling and the fast profile, in this run."""
    n = report.numbers
    if "accurate_turns_s" in n and "ceiling" in n:
        ratio = n["accurate_turns_s"] / n["ceiling"]
        report.add("`accurate` profile: 64 sessions turns/s ÷ PyTorch batched MiniLM ceiling",
                   f"{ratio:.2f} ×", "both measured above, this run", "accurate_turns_s_per_ceiling", ratio)
    pairs = [("turns_s", "64 sessions turns/s"), ("one_p50", "1 session p50"), ("rss", "resident memory")]
    for key, what in pairs:
        if f"accurate_{key}" in n and n.get(key):
            ratio = n[f"accurate_{key}"] / n[key]
            report.add(f"`accurate` ÷ `fast` profile, {what}", f"{ratio:.2f} ×",
                       "both measured above, this run", f"accurate_per_fast_{key}", ratio)


Target = tuple[str, Callable[[dict[str, float]], tuple[str, bool]]]

ACCURATE_TARGETS: list[Target] = [
    ("`accurate` profile: 1 session p50 ≤ 40 ms",
     lambda n: (f"{n['accurate_one_p50']:.2f} ms", n["accurate_one_p50"] <= 40)),
    ("`accurate` profile: 64 sessions ≥ 100 turns/s",
     lambda n: (f"{n['accurate_turns_s']:.0f}", n["accurate_turns_s"] >= 100)),
    ("`accurate` profile: resident memory ≤ 2 GB",
     lambda n: (f"{n['accurate_rss']:.0f} MiB", n["accurate_rss"] <= 2048)),
    ("`accurate` profile: zero errors",
     lambda n: (f"{n['accurate_errors']:.0f}", n["accurate_errors"] == 0)),
]
