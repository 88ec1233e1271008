"""The kernel programs' records, field by field, against what this process
did. `ztrace record --port P` runs once per capture path (fast, compat);
meanwhile a thread of this process moves known bytes over loopback TCP and
UDP sockets on port P with every kind of socket syscall, noting each call's
fd, return value, bytes and time window. The .zrec file is then parsed here (stdlib
struct) and every data record of this pid is checked against the call that
made it; TCP state changes of the connection are checked too."""
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, check, finish, wait_for  # noqa: E402

CAP = 512  # --payload-cap: every payload below is smaller, except the truncation one
SERVER_IP, CLIENT_IP, UDP_CLIENT_IP = "127.0.0.1", "127.0.0.2", "127.0.0.3"
PR_SET_NAME = 15

# bpf/events.h (ABI version 1)
ZT_ABI_VERSION = 1
EV_DATA, EV_SOCK_STATE = 1, 2
SYS = dict(read=1, write=2, readv=3, writev=4, recvfrom=5, sendto=6, recvmsg=7, sendmsg=8, recvmmsg=9,
           sendmmsg=10)
EGRESS, INGRESS = 0, 1
DF_TRUNCATED, DF_HAS_SEQ, DF_EOF, DF_IOV_TRUNC, DF_MMSG = 1, 2, 4, 8, 16
TCP_ESTABLISHED, TCP_CLOSE = 1, 7
IPPROTO_TCP, IPPROTO_UDP = 6, 17
HDR = struct.Struct("<IIQII16s")                   # struct zt_event_hdr, 40 bytes
DATA = struct.Struct("<QQQQQIiIIIHHHHBB6x16s16s")  # struct zt_data_ev after hdr
DATA_SIZE = 152                                    # sizeof(struct zt_data_ev): the payload follows
SOCK = struct.Struct("<QIIHHHH16s16s")             # struct zt_sock_ev after hdr
REC_HDR = 64                                       # src/agent/record.h
BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_TASK_STORAGE = 1, 29


def v6form(ip):
    return b"\0" * 10 + b"\xff\xff" + socket.inet_aton(ip)


