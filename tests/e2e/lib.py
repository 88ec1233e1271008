"""Helpers for ztrace's end-to-end tests (stdlib only; run with Debian's
/usr/bin/python3). Each test prints "ok NAME" or "not ok NAME: why"; the
runner counts those lines."""
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZTRACE = os.path.join(ROOT, "build", "ztrace")

results = {"passed": 0, "failed": 0}
prefix = ""  # put before every check name, e.g. "[compat] ": says which run failed


def set_prefix(p):
    global prefix
    prefix = p


def check(name, cond, why=""):
    if cond:
        results["passed"] += 1
        print(f"ok {prefix}{name}", flush=True)
    else:
        results["failed"] += 1
        print(f"not ok {prefix}{name}: {why}", flush=True)
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def spans(data, *extra):
    out = run([ZTRACE, "spans", "--data", data, "--json", "--limit", "0", *extra]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(pred, timeout, step=0.1):
    """Polls pred() until it returns a truthy value or timeout; returns
    (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v or time.monotonic() - t0 >= timeout:
            return v, time.monotonic() - t0
        time.sleep(step)


def clear_stale_netns(prefix):
    """Deletes the namespaces named prefix + a pid that no longer runs: a run
    that was killed leaves its namespace and veth behind, still holding the
    fixed addresses the next run assigns (its connections then fail)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(prefix) + r"(\d+)\w*", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_port(host, port, timeout=10, netns=None):
    import socket
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if netns:
            r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c",
                                f"import socket; socket.create_connection(('{host}', {port}), 1)"],
                               capture_output=True)
            if r.returncode == 0:
                return True
        else:
            try:
                socket.create_connection((host, port), 1).close()
                return True
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"server on {host}:{port} did not come up")


class Background:
    """A ztrace command in the background, its stdout and stderr in `log`;
    ready() waits for the line it prints once its BPF programs are attached."""

    def __init__(self, cmd, log, ready_text):
        self.ready_text = ready_text
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self, timeout=30):
        wait_for(lambda: self.ready_text in self.text() or self.proc.poll() is not None, timeout)
        if self.ready_text not in self.text():
            raise RuntimeError(f"{self.proc.args[1]} did not start: " + self.text())

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Ztrace(Background):
    """`ztrace up` in the background for the duration of a test file."""

    def __init__(self, data, *args):
        self.data = data
        super().__init__([ZTRACE, "up", "--data", data, "--status-interval", "1", *args],
                         os.path.join(os.path.dirname(data), "ztrace-up.log"), "tracing this host")
        self.ready()


class Recorder(Background):
    """`ztrace record FILE ARGS...` in the background (stop() ends it)."""

    def __init__(self, path, *args):
        self.path = path
        super().__init__([ZTRACE, "record", path, *args], path + ".log", "recording to")


def huff_forms(text):
    """The byte strings the HPACK Huffman coding of `text` shows whatever
    bit offset it starts at (the bytes wholly inside its code)."""
    src = open(os.path.join(ROOT, "src", "proto", "hpack_tables.c")).read()
    body = src[src.index("hpack_huff_code[HPACK_HUFF_SYMS] = {"):]
    codes = re.findall(r"\{\s*(0x[0-9a-fA-F]+)\s*,\s*(\d+)\s*\}", body)[:257]
    bits = "".join(format(int(codes[ord(c)][0], 16), f"0{codes[ord(c)][1]}b") for c in text)
    forms = []
    for start in range(8):
        b = bits[start:]
        b = b[:len(b) - len(b) % 8]
        forms.append(bytes(int(b[i:i + 8], 2) for i in range(0, len(b), 8)))
    return forms


def finish():
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)
