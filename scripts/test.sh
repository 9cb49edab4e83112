#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian machine that has only the Rust toolchain.
#
# 1. Installs what the interop tests use when it is missing: dig, kdig, knotd, nsd, named,
#    named-checkzone, dnspython, prometheus (the metrics test's real scraper), setpriv,
#    systemd-analyze, man, groff, zsh and fish, from Debian's packages (apt-get needs root;
#    the script uses sudo otherwise).
# 2. Checks formatting and lints (the same gates a submission must pass).
# 3. Builds every binary, then runs every test of the workspace.
# 4. Runs every fuzz target (fuzz/run.sh) for FUZZ_SECONDS each (default 15; 0 skips it),
#    installing cargo-fuzz when it is missing.
#
# With CI=true, a test whose peer program is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

# /dev/null must be the null device. Some container images ship it (or leave it, after a
# careless `rm`) as a regular file; then whatever is "discarded" into it (build-script probe
# errors, for one) accumulates, and cargo, which hands /dev/null to rustc as the empty stdin of
# its target query, fails with "failed to run `rustc` to learn about target-specific
# information". Put the real device back (root or sudo), or stop with a clear error.
if [ ! -c /dev/null ]; then
    echo "test.sh: /dev/null is not a character device; recreating it" >&2
    sudo_null=""
    [ "$(id -u)" -eq 0 ] || sudo_null="sudo"
    $sudo_null rm -f /dev/null
    $sudo_null mknod -m 666 /dev/null c 1 3 || {
        echo "test.sh: cannot recreate /dev/null (mknod failed); fix the machine first" >&2
        exit 1
    }
fi

# prometheus scrapes the metrics endpoint, setpriv runs xfrctl as another user;
# systemd-analyze checks the unit (dist/systemd); man and groff render the generated man pages,
# bash, zsh and fish parse the generated completions.
need=(dig kdig knotd nsd named named-checkzone prometheus setpriv systemd-analyze man groff zsh fish)
missing=()
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
# dnspython, the second TSIG implementation the tests check against, for Debian's python3.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dns.tsig' 2>/dev/null || missing+=("python3-dnspython")
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing the peers the tests need (missing: ${missing[*]})" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q knot nsd bind9 bind9-utils bind9-dnsutils knot-dnsutils \
        python3 python3-dnspython prometheus util-linux systemd man-db groff-base zsh fish
fi
# The daemons live in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
# The README's first command, as far as it can run unattended: the binary it picks, the bundled
# example zone and the kernel's io_uring (--check exits instead of serving).
cargo run -q -p xfrd -- serve --check
cargo test --workspace

FUZZ_SECONDS=${FUZZ_SECONDS:-15}
if [ "$FUZZ_SECONDS" != 0 ]; then
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    fuzz/run.sh "$FUZZ_SECONDS"
fi
