#!/usr/bin/env bash
# The whole test suite: installs the test peers (p0f, tshark, tcpdump,
# iproute2, wrk) where it may, then runs every unit, property, end-to-end and
# differential test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --all-targets --locked "$@"
