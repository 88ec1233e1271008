"""A Kafka broker STUB for ztrace's tests (stdlib only): no Kafka broker is
packaged in Debian, so this answers, from the Kafka protocol guide, just
enough for kcat (librdkafka) and kafka-python to produce: ApiVersions
v0-v3, SaslHandshake v0-v1 and SaslAuthenticate v0-v1 (PLAIN, any password:
the token is kept in `auth` for the test to compare), Metadata v0-v1 (topic
"ghost" is UNKNOWN_TOPIC_OR_PARTITION), Fetch v0-v3 (never any record),
Produce
v0-v3 (topic "nosuch" answers UNKNOWN_TOPIC_OR_PARTITION; acks=0 gets no
answer). Records are not stored. The client side is always real."""
import socket
import socketserver
import struct
import threading
import time

ADVERTISED = {18: (0, 3), 3: (0, 1), 0: (0, 3), 1: (0, 3), 17: (0, 1), 36: (0, 1)}  # api key -> versions
UNKNOWN_TOPIC = 3


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def read_str(b, i):
    n = struct.unpack_from(">h", b, i)[0]
    i += 2
    if n < 0:
        return None, i
    return b[i:i + n].decode(errors="replace"), i + n


def uvarint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7f) << s
        s += 7
        if not x & 0x80:
            return v, i


