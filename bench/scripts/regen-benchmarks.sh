#!/usr/bin/env bash
# Re-run `xfr-bench compare` (xfrd if it builds, knotd, nsd, named) and rewrite the compare
# section of BENCHMARKS.md (between <!-- compare:begin --> and <!-- compare:end -->), with the
# JSON, the Markdown table and the SVG chart kept in bench/results/.
#
# Usage: bench/scripts/regen-benchmarks.sh [extra xfr-bench compare flags]
# Needs: knotd, nsd, named (bench/install-peers.sh), taskset, 2+ cores. About 3-6 minutes.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
rel=$CARGO_TARGET_DIR/release
cargo build --release -p xfr-bench -p xfr-tools
xfrd_flag=()
if cargo build --release -p xfrd; then
    xfrd_flag=(--xfrd "$rel/xfrd")
else
    echo "xfrd does not build: comparing the peers only" >&2
fi
out=bench/results
mkdir -p "$out"
"$rel/xfr-bench" compare --xfr-zone "$rel/xfr-zone" "${xfrd_flag[@]}" \
    --json "$out/compare.json" --markdown "$out/compare.md" --svg "$out/compare.svg" "$@"

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
    echo "## xfrd against Knot DNS, NSD and BIND (\`xfr-bench compare\`)"
    echo
    echo "Regenerate with \`bench/scripts/regen-benchmarks.sh\` (it builds in release mode, generates"
    echo "the zones with \`xfr-zone gen\`, runs every server in turn and rewrites this section)."
    echo "Raw numbers: [bench/results/compare.json](bench/results/compare.json)."
    echo
    echo "![throughput and latency per server](bench/results/compare.svg)"
    echo
    cat "$out/compare.md"
    for f in "$out"/flamegraph-*.svg; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .svg)
        echo
        echo "Profile \`$name\` (\`bench/scripts/flamegraph.sh\`, perf cpu-clock under \`xfr-bench axfr\`"
        echo "at concurrency 8; taken separately from the run above): [$f]($f). Hottest frames by self time:"
        echo
        echo '```'
        head -12 "$out/$name.txt" 2>/dev/null || true
        echo '```'
    done
} > "$section"
awk -v sec="$section" '
    /<!-- compare:begin -->/ { print; while ((getline l < sec) > 0) print l; skip = 1; next }
    /<!-- compare:end -->/ { skip = 0 }
    !skip { print }
' BENCHMARKS.md > BENCHMARKS.md.tmp
mv BENCHMARKS.md.tmp BENCHMARKS.md
echo "BENCHMARKS.md compare section rewritten; chart: $out/compare.svg"
