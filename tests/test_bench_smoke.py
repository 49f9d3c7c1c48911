"""The load tool runs end to end: one room for one second, nothing lost (no speed asserted)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_side_by_side_mode_drives_the_seed_and_parley_with_the_same_workload(tmp_path):
    """`--compare-seed` with tiny numbers: the seed's Node server and Parley each set up their rooms and
    relay every frame; the table has a column per server and Parley's ratios (no speed asserted)."""
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the comparison with the seed is skipped")
    from bench.seed import SEED_DIR

    if not (SEED_DIR / "server.js").is_file():
        pytest.skip(f"no seed server at {SEED_DIR}")
    out = tmp_path / "compare.json"
    command = [sys.executable, "bench/signaling.py", "--compare-seed", "--db", "sqlite", "--rooms", "2"]
    command += ["--duration", "0.5", "--latency-rate", "20", "--latency-duration", "0.5", "--idle", "4"]
    done = subprocess.run([*command, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert [(r["server"], r["procs"]) for r in results] == [("seed", 1), ("uvicorn", 1), ("uvicorn", 2)]
    for result in results:
        totals = result["calls"]["totals"]
        assert result["calls"]["rooms_ready"] == 2, result["server"]
        assert totals["sent"] > 44 and totals["received"] == totals["sent"], result["server"]
        assert (totals["lost"], totals["duplicated"], totals["gaps"], totals["error_count"]) == (0, 0, 0, 0)
        assert result["idle"]["welcomed"] == 4 and result["alive"]
    assert "| seed (Node) | Parley x1 | Parley x2 (room) | Parley x1 / seed |" in done.stdout
    assert "machine: " in done.stdout and "load average" in done.stdout
