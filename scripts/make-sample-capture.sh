#!/usr/bin/env bash
# Regenerates samples/linux-loopback.pcap: real SYNs and SYN+ACKs from this
# machine's kernel, over IPv4 and IPv6 loopback, for several settings of the
# sysctls that change a SYN (timestamps, window scaling, SACK, ECN). Runs in
# a private network namespace, so the host's settings and traffic are never
# touched. Needs root, iproute2, tcpdump and python3.
set -euo pipefail
out="${1:-$(dirname "$0")/../samples/linux-loopback.pcap}"
ns="synprint-sample-$$"
ip netns add "$ns"
dump=
trap '{ [ -n "$dump" ] && kill "$dump"; } 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true' EXIT
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
# Not through `run`: a shell function sent to the background is a subshell,
# and `$!` would name it rather than tcpdump (`ip netns exec` execs its
# command, so here `$!` is tcpdump itself).
ip netns exec "$ns" tcpdump -U -q -i lo -w "$out" 'tcp[tcpflags] & tcp-syn != 0 or ip6' 2>/dev/null &
dump=$!
sleep 1
port=8000
for ts in 1 0; do for ws in 1 0; do for sack in 1 0; do for ecn in 0 1; do
  run sysctl -q -w net.ipv4.tcp_timestamps=$ts net.ipv4.tcp_window_scaling=$ws \
    net.ipv4.tcp_sack=$sack net.ipv4.tcp_ecn=$ecn
  for addr in 127.0.0.1 ::1; do
    port=$((port + 1))
    run python3 - "$addr" "$port" <<'PY'
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port)); srv.listen(4)
cli = socket.socket(fam, socket.SOCK_STREAM)
cli.connect((addr, port)); conn, _ = srv.accept()
cli.close(); conn.close(); srv.close()
PY
  done
done; done; done; done
sleep 1
# tcpdump ends at the signal; if it is gone already, it failed (its
# status then tells).
kill "$dump" 2>/dev/null || true
status=0
wait "$dump" 2>/dev/null || status=$?
dump=
# 143: ended by our SIGTERM, as it should be.
if [ "$status" -ne 0 ] && [ "$status" -ne 143 ] || [ ! -s "$out" ]; then
  echo "tcpdump failed (status $status); no capture in $out" >&2
  exit 1
fi
echo "wrote $out"
