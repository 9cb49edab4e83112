#!/usr/bin/env python3
"""Reload to the new serial served, 1M-record zone, 100-record change: xfrd (SIGHUP) and knotd
(`knotc zone-reload`, zonefile-load: difference), each fresh per run, alternating; the SOA is
polled over UDP every 5 ms from the signal on. Loopback ports 25380-25381 only; every wait is
bounded. Usage: bench-reload.py XFRD_BIN XFR_ZONE_BIN RUNS  (knotd and knotc on PATH)"""
import os, shutil, signal, socket, struct, subprocess, sys, time
XFRD, XFR_ZONE, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])
import tempfile
TMP = tempfile.mkdtemp(prefix="bench-reload-")
D = f"{TMP}/run"
def soa_serial(port):
    q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 6, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.05)
    try:
        s.sendto(q, ("127.0.0.1", port)); r, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    if len(r) < 12 or struct.unpack(">H", r[6:8])[0] == 0: return None
    # serial: last 20 bytes of the SOA rdata; answer is the only record
    return struct.unpack(">I", r[-20:-16])[0]
def wait_serial(port, want, limit=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if soa_serial(port) == want: return time.monotonic() - t0
        time.sleep(0.005)
    raise SystemExit(f"port {port}: serial {want} not served in {limit}s")
def run_xfrd(port):
    shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
    shutil.copy(f"{TMP}/v1.zone", f"{D}/z.zone")
    open(f"{D}/x.toml","w").write(f'listen=["127.0.0.1:{port}"]\ncores=2\nstore_dir="{D}/stores"\n[[zone]]\norigin="example.com."\nfile="{D}/z.zone"\n')
    p = subprocess.Popen([XFRD, "serve", "--config", f"{D}/x.toml"], stdout=open(f"{D}/log","w"), stderr=subprocess.STDOUT)
    return p
def run_knot(port):
    shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
    shutil.copy(f"{TMP}/v1.zone", f"{D}/z.zone")
    open(f"{D}/k.conf","w").write(f'server:\n  rundir: "{D}"\n  listen: 127.0.0.1@{port}\ndatabase:\n  storage: "{D}"\nlog:\n  - target: stderr\n    any: warning\nzone:\n  - domain: example.com.\n    file: "{D}/z.zone"\n    zonefile-load: difference\n    journal-content: changes\n    zonefile-sync: -1\n')
    return subprocess.Popen(["knotd", "-c", f"{D}/k.conf"], stdout=open(f"{D}/log","w"), stderr=subprocess.STDOUT)

def make_zones(xfr_zone, d):
    """v1: the generated 1M-record zone (seed 1); v2: 50 single-owner A records deleted, 50
    added, serial + 1 (a 100-record change that keeps every other owner as it was)."""
    import re
    v1 = f"{d}/v1.zone"
    subprocess.run([xfr_zone, "gen", "--origin", "example.com.", "--records", "1000000",
                    "--seed", "1", "-o", v1], check=True, capture_output=True)
    lines = open(v1).read().split("\n")
    out, deleted = [], 0
    for i, l in enumerate(lines):
        if "2026010170 ; serial" in l:
            l = l.replace("2026010170", "2026010171")
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (deleted < 50 and i > 5000 and i % 1000 < 30
                and re.match(r"^\S+\s+(\d+\s+)?IN\s+A\s+\d", l) and re.match(r"^\S", nxt)):
            deleted += 1
            continue
        out.append(l)
    out += [f"added{k}\t300\tIN\tA\t192.0.2.{k}" for k in range(50)]
    open(f"{d}/v2.zone", "w").write("\n".join(out) + "\n")

make_zones(XFR_ZONE, TMP)
res = {"xfrd": [], "knotd": []}
for r in range(RUNS):
    for name, start, port in (("xfrd", run_xfrd, 25380), ("knotd", run_knot, 25381)):
        p = start(port)
        try:
            wait_serial(port, 2026010170)
            time.sleep(1.0)
            shutil.copy(f"{TMP}/v2.zone", f"{D}/z.zone.new"); os.rename(f"{D}/z.zone.new", f"{D}/z.zone")
            t0 = time.monotonic()
            if name == "xfrd": p.send_signal(signal.SIGHUP)
            else: subprocess.run(["knotc", "-s", f"{D}/knot.sock", "zone-reload", "example.com."], check=True, capture_output=True)
            wait_serial(port, 2026010171)
            res[name].append(time.monotonic() - t0)
        finally:
            p.terminate(); p.wait(10)
        print(name, f"{res[name][-1]:.3f}", flush=True)
for k, v in res.items():
    v2 = sorted(v); print(k, "runs", ", ".join(f"{x:.2f}" for x in v), "median", f"{v2[len(v2)//2]:.2f}")
shutil.rmtree(TMP, ignore_errors=True)
