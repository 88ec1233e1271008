"""Re-records the replay fixtures in this folder from real programs, with the
real BPF programs (`ztrace record`, as root). Run with Debian's python3:

    sudo /usr/bin/python3 tests/data/replay/record-fixtures.py

It writes NAME.zrec (the raw event stream) and NAME.expected.jsonl (what
`ztrace replay --no-store --json` made of it, to be reviewed by hand before
committing). NAME.facts.json is written by hand from what the clients below
do, independently of ztrace, and is checked against the spans by
tests/replay/replay_test.py. A recording holds only events whose local or
remote port is the fixture's port (`record --port`).

Fixtures:
  curl_nginx_keepalive  one curl process fetching 3 URLs from nginx-light
                        over one keep-alive connection (200, 404, 200 with a
                        numeric path segment; Authorization and traceparent
                        headers), then `curl -I` (HEAD) on a second one.
  python_http_server    curl fetching 3 URLs from python3 -m http.server,
                        which answers HTTP/1.0 and closes after each one
                        (3 connections).
  pipelined_nginx       a python3 client writing 3 requests in ONE send()
                        to nginx and reading the 3 responses.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE, wait_port  # noqa: E402
PY = "/usr/bin/python3"
NGINX_PORT = 18431
PY_PORT = 18432


def record(name, port, action):
    path = os.path.join(HERE, name + ".zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(port)],
                           stderr=subprocess.PIPE, text=True)
    seen = ""
    while "recording to" not in seen:  # printed once the programs are attached
        line = rec.stderr.readline()
        if not line:
            raise RuntimeError(seen + rec.stderr.read())
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


def curl(*args):
    subprocess.run(["curl", "-s", "-o", "/dev/null", *args], check=True)


def pipelined():
    s = socket.create_connection(("127.0.0.1", NGINX_PORT))
    reqs = b"".join(
        f"GET {p} HTTP/1.1\r\nHost: fixture\r\nUser-Agent: pipeline\r\n{extra}\r\n".encode()
        for p, extra in (("/index.html", ""), ("/item/42", ""), ("/missing", "Connection: close\r\n")))
    s.sendall(reqs)  # one syscall, three requests; the last asks nginx to close
    s.settimeout(5)
    while s.recv(65536):
        pass
    s.close()


def main():
    tmp = tempfile.mkdtemp(prefix="zt-fixtures-")
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html>fixture</html>\n")
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""user root; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
daemon off; events {{ worker_connections 64; }}
http {{ access_log {tmp}/access.log; client_body_temp_path {tmp}/body;
  server {{ listen 127.0.0.1:{NGINX_PORT}; root {www};
    location /users/ {{ return 200 "user\\n"; }}
    location /item/ {{ return 200 "item\\n"; }}
    location /missing {{ return 404; }} }} }}
""")
    procs = [subprocess.Popen(["nginx", "-c", conf]),
             subprocess.Popen([PY, "-m", "http.server", str(PY_PORT), "--bind", "127.0.0.1"], cwd=www,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_port("127.0.0.1", NGINX_PORT)
        wait_port("127.0.0.1", PY_PORT)
        base = f"http://127.0.0.1:{NGINX_PORT}"
        record("curl_nginx_keepalive", NGINX_PORT, lambda: (
            curl(f"{base}/index.html", "-o", "/dev/null", f"{base}/missing", "-o", "/dev/null",
                 f"{base}/users/12345", "-o", "/dev/null", "-H", "Authorization: Bearer s3cret",
                 "-H", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            curl("-I", f"{base}/index.html")))
        pb = f"http://127.0.0.1:{PY_PORT}"
        record("python_http_server", PY_PORT, lambda: [
            curl(f"{pb}/index.html"), curl(f"{pb}/nope?x=1"), curl(f"{pb}/")])
        record("pipelined_nginx", NGINX_PORT, pipelined)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
