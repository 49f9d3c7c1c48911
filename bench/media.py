"""Media benchmark: what each browser of a mesh call uploads, and the CPU it takes (issue #21).

    .venv/bin/python bench/media.py                   # 2, 4 and 6 people, 10 s each
    .venv/bin/python bench/media.py --people 4 --seconds 5 --json /tmp/media.json

Starts the real app (daphne, SQLite) and one Chromium with fake camera and microphone, as the
browser tests do (tests/browser): in a loopback-only network namespace where the machine allows
one. The fake camera plays a 720p picture with fresh noise in every frame (made with ffmpeg), as
costly to encode as a real one; `--pattern` keeps Chromium's own cheap test pattern. For each
room size it signs N people in (one browser context each), joins them to one room, waits until
every link is connected and a warm-up has passed, then over `--seconds` reads every page's
getStats (outbound-rtp bytes per link, the camera's frame height and rate, its
`qualityLimitationReason`) and the CPU time of all Chromium processes. Prints a table.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.signaling import machine_pressure, proc_cpu  # noqa: E402
from tests.browser.call import enter, wait_for  # noqa: E402
from tests.browser.conftest import chromium_args, noisy_video  # noqa: E402
from tests.browser.server import (  # noqa: E402
    PASSWORD_PREFIX,
    AppServer,
    Netns,
    base_env,
    isolation_available,
    prepare_workdir,
    remove_workdir,
)

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CHROMIUM = "/usr/bin/chromium"

SEED = f"""
from accounts.models import User
from calls.models import Room
for username in {PEOPLE[4:]!r}:
    User.objects.create_user(username=username, password={PASSWORD_PREFIX!r} + username, display_name=username.title())
owner = User.objects.get(username="alice")
for people in range(2, {len(PEOPLE) + 1}):
    Room.objects.create(slug=f"media-{{people}}", name=f"Media {{people}}", owner=owner, capacity=16)
"""

# Per link of this page: cumulative bytes sent (video, audio), and the camera's (first video sender's) figures.
OUTBOUND_JS = """
async () => {
  const out = {};
  for (const [peerId, link] of window.parley.links) {
    const report = await link.pc.getStats();
    const entry = {
      state: link.pc.connectionState, video: 0, audio: 0, height: 0, fps: 0, reason: null, at: performance.now(),
    };
    const camera = link.transceivers.video && link.transceivers.video.sender.track;
    report.forEach((s) => {
      if (s.type !== "outbound-rtp") return;
      if (s.kind === "audio") entry.audio += s.bytesSent || 0;
      if (s.kind !== "video") return;
      entry.video += s.bytesSent || 0;
      const source = s.mediaSourceId && report.get(s.mediaSourceId);
      if (!camera || !source || source.trackIdentifier === camera.id) {
        entry.height = s.frameHeight || 0;
        entry.fps = s.framesPerSecond || 0;
        entry.reason = s.qualityLimitationReason || null;
      }
    });
    entry.step = window.parley.uplink ? window.parley.uplink.adaptation.step(peerId) : 0;  // lowered for the network
    out[peerId] = entry;
  }
  return out;
}
"""


def chromium_pids() -> list[int]:
    """This process's descendants that are Chromium (the browser and its renderer, GPU and utility processes)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return [pid for pid in mine if "chrom" in names.get(pid, "")]


def chromium_cpu() -> float:
    total = 0.0
    for pid in chromium_pids():
        try:
            total += proc_cpu(pid)
        except OSError:
            continue
    return total


