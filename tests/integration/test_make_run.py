"""Issue 8, must-show 1, as close as a test gets to a new user's `make run`: the shipped
config (`config/shadowd.toml`, the embedded GEANT default) run as `make run` runs it
(`shadowd run --guided`), with two changes: the lab is off (the lab tier has its own tests,
and this one should not need root), and the paths point into a temporary directory. The
guide must narrate all six stages and end on a verdict a network engineer believes: a
proposal that meets its target, validated, rolled out in dry run with every gate passed
as the shadow predicts it; then a deliberately bad change, rolled back by its gate. It
writes the report and a summary naming it; the report must render in headless Chromium
with the network's map; `shadowctl status` must answer; SIGTERM must stop it cleanly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Daemon, poll
from tests.report_dom import CHROMIUM, Dom, chromium_dom

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class GuidedDaemon(Daemon):
    def command(self) -> list[str]:
        return [*super().command(), "--guided"]


def shipped_config(directory: Path) -> Path:
    text = (REPO / "config" / "shadowd.toml").read_text()
    text = re.sub(r"(?m)^enabled = true(\s+# build the lab)", r"enabled = false\1", text)
    text = text.replace('scenarios_dir = "../scenarios"',
                        f'scenarios_dir = "{REPO / "scenarios"}"')
    assert "enabled = false" in text
    path = directory / "shadowd.toml"
    path.write_text(text)
    return path


def summary(d: Daemon) -> dict[str, Any] | None:
    return next((r for r in d.log_records() if r.get("event") == "summary"), None)


def test_make_run_narrates_the_loop_and_leaves_a_report(tmp_path: Path) -> None:
    d = GuidedDaemon(tmp_path, shipped_config(tmp_path))
    try:
        d.start().wait_ready()
        # a hang guard, not a speed limit: the guide needs a day of trace time to learn
        done = poll("the guide's summary", lambda: summary(d), interval=1.0, guard_s=900.0)
        stages = [r["event"].split("]")[0] + "]" for r in d.log_records()
                  if r.get("component") == "guide" and r["event"].startswith("[")]
        assert stages == ["[1/6 ingest]", "[2/6 predict]", "[3/6 scenarios]", "[4/6 policy]",
                          "[5/6 rollout]", "[6/6 rollback]"], d.log_text()[-4000:]
        assert done["stages_seen"] == "6/6"
        good, bad = done["policy"].split(": "), done["bad_change"].split(": ")
        assert good[1] == "completed"
        assert bad[1] == "rolled_back"
        proposed = {r["policy"]: r for r in d.log_records() if r.get("event") == "policy proposed"}
        assert proposed[good[0]]["wc_after"] <= 0.9 < proposed[good[0]]["wc_before"]
        steps = [r for r in d.log_records() if r.get("event") == "rollout step"
                 and r.get("phase") == "measured"]
        assert {r["policy_id"]: r["verdict"] for r in steps} == {good[0]: "success",
                                                                 bad[0]: "failure"}
        assert all(r["max_util"] > 0 and r["latency_ms"] > 0 and r["throughput_bps"] > 0
                   for r in steps)  # measured in the shadow, not zeros
        page = Path(done["report"])
        assert page.is_file()
        dom = Dom.of(chromium_dom(page, tmp_path / "profile") if CHROMIUM is not None
                     else page.read_text())  # without chromium: the file as written
        assert len(dom.find("g", "router", within="map-now")) == 22
        assert len(dom.tables["worst-case"]) == 72
        status = d.status()
        assert status.seq > 0
        assert "replay" in status.sources
        assert d.stop() == 0
    finally:
        d.cleanup()
