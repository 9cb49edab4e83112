#!/usr/bin/env bash
# What metrics cost (issue 15, BENCHMARKS.md "Metrics"): 64 concurrent 10k-record AXFRs
# against two xfrd builds in alternating runs on the same zone, one core each (taskset core 0,
# the client on core 1): BASE (before the counters existed) and NEW (counting, with
# [metrics] listen set and the endpoint scraped every second during the run, as Prometheus
# would). Prints each run and the medians of transfers/s and server CPU per transfer.
# Usage: BASE=... NEW=... XFR_ZONE=... XFR_BENCH=... bench/scripts/bench-metrics.sh
# Env: RUNS (5 pairs), SECS (8), OUT (/tmp/bench-metrics). Loopback only; every loop bounded.
set -euo pipefail
: "${BASE:?xfrd binary without metrics}" "${NEW:?xfrd binary with metrics}"
: "${XFR_ZONE:?xfr-zone binary}" "${XFR_BENCH:?xfr-bench binary}"
RUNS=${RUNS:-5}
SECS=${SECS:-8}
OUT=${OUT:-/tmp/bench-metrics}
mkdir -p "$OUT"
[ -s "$OUT/small.zone" ] || "$XFR_ZONE" gen --origin small.bench. --records 10000 --seed 1 -o "$OUT/small.zone"
PORT=25480
MPORT=25481

run() { # $1: label, $2: binary, $3: with metrics (yes/no), $4: run index
    local dir=$OUT/$1-$4
    rm -rf "$dir"; mkdir -p "$dir"
    {
        echo "listen = [\"127.0.0.1:$PORT\"]"
        echo "cores = 1"
        echo "store_dir = \"$dir/store\""
        [ "$3" = yes ] && printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "$MPORT"
        printf '[[zone]]\norigin = "small.bench."\nfile = "%s"\n' "$OUT/small.zone"
    } >"$dir/xfrd.toml"
    taskset -c 0 "$2" serve --config "$dir/xfrd.toml" >"$dir/log" 2>&1 &
    local pid=$! ok=
    for _ in $(seq 1 300); do
        if "$XFR_BENCH" soa --target "127.0.0.1:$PORT" --zone small.bench. --transfers 1 --timeout 0.2 \
            --fail-on-error >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { cat "$dir/log"; kill "$pid"; return 1; }
    local scraper=
    if [ "$3" = yes ]; then
        (for _ in $(seq 1 "$((SECS + 5))"); do
            curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics" || true; sleep 1
        done) &
        scraper=$!
    fi
    taskset -c 1 "$XFR_BENCH" axfr --target "127.0.0.1:$PORT" --zone small.bench. --concurrency 64 \
        --transfers 10000000 --duration "$SECS" --client-cores 1 --server-pid "$pid" \
        --json "$dir/axfr.json" >"$dir/axfr.txt"
    [ -z "$scraper" ] || kill "$scraper" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

for i in $(seq 1 "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then order="base new"; else order="new base"; fi
    for which in $order; do
        if [ "$which" = base ]; then run base "$BASE" no "$i"; else run new "$NEW" yes "$i"; fi
    done
done
python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
rows = {}
for which in ("base", "new"):
    for i in range(1, runs + 1):
        j = json.load(open(f"{out}/{which}-{i}/axfr.json"))
        r = rows.setdefault(which, {"tps": [], "cpu": []})
        r["tps"].append(j["transfers_per_s"])
        r["cpu"].append(1e6 * j.get("server_cpu_s", 0) / max(1, j["transfers"]))
for which, r in rows.items():
    print(f'{which:5} transfers/s median {statistics.median(r["tps"]):8.0f} runs {[round(x) for x in r["tps"]]}  server CPU us/transfer median {statistics.median(r["cpu"]):7.1f} runs {[round(x,1) for x in r["cpu"]]}')
b, n = rows["base"], rows["new"]
print(f'new/base: transfers/s {statistics.median(n["tps"])/statistics.median(b["tps"]):.4f}, CPU per transfer {statistics.median(n["cpu"])/statistics.median(b["cpu"]):.4f}')
PY
