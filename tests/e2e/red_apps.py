"""Programs of tests/e2e/red.py (run with Debian's /usr/bin/python3). Each
renames its process (the thread-group leader's comm, which ztrace reports
as the process) so the service map has distinct names.

  red_apps.py back PORT LOG SLEEP_MS
      Flask: GET /work?fail=0|1 sleeps SLEEP_MS, answers 200, or 500 with
      fail=1. Logs {"ms": handler time, "status"} per request.
  red_apps.py front PORT BACK_URL
      Flask: GET /api?fail=X calls BACK_URL/work?fail=X (keep-alive) and
      answers with the back's status; any other path is a 404 without a
      call.
  red_apps.py driver URL N_OK N_FAIL N_404 LOG
      Sends N_OK GET /api?fail=0, N_FAIL GET /api?fail=1 and N_404
      GET /nope over one keep-alive connection, interleaved; logs each
      {"path", "status"}; exits 1 if any answer was not the expected one.
"""
import ctypes
import json
import sys
import time


def rename(name):
    ctypes.CDLL("libc.so.6").prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME


def back(port, log, sleep_ms):
    import logging
    from flask import Flask, request
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Flask("back")
    f = open(log, "a")

    @app.route("/work")
    def work():
        t0 = time.monotonic()
        time.sleep(sleep_ms / 1000.0)
        st = 500 if request.args.get("fail") == "1" else 200
        f.write(json.dumps({"ms": (time.monotonic() - t0) * 1000, "status": st}) + "\n")
        f.flush()
        return ("boom" if st == 500 else "ok"), st

    app.run(host="127.0.0.1", port=port, threaded=True)


def front(port, back_url):
    import logging
    import requests
    from flask import Flask, request
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Flask("front")
    s = requests.Session()

    @app.route("/api")
    def api():
        r = s.get(f"{back_url}/work", params={"fail": request.args.get("fail", "0")}, timeout=20)
        return r.text, r.status_code

    app.run(host="127.0.0.1", port=port, threaded=True)


def driver(url, n_ok, n_fail, n_404, log):
    import http.client
    import urllib.parse
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    plan = [("/api?fail=0", 200)] * n_ok + [("/api?fail=1", 500)] * n_fail + [("/nope", 404)] * n_404
    # interleave deterministically so errors are spread over the run
    plan = plan[::2] + plan[1::2]
    bad = 0
    with open(log, "w") as f:
        for path, want in plan:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            f.write(json.dumps({"path": path, "status": r.status}) + "\n")
            bad += r.status != want
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    role = sys.argv[1]
    rename("red-" + role)
    if role == "back":
        back(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    elif role == "front":
        front(int(sys.argv[2]), sys.argv[3])
    elif role == "driver":
        driver(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
