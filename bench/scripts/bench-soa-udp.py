#!/usr/bin/env python3
"""SOA over UDP, interleaved: xfrd, knotd and nsd serving the bundled example zone, one at a
time on core 0 (one serving thread each), `xfr-bench soa --busy-poll` on core 1 at 1, 4, 16
and 64 queries in flight; ROUNDS rounds, the server order rotating each round. Prints queries/s
and the server's CPU per answer (--server-pid) for every run, then each level's ranges.

Loopback only (ports 25360-25362), every run bounded by --duration.
Usage: bench-soa-udp.py XFRD_BIN XFR_BENCH_BIN ROUNDS [SECONDS]   (knotd, nsd on PATH)"""
import json, os, shutil, subprocess, sys, tempfile, time

XFRD, BENCH, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
SECS = sys.argv[4] if len(sys.argv) > 4 else "3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZONE = os.path.join(ROOT, "examples", "example.com.zone")
LEVELS = [1, 4, 16, 64]
TMP = tempfile.mkdtemp(prefix="bench-soa-")

def start(name, port):
    d = f"{TMP}/{name}"
    os.makedirs(d, exist_ok=True)
    shutil.copy(ZONE, f"{d}/example.com.zone")
    if name == "xfrd":
        open(f"{d}/x.toml", "w").write(
            f'listen = ["127.0.0.1:{port}"]\ncores = 1\nstore_dir = "{d}/stores"\n'
            f'[[zone]]\norigin = "example.com."\nfile = "{d}/example.com.zone"\n')
        cmd = [XFRD, "serve", "--config", f"{d}/x.toml"]
    elif name == "knotd":
        open(f"{d}/k.conf", "w").write(
            f'server:\n  rundir: "{d}"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n'
            f'  tcp-workers: 1\n  background-workers: 1\ndatabase:\n  storage: "{d}"\n'
            f'log:\n  - target: stderr\n    any: warning\n'
            f'zone:\n  - domain: example.com.\n    file: "{d}/example.com.zone"\n')
        cmd = ["knotd", "-c", f"{d}/k.conf"]
    else:
        open(f"{d}/n.conf", "w").write(
            f'server:\n  ip-address: 127.0.0.1@{port}\n  server-count: 1\n  database: ""\n'
            f'  zonesdir: "{d}"\n  pidfile: "{d}/nsd.pid"\n  xfrdfile: "{d}/xfrd.state"\n'
            f'  zonelistfile: "{d}/zone.list"\n  username: ""\n  logfile: "{d}/nsd.log"\n'
            f'  verbosity: 0\n  hide-version: yes\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\n'
            f'zone:\n  name: example.com.\n  zonefile: "{d}/example.com.zone"\n')
        cmd = ["nsd", "-d", "-c", f"{d}/n.conf"]
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=open(f"{d}/log", "w"),
                         stderr=subprocess.STDOUT)
    time.sleep(1.5)
    return p

def run(port, pid, level):
    j = f"{TMP}/r.json"
    subprocess.run(["taskset", "-c", "1", BENCH, "soa", "--target", f"127.0.0.1:{port}",
                    "--zone", "example.com.", "--concurrency", str(level), "--transfers",
                    "100000000", "--duration", SECS, "--busy-poll", "--server-pid", str(pid),
                    "--client-cores", "1", "--json", j], check=True, capture_output=True)
    r = json.load(open(j))
    n = r["transfers"] - r["errors"]
    return r["transfers_per_s"], (r.get("server_cpu_s") or 0) / max(n, 1) * 1e6

servers = [("xfrd", 25360), ("knotd", 25361), ("nsd", 25362)]
res = {(s, l): [] for s, _ in servers for l in LEVELS}
try:
    for rnd in range(ROUNDS):
        order = servers[rnd % 3:] + servers[:rnd % 3]
        for name, port in order:
            p = start(name, port)
            # nsd forks: measure the process that serves (the child) with its parent.
            try:
                for level in LEVELS:
                    qps, cpu = run(port, p.pid, level)
                    res[(name, level)].append((qps, cpu))
                    print(f"round {rnd + 1} {name:5} c={level:2}: {qps:9.0f} q/s, server CPU "
                          f"{cpu:.2f} us/answer", flush=True)
            finally:
                p.terminate()
                p.wait(10)
    print("\nlevel | server | q/s (runs) | CPU per answer, us (runs)")
    for level in LEVELS:
        for name, _ in servers:
            v = res[(name, level)]
            print(f"{level} | {name} | " + ", ".join(f"{q:.0f}" for q, _ in v) + " | "
                  + ", ".join(f"{c:.2f}" for _, c in v))
finally:
    shutil.rmtree(TMP, ignore_errors=True)
