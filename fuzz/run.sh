#!/usr/bin/env bash
# Seeds the corpora and runs every fuzz target for SECONDS each (default 60), bounded.
# Needs `cargo install cargo-fuzz`; `-s none` works on a stable toolchain (coverage-guided,
# no sanitizer). Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
mkdir -p corpus/{query,framing,handoff_frames,store_reader,zonefile,tsig,journal,metrics_http,control_request}
cp ../tests/zones/tricky/*.zone ../examples/example.com.zone corpus/zonefile/
[ -f corpus/store_reader/example.store ] ||
    (cd .. && cargo run -q --release -p xfr-tools --bin xfr-zone -- compile --origin example.com. \
        examples/example.com.zone -o fuzz/corpus/store_reader/example.store)
printf '\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\xfc\x00\x01' >corpus/query/axfr
printf '\x00\x1d\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x06\x00\x01' >corpus/framing/soa
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >corpus/metrics_http/get
printf '{"command":"zone","origin":"example.com."}' >corpus/control_request/zone
for t in query framing handoff_frames store_reader zonefile tsig journal metrics_http control_request; do
    echo "== $t (${SECONDS_EACH} s)"
    cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 2>&1 |
        grep -E 'DONE|panicked|SUMMARY|ERROR' || true
done
