"""A small hand-written Memcached binary-protocol client (stdlib only), for
the fixtures and the end-to-end test: pymemcache speaks the text protocol
only. Each request is one sendall(); replies are read by their headers."""
import socket
import struct

MAGIC_REQ, MAGIC_RESP = 0x80, 0x81
OPS = {"GET": 0x00, "SET": 0x01, "ADD": 0x02, "REPLACE": 0x03, "DELETE": 0x04, "INCREMENT": 0x05,
       "DECREMENT": 0x06, "QUIT": 0x07, "FLUSH": 0x08, "GETQ": 0x09, "NOOP": 0x0a, "VERSION": 0x0b,
       "GETK": 0x0c, "GETKQ": 0x0d, "APPEND": 0x0e, "PREPEND": 0x0f, "STAT": 0x10, "SETQ": 0x11,
       "DELETEQ": 0x14, "TOUCH": 0x1c, "GAT": 0x1d}


def packet(op, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    body = len(extras) + len(key) + len(value)
    return struct.pack(">BBHBBHIIQ", MAGIC_REQ, OPS[op], len(key), len(extras), 0, 0, body, opaque,
                       cas) + extras + key + value


class Client:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.s.settimeout(5)
        self.buf = b""

    def send(self, *packets):
        self.s.sendall(b"".join(packets))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def reply(self):
        """(opcode, status, opaque, key, value) of the next reply."""
        h = self._read(24)
        magic, op, keylen, extlen, _, status, body, opaque, _ = struct.unpack(">BBHBBHIIQ", h)
        assert magic == MAGIC_RESP, h
        b = self._read(body)
        return op, status, opaque, b[extlen:extlen + keylen], b[extlen + keylen:]

    def call(self, op, key=b"", extras=b"", value=b"", opaque=0):
        self.send(packet(op, key, extras, value, opaque))
        return self.reply()

    def close(self):
        self.s.close()


def set_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def incr_extras(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)
