#!/usr/bin/env python3
"""What a session or forward-auth check costs the server (issue 19: at most 2x the empty
endpoint's): server CPU per request from /proc, split by thread as signin_cpu.py does, for
`session`, `forward` and `nonce` against each build and `floor` against the empty poem endpoint
(examples/floor.rs), all in the same rounds. Needs the release loadgen and floor examples.

  python3 benches/check_cpu.py base=/work/bin/siwe-server-base new=target/release/siwe-server
  ROUNDS=5 DURATION=4s CONNECTIONS=16 python3 benches/check_cpu.py new=target/release/siwe-server

Raw results (one JSON object per run) go to target/bench/check-cpu-<time>.jsonl.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from signin_cpu import DURATION, PORT, ROUNDS, URL, measure, serving  # noqa: E402

CONNECTIONS = int(os.environ.get("CONNECTIONS", "16"))
FLOOR = os.environ.get("FLOOR", "target/release/examples/floor")
FLOOR_PORT = PORT + 100
SCENARIOS = ["nonce", "session", "forward"]


def run(pid, url, scenario, extra=()):
    result, roles, seconds, ok = measure(
        pid, ["--url", url, "--scenario", scenario, "--connections", str(CONNECTIONS),
              "--duration", DURATION, *extra])
    return {
        "scenario": scenario,
        "connections": CONNECTIONS,
        "ok": ok,
        "not_ok": result["requests"] - ok + result["errors"],
        "per_sec": result["requests_per_sec"],
        "p50_ms": result["latency_ms"]["p50"],
        "server_cores": sum(roles.values()) / seconds,
        "server_us": 1e6 * sum(roles.values()) / max(ok, 1),
        "us_by_role": {role: 1e6 * cpu / max(ok, 1) for role, cpu in roles.items()},
    }


def main():
    builds = [arg.split("=", 1) for arg in sys.argv[1:]] or [["new", "target/release/siwe-server"]]
    os.makedirs("target/bench", exist_ok=True)
    path = time.strftime("target/bench/check-cpu-%Y%m%d-%H%M%S.jsonl")
    rows = []

    def keep(row, raw):
        raw.write(json.dumps(row) + "\n")
        raw.flush()
        rows.append(row)
        print(f"round {row['round']} {row['build']:>6} {row['scenario']:>8} x{CONNECTIONS} "
              f"{row['per_sec']:7.0f}/s p50 {row['p50_ms']:.2f} ms {row['server_us']:5.1f} us "
              + " ".join(f"{k} {v:.1f}" for k, v in sorted(row["us_by_role"].items())), flush=True)

    with open(path, "w") as raw:
        for round_ in range(1, ROUNDS + 1):
            floor = subprocess.Popen([FLOOR, f"127.0.0.1:{FLOOR_PORT}"])
            try:
                time.sleep(0.3)
                row = run(floor.pid, f"http://127.0.0.1:{FLOOR_PORT}", "floor", ("--floor-path", "/"))
                row.update(build="floor", round=round_)
                keep(row, raw)
            finally:
                floor.terminate()
                floor.wait()
            for name, binary in builds:
                with serving(binary) as server:
                    for scenario in SCENARIOS:
                        row = run(server.pid, URL, scenario)
                        row.update(build=name, round=round_)
                        keep(row, raw)
    floor_us = statistics.median(r["server_us"] for r in rows if r["build"] == "floor")
    print(f"\nmedians of {ROUNDS} rounds ({path}); server CPU in us per request, "
          f"{CONNECTIONS} connections; floor = the empty poem endpoint\n")
    print("| build | scenario | req/s | p50 ms | server µs | of floor | not 2xx |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    groups = defaultdict(list)
    for row in rows:
        groups[(row["build"], row["scenario"])].append(row)
    for (build, scenario), rs in groups.items():
        med = lambda f: statistics.median(f(r) for r in rs)
        us = med(lambda r: r["server_us"])
        print(f"| {build} | {scenario} | {med(lambda r: r['per_sec']):,.0f} | "
              f"{med(lambda r: r['p50_ms']):.2f} | {us:.1f} | {us / floor_us:.2f}x | "
              f"{sum(r['not_ok'] for r in rs)} |")


if __name__ == "__main__":
    main()