def pattern(tag, n):
    """n distinct-looking bytes starting with tag, so a payload from the
    wrong call or offset cannot pass for the right one."""
    body = (tag + b":" + b"".join(b"%05d," % i for i in range(n // 6 + 1)))
    return body[:n]


class Sock:
    """A socket and what the kernel should label it with."""

    def __init__(self, name, s, l4):
        self.name, self.s, self.l4 = name, s, l4
        self.fd = s.fileno()
        self.ino = os.fstat(self.fd).st_ino
        self.local = s.getsockname()
        self.peer = s.getpeername() if l4 == IPPROTO_TCP else None


class Call:
    """One expected data record: the syscall that should produce it."""

    def __init__(self, sock, sys_name, direction, nbytes, data, t0, t1, peer=None, flags=0, starts=None):
        self.sock, self.sys, self.dir = sock, SYS[sys_name], direction
        self.bytes, self.data, self.t0, self.t1 = nbytes, data, t0, t1
        self.peer = peer or sock.peer  # (ip, port) the record's raddr/rport should name
        self.flags = flags             # DF_EOF / DF_MMSG expected
        self.starts = starts           # ingress: the egress Call whose first byte this read starts at
        self.label = f"{sock.name} {sys_name} {'out' if direction == EGRESS else 'in'} {nbytes}B"


def timed(fn, *args):
    t0 = time.monotonic_ns()
    r = fn(*args)
    return r, t0, time.monotonic_ns()


# ---- the traffic ----

libc = ctypes.CDLL(None, use_errno=True)


class iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", msghdr), ("msg_len", ctypes.c_uint)]


def mmsg_vec(bufs, names):
    """An mmsghdr array with one iovec per message, and the buffers it
    points into (hold them until the call returns)."""
    vec = (mmsghdr * len(bufs))()
    keep = []
    for i, (buf, name) in enumerate(zip(bufs, names)):
        cbuf = ctypes.create_string_buffer(buf, len(buf))
        iov = iovec(ctypes.cast(cbuf, ctypes.c_void_p), len(buf))
        cname = ctypes.create_string_buffer(name, len(name))
        keep += [cbuf, iov, cname]
        vec[i].msg_hdr.msg_name = ctypes.cast(cname, ctypes.c_void_p)
        vec[i].msg_hdr.msg_namelen = len(name)
        vec[i].msg_hdr.msg_iov = ctypes.pointer(iov)
        vec[i].msg_hdr.msg_iovlen = 1
    return vec, keep


def sockaddr_in(ip, port):
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(ip) + b"\0" * 8


def parse_sockaddr_in(raw):
    port = struct.unpack("!H", raw[2:4])[0]
    return socket.inet_ntoa(raw[4:8]), port


def read_exactly(calls, sock, sys_name, n, read_fn, starts):
    """Reads n bytes with read_fn(remaining) -> bytes, one Call per syscall;
    the first read starts at the bytes of the egress Call `starts`."""
    got = b""
    while len(got) < n:
        data, t0, t1 = timed(read_fn, n - len(got))
        if not data:
            raise RuntimeError(f"{sock.name}: early EOF")
        calls.append(Call(sock, sys_name, INGRESS, len(data), data, t0, t1, starts=starts if not got else None))
        got += data
    return got


def traffic(lst, usrv_s, port):
    """Runs the exchanges; returns (sockets, expected Calls in order)."""
    calls = []
    # Each socket on its own loopback address, so that swapped local and
    # remote addresses cannot pass.
    c_s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c_s.bind((CLIENT_IP, 0))
    c_s.connect((SERVER_IP, port))
    s_s, _ = lst.accept()
    c, s = Sock("tcp client", c_s, IPPROTO_TCP), Sock("tcp server", s_s, IPPROTO_TCP)
    u_c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u_c.bind((UDP_CLIENT_IP, 0))  # bound before sending: the entry probe sees its port
    uc, us = Sock("udp client", u_c, IPPROTO_UDP), Sock("udp server", usrv_s, IPPROTO_UDP)

    def out(sock, sys_name, data, fn, *args):
        n, t0, t1 = timed(fn, *args)
        call = Call(sock, sys_name, EGRESS, n, data[:n], t0, t1)
        calls.append(call)
        return call

    # TCP client -> server, one write syscall each, each read back on the
    # server before the next write so that reads line up with writes.
    a = pattern(b"write", 100)
    w = out(c, "write", a, os.write, c.fd, a)
    read_exactly(calls, s, "read", w.bytes, lambda k: os.read(s.fd, k), w)
    b = pattern(b"send", 200)
    w = out(c, "sendto", b, c_s.send, b)
    read_exactly(calls, s, "recvfrom", w.bytes, lambda k: s_s.recv(k), w)
    m1, m2 = pattern(b"sendmsg1", 50), pattern(b"sendmsg2", 70)
    w = out(c, "sendmsg", m1 + m2, c_s.sendmsg, [m1, m2])
    read_exactly(calls, s, "recvmsg", w.bytes, lambda k: s_s.recvmsg(k)[0], w)
    v1, v2 = pattern(b"writev1", 30), pattern(b"writev2", 40)
    w = out(c, "writev", v1 + v2, os.writev, c.fd, [v1, v2])

    def readv(k):
        b1, b2 = bytearray(min(k, 25)), bytearray(max(k - 25, 0))
        n = os.readv(s.fd, [b1, b2])
        return bytes(b1 + b2)[:n]
    read_exactly(calls, s, "readv", w.bytes, readv, w)
    # three iovecs each way: the kernel reads iovecs two at a time, the
    # third alone (gather_iov's pairs)
    v1, v2, v3 = pattern(b"wv3a", 20), pattern(b"wv3b", 35), pattern(b"wv3c", 45)
    w = out(c, "writev", v1 + v2 + v3, os.writev, c.fd, [v1, v2, v3])

    def readv3(k):
        bs = [bytearray(min(k, 10)), bytearray(min(max(k - 10, 0), 30)), bytearray(max(k - 40, 0))]
        n = os.readv(s.fd, bs)
        return b"".join(bs)[:n]
    read_exactly(calls, s, "readv", w.bytes, readv3, w)
    # server -> client
    e = pattern(b"reply", 150)
    w = out(s, "sendto", e, s_s.send, e)

    def recv_into(k):
        buf = bytearray(k)
        n = c_s.recv_into(buf, k)
        return bytes(buf[:n])
    read_exactly(calls, c, "recvfrom", w.bytes, recv_into, w)
    # longer than the capture cap: both sides truncated at CAP
    big = pattern(b"big", 3000)
    w = out(c, "sendto", big, c_s.send, big)
    read_exactly(calls, s, "recvfrom", w.bytes, lambda k: s_s.recv(k), w)
    # the peer's FIN: a zero-byte read, reported with DF_EOF
    c_s.shutdown(socket.SHUT_WR)
    data, t0, t1 = timed(s_s.recv, 100)
    if data:
        raise RuntimeError("expected EOF")
    calls.append(Call(s, "recvfrom", INGRESS, 0, b"", t0, t1, flags=DF_EOF))

    # UDP on an unconnected socket: the peer comes from the call's sockaddr
    srv_addr = (SERVER_IP, port)
    u1 = pattern(b"udp-sendto", 60)
    n, t0, t1 = timed(u_c.sendto, u1, srv_addr)
    calls.append(Call(uc, "sendto", EGRESS, n, u1, t0, t1, peer=srv_addr))
    (data, addr), t0, t1 = timed(usrv_s.recvfrom, 2048)
    calls.append(Call(us, "recvfrom", INGRESS, len(data), data, t0, t1, peer=addr))
    g1, g2 = pattern(b"udp-msg1", 33), pattern(b"udp-msg2", 44)
    n, t0, t1 = timed(u_c.sendmsg, [g1, g2], [], 0, srv_addr)
    calls.append(Call(uc, "sendmsg", EGRESS, n, g1 + g2, t0, t1, peer=srv_addr))
    (data, _, _, addr), t0, t1 = timed(usrv_s.recvmsg, 2048)
    calls.append(Call(us, "recvmsg", INGRESS, len(data), data, t0, t1, peer=addr))
    # sendmmsg/recvmmsg (no Python wrapper: libc through ctypes), one record per message
    msgs = [pattern(b"mmsg-a", 21), pattern(b"mmsg-b", 37)]
    vec, _keep = mmsg_vec(msgs, [sockaddr_in(*srv_addr)] * 2)
    n, t0, t1 = timed(libc.sendmmsg, u_c.fileno(), vec, 2, 0)
    if n != 2:
        raise RuntimeError(f"sendmmsg: {n}, errno {ctypes.get_errno()}")
    for i in range(n):
        calls.append(Call(uc, "sendmmsg", EGRESS, vec[i].msg_len, msgs[i], t0, t1, peer=srv_addr, flags=DF_MMSG))
    rvec, _rkeep = mmsg_vec([b"\0" * 2048] * 2, [b"\0" * 16] * 2)
    n, t0, t1 = timed(libc.recvmmsg, usrv_s.fileno(), rvec, 2, 0, None)
    if n != 2:
        raise RuntimeError(f"recvmmsg: {n}, errno {ctypes.get_errno()}")
    for i in range(n):
        ln = rvec[i].msg_len
        data = ctypes.string_at(rvec[i].msg_hdr.msg_iov[0].iov_base, ln)
        peer = parse_sockaddr_in(ctypes.string_at(rvec[i].msg_hdr.msg_name, 16))
        calls.append(Call(us, "recvmmsg", INGRESS, ln, data, t0, t1, peer=peer, flags=DF_MMSG))
    return [c, s, uc, us], calls


# ---- the recording ----

def parse(path):
    data_evs, sock_evs = [], []
    with open(path, "rb") as f:
        raw = f.read()
    head = raw[:REC_HDR]
    magic, version, abi = head[:8], *struct.unpack_from("<II", head, 8)
    off = REC_HDR
    while off + 4 <= len(raw):
        (ln,) = struct.unpack_from("<I", raw, off)
        rec = raw[off + 4:off + 4 + ln]
        off += 4 + ln
        typ, size, ts, pid, tid, comm = HDR.unpack_from(rec)
        h = dict(type=typ, size=size, ts_ns=ts, pid=pid, tid=tid, comm=comm.rstrip(b"\0"), len=ln)
        if typ == EV_DATA:
            f_ = DATA.unpack_from(rec, HDR.size)
            keys = ("enter_ns exit_ns sk sock_ino bytes netns fd tcp_seq flags cap_len family l4 lport "
                    "rport dir syscall laddr raddr").split()
            ev = dict(zip(keys, f_), **h)
            ev["payload"] = rec[DATA_SIZE:]
            data_evs.append(ev)
        elif typ == EV_SOCK_STATE:
            keys = "sk oldstate newstate family lport rport _pad laddr raddr".split()
            sock_evs.append(dict(zip(keys, SOCK.unpack_from(rec, HDR.size)), **h))
    return dict(magic=magic, version=version, abi=abi, trailing=len(raw) - off), data_evs, sock_evs


def maps_of(pid):
    """(map_type, max_entries) of every BPF map the process holds."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                kv = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except OSError:
            continue
        if "map_type" in kv:
            out.append((int(kv["map_type"]), int(kv["max_entries"])))
    return out


class Checks:
    """Field checks over many records: one ok/not-ok line per check name,
    naming the first records that failed it."""

    def __init__(self, prefix):
        self.prefix, self.fails, self.order = prefix, {}, []

    def __call__(self, name, cond, why):
        if name not in self.fails:
            self.fails[name] = []
            self.order.append(name)
        if not cond:
            self.fails[name].append(why)

    def report(self):
        for name in self.order:
            f = self.fails[name]
            check(f"{self.prefix} {name}", not f, f"{len(f)} bad: " + "; ".join(f[:3]))


def check_data(ck, calls, evs, socks, tid):
    me = os.getpid()
    with open("/proc/self/comm", "rb") as f:  # the group leader's, not the traffic thread's
        comm = f.read().strip()
    netns = os.stat("/proc/self/ns/net").st_ino
    ck("the traffic ran in a thread that is not the leader", tid is not None and tid != me, f"tid {tid}")
    ck("one record per expected call", len(evs) == len(calls),
       f"{len(evs)} records for {len(calls)} calls: "
       f"{[(e['syscall'], e['dir'], e['bytes']) for e in evs]}")
    for call, ev in zip(calls, evs):
        lb = call.label
        ck("pid, tid, comm are this process, the calling thread, the leader's comm",
           (ev["pid"], ev["tid"], ev["comm"]) == (me, tid, comm),
           f"{lb}: {ev['pid']}/{ev['tid']}/{ev['comm']}")
        ck("record size", ev["size"] == ev["len"] == DATA_SIZE + ev["cap_len"],
           f"{lb}: size {ev['size']} len {ev['len']} cap {ev['cap_len']}")
        ck("syscall is the call made", ev["syscall"] == call.sys, f"{lb}: syscall {ev['syscall']}")
        ck("dir is egress for writes, ingress for reads", ev["dir"] == call.dir, f"{lb}: dir {ev['dir']}")
        ck("fd is the socket's fileno", ev["fd"] == call.sock.fd, f"{lb}: fd {ev['fd']} != {call.sock.fd}")
        ck("sock_ino is fstat's st_ino", ev["sock_ino"] == call.sock.ino,
           f"{lb}: {ev['sock_ino']} != {call.sock.ino}")
        ck("netns is this process's", ev["netns"] == netns, f"{lb}: {ev['netns']} != {netns}")
        ck("family and l4", (ev["family"], ev["l4"]) == (socket.AF_INET, call.sock.l4),
           f"{lb}: {ev['family']}/{ev['l4']}")
        lip, lport = call.sock.local
        ck("laddr/lport are getsockname()", (ev["laddr"], ev["lport"]) == (v6form(lip), lport),
           f"{lb}: {socket.inet_ntop(socket.AF_INET6, ev['laddr'])}:{ev['lport']} != {lip}:{lport}")
        rip, rport = call.peer
        ck("raddr/rport are the peer (getpeername() or the datagram's address)",
           (ev["raddr"], ev["rport"]) == (v6form(rip), rport),
           f"{lb}: {socket.inet_ntop(socket.AF_INET6, ev['raddr'])}:{ev['rport']} != {rip}:{rport}")
        ck("bytes is what the call moved", ev["bytes"] == call.bytes, f"{lb}: bytes {ev['bytes']}")
        ck("cap_len is min(bytes, cap)", ev["cap_len"] == min(call.bytes, CAP), f"{lb}: cap_len {ev['cap_len']}")
        ck("payload is the bytes moved, up to the cap", ev["payload"] == call.data[:min(call.bytes, CAP)],
           f"{lb}: {ev['payload'][:24]!r}.. != {call.data[:24]!r}..")
        want = call.flags | (DF_HAS_SEQ if call.sock.l4 == IPPROTO_TCP else 0) | \
            (DF_TRUNCATED if call.bytes > CAP else 0)
        ck("flags (HAS_SEQ on TCP, TRUNCATED over the cap, EOF, MMSG)", ev["flags"] == want,
           f"{lb}: flags {ev['flags']:#x} != {want:#x}")
        ck("t0 <= enter_ns <= exit_ns == ts_ns <= t1 (monotonic clock)",
           call.t0 <= ev["enter_ns"] <= ev["exit_ns"] == ev["ts_ns"] <= call.t1,
           f"{lb}: {call.t0} {ev['enter_ns']} {ev['exit_ns']} {ev['ts_ns']} {call.t1}")
        if call.bytes > CAP:
            ck("a payload over the cap is TRUNCATED with cap_len == cap",
               ev["flags"] & DF_TRUNCATED and ev["cap_len"] == CAP, f"{lb}: {ev['flags']:#x} {ev['cap_len']}")
    pairs = list(zip(calls, evs))
    ck("a payload over the cap was sent and read", sum(c.bytes > CAP for c, _ in pairs) >= 2, "none")

    # sk: one per socket, distinct between sockets
    sks = {}
    for call, ev in pairs:
        sks.setdefault(call.sock.name, set()).add(ev["sk"])
    for name, s in sks.items():
        ck("sk is the same for all records of a socket", len(s) == 1, f"{name}: {[hex(x) for x in s]}")
    ck("sk differs between sockets", len({min(s) for s in sks.values()}) == len(sks) == len(socks),
       f"{ {n: [hex(x) for x in s] for n, s in sks.items()} }")

    # TCP seq: consecutive calls of one socket and direction advance by the
    # previous call's bytes; a read starts at the writer's seq of its bytes
    last = {}
    for call, ev in pairs:
        if call.sock.l4 != IPPROTO_TCP:
            continue
        key = (call.sock.name, call.dir)
        if key in last:
            pev = last[key]
            want = (pev["tcp_seq"] + pev["bytes"]) & 0xffffffff
            ck("TCP seq advances by the previous call's bytes", ev["tcp_seq"] == want,
               f"{call.label}: seq {ev['tcp_seq']} after {pev['tcp_seq']}+{pev['bytes']}")
        last[key] = ev
    ev_of = {id(c): e for c, e in pairs}
    n = 0
    for call, ev in pairs:
        if call.starts is not None and id(call.starts) in ev_of:
            n += 1
            wev = ev_of[id(call.starts)]
            ck("reader's ingress seq is the writer's egress seq of the same bytes",
               ev["tcp_seq"] == wev["tcp_seq"], f"{call.label}: {ev['tcp_seq']} != {call.starts.label}: {wev['tcp_seq']}")
    ck("reads paired with writes", n >= 6, f"{n}")
    return sks


def check_states(ck, socks, sks, sock_evs):
    for s in socks:
        if s.l4 != IPPROTO_TCP or len(sks.get(s.name, ())) != 1:
            continue
        sk = next(iter(sks[s.name]))
        mine = [e for e in sock_evs if e["sk"] == sk]
        lip, lport = s.local
        rip, rport = s.peer
        for state, what in ((TCP_ESTABLISHED, "ESTABLISHED"), (TCP_CLOSE, "CLOSE")):
            got = [e for e in mine if e["newstate"] == state]
            ck(f"TCP {what} state change of each socket, with its ports and addresses",
               len(got) == 1 and (got[0]["lport"], got[0]["rport"], got[0]["laddr"], got[0]["raddr"],
                                  got[0]["family"]) == (lport, rport, v6form(lip), v6form(rip), socket.AF_INET),
               f"{s.name}: {[(e['oldstate'], e['newstate'], e['lport'], e['rport']) for e in mine]}")


def free_port():
    """A TCP listener and a UDP socket bound to the same free port."""
    for _ in range(50):
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind((SERVER_IP, 0))
        lst.listen(4)
        port = lst.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((SERVER_IP, port))
            return lst, u, port
        except OSError:
            lst.close()
            u.close()
    raise RuntimeError("no free port for both TCP and UDP")


def in_thread(fn, *args):
    """Runs fn in a thread of its own, named unlike the process, so that
    records must carry this thread's tid and the group leader's comm.
    Returns (tid, fn's result)."""
    out = {}

    def body():
        libc.prctl(PR_SET_NAME, b"zt-traffic", 0, 0, 0)
        out["tid"] = threading.get_native_id()
        try:
            out["r"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            out["e"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():
        raise RuntimeError("the traffic thread hung")
    if "e" in out:
        raise out["e"]
    return out["tid"], out["r"]


def run_path(tmp, path):
    p = f"[{path}]"
    lst, usrv, port = free_port()
    rec = os.path.join(tmp, f"{path}.zrec")
    errf = open(os.path.join(tmp, f"{path}.err"), "w+")
    proc = subprocess.Popen([ZTRACE, "record", rec, "--port", str(port), "--payload-cap", str(CAP),
                             "--capture-path", path], stdout=subprocess.DEVNULL, stderr=errf)

    def err():
        errf.flush()
        with open(errf.name) as f:
            return f.read()
    socks, calls, tid = [], [], None
    try:
        wait_for(lambda: "recording to" in err() or proc.poll() is not None, 30)
        if not check(f"{p} recorder attached", proc.poll() is None and "recording to" in err(), err()):
            return
        lines = [ln for ln in err().splitlines() if "capture path" in ln]
        want = {"fast": "ztrace: capture path fast (BTF reads, task storage)",
                "compat": "ztrace: capture path compat (forced by --capture-path)"}[path]
        check(f"{p} stderr names the capture path once", lines == [want], f"{lines}")
        maps = maps_of(proc.pid)
        types = {t: m for t, m in maps}
        if path == "fast":
            ok = BPF_MAP_TYPE_TASK_STORAGE in types and types.get(BPF_MAP_TYPE_HASH) == 1
        else:
            ok = BPF_MAP_TYPE_TASK_STORAGE not in types and types.get(BPF_MAP_TYPE_HASH, 0) > 1
        check(f"{p} maps: task storage only on fast, full in-flight hash only on compat", ok, f"{maps}")
        tid, (socks, calls) = in_thread(traffic, lst, usrv, port)
        for s in socks:
            s.s.close()
        lst.close()
        usrv.close()
        time.sleep(0.3)  # the TCP close handshakes and a ring drain (ZT_DRAIN_MS)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for s in socks:
            s.s.close()
        lst.close()
        usrv.close()
    check(f"{p} recorder exits 0 on SIGINT", proc.returncode == 0, f"rc={proc.returncode}: {err()[-500:]}")
    head, data_evs, sock_evs = parse(rec)
    check(f"{p} record file: magic, ABI, no trailing bytes",
          (head["magic"], head["abi"], head["trailing"]) == (b"ZTRACE\0R", ZT_ABI_VERSION, 0), f"{head}")
    mine = [e for e in data_evs if e["pid"] == os.getpid()]
    ck = Checks(p)
    sks = check_data(ck, calls, mine, socks, tid)
    check_states(ck, socks, sks, sock_evs)
    ck.report()


def main():
    tmp = tempfile.mkdtemp(prefix="zt-bpfev-")
    try:
        for path in ("fast", "compat"):
            try:
                run_path(tmp, path)
            except Exception as e:  # noqa: BLE001 - any failure is a failed test, not a crash
                check(f"[{path}] scenario ran", False, f"{type(e).__name__}: {e}")
    finally:
        subprocess.run(["rm", "-rf", tmp])
    finish()


main()