class Handler(socketserver.BaseRequestHandler):
    # Buffered reads (recv of up to 64 KiB, as event-loop servers do): a
    # broker that reads the 4-byte size in its own syscall, as Kafka's Java
    # broker does, is not recognised on the server side yet (ztrace infers a
    # protocol from one segment; see the Kafka notes in tests/data/proto/kafka).
    def recv_exact(self, n):
        buf = getattr(self, "buf", b"")
        while len(buf) < n:
            d = self.request.recv(65536)
            if not d:
                raise EOFError
            buf += d
        self.buf = buf[n:]
        return buf[:n]

    def handle(self):
        try:
            while True:
                size = struct.unpack(">i", self.recv_exact(4))[0]
                msg = self.recv_exact(size)
                resp = self.answer(msg)
                if resp is not None:
                    self.request.sendall(struct.pack(">i", len(resp)) + resp)
        except (EOFError, ConnectionError, struct.error):
            pass

    def answer(self, m):
        api, ver, corr = struct.unpack_from(">hhi", m, 0)
        client, i = read_str(m, 8)
        self.server.log.append((api, ver, corr, client))
        if api == 18:  # ApiVersions: header v0 even when the request is flexible
            if ver > 3:
                return struct.pack(">ih", corr, 35) + struct.pack(">i", 0)
            if ver >= 3:
                body = struct.pack(">h", 0) + bytes([len(ADVERTISED) + 1])
                for k, (lo, hi) in ADVERTISED.items():
                    body += struct.pack(">hhh", k, lo, hi) + b"\x00"
                body += struct.pack(">i", 0) + b"\x00"
            else:
                body = struct.pack(">hi", 0, len(ADVERTISED))
                for k, (lo, hi) in ADVERTISED.items():
                    body += struct.pack(">hhh", k, lo, hi)
                if ver >= 1:
                    body += struct.pack(">i", 0)
            return struct.pack(">i", corr) + body
        if api == 17:  # SaslHandshake
            return struct.pack(">ih", corr, 0) + struct.pack(">i", 1) + s16("PLAIN")
        if api == 36:  # SaslAuthenticate: auth_bytes = [authzid] NUL user NUL password
            n = struct.unpack_from(">i", m, i)[0]
            self.server.auth.append(m[i + 4:i + 4 + n])
            body = struct.pack(">h", 0) + struct.pack(">h", -1) + struct.pack(">i", 0)
            if ver >= 1:
                body += struct.pack(">q", 0)
            return struct.pack(">i", corr) + body
        if api == 3:  # Metadata v0-v1
            n = struct.unpack_from(">i", m, i)[0]
            i += 4
            topics = []
            for _ in range(max(n, 0)):
                t, i = read_str(m, i)
                topics.append(t)
            if n < 0 or (n == 0 and ver == 0):
                topics = sorted(self.server.topics)
            host, port = self.server.server_address
            body = struct.pack(">i", 1) + struct.pack(">i", 0) + s16(host) + struct.pack(">i", port)
            if ver >= 1:
                body += struct.pack(">h", -1) + struct.pack(">i", 0)
            body += struct.pack(">i", len(topics))
            for t in topics:
                err = UNKNOWN_TOPIC if t == "ghost" else 0
                body += struct.pack(">h", err) + s16(t)
                if ver >= 1:
                    body += b"\x00"
                if err:
                    body += struct.pack(">i", 0)
                else:
                    body += struct.pack(">i", 1) + struct.pack(">hiii", 0, 0, 0, 1) + struct.pack(">i", 0) \
                        + struct.pack(">ii", 1, 0)
            return struct.pack(">i", corr) + body
        if api == 1:  # Fetch v0-v3: every partition empty, after the long poll (max_wait_ms, <= 0.2 s)
            time.sleep(min(struct.unpack_from(">i", m, i + 4)[0], 200) / 1000)
            i += 12 + (4 if ver >= 3 else 0)  # replica, max wait, min bytes, max bytes
            nt = struct.unpack_from(">i", m, i)[0]
            i += 4
            body = (struct.pack(">i", 0) if ver >= 1 else b"") + struct.pack(">i", nt)
            for _ in range(nt):
                t, i = read_str(m, i)
                npart = struct.unpack_from(">i", m, i)[0]
                i += 4
                body += s16(t) + struct.pack(">i", npart)
                for _ in range(npart):
                    idx = struct.unpack_from(">i", m, i)[0]
                    i += 16
                    body += struct.pack(">ihqi", idx, UNKNOWN_TOPIC if t == "ghost" else 0, 0, 0)
            return struct.pack(">i", corr) + body
        if api == 0:  # Produce v0-v3
            if ver >= 3:
                _, i = read_str(m, i)
            acks, _timeout, nt = struct.unpack_from(">hii", m, i)
            i += 10
            out = []
            for _ in range(nt):
                t, i = read_str(m, i)
                npart = struct.unpack_from(">i", m, i)[0]
                i += 4
                parts = []
                for _ in range(npart):
                    idx, rs = struct.unpack_from(">ii", m, i)
                    i += 8 + rs
                    parts.append(idx)
                    self.server.records.append((t, rs))
                out.append((t, parts))
            if acks == 0:
                return None
            body = struct.pack(">i", len(out))
            for t, parts in out:
                body += s16(t) + struct.pack(">i", len(parts))
                for idx in parts:
                    body += struct.pack(">ihq", idx, UNKNOWN_TOPIC if t == "nosuch" else 0, 0)
                    if ver >= 2:
                        body += struct.pack(">q", -1)
            if ver >= 1:
                body += struct.pack(">i", 0)
            return struct.pack(">i", corr) + body
        raise EOFError  # an API this stub does not speak: hang up


class Broker(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, topics=("orders", "ghost", "nosuch", "big")):
        super().__init__(("127.0.0.1", port), Handler)
        self.topics = set(topics)
        self.log = []
        self.records = []
        self.auth = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


def raw_produce(port, topic, acks=1, corr=7, client="zt-raw"):
    """A Produce v3 written by hand (for the error case real clients retry
    silently): returns the response bytes, or None for acks=0."""
    batch = b"\x00" * 61
    body = struct.pack(">h", -1) + struct.pack(">hi", acks, 1000) + struct.pack(">i", 1) + s16(topic) \
        + struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch
    msg = struct.pack(">hhi", 0, 3, corr) + s16(client) + body
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        if acks == 0:
            return None
        s.settimeout(5)
        n = struct.unpack(">i", s.recv(4))[0]
        out = b""
        while len(out) < n:
            out += s.recv(n - len(out))
        return out


if __name__ == "__main__":
    import sys
    b = Broker(int(sys.argv[1])).start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        b.stop()
