#!/usr/bin/env bash
# Signed transfers (TSIG, issue 13), the figures of BENCHMARKS.md "Signed transfers":
#   compare  RUNS alternating pairs of `xfr-bench compare` over xfrd, knotd and nsd, one
#            unsigned and one signed (--tsig, hmac-sha256) on the same zones: the 1M-record
#            AXFR (median of 5 per run) and 64 concurrent 10k-record AXFRs; medians printed.
#   perf     xfrd (profiling build, frame pointers) serving signed 1M-record AXFRs back to
#            back for SECS seconds under `perf record -e cpu-clock -g`; top symbols by self
#            time and the HMAC's share (sha2 and hmac frames).
#   latency  xfrd on one core: SOA over UDP (4 in flight) and signed 10k-record AXFRs (c=4),
#            their p50/p99, while the same core serves nothing, unsigned 1M-record AXFRs, or
#            signed ones (inline signing: does one transfer's HMAC stall the others?). The
#            load clients sign without verifying (--tsig-sign-only) and share core 1.
# Usage: XFRD=... XFR_ZONE=... XFR_BENCH=... [XFRD_PROF=...] bench/scripts/bench-tsig.sh \
#            [compare|perf|latency]...   (default: all three)
# Env: RUNS (3), SECS (10), OUT (/tmp/bench-tsig), KEY (NAME:ALG:SECRET; default a fresh
#      hmac-sha256 key), BATCH (xfrd's [limits] send_batch_bytes for perf and latency; default
#      xfrd's own, 262144). Nothing is built here: the binaries under test are given. Loopback
#      only; every loop is bounded by a count and a duration.
set -euo pipefail
: "${XFRD:?xfrd binary}" "${XFR_ZONE:?xfr-zone binary}" "${XFR_BENCH:?xfr-bench binary}"
XFRD_PROF=${XFRD_PROF:-$XFRD}
RUNS=${RUNS:-3}
SECS=${SECS:-10}
OUT=${OUT:-/tmp/bench-tsig}
KEY=${KEY:-bench-key.:hmac-sha256:$(head -c 32 /dev/urandom | base64)}
mkdir -p "$OUT"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(compare perf latency)

# Noise control: the machine is shared with other builds and benchmarks. Wait (at most
# IDLE_WAIT s, default 600) until both cores were under 5% busy for two 3 s windows in a row.
busy_pct() {
    local a b t=0 i
    read -ra a </proc/stat; sleep 3; read -ra b </proc/stat
    for i in 1 2 3 4 5 6 7 8; do t=$((t + b[i] - a[i])); done
    echo $((100 * (t - (b[4] - a[4]) - (b[5] - a[5])) / t))
}
wait_idle() {
    local end=$((SECONDS + ${IDLE_WAIT:-600})) ok=0 b
    while [ $SECONDS -lt $end ]; do
        b=$(busy_pct)
        if [ "$b" -lt 5 ]; then ok=$((ok + 1)); [ $ok -ge 2 ] && return 0; else ok=0; fi
    done
    echo "machine still busy ($b%) after ${IDLE_WAIT:-600} s: measuring anyway" >&2
}

zones() {
    [ -s "$OUT/large.zone" ] || "$XFR_ZONE" gen --origin large.bench. --records 1000000 --seed 1 -o "$OUT/large.zone"
    [ -s "$OUT/small.zone" ] || "$XFR_ZONE" gen --origin small.bench. --records 10000 --seed 1 -o "$OUT/small.zone"
}

