"""The seed's Node server (../shared/anchors/seed-node), run beside Parley by `--compare-seed`.

The seed's code is never copied into this repository: each run copies it to a temporary
folder, installs its locked dependencies there (`npm ci`, from npm's cache after the first
time) and starts `node server.js` on a free loopback port. Where node or npm is missing, or the
seed's folder is not there, `SeedUnavailable` says why and the comparison is skipped.
"""

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = Path(os.environ.get("PARLEY_SEED_DIR", ROOT.parent / "shared" / "anchors" / "seed-node"))


class SeedUnavailable(Exception):
    pass


class SeedServer:
    """One `node server.js` process; the same interface as bench.signaling.Server."""

    def __init__(self, *, port: int, log: Path, wait_port, stop) -> None:
        self.process_stop = stop  # bench.signaling.process_stop (this module does not import it)
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            raise SeedUnavailable("node/npm not found: the side-by-side comparison with the seed is skipped")
        if not (SEED_DIR / "server.js").is_file():
            raise SeedUnavailable(f"no seed server at {SEED_DIR} (PARLEY_SEED_DIR): comparison skipped")
        self.workdir = Path(tempfile.mkdtemp(prefix="parley-seed-"))
        for name in ("server.js", "package.json", "package-lock.json"):
            if (SEED_DIR / name).exists():
                shutil.copy(SEED_DIR / name, self.workdir / name)
        install = ["ci"] if (self.workdir / "package-lock.json").exists() else ["install"]
        done = subprocess.run(
            [npm, *install, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error"],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise SeedUnavailable(f"npm {install[0]} failed in the seed's copy: {done.stderr.strip()[-300:]}")
        self.version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        self.port = port
        self.log = log.open("w")
        env = dict(os.environ, PORT=str(port), NODE_ENV="production")
        self.proc = subprocess.Popen(
            [node, "server.js"], cwd=self.workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_port(port, self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.process_stop(self.proc, signal.SIGTERM)
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- The side-by-side table ----------------------------------------------------------------------


def _figures(result: dict) -> dict:
    calls, idle = result.get("calls") or {}, result.get("idle") or {}
    lat, tot = calls.get("latency_ms", {}), calls.get("totals", {})
    setup = calls.get("setup_timing", {})
    return {
        "relayed frames / s": calls.get("msgs_per_s"),
        "relayed frames / server CPU-s": calls.get("msgs_per_server_cpu_s"),
        "set-ups / s (all connect at t0)": calls.get("setups_per_s"),
        "set-ups / server CPU-s": calls.get("setups_per_server_cpu_s"),
        "first handshake (101), ms": setup.get("first_open_ms"),
        "first in its room, ms": setup.get("first_welcome_ms"),
        "KB per idle socket (server + Redis)": idle.get("kb_per_socket"),
        "p99 latency at 200 frames/s, ms": lat.get("p99"),
        "lost / duplicated / reordered": (tot.get("lost"), tot.get("duplicated"), tot.get("gaps")) if tot else None,
    }


LOWER_IS_BETTER = {"KB per idle socket (server + Redis)", "p99 latency at 200 frames/s, ms"}
LOWER_IS_BETTER |= {"first handshake (101), ms", "first in its room, ms"}


def label(result: dict) -> str:
    if result["server"] == "seed":
        return "seed (Node)"
    procs = result["procs"]
    return "Parley x1" if procs == 1 else f"Parley x{procs} ({result.get('placement', 'split')})"


def _median(values: list):
    values = [v for v in values if v is not None]
    if not values:
        return None
    if isinstance(values[0], tuple):  # lost / duplicated / reordered: the sums over the runs
        return tuple(sum(v[i] or 0 for v in values) for i in range(len(values[0])))
    return statistics.median(values)


def compare_table(results: list[dict]) -> str:
    """Markdown: one row per figure, one column per server (the median of its runs), and each
    Parley's ratio to the seed."""
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(label(result), []).append(result)
    figures = {
        name: {key: _median([_figures(r)[key] for r in runs]) for key in _figures(runs[0])}
        for name, runs in groups.items()
    }
    seed = figures.get("seed (Node)")
    parleys = [name for name in figures if name != "seed (Node)"]
    columns = (["seed (Node)"] if seed else []) + parleys
    runs = max(len(runs) for runs in groups.values())
    suffix = f" (median of {runs} runs)" if runs > 1 else ""
    head = [name + suffix for name in columns] + ([f"{name} / seed" for name in parleys] if seed else [])
    lines = ["| figure | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for key in figures[columns[0]]:
        cells = []
        for name in columns:
            value = figures[name][key]
            if isinstance(value, tuple):
                cells.append(" / ".join(str(v) for v in value))
            else:
                cells.append("-" if value is None else f"{value:,.{1 if value < 100 else 0}f}")
        if seed:
            base = seed[key]
            for name in parleys:
                value = figures[name][key]
                if isinstance(value, (int, float)) and isinstance(base, (int, float)) and base:
                    cells.append(f"{value / base:.2f}x" + (" (lower is better)" if key in LOWER_IS_BETTER else ""))
                else:
                    cells.append("")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
