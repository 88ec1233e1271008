"""A small DNS client for tests/e2e/proto_dns.py and tests/data/proto/dns/record.py
(Debian's /usr/bin/python3, stdlib only): it drives the UDP syscalls dig does not.

    dns_client.py rw PORT NAME...      connect(), then os.write/os.read per query
                                       (write/read on a connected UDP socket)
    dns_client.py sendto PORT NAME...  unconnected socket: sendto/recvfrom
    dns_client.py recv PORT NAME...    unconnected socket: sendto, then recv()
                                       (recvfrom without an address buffer)

Query ids are 0x1100 + i (rw), 0x2200 + i (sendto), 0x3300 + i (recv), QTYPE A; prints
"NAME RCODE ANCOUNT" per answer."""
import os
import socket
import struct
import sys


def query(qid, name, qtype=1):
    b = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        b += bytes([len(label)]) + label.encode()
    return b + b"\0" + struct.pack(">HH", qtype, 1)


def main():
    mode, port, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if mode == "rw":
        s.connect(("127.0.0.1", port))
    for i, name in enumerate(names):
        if mode == "rw":
            os.write(s.fileno(), query(0x1100 + i, name))
            ans = os.read(s.fileno(), 4096)  # blocking: the socket has no timeout
        elif mode == "recv":
            s.sendto(query(0x3300 + i, name), ("127.0.0.1", port))
            ans = s.recv(4096)
        else:
            s.sendto(query(0x2200 + i, name), ("127.0.0.1", port))
            ans = s.recvfrom(4096)[0]
        flags, an = struct.unpack(">H", ans[2:4])[0], struct.unpack(">H", ans[6:8])[0]
        print(name, flags & 15, an, flush=True)


if __name__ == "__main__":
    main()
