#!/usr/bin/env bash
# Fetches public captures synprint was not written for, each checked by
# SHA-256, into target/corpus/ (never committed):
# - the 600-odd capture files of tcpdump 4.99.3's own test suite (many of
#   them fuzzer finds, deliberately malformed), from Debian's archive;
#   tests/public_corpus.rs reads them;
# - FoxIO's JA4+ test captures (the pcap/ folder of github.com/FoxIO-LLC/ja4)
#   with FoxIO's published outputs for them (their Wireshark plugin's test
#   data, their Rust tool's snapshots), as the ja4plus 1.4.0 source package
#   on PyPI carries them unchanged (its NOTICE names the upstream commit);
#   tests/ja4t_conformance.rs reads them.
# The tests skip, saying so, when a corpus is absent; this script never fails
# the run.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=target/corpus

# Scratch files of the fetch under way, removed however the script ends.
tmp=
part=
trap 'rm -rf "$tmp" "$part"' EXIT

# fetch NAME URL SHA256 TOP MEMBER...: extracts the MEMBERs (tar wildcards)
# of the archive at URL into $dest/TOP, unless $dest/TOP is there already.
# Whatever goes wrong is said and leaves nothing behind; the next corpus is
# fetched all the same.
fetch() {
  local name=$1 url=$2 sha256=$3 top=$4
  shift 4
  [ -d "$dest/$top" ] && return 0
  give_up() {
    echo "fetch-corpus: $name: $1; the tests reading it will skip" >&2
    rm -rf "$tmp" "$part"
    tmp= part=
  }
  command -v curl >/dev/null 2>&1 || { give_up "no curl"; return 0; }
  tmp=$(mktemp) || { give_up "no temporary file"; return 0; }
  curl -fsS --max-time 120 -o "$tmp" "$url" \
    || { give_up "could not fetch $url"; return 0; }
  echo "$sha256  $tmp" | sha256sum -c --quiet >/dev/null 2>&1 \
    || { give_up "$url does not have the expected SHA-256"; return 0; }
  # Extracted in one place and moved, so that an interrupted run leaves no
  # half corpus behind.
  mkdir -p "$dest" && part=$(mktemp -d "$dest/.part.XXXXXX") \
    && tar xzf "$tmp" -C "$part" --wildcards "$@" \
    && mv "$part/$top" "$dest/" \
    || { give_up "cannot extract $url into $dest"; return 0; }
  rm -rf "$tmp" "$part"
  tmp= part=
  echo "fetch-corpus: $name: $(find "$dest/$top" -type f | wc -l) files in $dest/$top" >&2
}

fetch "tcpdump's test captures" \
  http://deb.debian.org/debian/pool/main/t/tcpdump/tcpdump_4.99.3.orig.tar.gz \
  ad75a6ed3dc0d9732945b2e5483cb41dc8b4b528a169315e499c6861952e73b3 \
  tcpdump-4.99.3 \
  'tcpdump-4.99.3/tests/*.pcap' 'tcpdump-4.99.3/tests/*.pcapng'

fetch "FoxIO's JA4+ test captures" \
  https://files.pythonhosted.org/packages/78/fa/2457f2c7c151358051b385960c8b42372724009a7ca7153ceff149c584d8/ja4plus-1.4.0.tar.gz \
  28f05faa3c2521dcf5bff2c1f1d3e37ace87783767e2de1b9e9f6e5ddfe73e00 \
  ja4plus-1.4.0 \
  'ja4plus-1.4.0/tests/foxio_vectors/*'
