#!/usr/bin/env python3
"""Turn zardaxt's labelled SYN database into a capture and a labels file.

zardaxt (github.com/NikolaiT/zardaxt) publishes the header fields of real
browser SYNs with the OS named by each visitor's User-Agent
(database/tcp_ip.csv). This rebuilds every IPv4 row as one SYN, byte by
byte, so `synprint eval` can score the built-in model on it and
`synprint learn` can learn from it:

    python3 scripts/zardaxt-to-pcap.py tcp_ip.csv zardaxt.pcap zardaxt-labels.csv
    synprint eval --pcap zardaxt.pcap --labels zardaxt-labels.csv

The data is not shipped with synprint; fetch the CSV from zardaxt yourself.
Each row gets its own source address and port (10.x.y.z, 1024 + n), so the
labels file joins one row to one SYN. Options are rebuilt in order from
zardaxt's option string (M1460,N,W8,S,T,E, ...); `U<kind>` becomes a
two-byte option of that kind; SACK blocks (K) never occur in a SYN and are
skipped.
"""
import csv
import struct
import sys

OS_NAMES = {"Windows", "Mac OS", "iOS", "Android", "Linux", "Chromium OS"}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def options(text, tsval, tsecr):
    out = b""
    for o in filter(None, text.split(",")):
        if o[0] == "M":
            out += struct.pack("!BBH", 2, 4, int(o[1:]))
        elif o == "N":
            out += b"\x01"
        elif o[0] == "W":
            out += struct.pack("!BBB", 3, 3, int(o[1:]))
        elif o == "S":
            out += b"\x04\x02"
        elif o == "T":
            out += struct.pack("!BBII", 8, 10, tsval, tsecr)
        elif o == "E":
            out += b"\x00"
        elif o == "K":
            pass
        elif o[0] == "U":
            out += struct.pack("!BB", int(o[1:]), 2)
        else:
            raise ValueError("unknown option %r" % o)
    return out + b"\x00" * (-len(out) % 4)


def syn(row, n):
    src = bytes([10, (n >> 16) & 255, (n >> 8) & 255, n & 255])
    dst = bytes([192, 0, 2, 1])
    port = 1024 + n % 64000
    ts = int(row["tcp_timestamp"] or 0)
    ecr = int(row["tcp_timestamp_echo_reply"] or 0)
    opts = options(row["tcp_options"], ts, ecr)
    tcp = struct.pack(
        "!HHIIBBHHH",
        port,
        443,
        int(row["tcp_seq"]),
        0,
        (20 + len(opts)) // 4 << 4,
        int(row["tcp_flags"]) & 0xFF,
        int(row["tcp_window_size"]),
        0,
        0,
    ) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        int(row["ip_tos"]),
        20 + len(tcp),
        int(row["ip_id"]),
        0x4000 if row["ip_df"] == "1" else 0,
        int(row["ip_ttl"]),
        6,
        0,
        src,
        dst,
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ".".join(map(str, src)), port, ip + tcp


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: zardaxt-to-pcap.py TCP_IP.CSV OUT.pcap OUT-labels.csv")
    kept = skipped = 0
    with open(argv[1], newline="", encoding="utf-8") as src, open(
        argv[2], "wb"
    ) as pcap, open(argv[3], "w", newline="") as labels:
        # Classic pcap, microseconds, link type 101 (raw IP).
        pcap.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        out = csv.writer(labels)
        out.writerow(["src_ip", "src_port", "os"])
        for line, row in enumerate(csv.DictReader(src), start=2):
            if row.get("os_name") not in OS_NAMES or row.get("ip_version") != "4":
                skipped += 1
                continue
            try:
                ip, port, packet = syn(row, kept + 1)
            except (ValueError, KeyError, struct.error) as e:
                print("%s line %d: skipped: %s" % (argv[1], line, e), file=sys.stderr)
                skipped += 1
                continue
            kept += 1
            pcap.write(struct.pack("<IIII", 1_700_000_000 + kept, 0, len(packet), len(packet)))
            pcap.write(packet)
            out.writerow([ip, port, row["os_name"]])
    print("%d SYNs written, %d rows skipped" % (kept, skipped), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
