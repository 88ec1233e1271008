"""Re-records the DNS golden fixtures in this folder from real programs with
the real BPF programs (`ztrace record --port P`, as root). Run with Debian's
python3 from the repository root after `make`:

    sudo /usr/bin/python3 tests/data/proto/dns/record.py

It writes NAME.zrec and NAME.expected.jsonl (`ztrace replay --no-store
--json`; review it by hand before committing). README.md says what each
fixture holds; tests/replay/proto_dns.py asserts those facts."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
PY = "/usr/bin/python3"
CLIENT = os.path.join(ROOT, "tests", "e2e", "dns_client.py")
PEER_SRC = os.path.join(ROOT, "tests", "e2e", "dns_udp_peer.c")
DNSMASQ_PORT, MMSG_PORT, PLAIN_PORT = 16660, 16661, 16662


def dnsmasq(port, tmp, netns=None):
    cmd = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
           "--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/svc.zt.test/10.9.8.7",
           "--local=/zt.test/", "--log-facility=-", "--user=root", f"--pid-file={tmp}/dnsmasq-{port}.pid"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p


def record(name, port, action):
    path = os.path.join(HERE, name + ".zrec")
    if os.path.exists(path):
        os.unlink(path)
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(port)], stderr=subprocess.PIPE, text=True)
    seen = ""
    while "recording to" not in seen:  # printed once the programs are attached
        line = rec.stderr.readline()
        if not line:
            raise RuntimeError(seen)
        seen += line
    action()
    time.sleep(1)
    rec.send_signal(2)
    err = rec.communicate(timeout=30)[1]
    print(f"{name}: {err.strip()}", file=sys.stderr)
    if rec.returncode != 0:
        raise RuntimeError(f"record failed: {err}")
    out = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"],
                         check=True, capture_output=True, text=True).stdout
    with open(os.path.join(HERE, name + ".expected.jsonl"), "w") as f:
        f.write(out)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def dig(*args):
    run("dig", "@127.0.0.1", "-p", str(DNSMASQ_PORT), "+tries=1", "+time=3", *args)


def main():
    tmp = tempfile.mkdtemp(prefix="zt-dns-fixtures-")
    ns = f"ztdnsrec{os.getpid()}"
    procs = []
    try:
        peer = os.path.join(tmp, "dns_udp_peer")
        run("cc", "-O1", "-o", peer, PEER_SRC)
        procs.append(dnsmasq(DNSMASQ_PORT, tmp))
        record("dig_udp", DNSMASQ_PORT, lambda: (
            dig("svc.zt.test", "A"), dig("nope.zt.test", "A"), dig("other.example", "AAAA")))
        record("dig_tcp_keepopen", DNSMASQ_PORT, lambda: dig(
            "+tcp", "+keepopen", "svc.zt.test", "A", "nope.zt.test", "AAAA", "svc.zt.test", "MX"))
        record("python_udp", DNSMASQ_PORT, lambda: (
            run(PY, CLIENT, "rw", str(DNSMASQ_PORT), "rw.svc.zt.test", "nx.zt.test"),
            run(PY, CLIENT, "sendto", str(DNSMASQ_PORT), "sendto.svc.zt.test")))

        def with_server(mode, port, *client):
            # started inside the recording: a server already blocked in
            # recvfrom/recvmmsg when the programs attach loses that
            # syscall's datagram (its entry was never seen)
            srv = subprocess.Popen([peer, mode, str(port)], stdout=subprocess.PIPE, text=True)
            procs.append(srv)
            srv.stdout.readline()  # "ready"
            run(*client)

        record("mmsg_peer", MMSG_PORT, lambda: with_server(
            "server-mmsg", MMSG_PORT, peer, "client-mmsg", str(MMSG_PORT), "a.mm.zt.test", "b.mm.zt.test",
            "nx.mm.zt.test"))
        record("sendto_recvfrom_peer", PLAIN_PORT, lambda: with_server(
            "server-plain", PLAIN_PORT, PY, CLIENT, "sendto", str(PLAIN_PORT), "plain.zt.test", "nxplain.zt.test"))
        # glibc's resolver talks to port 53 of /etc/resolv.conf: a namespace
        # of our own, its resolv.conf bind-mounted by `ip netns exec`
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        procs.append(dnsmasq(53, tmp, ns))
        record("getent_netns", 53, lambda: subprocess.run(
            ["ip", "netns", "exec", ns, "getent", "ahosts", "svc.zt.test"], stdout=subprocess.DEVNULL))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
