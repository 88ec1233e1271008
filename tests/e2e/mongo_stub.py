"""A MongoDB server STUB for ztrace's tests (stdlib only): no MongoDB server
is packaged in Debian, so this answers, from the wire protocol reference,
just enough for pymongo 3.11: isMaster over OP_QUERY (-> OP_REPLY) and
OP_MSG, ping, find (one document), insert (n), createUser, and an error
reply ({ok: 0, code: 59, CommandNotFound}) for any other command; an OP_MSG
with moreToCome (w:0 writes) gets no reply. Nothing is stored. The client
side is always real."""
import socketserver
import struct
import threading


class Int64(int):
    pass


def enc(doc):
    out = b""
    for k, v in doc.items():
        kb = k.encode() + b"\x00"
        if isinstance(v, bool):
            out += b"\x08" + kb + (b"\x01" if v else b"\x00")
        elif isinstance(v, Int64):
            out += b"\x12" + kb + struct.pack("<q", v)
        elif isinstance(v, int):
            out += b"\x10" + kb + struct.pack("<i", v)
        elif isinstance(v, float):
            out += b"\x01" + kb + struct.pack("<d", v)
        elif isinstance(v, str):
            b = v.encode() + b"\x00"
            out += b"\x02" + kb + struct.pack("<i", len(b)) + b
        elif isinstance(v, dict):
            out += b"\x03" + kb + enc(v)
        elif isinstance(v, list):
            out += b"\x04" + kb + enc({str(i): x for i, x in enumerate(v)})
        elif v is None:
            out += b"\x0a" + kb
    return struct.pack("<i", len(out) + 5) + out + b"\x00"


def dec(b, i=0):
    """Decodes the document at b[i:]; values of types it does not need are
    kept as raw bytes."""
    n = struct.unpack_from("<i", b, i)[0]
    end, i, out = i + n - 1, i + 4, {}
    while i < end:
        t = b[i]
        j = b.index(b"\x00", i + 1)
        k = b[i + 1:j].decode()
        i = j + 1
        if t == 1:
            out[k] = struct.unpack_from("<d", b, i)[0]
            i += 8
        elif t == 2:
            ln = struct.unpack_from("<i", b, i)[0]
            out[k] = b[i + 4:i + 3 + ln].decode(errors="replace")
            i += 4 + ln
        elif t in (3, 4):
            ln = struct.unpack_from("<i", b, i)[0]
            out[k] = dec(b, i)
            i += ln
        elif t == 5:
            ln = struct.unpack_from("<i", b, i)[0]
            out[k] = b[i + 5:i + 5 + ln]
            i += 5 + ln
        elif t == 8:
            out[k] = b[i] != 0
            i += 1
        elif t == 16:
            out[k] = struct.unpack_from("<i", b, i)[0]
            i += 4
        elif t in (9, 17, 18):
            out[k] = struct.unpack_from("<q", b, i)[0]
            i += 8
        elif t == 7:
            out[k] = b[i:i + 12]
            i += 12
        elif t == 10:
            out[k] = None
        else:
            raise ValueError(f"bson type {t}")
    return out


HELLO = {"ismaster": True, "maxBsonObjectSize": 16777216, "maxMessageSizeBytes": 48000000,
         "maxWriteBatchSize": 100000, "minWireVersion": 0, "maxWireVersion": 8, "ok": 1.0}


class Handler(socketserver.BaseRequestHandler):
    # Reads as mongod does: the 16-byte MsgHeader in one syscall, then the
    # rest of the message.
    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            d = self.request.recv(n - len(out))
            if not d:
                raise EOFError
            out += d
        return out

    def handle(self):
        try:
            while True:
                hdr = self.recv_exact(16)
                ln, rid, _rto, op = struct.unpack("<iiii", hdr)
                body = self.recv_exact(ln - 16)
                self.answer(rid, op, body)
        except (EOFError, ConnectionError, struct.error):
            pass

    def send(self, rid, op, payload):
        self.server.next_id += 1
        self.request.sendall(struct.pack("<iiii", 16 + len(payload), self.server.next_id, rid, op) + payload)

    def reply_for(self, cmd, doc):
        name = next(iter(doc))
        self.server.log.append((name, doc.get("$db")))
        if name.lower() in ("ismaster", "hello"):
            return HELLO
        if name in ("ping", "createUser", "endSessions"):
            return {"ok": 1.0}
        if name == "find":
            return {"cursor": {"firstBatch": [{"_id": 1, "x": 1}], "id": Int64(0),
                               "ns": f"{doc.get('$db')}.{doc['find']}"}, "ok": 1.0}
        if name in ("insert", "update", "delete"):
            n = len(cmd.get("documents", cmd.get("updates", cmd.get("deletes", [])))) or 1
            return {"n": n, "ok": 1.0}
        return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59, "codeName": "CommandNotFound"}

    def answer(self, rid, op, body):
        if op == 2004:  # OP_QUERY
            j = body.index(b"\x00", 4)
            doc = dec(body, j + 9)
            r = self.reply_for(doc, doc)
            self.send(rid, 1, struct.pack("<iqii", 0, 0, 0, 1) + enc(r))
        elif op == 2013:  # OP_MSG
            flags = struct.unpack_from("<I", body, 0)[0]
            i, doc, seqs = 4, None, {}
            end = len(body) - (4 if flags & 1 else 0)
            while i < end:
                kind = body[i]
                i += 1
                if kind == 0:
                    doc = dec(body, i)
                    i += struct.unpack_from("<i", body, i)[0]
                else:
                    sl = struct.unpack_from("<i", body, i)[0]
                    j = body.index(b"\x00", i + 4)
                    ident = body[i + 4:j].decode()
                    docs, k = [], j + 1
                    while k < i + sl:
                        docs.append(dec(body, k))
                        k += struct.unpack_from("<i", body, k)[0]
                    seqs[ident] = docs
                    i += sl
            cmd = dict(doc, **seqs)
            r = self.reply_for(cmd, doc)
            if not flags & 2:  # moreToCome: the client wants no reply
                self.send(rid, 2013, struct.pack("<I", 0) + b"\x00" + enc(r))
        else:
            raise EOFError


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), Handler)
        self.log = []
        self.next_id = 1000
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
