#!/usr/bin/env python3
"""What a sign-in costs the server (issue 19): CPU per sign-in from /proc, split by thread (CPU
pool, writer, checkpointer, async workers, the rest), for a new wallet (`login`) and a returning
one (`login-returning`), at 16 connections and at 1, with the generator's throughput and p50.
Builds given as NAME=PATH are run in turn within each round (old and new in the same minutes),
each on a fresh database. Needs the release loadgen (cargo build --release --example loadgen).

  python3 benches/signin_cpu.py new=target/release/siwe-server old=/tmp/old-siwe-server
  ROUNDS=5 DURATION=4s python3 benches/signin_cpu.py new=target/release/siwe-server

Raw results (one JSON object per run) go to target/bench/signin-cpu-<time>.jsonl.
"""

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "4s")
PORT = int(os.environ.get("PORT", "18400"))
LOADGEN = os.environ.get("LOADGEN", "target/release/examples/loadgen")
URL = f"http://127.0.0.1:{PORT}"
# (scenario, connections, pre-signed messages): enough for the run at the rates seen so far.
CASES = [
    ("login", 16, 30000),
    ("login-returning", 16, 30000),
    ("login", 1, 12000),
    ("login-returning", 1, 12000),
]
TICK = os.sysconf("SC_CLK_TCK")


def threads(pid):
    """{tid: (name, cpu seconds)} of every thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def split(before, after):
    """CPU seconds between two samples, by role. Tokio names its async workers and its blocking
    threads alike; the workers are started first, one per core, so they have the lowest ids."""
    workers = sorted(t for t, (name, _) in after.items() if name.startswith("tokio-r"))
    workers = set(workers[: os.cpu_count()])
    roles = defaultdict(float)
    for tid, (name, cpu) in after.items():
        spent = cpu - before.get(tid, (name, 0.0))[1]
        if name.startswith("cpu-"):
            role = "cpu pool"
        elif name in ("db-writer", "db-checkpoint"):
            role = name[3:]
        elif tid in workers:
            role = "async workers"
        elif name.startswith("tokio-r"):
            role = "blocking"
        else:
            role = "other"
        roles[role] += spent
    return roles


def measure(pid, args):
    """Runs the generator with `args` (and --json) against the server `pid`: its report, the
    server's CPU seconds by role while the clock ran, those seconds, and the 2xx answers."""
    gen = subprocess.Popen([LOADGEN, *args, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The clock starts once the generator says so (pre-signing costs the server nonces).
    for line in gen.stderr:
        if line.startswith("running"):
            break
    before, started = threads(pid), time.monotonic()
    out, _ = gen.communicate()
    after, seconds = threads(pid), time.monotonic() - started
    result = json.loads(out)
    ok = sum(n for s, n in result["statuses"].items() if s.startswith("2"))
    return result, split(before, after), seconds, ok


def run_case(pid, scenario, connections, presign):
    result, roles, seconds, ok = measure(
        pid, ["--url", URL, "--scenario", scenario, "--connections", str(connections),
              "--duration", DURATION, "--presign", str(presign)])
    total = sum(roles.values())
    return {
        "scenario": scenario,
        "connections": connections,
        "sign_ins": ok,
        "not_ok": result["requests"] - ok + result["errors"],
        "per_sec": result["requests_per_sec"],
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "server_cores": total / seconds,
        "server_us_per_sign_in": 1e6 * total / max(ok, 1),
        "us_per_sign_in": {role: 1e6 * cpu / max(ok, 1) for role, cpu in roles.items()},
        "generator_cores": result["generator_cpu_share_of_one_core"],
    }


def start(binary, db):
    env = dict(os.environ,
               SIWE_RATE_LIMIT__AUTH_PER_MINUTE="0", SIWE_RATE_LIMIT__READ_PER_MINUTE="0",
               SIWE_LOG__LEVEL="warn", SIWE_SERVER__BIND=f"127.0.0.1:{PORT}",
               SIWE_SERVER__PUBLIC_URL=URL, SIWE_DATABASE__PATH=db)
    log = open("target/bench/signin-cpu-server.log", "a")
    server = subprocess.Popen([binary], env=env, stdout=log, stderr=log)
    subprocess.run([sys.executable, "benches/wait_healthz.py", URL], check=True)
    return server


@contextlib.contextmanager
def serving(binary):
    """A server of `binary` on a fresh database, stopped at the end of the block."""
    with tempfile.TemporaryDirectory() as work:
        server = start(binary, f"{work}/siwe.db")
        try:
            yield server
        finally:
            server.terminate()
            server.wait()


def main():
    builds = [arg.split("=", 1) for arg in sys.argv[1:]] or [["new", "target/release/siwe-server"]]
    os.makedirs("target/bench", exist_ok=True)
    path = time.strftime("target/bench/signin-cpu-%Y%m%d-%H%M%S.jsonl")
    rows = []
    with open(path, "w") as raw:
        for round_ in range(1, ROUNDS + 1):
            for name, binary in builds:
                with serving(binary) as server:
                    for scenario, connections, presign in CASES:
                        row = run_case(server.pid, scenario, connections, presign)
                        row.update(build=name, round=round_)
                        raw.write(json.dumps(row) + "\n")
                        raw.flush()
                        rows.append(row)
                        print(f"round {round_} {name:>6} {scenario:>15} x{connections:<2} "
                              f"{row['per_sec']:7.0f}/s p50 {row['p50_ms']:.2f} ms "
                              f"{row['server_us_per_sign_in']:5.0f} us "
                              + " ".join(f"{k} {v:.0f}" for k, v in sorted(row["us_per_sign_in"].items())),
                              flush=True)

    print(f"\nmedians of {ROUNDS} rounds ({path}); server CPU in us per sign-in\n")
    roles = ["cpu pool", "writer", "checkpoint", "async workers", "blocking", "other"]
    print("| build | scenario | conns | sign-ins/s | p50 ms | p99 ms | server µs | "
          + " | ".join(roles) + " | not 2xx |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in roles) + " | ---: |")
    groups = defaultdict(list)
    for row in rows:
        groups[(row["scenario"], row["connections"], row["build"])].append(row)
    for (scenario, connections, build), rs in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0], kv[0][2])):
        med = lambda f: statistics.median(f(r) for r in rs)
        print(f"| {build} | {scenario} | {connections} | {med(lambda r: r['per_sec']):,.0f} | "
              f"{med(lambda r: r['p50_ms']):.2f} | {med(lambda r: r['p99_ms']):.2f} | "
              f"{med(lambda r: r['server_us_per_sign_in']):.0f} | "
              + " | ".join(f"{med(lambda r: r['us_per_sign_in'].get(role, 0.0)):.0f}" for role in roles)
              + f" | {sum(r['not_ok'] for r in rs)} |")


if __name__ == "__main__":
    main()