def measure(browser, server: AppServer, people: int, *, warmup: float, seconds: float) -> dict:
    slug = f"media-{people}"
    pages = [enter(browser, server, username, slug) for username in PEOPLE[:people]]
    try:

        def connected():
            return all(
                len(stats) == people - 1 and all(s["state"] == "connected" and s["height"] for s in stats.values())
                for stats in (page.evaluate(OUTBOUND_JS) for page in pages)
            )

        wait_for(connected, timeout=60 + 30 * people, what=f"{people} people connected with video")
        time.sleep(warmup)
        before = [page.evaluate(OUTBOUND_JS) for page in pages]
        cpu_before, wall_before = chromium_cpu(), time.monotonic()
        time.sleep(seconds)
        after = [page.evaluate(OUTBOUND_JS) for page in pages]
        cpu = chromium_cpu() - cpu_before
        wall = time.monotonic() - wall_before
        pressure = machine_pressure()
    finally:
        for page in pages:
            page.context.close()
    links = []
    for first, last in zip(before, after, strict=True):
        for peer_id, end in last.items():
            start = first.get(peer_id)
            if not start:
                continue
            span = (end["at"] - start["at"]) / 1000
            links.append(
                {
                    "video_kbps": (end["video"] - start["video"]) * 8 / span / 1000,
                    "audio_kbps": (end["audio"] - start["audio"]) * 8 / span / 1000,
                    "height": end["height"],
                    "fps": end["fps"],
                    "reason": end["reason"],
                    "step": end["step"],
                }
            )
    per_person = sum(link["video_kbps"] + link["audio_kbps"] for link in links) / people
    reasons: dict[str, int] = {}
    for link in links:
        reasons[str(link["reason"])] = reasons.get(str(link["reason"]), 0) + 1
    return {
        "people": people,
        "links": len(links),
        "upload_kbps_per_person": round(per_person),
        "video_kbps_per_link": [
            round(min(link["video_kbps"] for link in links)),
            round(max(link["video_kbps"] for link in links)),
        ],
        "heights": sorted({link["height"] for link in links}),
        "fps": round(sum(link["fps"] for link in links) / len(links), 1),
        "limitation": reasons,
        "links_lowered": sum(1 for link in links if link["step"]),
        "chromium_cores": round(cpu / wall, 2),
        "cores_per_person": round(cpu / wall / people, 2),
        "machine": pressure,
    }


def seed(workdir: Path) -> None:
    import subprocess

    env = base_env(workdir)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[2, 4, 6], help="room sizes to measure (2-8)")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds after all links connect (bandwidth ramp-up)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per room size")
    parser.add_argument("--pattern", action="store_true", help="Chromium's own fake camera (cheap to encode)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if any(not 2 <= people <= len(PEOPLE) for people in args.people):
        parser.error(f"--people takes 2 to {len(PEOPLE)}")

    from playwright.sync_api import sync_playwright

    # Stopped with SIGTERM, still stop the server, the browser and the namespace (the `finally`s).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = prepare_workdir()
    seed(workdir)
    netns = Netns() if isolation_available() else None
    server = AppServer(workdir, netns=netns)
    results = []
    try:
        server.start()
        with sync_playwright() as playwright:
            executable = netns.chromium_wrapper(CHROMIUM, workdir) if netns else CHROMIUM
            video = None if args.pattern else noisy_video(workdir / "camera.y4m")
            browser = playwright.chromium.launch(executable_path=executable, args=chromium_args(video=video))
            try:
                for people in args.people:
                    try:
                        result = measure(browser, server, people, warmup=args.warmup, seconds=args.seconds)
                    except AssertionError as error:  # a call that never connected on a busy machine
                        print(f"{people} people: {error}"[:300], flush=True)
                        continue
                    results.append(result)
                    print(json.dumps(result), flush=True)
                    if args.json:
                        Path(args.json).write_text(json.dumps(results, indent=2))
            finally:
                browser.close()
    finally:
        server.stop()
        if netns:
            netns.stop()
        remove_workdir(workdir)

    print()
    print(
        "| people | links | upload per person (kbit/s) | video per link (kbit/s) | camera height sent | fps "
        "| limited by | lowered for the network | Chromium CPU (cores) | per person | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        limited = ", ".join(f"{reason} {count}" for reason, count in sorted(r["limitation"].items()))
        low, high = r["video_kbps_per_link"]
        heights = "/".join(str(height) for height in r["heights"])
        print(
            f"| {r['people']} | {r['links']} | {r['upload_kbps_per_person']} | {low}-{high} | {heights} | {r['fps']} "
            f"| {limited} | {r['links_lowered']} | {r['chromium_cores']} | {r['cores_per_person']} "
            f"| {r['machine']['loadavg1']} |"
        )


if __name__ == "__main__":
    main()
