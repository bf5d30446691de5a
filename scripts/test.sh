#!/usr/bin/env bash
# The whole test suite: installs the test peers (scripts/install-test-deps.sh
# names them) where it may, fetches tcpdump's and FoxIO's test captures
# (public corpora, into target/corpus/), then runs every unit, property,
# end-to-end, differential and conformance test and the documentation's
# examples, and smoke-runs the benchmarks and examples. CI runs exactly
# this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian installs p0f, nginx and ip in /usr/sbin, which a user's PATH lacks:
# without it their tests would skip for a user who has them.
export PATH="$PATH:/usr/sbin:/sbin"
scripts/install-test-deps.sh
scripts/fetch-corpus.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --all-targets --locked "$@" 2>&1 | tee "$log" || status=$?
# --all-targets leaves out the documentation's examples (the library's use).
cargo test --doc --locked "$@" 2>&1 | tee -a "$log" || status=$?
# The FoxIO-licensed JA4T code is a default feature: check the build without it.
cargo test --no-default-features --locked --lib --test cli_analyze "$@" 2>&1 | tee -a "$log" || status=$?
# The fuzz targets are their own workspace, run by `cargo fuzz` (stable with
# RUSTC_BOOTSTRAP=1, as fuzz/README.md shows):
# check here that they still compile against the library.
if command -v c++ >/dev/null 2>&1; then
  cargo check --manifest-path fuzz/Cargo.toml --bins --locked 2>&1 | tee -a "$log" \
    || { status=$?; echo "fuzz targets: do not compile" >&2; }
else
  # A SKIPPED line, so that the closing count shows it.
  echo "SKIPPED fuzz_targets_compile: no C++ compiler for libfuzzer-sys" | tee -a "$log" >&2
fi
# One closing line for the whole run: cargo prints a result per test binary,
# and the last binaries (examples) hold no tests. A test whose peer is
# missing passes after a `SKIPPED <test>: <reason>` line (tests/skipped):
# counted here, so that a run without root or without a peer says so.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     /SKIPPED [^ ]+: / { s++ }
     END { printf "tests: %d passed, %d failed", p, f
           if (s) printf "; %d SKIPPED lines above name checks that did not run, and why", s
           printf "\n" }' "$log"
exit "$status"