compare() {
    local i mode order
    for i in $(seq 1 "$RUNS"); do
        # Alternate which goes first, so that a drift in the machine's load falls on both.
        if [ $((i % 2)) -eq 1 ]; then order="unsigned signed"; else order="signed unsigned"; fi
        for mode in $order; do
            local flags=()
            [ "$mode" = signed ] && flags=(--tsig "$KEY")
            wait_idle
            echo "== run $i $mode (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
            "$XFR_BENCH" compare --servers xfrd,knotd,nsd --xfrd "$XFRD" \
                --large "large.bench.=$OUT/large.zone" --small "small.bench.=$OUT/small.zone" \
                --concurrency 64 --large-repeat 5 --soa-queries 20000 --soa-duration 1 \
                --json "$OUT/$mode-$i.json" --markdown "$OUT/$mode-$i.md" "${flags[@]}" \
                >/dev/null
        done
    done
    python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
med = statistics.median
rows = {}
for mode in ("unsigned", "signed"):
    for i in range(1, runs + 1):
        j = json.load(open(f"{out}/{mode}-{i}.json"))
        for s in j["servers"]:
            r = rows.setdefault((mode, s["name"]), {"ms": [], "mbs": [], "cpu": [], "tps": [], "cpu64": [], "p99": [], "bytes": 0, "msgs": 0, "signed": ""})
            r["ms"].append(s["large_axfr_median_ms"])
            r["mbs"].append(s["large_axfr"]["mb_per_s"])
            r["cpu"].append(s["large_axfr"].get("server_cpu_s", 0))
            c64 = s["small"][0]
            r["tps"].append(c64["transfers_per_s"])
            r["cpu64"].append(1000 * c64.get("server_cpu_s", 0) / max(1, c64["transfers"]))
            r["p99"].append(c64["latency_ms"]["p99"])
            r["bytes"], r["msgs"] = s["large_axfr"]["bytes_per_transfer"], s["large_axfr"]["messages_per_transfer"]
            if "large_signed" in s:
                r["signed"] = f'{s["large_signed"]["signed"]}/{s["large_signed"]["messages"]}, unsigned refused: {s["unsigned_refused"]}'
print(f"medians of {runs} runs (each run's 1M figure is itself the median of 5 AXFRs)")
print("mode     server  1M ms (runs)            1M MB/s  1M srv CPU s  bytes        msgs  c=64 /s (runs)         c=64 srv ms/xfr  c=64 p99 ms  signed")
for (mode, name), r in rows.items():
    print(f'{mode:8} {name:6} {med(r["ms"]):8.1f} {[round(x,1) for x in r["ms"]]!s:22} {med(r["mbs"]):7.0f} {med(r["cpu"]):12.3f}  {r["bytes"]:11.0f} {r["msgs"]:5.0f} {med(r["tps"]):7.0f} {[round(x) for x in r["tps"]]!s:22} {med(r["cpu64"]):8.3f} {med(r["p99"]):12.2f}  {r["signed"]}')
for name in ("xfrd", "knotd", "nsd"):
    u, s = rows.get(("unsigned", name)), rows.get(("signed", name))
    if u and s:
        print(f'{name}: signed/unsigned 1M MB/s {med(s["mbs"])/med(u["mbs"]):.3f}, c=64 transfers/s {med(s["tps"])/med(u["tps"]):.3f}')
s = lambda n: rows[("signed", n)]
for peer in ("knotd", "nsd"):
    if ("signed", peer) in rows:
        print(f'signed 1M MB/s xfrd/{peer}: {med(s("xfrd")["mbs"])/med(s(peer)["mbs"]):.2f}x; signed c=64 transfers/s xfrd/{peer}: {med(s("xfrd")["tps"])/med(s(peer)["tps"]):.2f}x')
PY
}

# Start xfrd ($1: binary) pinned to core 0 on port $2 serving both zones, with the key and
# $3: "keyed", transfers only with the key (as compare --tsig configures it), or "open", any
# transfer from loopback, signed ones verified and answered signed; sets $xpid. Bounded wait
# until it answers SOA.
start_xfrd() {
    local bin=$1 port=$2 dir=$OUT/xfrd-$2
    rm -rf "$dir"; mkdir -p "$dir"
    local name alg secret acl
    IFS=: read -r name alg secret <<<"$KEY"
    acl="\"127.0.0.0/8\""
    [ "$3" = keyed ] && acl="{ address = \"127.0.0.0/8\", key = \"$name\" }"
    printf '[[key]]\nname = "%s"\nalgorithm = "%s"\nsecret = "%s"\n\n[acl]\nallow_transfer = [%s]\n' \
        "$name" "$alg" "$secret" "$acl" >"$dir/xfrd.toml"
    [ -z "${BATCH:-}" ] || printf '\n[limits]\nsend_batch_bytes = %s\n' "$BATCH" >>"$dir/xfrd.toml"
    taskset -c 0 "$bin" serve --config "$dir/xfrd.toml" --listen "127.0.0.1:$port" --cores 1 --store-dir "$dir/store" \
        --zone "large.bench.=$OUT/large.zone" --zone "small.bench.=$OUT/small.zone" >"$dir/log" 2>&1 &
    xpid=$!
    for _ in $(seq 1 600); do
        if "$XFR_BENCH" soa --target "127.0.0.1:$port" --zone large.bench. --transfers 1 --timeout 0.2 \
            --fail-on-error >/dev/null 2>&1; then return 0; fi
        kill -0 "$xpid" 2>/dev/null || { cat "$dir/log"; return 1; }
        sleep 0.1
    done
    echo "xfrd did not answer in 60 s" >&2; return 1
}
stop_xfrd() { kill "$xpid" 2>/dev/null || true; wait "$xpid" 2>/dev/null || true; xpid=; }
xpid=
trap 'stop_xfrd' EXIT

