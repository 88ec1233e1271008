"""The programs tests/e2e/traces_e2e.py builds its topologies from; each one
logs the ground truth of what it did, one JSON object per line, to its LOG.

  traces_apps.py flask NAME HOST PORT LOG DOWNSTREAM [pool]
      A Flask service (threaded=True: one thread per incoming connection,
      HTTP/1.1 keep-alive). For each request GET /NAME?c=ID with header
      "X-Test-Call: ID" it calls every downstream service in turn through
      one shared requests.Session (keep-alive), each call with a fresh id
      C2 as GET /CALLEE?c=C2 and "X-Test-Call: C2", then answers 200.
      With "pool" the downstream calls run in parallel on a thread pool
      (so no call is made on the thread that serves the request).
  traces_apps.py aio NAME HOST PORT LOG DOWNSTREAM
      The same service on one asyncio event loop (one thread for every
      request in flight), downstream calls in parallel (asyncio.gather),
      each after a pause of 0-5 ms, one new connection per call.
  traces_apps.py driver HOST PORT PATH N CONC LOG
      N requests GET PATH?c=ID with "X-Test-Call: ID", CONC at a time, each
      of CONC threads on one keep-alive connection; exits 1 unless all
      were answered 200.

DOWNSTREAM is a JSON list of [callee name, "http://HOST:PORT"].

A service logs one line per incoming request after answering it:
  {"svc", "pid", "tid" (the native id of the thread that served it),
   "call" (the X-Test-Call header), "qcall" (the c= of the path),
   "out": [{"callee", "call", "status", "tid" (thread that made the call)}]}
The driver logs {"driver": pid} once, then {"call", "status"} per request.
The X-Test-Call header is the ground truth carrier: ztrace is never told
about it (it only reads traceparent, b3, uber-trace-id, sw8, X-Request-ID).
The c= in the path makes each exchange's spans easy to find; ztrace does
not link by query strings."""
import json
import os
import random
import sys
import threading
import uuid

lock = threading.Lock()
logf = None


def log(obj):
    with lock:
        logf.write(json.dumps(obj) + "\n")
        logf.flush()


def flask_main(name, host, port, downstream, pool):
    import logging

    import requests
    from flask import Flask, request

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Flask(name)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64)
    session.mount("http://", adapter)
    executor = None
    if pool:
        from concurrent.futures import ThreadPoolExecutor
        executor = ThreadPoolExecutor(4)

    def call_one(callee_base):
        callee, base = callee_base
        c2 = uuid.uuid4().hex
        r = session.get(f"{base}/{callee}?c={c2}", headers={"X-Test-Call": c2}, timeout=20)
        r.content
        return {"callee": callee, "call": c2, "status": r.status_code, "tid": threading.get_native_id()}

    @app.route(f"/{name}")
    def handle():
        out = list(executor.map(call_one, downstream)) if executor else [call_one(d) for d in downstream]
        log({"svc": name, "pid": os.getpid(), "tid": threading.get_native_id(),
             "call": request.headers.get("X-Test-Call"), "qcall": request.args.get("c"), "out": out})
        return {"svc": name}

    app.run(host=host, port=port, threaded=True)


def aio_main(name, host, port, downstream):
    import asyncio
    from urllib.parse import parse_qs, urlsplit

    async def call_one(callee, base):
        h, p = urlsplit(base).hostname, urlsplit(base).port
        c2 = uuid.uuid4().hex
        # a pause first: other requests are read on this thread meanwhile, as
        # on a busy event loop (the last request read is seldom this one's)
        await asyncio.sleep(random.uniform(0, 0.005))
        r, w = await asyncio.open_connection(h, p)
        w.write(f"GET /{callee}?c={c2} HTTP/1.1\r\nHost: {h}:{p}\r\nX-Test-Call: {c2}\r\n"
                f"Connection: close\r\n\r\n".encode())
        await w.drain()
        resp = await r.read()
        w.close()
        status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else 0
        return {"callee": callee, "call": c2, "status": status, "tid": threading.get_native_id()}

    async def serve(r, w):
        while True:
            try:
                head = await r.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break  # the client closed
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            out = await asyncio.gather(*(call_one(c, b) for c, b in downstream))
            body = json.dumps({"svc": name}).encode()
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body)
            await w.drain()
            log({"svc": name, "pid": os.getpid(), "tid": threading.get_native_id(),
                 "call": hdrs.get("x-test-call"), "qcall": parse_qs(urlsplit(target).query).get("c", [None])[0],
                 "out": list(out)})
        w.close()

    async def main():
        srv = await asyncio.start_server(serve_safe, host, port, backlog=128)
        async with srv:
            await srv.serve_forever()

    async def serve_safe(r, w):
        try:
            await serve(r, w)
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()

    asyncio.run(main())


def driver_main(host, port, path, n, conc):
    import http.client
    import queue

    log({"driver": os.getpid()})
    todo = queue.Queue()
    for _ in range(n):
        todo.put(uuid.uuid4().hex)
    bad = []

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=20)
        while True:
            try:
                c = todo.get_nowait()
            except queue.Empty:
                break
            conn.request("GET", f"{path}?c={c}", headers={"X-Test-Call": c})
            r = conn.getresponse()
            r.read()
            log({"call": c, "status": r.status})
            if r.status != 200:
                bad.append(c)
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind in ("flask", "aio"):
        name, host, port, logpath, downstream = sys.argv[2:7]
        logf = open(logpath, "a")
        downstream = json.loads(downstream)
        if kind == "flask":
            flask_main(name, host, int(port), downstream, sys.argv[7:8] == ["pool"])
        else:
            aio_main(name, host, int(port), downstream)
    elif kind == "driver":
        host, port, path, n, conc, logpath = sys.argv[2:8]
        logf = open(logpath, "a")
        driver_main(host, int(port), path, int(n), int(conc))
    else:
        sys.exit(f"unknown program {kind}")
