"""End to end: DNS over UDP and TCP traced by the real BPF programs, asserted
through `ztrace spans --json`. One `ztrace up`; servers: Debian's dnsmasq on
loopback and on port 53 inside a network namespace this test creates (so
glibc's resolver, `getent ahosts`, talks to it), and tests/e2e/dns_udp_peer.c
(built here with cc) as a recvmmsg/sendmmsg and a recvfrom/sendto server.
Clients: dig (UDP, and TCP with several queries on one connection), glibc,
tests/e2e/dns_client.py (connected UDP write/read, sendto/recvfrom) and
dns_udp_peer's sendmmsg/recvmmsg client. Every exchange must give a span on
both sides with its QTYPE, name, RCODE and its name.

Other tests run at the same time: spans are filtered by this test's ports
(16670-16672, and 53 in this test's namespace) and by query names that carry
a tag fresh each run. ZT_CAPTURE_PATH=fast|compat picks the capture path."""
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Ztrace, check, finish, set_prefix, spans, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
DNSMASQ_PORT, MMSG_PORT, PLAIN_PORT = 16670, 16671, 16672
MY_PORTS = {DNSMASQ_PORT, MMSG_PORT, PLAIN_PORT}
NS = f"ztdnse2e{os.getpid()}"
TAG = "t" + secrets.token_hex(4)  # in every name this run asks for
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")
T0 = time.monotonic()


def dnsmasq(port, tmp, netns=None):
    cmd = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
           "--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/svc.zt.test/10.9.8.7",
           "--local=/zt.test/", "--log-facility=-", "--user=root", f"--pid-file={tmp}/dnsmasq-{port}.pid"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sh(*cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if ok and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr}")
    return r.stdout


def dig(*args):
    return sh("dig", "@127.0.0.1", "-p", str(DNSMASQ_PORT), "+tries=1", "+time=3", *args)


def n(name):
    return f"{name}.{TAG}.zt.test" if not name.endswith("svc") else f"{name[:-4]}.{TAG}.svc.zt.test"


# (label, qtype, name, rcode, answer, l4, server process, client process)
EXPECT = []


def expect(label, qtype, name, rcode, answer, l4, server, client):
    EXPECT.append((label, qtype, name, rcode, answer, l4, server, client))


