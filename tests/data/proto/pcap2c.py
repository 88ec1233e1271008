"""Turns the TCP payloads of a peer capture (pcap, Ethernet/Linux-cooked,
IPv4/IPv6) into a C array of segments for a unit test, or into a fuzz seed
(byte 0 = config, then per segment: direction byte, 16-bit little-endian
length, bytes; see tests/fuzz/fuzz_mqtt.c).
Used once to make tests/unit/*_vectors.h and tests/data/fuzz/{mqtt,amqp}/:

    /usr/bin/python3 tests/data/proto/pcap2c.py c NAME PORT FILE.pcap
    /usr/bin/python3 tests/data/proto/pcap2c.py seed PORT FILE.pcap OUT

Direction: 0 (egress, the client wrote) for segments sent TO the server
port, 1 for those from it."""
import struct
import sys


def packets(path):
    d = open(path, "rb").read()
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    link = struct.unpack(end + "I", d[20:24])[0]
    i = 24
    while i + 16 <= len(d):
        _, _, incl, _ = struct.unpack(end + "IIII", d[i:i + 16])
        yield link, d[i + 16:i + 16 + incl]
        i += 16 + incl


def tcp_payloads(path, port):
    for link, p in packets(path):
        if link == 1:
            eth = 14
            et = struct.unpack(">H", p[12:14])[0]
            while et == 0x8100:
                et = struct.unpack(">H", p[eth + 2:eth + 4])[0]
                eth += 4
        elif link == 113:
            eth, et = 16, struct.unpack(">H", p[14:16])[0]
        elif link == 0:
            eth, et = 4, 0x800 if p[4] >> 4 == 4 else 0x86dd
        else:
            continue
        ip = p[eth:]
        if et == 0x800:
            if ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack(">H", ip[2:4])[0]
            tcp = ip[ihl:tot]
        elif et == 0x86dd:
            if ip[6] != 6:
                continue
            tcp = ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
        else:
            continue
        sport, dport = struct.unpack(">HH", tcp[:4])
        off = (tcp[12] >> 4) * 4
        pay = bytes(tcp[off:])
        if pay:
            yield (0 if dport == port else 1), pay


def main():
    if sys.argv[1] == "c":
        name, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        segs = list(tcp_payloads(path, port))
        for k, (d, b) in enumerate(segs):
            print(f"static const uint8_t {name}_{k}[] = {{" + ",".join(f"0x{x:02x}" for x in b) + "};")
        print(f"static const struct ph_chunk {name}[] = {{")
        for k, (d, b) in enumerate(segs):
            print(f"    {{.dir = {d}, .data = {name}_{k}, .len = sizeof({name}_{k})}},")
        print("};")
    else:
        port, path, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        data = bytearray([0x00])
        for d, b in tcp_payloads(path, port):
            data += bytes([d]) + struct.pack("<H", len(b)) + b
        open(out, "wb").write(data)


if __name__ == "__main__":
    main()
