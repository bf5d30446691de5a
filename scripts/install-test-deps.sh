#!/usr/bin/env bash
# Installs the Debian packages synprint's tests use as real peers and oracles:
#   p0f      - reference oracle for the p0f differential tests
#   tshark   - reference decoder for the packet-layer conformance tests
#   tcpdump  - captures this machine's own SYNs inside test network namespaces
#   iproute2 - network namespaces and veth pairs for the capture tests
#   wrk, curl - HTTP load generator and probe for scripts/load-test.sh
#   python3  - runs scripts/zardaxt-to-pcap.py in its test
#   g++      - builds libFuzzer, so that test.sh can check the fuzz targets compile
#   chromium - a real browser as serve's visitor (tests/serve_browser.rs)
#   systemd  - systemd-analyze, which checks dist/synprint.service (nothing
#              is started: these tests do not run systemd as init)
#   nginx    - the README's reverse-proxy block in front of serve, and the
#              documented nginx log for learn (tests/learn_nginx.rs);
#              installed without starting or enabling a web server here
# Building synprint itself needs none of them. Tests that need a missing tool
# skip with a message saying which one, so this script is a convenience for
# machines where we may install packages (root or sudo), and a no-op elsewhere.
set -euo pipefail

need=()
command -v p0f >/dev/null 2>&1 || need+=(p0f)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || command -v google-chrome >/dev/null 2>&1 || need+=(chromium)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
# Optional: a package whose install scripts may not suit every container
# must not stop the others; its one test skips without it.
optional=()
command -v systemd-analyze >/dev/null 2>&1 || optional+=(systemd)
[ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install-test-deps: not root and no password-less sudo; tests needing ${need[*]} ${optional[*]} will skip" >&2
  exit 0
fi

echo "install-test-deps: installing ${need[*]} ${optional[*]}" >&2
# The tests start their own nginx in a network namespace; the package must
# not start (or enable) one on this machine. A policy-rc.d that exits 101
# is Debian's way to tell a package's scripts not to start services.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for package in "${optional[@]}"; do
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
    || echo "install-test-deps: $package did not install; its test will skip" >&2
done
if [[ " ${need[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1; then
  "${sudo[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
fi
