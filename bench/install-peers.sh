#!/bin/sh
# Install the peer servers xfr-bench compares against (Debian/Ubuntu packages):
# knotd (knot), nsd, named (bind9), plus dig (bind9-dnsutils via bind9-utils) and kdig.
# The packaged services are stopped and disabled afterwards so that they do not hold port 53
# or use CPU during benchmarks; xfr-bench starts its own instances with generated configs.
set -eu
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (apt-get)" >&2
    exit 1
fi
apt-get update && apt-get install -y knot nsd bind9 bind9-utils knot-dnsutils
for svc in knot nsd named bind9; do
    if command -v systemctl >/dev/null 2>&1 && systemctl list-unit-files "$svc.service" >/dev/null 2>&1; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
done
knotd -V; nsd -v 2>&1 | head -1; named -v
