#!/usr/bin/env bash
# Handoff benchmark (issue 4): on loopback, with release builds.
#  1. Handoffs per second on one engine core for SOA-sized work: each handoff is an AXFR of
#     the example zone, one 650-byte message, the size of an SOA answer plus a little. Two
#     front ends: xfr-bench itself (`xfr-bench handoff`, blocking threads), and xfr-frontend
#     with xfr-bench as its TCP client. The engine's CPU per handoff comes from its /proc CPU
#     time.
#  2. Transfers per second of a 10,000-record zone at concurrency 64: direct TCP accept by
#     xfrd against xfr-frontend (TCP to the front end, which hands each connection to xfrd),
#     in interleaved pairs; then xfr-bench itself as the front end.
# Each figure is the median of RUNS runs. LAYOUT picks the cores:
#  - split (the default): xfrd on core 0; the clients and the front end share core 1, so the
#    front end's own CPU is part of what the through-front-end figure pays for.
#  - paired: xfrd and the front end on core 0, the clients on core 1: a frame wakes xfrd on its
#    own core, and the front end's CPU is paid on the engine's core.
#  - one: xfrd, the front end and the clients all on core 0. No wake-up crosses cores, so
#    xfrd's CPU per handoff is its own work without the cost of cross-core wake-ups, which
#    on a virtual machine can dwarf it (the script prints a pipe ping-pong across cores and
#    on one core when `perf` is installed); the front end's CPU then counts fully against
#    the through-front-end throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
LAYOUT=${LAYOUT:-split}
case $LAYOUT in
    split) engine_core=0 client_core=1 fe_core=1 ;;
    paired) engine_core=0 client_core=1 fe_core=0 ;;
    one) engine_core=0 client_core=0 fe_core=0 ;;
    *) echo "LAYOUT must be split, paired or one, not $LAYOUT" >&2; exit 2 ;;
esac
T=${T:-target/release}
[ -x "$T/xfrd" ] && [ -x "$T/xfr-bench" ] && [ -x "$T/xfr-frontend" ] && [ -x "$T/xfr-zone" ] ||
    cargo build --release -p xfrd -p xfr-bench -p xfr-tools --bins
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$T/xfr-zone" gen --origin ten.example. --records 10000 --seed 3 -o "$work/ten.zone" >/dev/null
# Below the ephemeral range (32768-60999), where client ports and TIME_WAIT sockets live.
port=$((20000 + RANDOM % 12000)); fport=$((port + 1))
taskset -c "$engine_core" "$T/xfrd" serve --cores 1 --listen "127.0.0.1:$port" --store-dir "$work/st" \
    --handoff "$work/h.sock" --zone "example.com.=examples/example.com.zone" \
    --zone "ten.example.=$work/ten.zone" >"$work/xfrd.log" 2>&1 &
xpid=$!; pids+=("$xpid")
for _ in $(seq 100); do [ -S "$work/h.sock" ] && break; sleep 0.1; done
taskset -c "$fe_core" "$T/xfr-frontend" --listen "127.0.0.1:$fport" --handoff "$work/h.sock" \
    --engine-connections 8 --zone "ten.example.=$work/ten.zone" >"$work/fe.log" 2>&1 &
fpid=$!; pids+=("$fpid")
sleep 1
for p in "$xpid" "$fpid"; do
    kill -0 "$p" 2>/dev/null || { echo "a server exited at start:" >&2; cat "$work/xfrd.log" "$work/fe.log" >&2; exit 1; }
done
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