def main():
    tmp = tempfile.mkdtemp(prefix="zt-dns-e2e-")
    procs = []
    zt = None
    try:
        peer = os.path.join(tmp, "dns_udp_peer")
        sh("cc", "-O1", "-o", peer, os.path.join(HERE, "dns_udp_peer.c"))
        sh("ip", "netns", "add", NS)
        sh("ip", "-n", NS, "link", "set", "lo", "up")
        os.makedirs(f"/etc/netns/{NS}", exist_ok=True)
        with open(f"/etc/netns/{NS}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        ns_inode = os.stat(f"/run/netns/{NS}").st_ino
        zt = Ztrace(os.path.join(tmp, "data"), *(["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []))
        # servers start after the programs attached: a server already
        # blocked in recvfrom when they attach loses that datagram
        procs.append(dnsmasq(DNSMASQ_PORT, tmp))
        procs.append(dnsmasq(53, tmp, NS))
        for mode, port in (("server-mmsg", MMSG_PORT), ("server-plain", PLAIN_PORT)):
            p = subprocess.Popen([peer, mode, str(port)], stdout=subprocess.PIPE, text=True)
            procs.append(p)
            p.stdout.readline()
        for port, ns in ((DNSMASQ_PORT, None), (53, NS)):
            probe = ["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=1", "probe.svc.zt.test"]
            if ns:
                probe = ["ip", "netns", "exec", ns] + probe
            ok, _ = wait_for(lambda: "10.9.8.7" in sh(*probe, ok=False), 10, 0.2)
            if not ok:
                raise RuntimeError(f"dnsmasq on port {port} did not answer")

        # dig over UDP: sendmmsg + recvmsg / dnsmasq recvmsg + sendmsg
        dig(n("a.svc"), "A")
        expect("dig udp A", "A", n("a.svc"), 0, "10.9.8.7", "udp", "dnsmasq", "dig")
        dig(n("nope"), "A")
        expect("dig udp NXDOMAIN", "A", n("nope"), 3, None, "udp", "dnsmasq", "dig")
        dig(f"{TAG}.example", "AAAA")
        expect("dig udp REFUSED", "AAAA", f"{TAG}.example", 5, None, "udp", "dnsmasq", "dig")
        # dig over TCP, two queries on one connection; dnsmasq reads the
        # length prefix in 1-byte reads
        dig("+tcp", "+keepopen", n("tcp.svc"), "A", n("tcpnx"), "TXT")
        expect("dig tcp A", "A", n("tcp.svc"), 0, "10.9.8.7", "tcp", "dnsmasq", "dig")
        expect("dig tcp NXDOMAIN", "TXT", n("tcpnx"), 3, None, "tcp", "dnsmasq", "dig")
        # connected UDP write/read, unconnected sendto/recvfrom
        out = sh(PY, os.path.join(HERE, "dns_client.py"), "rw", str(DNSMASQ_PORT), n("rw.svc"), n("rwnx"))
        check("dns_client rw got both answers", out.split() == [n("rw.svc"), "0", "1", n("rwnx"), "3", "0"], out)
        expect("python write/read A", "A", n("rw.svc"), 0, "10.9.8.7", "udp", "dnsmasq", "python3")
        expect("python write/read NXDOMAIN", "A", n("rwnx"), 3, None, "udp", "dnsmasq", "python3")
        sh(PY, os.path.join(HERE, "dns_client.py"), "sendto", str(DNSMASQ_PORT), n("st.svc"))
        expect("python sendto/recvfrom A", "A", n("st.svc"), 0, "10.9.8.7", "udp", "dnsmasq", "python3")
        # the answer read without its peer address (sock.recv())
        sh(PY, os.path.join(HERE, "dns_client.py"), "recv", str(DNSMASQ_PORT), n("recv.svc"), n("recvnx"))
        expect("python sendto/recv A", "A", n("recv.svc"), 0, "10.9.8.7", "udp", "dnsmasq", "python3")
        expect("python sendto/recv NXDOMAIN", "A", n("recvnx"), 3, None, "udp", "dnsmasq", "python3")
        # sendmmsg/recvmmsg on both sides; sendto/recvfrom on both sides
        out = sh(peer, "client-mmsg", str(MMSG_PORT), n("m1"), n("m2"), n("nxm3"))
        check("mmsg client got 3 answers", "answers 3" in out, out)
        for q, rc in (("m1", 0), ("m2", 0), ("nxm3", 3)):
            expect(f"sendmmsg/recvmmsg {q}", "A", n(q), rc, "10.9.8.7" if rc == 0 else None, "udp",
                   "dns_udp_peer", "dns_udp_peer")
        sh(PY, os.path.join(HERE, "dns_client.py"), "sendto", str(PLAIN_PORT), n("plain"), n("nxplain"))
        expect("sendto/recvfrom server A", "A", n("plain"), 0, "10.9.8.7", "udp", "dns_udp_peer", "python3")
        expect("sendto/recvfrom server NXDOMAIN", "A", n("nxplain"), 3, None, "udp", "dns_udp_peer", "python3")
        # glibc in the namespace: A and AAAA in one sendmmsg, port 53
        out = sh("ip", "netns", "exec", NS, "getent", "ahosts", n("glibc.svc"))
        check("getent resolved through dnsmasq in the namespace", "10.9.8.7" in out, out)
        expect("getent A", "A", n("glibc.svc"), 0, "10.9.8.7", "udp", "dnsmasq", "getent")
        expect("getent AAAA", "AAAA", n("glibc.svc"), 3, None, "udp", "dnsmasq", "getent")
        r = subprocess.run(["ip", "netns", "exec", NS, "getent", "ahosts", n("glibcnx")], capture_output=True)
        check("getent of a missing name fails", r.returncode == 2, f"rc {r.returncode}")
        expect("getent NXDOMAIN A", "A", n("glibcnx"), 3, None, "udp", "dnsmasq", "getent")
        expect("getent NXDOMAIN AAAA", "AAAA", n("glibcnx"), 3, None, "udp", "dnsmasq", "getent")

        data = zt.data

        def mine():
            return [s for s in spans(data, "--protocol", "DNS")
                    if TAG in (s["request_resource"] or "")
                    and (s["server_port"] in MY_PORTS or (s["server_port"] == 53 and s.get("netns") == ns_inode))]

        got, waited = wait_for(lambda: (lambda x: x if len(x) >= 2 * len(EXPECT) else None)(mine()), 15, 0.3)
        got = got or mine()
        check(f"{2 * len(EXPECT)} DNS spans (both sides of {len(EXPECT)} exchanges) within 15 s",
              len(got) == 2 * len(EXPECT), f"{len(got)} spans after {waited:.1f} s")
        exc = {0: None, 3: "NXDOMAIN", 5: "REFUSED"}
        status = {0: "ok", 3: "client_error", 5: "client_error"}
        for label, qtype, name, rcode, answer, l4, server, client in EXPECT:
            for side, proc in (("client-process", client), ("server-process", server)):
                m = [s for s in got if s["tap_side"] == side and s["request_type"] == qtype
                     and s["request_resource"] == name]
                s = m[0] if len(m) == 1 else {}
                attrs = s.get("attributes") or {}
                why = f"{m}"
                check(f"{label}: {side} span", len(m) == 1 and s["process"] == proc and s["l4_protocol"] == l4
                      and s["endpoint"] == f"{qtype} {name}", why)
                if not s:
                    continue
                check(f"{label}: {side} rcode {rcode} {exc[rcode] or ''}",
                      s["response_code"] == rcode and s["response_exception"] == exc[rcode]
                      and s["response_status"] == status[rcode], why)
                check(f"{label}: {side} ports and answer",
                      s["client_port"] and s["server_port"] and attrs.get("dns.answer") == answer
                      and s["req_bytes"] > 12 and s["resp_bytes"] > 12, why)
        # both sides of a TCP exchange carry the same request TCP sequence
        tcp = [s for s in got if s["l4_protocol"] == "tcp"]
        by = {}
        for s in tcp:
            by.setdefault(s["request_resource"], {})[s["tap_side"]] = s["req_tcp_seq"]
        check("tcp: client and server spans share req_tcp_seq",
              len(by) == 2 and all(v.get("client-process") is not None and
                                   v.get("client-process") == v.get("server-process") for v in by.values()),
              f"{by}")
        # the two sides of a UDP exchange agree on the client's port
        for s in got:
            if s["tap_side"] == "client-process":
                peer_side = [o for o in got if o["tap_side"] == "server-process"
                             and o["request_resource"] == s["request_resource"]
                             and o["request_type"] == s["request_type"]]
                if not (peer_side and peer_side[0]["client_port"] == s["client_port"]):
                    check(f"client port agrees on both sides ({s['request_resource']})", False, f"{s} {peer_side}")
                    break
        else:
            check("client port agrees on both sides of every exchange", True)
    finally:
        if zt:
            zt.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
        shutil.rmtree(f"/etc/netns/{NS}", ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    check(f"whole test under 60 s ({time.monotonic() - T0:.0f} s)", time.monotonic() - T0 < 60)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a setup failure is a failed test, never a silent pass
        check("setup", False, repr(e))
    finish()
