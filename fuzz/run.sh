#!/usr/bin/env bash
# Seeds the corpora and runs every fuzz target for SECONDS each (default 60), bounded; exits
# non-zero when a target crashes (its input lands in fuzz/artifacts/<target>/, and the end of
# its log is printed). scripts/test.sh runs it with FUZZ_SECONDS each (15 by default).
# Needs `cargo install cargo-fuzz`; `-s none` works on a stable toolchain (coverage-guided,
# no sanitizer).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
targets=(query framing handoff_frames store_reader zonefile tsig journal metrics_http control_request xfrin)
for t in "${targets[@]}"; do mkdir -p "corpus/$t"; done
cp ../tests/zones/tricky/*.zone ../examples/example.com.zone corpus/zonefile/
if [ ! -f corpus/store_reader/example.store ]; then
    if [ -x ../target/debug/xfr-zone ]; then
        ../target/debug/xfr-zone compile --origin example.com. ../examples/example.com.zone \
            -o corpus/store_reader/example.store >/dev/null
    else
        (cd .. && cargo run -q -p xfr-tools --bin xfr-zone -- compile --origin example.com. \
            examples/example.com.zone -o fuzz/corpus/store_reader/example.store >/dev/null)
    fi
fi
printf '\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\xfc\x00\x01' >corpus/query/axfr
printf '\x00\x1d\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x06\x00\x01' >corpus/framing/soa
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >corpus/metrics_http/get
printf '{"command":"zone","origin":"example.com."}' >corpus/control_request/zone
# Build every target once, then run each.
cargo fuzz build -s none >/dev/null 2>&1 || cargo fuzz build -s none
failed=()
for t in "${targets[@]}"; do
    log=$(mktemp)
    if cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        >"$log" 2>&1; then
        echo "== $t: $(grep -E '^Done [0-9]+ runs' "$log" || echo done)"
    else
        echo "== $t: FAILED"
        tail -40 "$log"
        failed+=("$t")
    fi
    rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
