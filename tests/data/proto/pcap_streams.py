"""Extracts the TCP payloads of a pcap as a list of (direction, bytes), one
per packet with data, in file order; direction 0 = from the side that sent
the first data packet (the client, for Kafka and MongoDB). Stdlib only:

    /usr/bin/python3 tests/data/proto/pcap_streams.py FILE.pcap [--c NAME]

--c prints C arrays (used to make tests/unit/*_vectors.h from the DeepFlow
peer captures); without it, a summary."""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1:
            eth = 14
            etype = struct.unpack(">H", pkt[12:14])[0]
            while etype == 0x8100:
                eth += 4
                etype = struct.unpack(">H", pkt[eth - 2:eth])[0]
            ip = pkt[eth:]
        elif linktype == 113:
            ip = pkt[16:]
        elif linktype == 276:
            ip = pkt[20:]
        elif linktype in (0, 108):
            ip = pkt[4:]
        elif linktype in (101, 228):
            ip = pkt
        else:
            raise SystemExit(f"linktype {linktype}")
        if not ip:
            continue
        if ip[0] >> 4 == 4:
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack(">H", ip[2:4])[0]
            if ip[9] != 6:
                continue
            src, dst = ip[12:16], ip[16:20]
            tcp = ip[ihl:tot]
        else:
            if ip[6] != 6:
                continue
            src, dst = ip[8:24], ip[24:40]
            tcp = ip[40:]
        sport, dport = struct.unpack(">HH", tcp[:4])
        doff = (tcp[12] >> 4) * 4
        payload = tcp[doff:]
        if payload:
            yield (src, sport), (dst, dport), payload


def streams(path):
    first = None
    out = []
    for s, d, p in packets(path):
        if first is None:
            first = s
        out.append((0 if s == first else 1, p))
    return out


if __name__ == "__main__":
    path = sys.argv[1]
    st = streams(path)
    if "--c" in sys.argv:
        name = sys.argv[sys.argv.index("--c") + 1]
        for i, (d, p) in enumerate(st):
            print(f"static const uint8_t {name}_{i}[] = {{ /* dir {d}, {len(p)} bytes */")
            for k in range(0, len(p), 16):
                print("\t" + ",".join(f"0x{b:02x}" for b in p[k:k + 16]) + ",")
            print("};")
    else:
        for d, p in st:
            print(d, len(p), p[:32].hex())
