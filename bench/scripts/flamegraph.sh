#!/usr/bin/env bash
# Profile a server under xfr-bench load: perf record (cpu-clock, frame pointers), inferno
# flamegraph SVG, and a CPU-time breakdown of the hottest frames (self time) on stdout.
#
# Usage: bench/scripts/flamegraph.sh [xfrd|knotd] [seconds] [records]
#   defaults: xfrd, 10 s, a 100000-record zone; load: AXFR at concurrency 8, client on core 1,
#   server pinned to core 0. Output: bench/results/flamegraph-<server>.svg and .txt.
# xfrd is built with `--profile profiling` and RUSTFLAGS="-C force-frame-pointers=yes" so
# stacks are walkable with -g. knotd (Debian build, no frame pointers, no debug symbols)
# proves the pipeline only: its stacks are shallow.
set -euo pipefail
server=${1:-xfrd}
secs=${2:-10}
records=${3:-100000}
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)" >&2; exit 1; }
if ! command -v inferno-flamegraph >/dev/null; then
    cargo install inferno
fi
cargo build --release -p xfr-bench -p xfr-tools
bench=$CARGO_TARGET_DIR/release/xfr-bench
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
origin=flame.bench.
"$CARGO_TARGET_DIR/release/xfr-zone" gen --origin "$origin" --records "$records" --seed 1 -o "$work/zone"
port=25399
case "$server" in
xfrd)
    RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling -p xfrd
    taskset -c 0 "$CARGO_TARGET_DIR/profiling/xfrd" serve --listen "127.0.0.1:$port" \
        --zone "$origin=$work/zone" --cores 1 --store-dir "$work/store" >"$work/server.log" 2>&1 &
    pid=$!
    ;;
knotd)
    cat >"$work/knot.conf" <<CONF
server:
    rundir: "$work"
    listen: 127.0.0.1@$port
database:
    storage: "$work/db"
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
zone:
  - domain: $origin
    file: "$work/zone"
    storage: "$work"
    acl: xfr
    zonefile-sync: -1
    journal-content: none
CONF
    taskset -c 0 knotd -c "$work/knot.conf" >"$work/server.log" 2>&1 &
    pid=$!
    ;;
*) echo "server: xfrd or knotd" >&2; exit 2 ;;
esac
# Wait (bounded) until the server answers SOA.
for _ in $(seq 1 600); do
    if "$bench" soa --target "127.0.0.1:$port" --zone "$origin" --transfers 1 --timeout 0.2 \
        --fail-on-error >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.1
done
perf record -e cpu-clock -g -p "$pid" -o "$work/perf.data" -- sleep "$secs" 2>"$work/perf.log" &
perfpid=$!
"$bench" axfr --target "127.0.0.1:$port" --zone "$origin" --concurrency 8 \
    --transfers 100000000 --duration "$secs" --client-cores 1 --server-pid "$pid"
wait "$perfpid"
mkdir -p bench/results
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/collapsed"
inferno-flamegraph --title "$server under xfr-bench axfr c=8" <"$work/collapsed" \
    >"bench/results/flamegraph-$server.svg"
# Self time per frame: the last frame of each collapsed stack carries its samples.
awk '{ n = $NF; $NF = ""; sub(/ $/, ""); k = split($0, f, ";"); self[f[k]] += n; total += n }
     END { for (x in self) printf "%6.2f%%  %8d  %s\n", 100 * self[x] / total, self[x], x }' \
    "$work/collapsed" | sort -rn | head -25 | tee "bench/results/flamegraph-$server.txt"
echo "flamegraph: bench/results/flamegraph-$server.svg"
