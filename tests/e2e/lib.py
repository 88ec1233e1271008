"""Helpers for ztrace's end-to-end tests (stdlib only; run with Debian's
/usr/bin/python3). Each test prints "ok NAME" or "not ok NAME: why"; the
runner counts those lines."""
import json
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


class Ztrace:
    """`ztrace up` in the background for the duration of a test file."""

    def __init__(self, data, *args):
        self.data = data
        self.log = open(os.path.join(os.path.dirname(data), "ztrace-up.log"), "w+")
        self.proc = subprocess.Popen([ZTRACE, "up", "--data", data, "--status-interval", "1", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        ok, _ = wait_for(lambda: "tracing this host" in self.text() or self.proc.poll() is not None, 30)
        if self.proc.poll() is not None:
            raise RuntimeError("ztrace up exited: " + self.text())

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


def finish():
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)
