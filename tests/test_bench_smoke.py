"""The load tool runs end to end: one room for one second, nothing lost (no speed asserted)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_one_room_and_counts_every_message(tmp_path):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    out = tmp_path / "bench.json"
    command = [sys.executable, "bench/signaling.py", "--server", "uvicorn", "--db", "sqlite", "--rooms", "1"]
    command += ["--duration", "1", "--latency-rate", "20", "--latency-duration", "1", "--idle", "4"]
    done = subprocess.run([*command, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = json.loads(out.read_text())
    calls, idle = result["calls"], result["idle"]
    assert calls["rooms_ready"] == 1
    totals = calls["totals"]
    assert totals["sent"] > 22 and totals["received"] == totals["sent"]
    assert (totals["lost"], totals["duplicated"], totals["gaps"], totals["error_count"]) == (0, 0, 0, 0)
    assert calls["latency_ms"]["samples"] == 20
    assert idle["welcomed"] == 4
    assert result["alive"]
    assert "relayed msgs/s" in done.stdout