perf_step() {
    wait_idle
    start_xfrd "$XFRD_PROF" 25390 keyed
    perf record -e cpu-clock -g -p "$xpid" -o "$OUT/perf.data" -- sleep "$SECS" 2>"$OUT/perf.log" &
    local perfpid=$!
    # Sign-only: the client does not verify, so that xfrd, not the client's HMAC, sets the pace.
    "$XFR_BENCH" axfr --target 127.0.0.1:25390 --zone large.bench. --tsig "$KEY" --tsig-sign-only --concurrency 1 \
        --transfers 100000 --duration "$SECS" --client-cores 1 --server-pid "$xpid" | tee "$OUT/perf-load.txt"
    wait "$perfpid"
    stop_xfrd
    perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio >"$OUT/perf-report.txt" 2>/dev/null
    grep -E '^ +[0-9.]+%' "$OUT/perf-report.txt" | sed 's/  *- *- *$//' >"$OUT/perf-self.txt" || true
    head -25 "$OUT/perf-self.txt" | tee "$OUT/perf-top.txt"
    {
        echo "HMAC share of xfrd's samples (self time of sha2/hmac/digest frames):"
        grep -Ei 'sha2|sha256|hmac|digest' "$OUT/perf-self.txt" \
            | awk '{ s += $1 } END { printf "  %.2f%%\n", s }'
        echo "kernel share: $(awk '$0 ~ /\[k\]/ { s += $1 } END { printf "%.2f%%", s }' "$OUT/perf-self.txt")"
    } | tee -a "$OUT/perf-top.txt"
}

latency_step() {
    local bg tag=${BATCH:-default}
    for bg in none unsigned signed; do
        wait_idle
        start_xfrd "$XFRD" 25391 open
        local bgpid=
        if [ "$bg" != none ]; then
            local t=()
            [ "$bg" = signed ] && t=(--tsig "$KEY" --tsig-sign-only)
            "$XFR_BENCH" axfr --target 127.0.0.1:25391 --zone large.bench. "${t[@]}" --concurrency 1 \
                --transfers 100000 --duration "$((SECS + 4))" --client-cores 1 --server-pid "$xpid" \
                --json "$OUT/lat-bg-$bg-$tag.json" >/dev/null &
            bgpid=$!
            sleep 1
        fi
        "$XFR_BENCH" soa --target 127.0.0.1:25391 --zone small.bench. --concurrency 4 \
            --transfers 1000000 --duration "$((SECS / 2))" --client-cores 1 --json "$OUT/lat-soa-$bg-$tag.json" >/dev/null
        "$XFR_BENCH" axfr --target 127.0.0.1:25391 --zone small.bench. --tsig "$KEY" --tsig-sign-only --concurrency 4 \
            --transfers 1000000 --duration "$((SECS / 2))" --client-cores 1 --json "$OUT/lat-axfr-$bg-$tag.json" >/dev/null
        [ -n "$bgpid" ] && wait "$bgpid"
        stop_xfrd
    done
    python3 - "$OUT" "$tag" <<'PY'
import json, sys
out, tag = sys.argv[1], sys.argv[2]
print(f"send_batch_bytes {tag}")
print("background on xfrd's core   SOA UDP c=4: q/s  p50 ms  p99 ms | 10k AXFR c=4: /s  p50 ms  p99 ms  max ms | background 1M AXFRs: MB/s")
for bg in ("none", "unsigned", "signed"):
    s = json.load(open(f"{out}/lat-soa-{bg}-{tag}.json")); a = json.load(open(f"{out}/lat-axfr-{bg}-{tag}.json"))
    b = json.load(open(f"{out}/lat-bg-{bg}-{tag}.json")) if bg != "none" else None
    print(f'{bg:27} {s["transfers_per_s"]:17.0f} {s["latency_ms"]["p50"]:7.3f} {s["latency_ms"]["p99"]:7.3f} | {a["transfers_per_s"]:15.0f} {a["latency_ms"]["p50"]:7.2f} {a["latency_ms"]["p99"]:7.2f} {a["latency_ms"]["max"]:6.2f} | {b["mb_per_s"] if b else 0:.0f}')
PY
}

zones
for s in "${steps[@]}"; do
    case "$s" in
    compare) compare ;;
    perf) perf_step ;;
    latency) latency_step ;;
    *) echo "unknown step $s (compare, perf, latency)" >&2; exit 2 ;;
    esac
done
