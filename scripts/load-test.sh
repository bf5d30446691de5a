#!/usr/bin/env bash
# Load test of `synprint serve` on loopback with wrk (Debian package `wrk`).
#
# Drives GET /classify twice: with keep-alive (many requests per
# connection), and with `Connection: close` (a new TCP connection, hence a
# new saved SYN to read and fingerprint, per request). Prints requests/s and
# p99 latency for each, and checks that every new connection was
# fingerprinted from its own saved SYN.
#
#   scripts/load-test.sh                 # defaults: 10 s, 2 threads, 64 connections
#   DURATION=30s CONNS=128 scripts/load-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
PORT=${PORT:-18249}
URL="http://127.0.0.1:${PORT}/classify"

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed: apt-get install curl" >&2; exit 1; }

cargo build --release --quiet --bin synprint
BIN="${CARGO_TARGET_DIR:-target}/release/synprint"

"$BIN" serve --listen "127.0.0.1:${PORT}" 2>/tmp/synprint-load-serve.log &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT

for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:${PORT}/healthz" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:${PORT}/healthz" >/dev/null || { echo "server did not start" >&2; cat /tmp/synprint-load-serve.log >&2; exit 1; }

metric() {
    curl -s "http://127.0.0.1:${PORT}/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $NF }'
}

# Prints "requests/s p99 total-requests" from wrk's --latency output.
run_wrk() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$URL")
    local rps p99 total errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    total=$(awk '/requests in/ { print $1 }' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/' <<<"$out")
    echo "$rps $p99 $total"
    [ -z "$errors" ] || echo "  wrk: $errors" >&2
}

echo "synprint serve load test: $THREADS wrk threads, $CONNS connections, $DURATION per run, $(nproc) cores"

read -r rps p99 _ < <(run_wrk)
printf '%-34s %10s req/s   p99 %s\n' "keep-alive:" "$rps" "$p99"

syns_before=$(metric 'synprint_syns_total{source="listener"}')
nosyn_before=$(metric 'synprint_listener_no_saved_syn_total')
read -r rps p99 total < <(run_wrk -H "Connection: close")
syns_after=$(metric 'synprint_syns_total{source="listener"}')
nosyn_after=$(metric 'synprint_listener_no_saved_syn_total')
printf '%-34s %10s req/s   p99 %s\n' "new connection per request:" "$rps" "$p99"
fingerprinted=$((syns_after - syns_before))
printf "%-34s %10s new connections for %s completed requests (no saved SYN: %s)\n" "fingerprinted from own saved SYN:" \
    "$fingerprinted" "$total" "$((nosyn_after - nosyn_before))"
