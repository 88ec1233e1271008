"""Safe by default, as a user and a reviewer would try it: the data dir and
its files are its owner's only (another user cannot read the spans), an
unprivileged `ztrace up` says what it lacks and creates nothing, a
second `ztrace up` on the same data dir is refused naming the first,
`ztrace record` refuses an existing file and a symbolic link (even with
--force), creates its file 0600, and refuses --duration 0; a secret header
split across two send()s is redacted in the recording, and --redact-bodies
keeps no body byte."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Recorder, Ztrace, check, finish, wait_port  # noqa: E402

SPLIT_PORT = 18467

tmp = tempfile.mkdtemp(prefix="zt-safety-")
os.chmod(tmp, 0o755)
zt = None


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


try:
    data = os.path.join(tmp, "data")
    zt = Ztrace(data)
    check("data dir is 0700", mode(data) == 0o700, oct(mode(data)))
    check("ztrace.db is 0600", mode(os.path.join(data, "ztrace.db")) == 0o600,
          oct(mode(os.path.join(data, "ztrace.db"))))
    check("lock file is 0600 and names the pid",
          mode(os.path.join(data, "ztrace.lock")) == 0o600
          and open(os.path.join(data, "ztrace.lock")).read().strip() == str(zt.proc.pid), "")
    r = subprocess.run(["runuser", "-u", "nobody", "--", ZTRACE, "spans", "--data", data, "--json"],
                       capture_output=True, text=True)
    check("another user cannot read the spans", r.returncode != 0 and "ermission denied" in r.stderr,
          f"rc={r.returncode} {r.stderr}")
    r = subprocess.run([ZTRACE, "up", "--data", data, "--status-interval", "0"], capture_output=True, text=True,
                       timeout=60)
    check("a second ztrace up on the same data dir is refused, naming the first",
          r.returncode == 1 and f"pid {zt.proc.pid}" in r.stderr and "in use" in r.stderr,
          f"rc={r.returncode} {r.stderr}")
    # HTTP over a Unix-domain socket is not traced, and ztrace says so
    # (--help, and the count of such syscalls when it stops)
    import re
    import socket
    usock = os.path.join(tmp, "http.sock")
    us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    us.bind(usock)
    us.listen(1)
    uc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    uc.connect(usock)
    peer, _ = us.accept()
    for _ in range(20):
        uc.sendall(b"GET /unix HTTP/1.1\r\nHost: x\r\n\r\n")
        peer.recv(4096)
        peer.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        uc.recv(4096)
    for x in (uc, peer, us):
        x.close()
    check("the first ztrace up exits 0", zt.stop() == 0, zt.text()[-500:])
    m = re.search(r"(\d+) on Unix-domain sockets not traced", zt.text())
    check("ztrace up counts the Unix-domain socket syscalls it does not trace", m and int(m.group(1)) >= 80,
          zt.text()[-600:])
    r = subprocess.run([ZTRACE, "up", "--help"], capture_output=True, text=True)
    check("ztrace up --help says Unix-domain sockets are not traced", "Not traced: Unix-domain" in r.stdout, "")
    zt = None

    # an existing data dir readable by others is made private, with a warning
    old = os.path.join(tmp, "old")
    os.makedirs(old)
    os.chmod(old, 0o755)
    zt = Ztrace(old)
    check("an existing open data dir is made private, with a warning",
          mode(old) == 0o700 and "made private" in zt.text(), zt.text()[-500:])
    zt.stop()
    zt = None

    # without privileges: one clear line, nothing created
    nodata = os.path.join(tmp, "nobody-data")
    r = subprocess.run(["runuser", "-u", "nobody", "--", ZTRACE, "up", "--data", nodata], capture_output=True,
                       text=True, timeout=60)
    check("ztrace up without privileges says which and creates nothing",
          r.returncode == 1 and "CAP_BPF" in r.stderr and not os.path.exists(nodata), f"rc={r.returncode} {r.stderr}")

    # ztrace record
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious")
    link = os.path.join(tmp, "x.zrec")
    os.symlink(victim, link)
    for args, what in ((["record", link], "a symbolic link"), (["record", link, "--force"], "a link, --force")):
        r = subprocess.run([ZTRACE, *args, "--duration", "1s"], capture_output=True, text=True, timeout=60)
        check(f"record refuses {what}", r.returncode == 1 and open(victim).read() == "precious",
              f"rc={r.returncode} {r.stderr}")
    existing = os.path.join(tmp, "e.zrec")
    with open(existing, "w") as f:
        f.write("keep")
    r = subprocess.run([ZTRACE, "record", existing, "--duration", "1s"], capture_output=True, text=True,
                       timeout=60)
    check("record refuses an existing file", r.returncode == 1 and "--force" in r.stderr
          and open(existing).read() == "keep", f"rc={r.returncode} {r.stderr}")
    r = subprocess.run([ZTRACE, "record", os.path.join(tmp, "n.zrec"), "--duration", "0s"], capture_output=True,
                       text=True, timeout=60)
    check("record --duration 0 is refused", r.returncode == 2 and "--duration" in r.stderr,
          f"rc={r.returncode} {r.stderr}")
    new = os.path.join(tmp, "new.zrec")
    r = subprocess.run([ZTRACE, "record", new, "--duration", "1s", "--port", "1"], capture_output=True, text=True,
                       timeout=60)
    check("record creates its file 0600", r.returncode == 0 and mode(new) == 0o600,
          f"rc={r.returncode} {r.stderr} {oct(mode(new)) if os.path.exists(new) else 'missing'}")
    r = subprocess.run([ZTRACE, "record", existing, "--duration", "1s", "--port", "1", "--force"],
                       capture_output=True, text=True, timeout=60)
    check("record --force overwrites a regular file, 0600", r.returncode == 0 and mode(existing) == 0o600
          and open(existing, "rb").read(8) == b"ZTRACE\x00R", f"rc={r.returncode} {r.stderr}")

    # Redaction on the reassembled stream (issue 13's reproduction): the
    # header name split between two send()s, the body of the answer kept
    # unless --redact-bodies.
    import socket
    import threading

    def serve(ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nBODY-PAYLOAD-7")
            c.close()

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", SPLIT_PORT))
    ls.listen(8)
    threading.Thread(target=serve, args=(ls,), daemon=True).start()
    wait_port("127.0.0.1", SPLIT_PORT)

    def split_request():
        s = socket.create_connection(("127.0.0.1", SPLIT_PORT))
        s.sendall(b"GET /split?token=SECRET9 HTTP/1.1\r\nHost: x\r\nAuthori")
        import time
        time.sleep(0.05)
        s.sendall(b"zation: Bearer SECRET1\r\nCookie: sid=SEC")
        time.sleep(0.05)
        s.sendall(b"RET2\r\n\r\n")
        while s.recv(4096):
            pass
        s.close()

    for args, what in (([], "split"), (["--redact-bodies"], "bodies")):
        path = os.path.join(tmp, f"{what}.zrec")
        rec = Recorder(path, "--port", str(SPLIT_PORT), *args)
        rec.ready()
        split_request()
        import time
        time.sleep(0.5)
        rc = rec.stop()
        raw = open(path, "rb").read()
        check(f"record ({what}): the split request was captured", rc == 0 and b"zation: " in raw
              and b"GET /split" in raw, f"rc={rc} {rec.text()[-300:]}")
        check(f"record ({what}): no secret split across send()s survives",
              b"SECRET1" not in raw and b"RET2" not in raw and b"Bearer" not in raw and b"SECRET9" not in raw,
              rec.text()[-300:])
        r = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"], capture_output=True,
                           text=True)
        check(f"record ({what}): the redacted recording still replays into the exchange",
              r.returncode == 0 and '"/split?token=*******"' in r.stdout, r.stderr + r.stdout[:500])
        if what == "split":
            check("record keeps bodies by default", b"BODY-PAYLOAD-7" in raw, "")
        else:
            check("record --redact-bodies keeps no body byte", b"BODY-PAYLOAD-7" not in raw
                  and b"Content-Length: 14" in raw, "")
    ls.close()
finally:
    if zt:
        zt.stop()
    shutil.rmtree(tmp, ignore_errors=True)

finish()
