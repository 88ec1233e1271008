"""tls bench: the cost the TLS uprobes add per library call, for OpenSSL
(libssl.so.3: SSL_write, SSL_read) and for Node (its static OpenSSL).

A = `ztrace up --no-tls` (syscalls traced, no TLS probes), B = `ztrace up`
(TLS probes on): the difference is what the probes add, the uprobe traps,
the BPF programs and the binding of the calls to their sockets. Runs A B B A
rounds, medians per mode. Times are the calling thread's (OpenSSL) or the
process's (Node) CPU time, so a busy machine's run-queue waits do not count.

  tls_calls (bench/tls_calls.c, built here): one thread, client and server
  SSL objects on loopback TCP, 64-byte SSL_write / SSL_read pairs.
  tls_node_calls.js: a Node tls server and client in one process, 64-byte
  ping-pong; 2 SSL_write + 4 SSL_read per round trip (node's TLSWrap reads
  until WANT_READ)."""
import os
import re
import subprocess
import tempfile

import benchlib as bl

NODE = "/usr/bin/node"
SIZE = 64


def build():
    os.makedirs(bl.OUT, exist_ok=True)
    out = os.path.join(bl.OUT, "tls_calls")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", out, os.path.join(bl.HERE, "tls_calls.c"),
                    "-lssl", "-lcrypto", "-lpthread"], check=True)
    return out


def sample(binp, cert, key, iters, node_iters):
    out = subprocess.run([binp, cert, key, str(iters), str(SIZE)], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    m = re.search(r"write_ns (\d+) read_ns (\d+)", out)
    res = {"write": int(m.group(1)), "read": int(m.group(2))}
    out = subprocess.run([NODE, os.path.join(bl.HERE, "tls_node_calls.js"), cert, key, str(node_iters), str(SIZE)],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    res["node_rt"] = int(re.search(r"rt_cpu_ns (\d+)", out).group(1))
    return res


def main():
    binp = build()
    iters, node_iters, rounds = (500, 500, 1) if bl.QUICK else (20000, 20000, 2)
    tmp = tempfile.mkdtemp(prefix="zt-tls-bench-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    _lock = bl.bench_lock()
    finals = {}

    def under(args, label):
        def run():
            z = bl.Ztrace(*args)
            try:
                return sample(binp, cert, key, iters, node_iters)
            finally:
                finals[label] = z.stop()["final"]
        return run

    ra, rb = bl.abba(rounds, under(["--no-tls"], "A"), under([], "B"))
    med = {m: {k: bl.median([r[k] for r in rs]) for k in ("write", "read", "node_rt")}
           for m, rs in (("A", ra), ("B", rb))}
    add_w = med["B"]["write"] - med["A"]["write"]
    add_r = med["B"]["read"] - med["A"]["read"]
    add_node = med["B"]["node_rt"] - med["A"]["node_rt"]
    rows = [{"mode": "A: ztrace up --no-tls", "SSL_write ns": med["A"]["write"], "SSL_read ns": med["A"]["read"],
             "node round trip ns": med["A"]["node_rt"], "samples": len(ra)},
            {"mode": "B: ztrace up (TLS probes)", "SSL_write ns": med["B"]["write"], "SSL_read ns": med["B"]["read"],
             "node round trip ns": med["B"]["node_rt"], "samples": len(rb)}]
    figures = [
        bl.fig("OpenSSL: added CPU ns per SSL_write", round(add_w), "ns"),
        bl.fig("OpenSSL: added CPU ns per SSL_read", round(add_r), "ns"),
        bl.fig("Node: added CPU ns per round trip (2 SSL_write + 4 SSL_read)", round(add_node), "ns"),
        bl.fig("Node: added CPU ns per call (round trip / 6)", round(add_node / 6), "ns"),
    ]
    notes = [
        f"{iters} OpenSSL round trips ({SIZE}-byte SSL_write + SSL_read each way) and {node_iters} Node ping-pong "
        f"round trips per sample; {rounds} A B B A rounds (a fresh `ztrace up` per sample); medians.",
        "Each OpenSSL call does one ciphertext syscall on loopback TCP (SSL_read: header and body reads), which "
        "ztrace traces in both modes; B adds the uprobe and uretprobe traps, the per-thread state and the binding, "
        "and emits the plaintext record instead of the ciphertext one.",
        "Other processes on the machine (other ztrace instances among them) may trace these syscalls too: the same "
        "in A and B.",
        "A (--no-tls): " + finals.get("A", "")[:300],
        "B: " + finals.get("B", "")[:300],
    ]
    bl.write_result("tls", "added cost per TLS library call (OpenSSL, Node)", rows, figures, notes,
                    {"iters": iters, "node_iters": node_iters, "rounds": rounds, "size": SIZE})


if __name__ == "__main__":
    main()