# One run: prints "transfers_per_s server_cpu_s client_cpu_s transfers".
run() {
    "$@" --server-pid "$xpid" --client-cores "$client_core" --fail-on-error --json "$work/r.json" >/dev/null
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["transfers_per_s"], r["server_cpu_s"], r["client_cpu_s"], r["transfers"])' "$work/r.json"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
    local name=$1; shift
    local rates=() cpus=() total=0 fe0 fe1
    fe0=$(cpu_s "$fpid")
    for _ in $(seq "$RUNS"); do
        read -r rate cpu _ n < <(run "$@")
        rates+=("$rate"); cpus+=("$(python3 -c "print($cpu / $n * 1e6)")"); total=$((total + n))
    done
    fe1=$(cpu_s "$fpid")
    printf '%-52s %8.0f /s   engine CPU %6.1f us per transfer (median of %d; runs: %s)' "$name" \
        "$(printf '%s\n' "${rates[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$RUNS" "${rates[*]}"
    # xfr-frontend's own CPU, when the runs went through it (all runs together).
    if python3 -c "import sys; sys.exit(0 if $fe1 - $fe0 > 0.05 else 1)"; then
        python3 -c "print('; xfr-frontend CPU %.1f us per transfer' % (($fe1 - $fe0) / $total * 1e6))"
    else
        echo
    fi
}

# Direct accept against the front-end path, interleaved (direct, then through, RUNS times) so
# that both see the same machine load; the ratio of each pair is printed with their median.
pair() {
    local name=$1 direct=$2 through=$3
    local dr=() tr=() dc=() tc=() ratios=() rate cpu n total=0 fe0 fe1
    fe0=$(cpu_s "$fpid")
    for _ in $(seq "$RUNS"); do
        read -r rate cpu _ n < <(run $direct)
        dr+=("$rate"); dc+=("$(python3 -c "print($cpu / $n * 1e6)")")
        local d=$rate
        read -r rate cpu _ n < <(run $through)
        tr+=("$rate"); tc+=("$(python3 -c "print($cpu / $n * 1e6)")"); total=$((total + n))
        ratios+=("$(python3 -c "print('%.3f' % ($rate / $d))")")
    done
    fe1=$(cpu_s "$fpid")
    printf '%s: direct %.0f /s (engine %.1f us), through the front end %.0f /s (engine %.1f us, front end %.1f us); ratio per pair: %s; median ratio %s\n' \
        "$name" "$(printf '%s\n' "${dr[@]}" | median)" "$(printf '%s\n' "${dc[@]}" | median)" \
        "$(printf '%s\n' "${tr[@]}" | median)" "$(printf '%s\n' "${tc[@]}" | median)" \
        "$(python3 -c "print(($fe1 - $fe0) / $total * 1e6)")" "${ratios[*]}" "$(printf '%s\n' "${ratios[@]}" | median)"
}

echo "machine: $(nproc) cores, $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); layout: $LAYOUT (xfrd on core $engine_core, front end on core $fe_core, clients on core $client_core)"
# What one wake-up costs here: a pipe ping-pong between two processes, across cores and on one.
if command -v perf >/dev/null; then
    for cores in 0,1 0; do
        printf 'pipe ping-pong on cores %s: %s\n' "$cores" \
            "$(taskset -c "$cores" perf bench sched pipe -l 100000 2>/dev/null | awk '/usecs\/op/ {print $1 " us per round trip"}')"
    done
fi
one="--zone example.com. --concurrency 8 --transfers 20000"
measure "handoffs from xfr-bench, example zone AXFR (1 msg), c=8" \
    "$T/xfr-bench" handoff --socket "$work/h.sock" $one
measure "through xfr-frontend, example zone AXFR (1 msg), c=8" \
    "$T/xfr-bench" axfr --target "127.0.0.1:$fport" $one
measure "direct accept, example zone AXFR (1 msg), c=8" \
    "$T/xfr-bench" axfr --target "127.0.0.1:$port" $one
ten="--zone ten.example. --concurrency 64 --transfers 10000"
pair "10k-record AXFR, c=64, xfr-frontend" \
    "$T/xfr-bench axfr --target 127.0.0.1:$port $ten" "$T/xfr-bench axfr --target 127.0.0.1:$fport $ten"
measure "xfr-bench as front end, 10k-record AXFR, c=64" \
    "$T/xfr-bench" handoff --socket "$work/h.sock" $ten
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
