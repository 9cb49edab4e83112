#!/usr/bin/env bash
# Zone-store figures for BENCHMARKS.md: compile time (1 and 2 workers), peak memory, time to
# open a compiled store, and AXFR bytes on the wire for xfrd (from `xfr-zone inspect`) against
# what knotd and nsd send for the same zone.
#
# Usage: tools/scripts/bench-zone-store.sh [RECORDS] [RUNS]     (defaults: 1000000, 5)
#        XFRD=path/to/xfrd tools/scripts/bench-zone-store.sh   also counts what a running xfrd
#                                                             sends (must equal inspect's figure)
#
# Noise control: release build made before any timing; each timed command runs RUNS times in a
# row and the median is reported (min and max too); the zone file and store live in a temp dir
# (page cache warm after the first run, as on a server that just wrote the file); nothing else
# of ours runs meanwhile. knotd and nsd listen on loopback high ports, in temp dirs, and are
# stopped at the end. Bytes are counted by tools/scripts/axfr-count.py, which frames and counts
# only (every byte received, 2-byte TCP length prefixes included).
set -euo pipefail
cd "$(dirname "$0")/../.."

RECORDS=${1:-1000000}
RUNS=${2:-5}
ORIGIN=example.com.
SEED=1
# Ports that differ from run to run (a server still shutting down from an earlier run does not
# hold ours) and lie below the ephemeral range (32768-60999): a load test's client sockets in
# TIME_WAIT there make bind() fail for a listener.
BASE_PORT=$((10000 + RANDOM % 20000))
KNOT_PORT=${KNOT_PORT:-$BASE_PORT}
NSD_PORT=${NSD_PORT:-$((BASE_PORT + 1))}
XFRD_PORT=${XFRD_PORT:-$((BASE_PORT + 2))}
XFRD=${XFRD:-}
export PATH="$PATH:/usr/sbin:/sbin"

for tool in knotd nsd python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/bench-zone-store.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

cargo build --release -q -p xfr-tools --bin xfr-zone
BIN="${CARGO_TARGET_DIR:-target}/release/xfr-zone"
ZONE="$TMP/$ORIGIN"zone
STORE="$TMP/zone.store"

median() { sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f (min %.1f, max %.1f)", m, a[1], a[NR]}'; }

echo "## machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r); date $(date -u +%Y-%m-%dT%H:%MZ)"
echo "commit: $(git rev-parse --short HEAD)"
echo

echo "## zone"
"$BIN" gen --origin "$ORIGIN" --records "$RECORDS" --seed "$SEED" -o "$ZONE"
echo "$BIN gen --origin $ORIGIN --records $RECORDS --seed $SEED: $(stat -c %s "$ZONE") bytes"
echo

for workers in 1 2; do
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    walls=(); cpus=(); rss=()
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%e %U %S %M' -o "$TMP/time.out" \
            "$BIN" compile --origin "$ORIGIN" "$ZONE" -o "$STORE" --workers "$workers" 2>"$TMP/compile.err"
        read -r wall user sys maxrss <"$TMP/time.out"
        walls+=("$(awk -v w="$wall" 'BEGIN {print w * 1000}')")
        cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN {print (u + s) * 1000}')")
        rss+=("$maxrss")
    done
    echo "compile --workers $workers, over $RUNS runs: wall ms $(printf '%s\n' "${walls[@]}" | median); CPU (user+sys) ms $(printf '%s\n' "${cpus[@]}" | median); peak RSS MiB $(printf '%s\n' "${rss[@]}" | awk '{print $1/1024}' | median)"
    echo "  last summary: $(tail -1 "$TMP/compile.err")"
done
echo

/usr/bin/time -v "$BIN" compile --origin "$ORIGIN" "$ZONE" -o "$STORE" --workers 2 2>"$TMP/time.err" >/dev/null
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$TMP/time.err")
echo "compile --workers 2, peak RSS: $(( rss_kb / 1024 )) MiB ($rss_kb kB, /usr/bin/time -v)"
echo

opens=()
for _ in $(seq "$RUNS"); do
    "$BIN" inspect "$STORE" >"$TMP/inspect.out"
    opens+=("$(awk '/^open time:/ {print $3}' "$TMP/inspect.out")")
done
echo "open (Store::open) ms over $RUNS runs: $(printf '%s\n' "${opens[@]}" | median)"
echo
echo "## inspect"
cat "$TMP/inspect.out"
echo

# knotd: one zone, AXFR allowed from loopback.
mkdir -p "$TMP/knot/db" "$TMP/knot/run"
cp "$ZONE" "$TMP/knot/$ORIGIN"zone
cat >"$TMP/knot/knot.conf" <<EOF
server:
    rundir: "$TMP/knot/run"
    listen: 127.0.0.1@$KNOT_PORT
database:
    storage: "$TMP/knot/db"
acl:
  - id: local
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "$TMP/knot"
    semantic-checks: off
zone:
  - domain: $ORIGIN
    file: "$TMP/knot/${ORIGIN}zone"
    acl: local
EOF
knotd -c "$TMP/knot/knot.conf" >"$TMP/knot/log" 2>&1 &
PIDS+=($!)

# nsd: no database file, so nothing is kept between runs.
mkdir -p "$TMP/nsd"
cp "$ZONE" "$TMP/nsd/${ORIGIN}zone"
cat >"$TMP/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    port: $NSD_PORT
    database: ""
    zonesdir: "$TMP/nsd"
    pidfile: "$TMP/nsd/nsd.pid"
    xfrdfile: "$TMP/nsd/xfrd.state"
    zonelistfile: "$TMP/nsd/zone.list"
    username: ""
    chroot: ""
    logfile: "$TMP/nsd/log"
remote-control:
    control-enable: no
zone:
    name: $ORIGIN
    zonefile: "$TMP/nsd/${ORIGIN}zone"
    provide-xfr: 127.0.0.0/8 NOKEY
EOF
nsd -d -c "$TMP/nsd/nsd.conf" >>"$TMP/nsd/log" 2>&1 &
PIDS+=($!)

wait_soa() { # port name: until the server answers the zone's SOA (bounded: 120 s)
    for _ in $(seq 240); do
        if kdig +short +time=1 +retry=0 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null | grep -q .; then return 0; fi
        sleep 0.5
    done
    echo "bench: $2 did not serve $ORIGIN within 120 s" >&2
    return 1
}
if [ -n "$XFRD" ]; then
    mkdir -p "$TMP/xfrd"
    "$XFRD" serve --listen "127.0.0.1:$XFRD_PORT" --zone "$ORIGIN=$ZONE" --store-dir "$TMP/xfrd" \
        --cores 1 >"$TMP/xfrd/log" 2>&1 &
    PIDS+=($!)
fi
wait_soa "$KNOT_PORT" knotd || { cat "$TMP/knot/log" >&2; exit 1; }
wait_soa "$NSD_PORT" nsd || { cat "$TMP/nsd/log" >&2; exit 1; }

echo "## AXFR bytes on the wire (tools/scripts/axfr-count.py, length prefixes included)"
echo "xfrd (inspect): $(awk '/^wire bytes:/ {print $3}' "$TMP/inspect.out") bytes, $(awk '/^messages:/ {print $2}' "$TMP/inspect.out") messages"
if [ -n "$XFRD" ]; then
    wait_soa "$XFRD_PORT" xfrd || { cat "$TMP/xfrd/log" >&2; exit 1; }
    echo "xfrd (live): $(python3 tools/scripts/axfr-count.py 127.0.0.1 "$XFRD_PORT" "$ORIGIN")"
fi
echo "knotd: $(python3 tools/scripts/axfr-count.py 127.0.0.1 "$KNOT_PORT" "$ORIGIN")"
echo "nsd: $(python3 tools/scripts/axfr-count.py 127.0.0.1 "$NSD_PORT" "$ORIGIN")"
