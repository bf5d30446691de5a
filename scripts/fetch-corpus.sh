#!/usr/bin/env bash
# Fetches a public corpus of captures synprint was not written for: the 600-odd
# capture files of tcpdump 4.99.3's own test suite (many of them fuzzer finds,
# deliberately malformed), from Debian's archive, checked by SHA-256, into
# target/corpus/ (never committed). tests/public_corpus.rs reads them and
# skips, saying so, when they are absent; this script never fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=target/corpus
dir=$dest/tcpdump-4.99.3/tests
[ -d "$dir" ] && exit 0

name=tcpdump_4.99.3.orig.tar.gz
url=http://deb.debian.org/debian/pool/main/t/tcpdump/$name
sha256=ad75a6ed3dc0d9732945b2e5483cb41dc8b4b528a169315e499c6861952e73b3

give_up() {
  echo "fetch-corpus: $1; tests/public_corpus.rs will skip" >&2
  exit 0
}
command -v curl >/dev/null 2>&1 || give_up "no curl"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
curl -fsS --max-time 120 -o "$tmp" "$url" || give_up "could not fetch $url"
echo "$sha256  $tmp" | sha256sum -c --quiet >/dev/null 2>&1 \
  || give_up "$url does not have the expected SHA-256"
mkdir -p "$dest"
# Extracted in one place and moved, so that an interrupted run leaves no
# half corpus behind.
part=$(mktemp -d "$dest/.part.XXXXXX")
tar xzf "$tmp" -C "$part" --wildcards \
  'tcpdump-4.99.3/tests/*.pcap' 'tcpdump-4.99.3/tests/*.pcapng'
mv "$part/tcpdump-4.99.3" "$dest/"
rmdir "$part"
echo "fetch-corpus: $(ls "$dir" | wc -l) captures in $dir" >&2
