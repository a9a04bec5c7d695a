#!/usr/bin/env python3
"""Several instances on one PostgreSQL against one on SQLite (issue 20): sign-ins per second
(`login`, a new wallet each) and session checks per second (`session`), with p50 and p99, for
SQLite with 1 instance and PostgreSQL with 1, 2 and 4, each behind the same nginx upstream (round
robin, keep-alive) and each on a fresh database. Run it inside a PostgreSQL server:

  cargo build --release --bin siwe-server --example loadgen
  bash tests/suites/postgres/with-postgres.sh python3 benches/instances.py

ROUNDS (default 3) rounds, the setups interleaved within each; medians are printed as a
Markdown table, raw results (one JSON object per run) go to target/bench/instances-<time>.jsonl.
PostgreSQL runs as with-postgres.sh starts it (fsync off: a throwaway server), so its figures
leave out the disk, as SQLite's `synchronous = NORMAL` does between checkpoints.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "5s")
CONNECTIONS = os.environ.get("CONNECTIONS", "16")
BIN = os.environ.get("BIN", "target/release/siwe-server")
LOADGEN = os.environ.get("LOADGEN", "target/release/examples/loadgen")
BASE = os.environ["TEST_POSTGRES_URL"]
SECRET = "a-secret-shared-by-every-instance-of-this-bench-0123456789"
SETUPS = [("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 4)]
CASES = [("login", "20000"), ("session", None)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthz(url, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer /healthz")


def psql(sql):
    subprocess.run(["psql", BASE, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def start_setup(engine, count, work, n):
    """Starts `count` instances (and nginx before them); returns (url, processes)."""
    env = dict(os.environ, SIWE_RATE_LIMIT__AUTH_PER_MINUTE="0",
               SIWE_RATE_LIMIT__READ_PER_MINUTE="0", SIWE_LOG__LEVEL="warn",
               SIWE_SECURITY__SECRET=SECRET, SIWE_SERVER__MAX_CONNECTIONS="10000",
               SIWE_SERVER__MAX_CONNECTIONS_PER_IP="10000")
    env.pop("RUST_LOG", None)
    if engine == "postgres":
        name = f"bench_{os.getpid()}_{n}"
        psql(f"CREATE DATABASE {name}")
        env["SIWE_DATABASE__URL"] = BASE.rsplit("/", 1)[0] + "/" + name
    procs, upstreams = [], []
    for i in range(count):
        port = free_port()
        data = os.path.join(work, f"{n}-{i}")
        procs.append(subprocess.Popen(
            [BIN], env=dict(env, SIWE_SERVER__BIND=f"127.0.0.1:{port}",
                            SIWE_DATABASE__PATH=os.path.join(data, "siwe.db")),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_healthz(f"http://127.0.0.1:{port}")
        upstreams.append(f"server 127.0.0.1:{port};")
    port = free_port()
    nginx_dir = os.path.join(work, f"nginx-{n}")
    os.makedirs(nginx_dir)
    conf = os.path.join(nginx_dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
pid {nginx_dir}/nginx.pid;
error_log {nginx_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {nginx_dir};
    proxy_temp_path {nginx_dir};
    upstream siwe {{ {' '.join(upstreams)} keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://siwe;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
    procs.append(subprocess.Popen(
        ["nginx", "-p", nginx_dir, "-c", conf, "-e", f"{nginx_dir}/error.log",
         "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    url = f"http://127.0.0.1:{port}"
    wait_healthz(url)
    return url, procs


TICK = os.sysconf("SC_CLK_TCK")
GROUPS = {"siwe-server": "instances", "postgres": "postgres", "nginx": "nginx"}


def cpu_by_group():
    """CPU seconds so far of every process, summed by what it is (GROUPS), children included
    for PostgreSQL's backends (each a process of its own)."""
    totals = dict.fromkeys(GROUPS.values(), 0.0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        group = next((g for n, g in GROUPS.items() if name.startswith(n)), None)
        if group:
            totals[group] += (int(fields[11]) + int(fields[12])) / TICK
    return totals


def run(url, scenario, presign):
    """One timed loadgen run; its report, with the CPU each group spent while it ran."""
    args = [LOADGEN, "--url", url, "--scenario", scenario, "--connections", CONNECTIONS,
            "--duration", DURATION, "--json"]
    if presign:
        args += ["--presign", presign]
    gen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The clock starts once the generator says so (pre-signing asks the server for nonces).
    for line in gen.stderr:
        if line.startswith("running"):
            break
    before = cpu_by_group()
    out, _ = gen.communicate()
    after = cpu_by_group()
    result = json.loads(out)
    result["cpu_seconds"] = {g: round(after[g] - before[g], 2) for g in after}
    # The generator has exited by now: it says what it spent.
    result["cpu_seconds"]["loadgen"] = round(result["generator_cpu_seconds"], 2)
    return result


def main():
    os.makedirs("target/bench", exist_ok=True)
    raw = f"target/bench/instances-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    results = {}
    n = 0
    with tempfile.TemporaryDirectory() as work, open(raw, "w") as out:
        for round_ in range(ROUNDS):
            for engine, count in SETUPS:
                n += 1
                url, procs = start_setup(engine, count, work, n)
                try:
                    for scenario, presign in CASES:
                        result = run(url, scenario, presign)
                        ok = sum(v for k, v in result["statuses"].items() if k.startswith("2"))
                        row = {"round": round_, "engine": engine, "instances": count,
                               "scenario": scenario, "ok": ok,
                               "ok_per_sec": ok / result["seconds"],
                               "p50_ms": result["latency_ms"]["p50"],
                               "p99_ms": result["latency_ms"]["p99"],
                               "cpu_seconds": result["cpu_seconds"],
                               "statuses": result["statuses"]}
                        out.write(json.dumps(row) + "\n")
                        results.setdefault((engine, count, scenario), []).append(row)
                        print(json.dumps(row), file=sys.stderr)
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        p.wait()
    print(f"\nmedians of {ROUNDS} rounds, {CONNECTIONS} connections, {DURATION} each "
          f"(raw: {raw})\n")
    print("| storage | instances | sign-ins/s | p50 / p99 ms | session checks/s | p50 / p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for engine, count in SETUPS:
        cells = []
        for scenario, _ in CASES:
            rows = results[(engine, count, scenario)]
            med = lambda key: statistics.median(r[key] for r in rows)
            cells += [f"{med('ok_per_sec'):,.0f}", f"{med('p50_ms'):.2f} / {med('p99_ms'):.2f}"]
        print(f"| {'SQLite' if engine == 'sqlite' else 'PostgreSQL'} | {count} | " +
              " | ".join(cells) + " |")
    print("\nCPU seconds per 1,000 answered requests, by process group (medians):\n")
    groups = [*GROUPS.values(), "loadgen"]
    print("| storage | instances | scenario | " + " | ".join(groups) + " |")
    print("| --- | ---: | --- |" + " ---: |" * len(groups))
    for engine, count in SETUPS:
        for scenario, _ in CASES:
            rows = results[(engine, count, scenario)]
            per = [statistics.median(r["cpu_seconds"][g] / r["ok"] * 1000
                                     for r in rows) for g in groups]
            print(f"| {engine} | {count} | {scenario} | " +
                  " | ".join(f"{x:.3f}" for x in per) + " |")


if __name__ == "__main__":
    main()
