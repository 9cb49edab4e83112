#!/usr/bin/env bash
# RSS of xfrd while it serves a 1,000,000-record zone to 64 concurrent clients (issue 3's
# target: under 150 MiB). The store is compiled first, by a first xfrd start, so the measured
# process only maps it: the figure is the serving footprint, not the compile's peak.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-target/release}
[ -x "$T/xfrd" ] && [ -x "$T/xfr-bench" ] && [ -x "$T/xfr-zone" ] ||
    cargo build --release -p xfrd -p xfr-bench -p xfr-tools --bins
work=$(mktemp -d)
xpid=""
cleanup() { [ -n "$xpid" ] && kill "$xpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$T/xfr-zone" gen --origin big.example. --records 1000000 --seed 1 -o "$work/big.zone" >/dev/null
# Below the ephemeral range (32768-60999), where client ports and TIME_WAIT sockets live.
port=$((20000 + RANDOM % 12000))
start() {
    taskset -c 0 "$T/xfrd" serve --cores 1 --listen "127.0.0.1:$port" --store-dir "$work/st" \
        --zone "big.example.=$work/big.zone" >>"$work/xfrd.log" 2>&1 &
    xpid=$!
    for _ in $(seq 300); do dig @127.0.0.1 -p "$port" big.example. SOA +short +time=1 +tries=1 2>/dev/null | grep -q . && return; sleep 0.1; done
    echo "xfrd did not start" >&2; exit 1
}
start; kill "$xpid"; wait "$xpid" || true   # compiles the store
start                                        # maps the compiled store
grep -E 'VmHWM|VmRSS|RssAnon|RssFile' "/proc/$xpid/status" | tr -s ' ' | sed 's/^/before: /'
"$T/xfr-bench" axfr --target "127.0.0.1:$port" --zone big.example. --concurrency 64 --transfers 256 \
    --server-pid "$xpid" --client-cores 1 --fail-on-error | grep -E 'transfers ok|MB/s|complete|CPU s|RSS'
grep -E 'VmHWM|VmRSS|RssAnon|RssFile' "/proc/$xpid/status" | tr -s ' ' | sed 's/^/after: /'
