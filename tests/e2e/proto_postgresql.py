"""End to end: PostgreSQL 15 (Debian's server, started here on 127.0.0.1:16410
with scram-sha-256, md5 and cleartext password logins) traced by `ztrace up`
with the real BPF programs, driven by psql, python3-psycopg2, pgbench and a
libpq pipeline-mode client (pg_pipeline.c, compiled here). Everything is
asserted through `ztrace spans --json` on spans whose server port is ours
(other tests run at the same time), on both sides: client-process (the
client's own process) and server-process (the postgres backend).

pgbench accounting: every transaction of pgbench's built-in scripts is a
fixed list of statements (tpcb-like: BEGIN, 3 UPDATEs, SELECT, INSERT, END;
select-only: one SELECT), so the spans of pgbench's benchmark connections
must be exactly transactions x statements (+ one PREPARE per connection with
-M prepared), on each side. If not, the check says so unless ztrace's own
drop counters (ring_full, queue_full) explain the missing ones.

ZT_CAPTURE_PATH=fast|compat runs it on one kernel capture path (passed to
`ztrace up --capture-path`); proto_postgresql.sh runs the default (auto) once
to stay within the 60 s budget."""
import collections
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Ztrace, check, finish, set_prefix, spans  # noqa: E402
from pg_server import PgServer  # noqa: E402

PORT = 16410
PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
T0 = time.monotonic()
# fresh secrets each run: finding one in a file can only mean this run stored it
PW = "scram-" + secrets.token_hex(8)
MD5_PW = "md5pw-" + secrets.token_hex(8)
CLEAR_PW = "clearpw-" + secrets.token_hex(8)
TXNS, CLIENTS = 200, 2
# ZT_CAPTURE_PATH=fast|compat picks the kernel capture path (default: auto);
# check names then say which path ran
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")

tmp = tempfile.mkdtemp(prefix="zt-e2e-pg-")
data = os.path.join(tmp, "ztrace-data")
pg = zt = mid = None


def pgbench(*args):
    r = subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", *args, "postgres"],
                       env=pg.env(), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"pgbench {args}: {r.stderr}")
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", r.stdout)
    return int(m.group(1)) if m else -1


def psycopg2_session():
    code = f"""
import psycopg2, threading, time
def conn(user, pw):
    return psycopg2.connect(host='127.0.0.1', port={PORT}, user=user, password=pw, dbname='postgres')
for user, pw in (('md5user', {MD5_PW!r}), ('clearuser', {CLEAR_PW!r})):
    c = conn(user, pw)
    cur = c.cursor()
    cur.execute("SELECT %s::int + %s AS py_sum", (40, 2))
    assert cur.fetchone()[0] == 42
    c.commit()
    c.close()
c = conn('postgres', {PW!r})
cur = c.cursor()
cur.execute("INSERT INTO e2e_t (a, b) VALUES (%s, %s)", (7, 'py'))
try:
    cur.execute("INSERT INTO e2e_t (a, b) VALUES (%s, %s)", (7, 'dup'))
except psycopg2.IntegrityError:
    c.rollback()
named = c.cursor(name='e2e_cursor')          # a server-side cursor: DECLARE / FETCH
named.itersize = 500
named.execute("SELECT g FROM generate_series(1, 1200) g")
assert sum(1 for _ in named) == 1200
named.close()
c.commit()
c2 = conn('postgres', {PW!r})
c2.autocommit = True
cur2 = c2.cursor()
threading.Timer(0.3, c2.cancel).start()     # a CancelRequest on its own connection
try:
    cur2.execute("SELECT pg_sleep(5)")
except psycopg2.extensions.QueryCanceledError:
    pass
c2.close()
c.close()
"""
    subprocess.run([PY, "-c", code], check=True, timeout=30, capture_output=True, text=True)


MIDCONN = f"""
import psycopg2, select, sys
c = psycopg2.connect(host='127.0.0.1', port={PORT}, user='postgres', password={PW!r}, dbname='postgres')
c.autocommit = True
cur = c.cursor()
cur.execute("LISTEN e2e_chan")
print("ready", flush=True)
sys.stdin.readline()
cur.execute("SELECT 1 AS midconn_one")
try:
    cur.execute("SELECT * FROM midconn_missing")
except psycopg2.errors.UndefinedTable:
    pass
c2 = psycopg2.connect(host='127.0.0.1', port={PORT}, user='postgres', password={PW!r}, dbname='postgres')
c2.autocommit = True
c2.cursor().execute("NOTIFY e2e_chan, 'hello'")   # an async NotificationResponse to c, while idle
select.select([c], [], [], 5)
c.poll()
cur.execute("SELECT 2 AS after_notify")
print("notifies", len(c.notifies), cur.fetchone()[0], flush=True)
"""

try:
    pg = PgServer(PORT, PW)
    pg.add_user("md5user", MD5_PW, "md5")
    pg.add_user("clearuser", CLEAR_PW, "password")
    pg.admin("CREATE TABLE e2e_t (a int PRIMARY KEY, b text)")
    # pgbench's tables, made over the Unix socket before tracing starts
    subprocess.run(["runuser", "-u", "postgres", "--", "pgbench", "-i", "-q", "-s", "1", "-h", pg.sock, "-p",
                    str(PORT), "postgres"], check=True, capture_output=True, timeout=60)
    pipeline_bin = os.path.join(tmp, "pg_pipeline")
    cc = subprocess.run(["cc", "-O1", "-o", pipeline_bin, os.path.join(HERE, "pg_pipeline.c"),
                         "-I/usr/include/postgresql", "-lpq"], capture_output=True, text=True)
    check("pg_pipeline.c builds", cc.returncode == 0, cc.stderr)

    # a connection opened (and LISTENing) before tracing starts: ztrace
    # sees it mid-connection, without its startup
    mid = subprocess.Popen([PY, "-c", MIDCONN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    check("mid-connection client ready", mid.stdout.readline().strip() == "ready")

    zt = Ztrace(data, *(["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []))
    mid.stdin.write("go\n")
    mid.stdin.flush()
    mid_out = mid.communicate(timeout=20)[0]

    # ---- psql: simple queries, an error, COPY, a big result, then a query
    # on the same connection after the big result (each -c is one Query)
    pg.psql("select 1 as e2e_one; select 2")
    err = pg.psql("select * from e2e_nope", check=False)
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "-d", "postgres",
                    "-c", "COPY e2e_t FROM STDIN"], input="".join(f"{i}\tcopy{i}\n" for i in range(100, 400)),
                   text=True, env=pg.env(), check=True, capture_output=True)
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "-d", "postgres",
                    "-c", "select g, repeat('x', 20) from generate_series(1, 30000) g", "-c", "select 'after_big'"],
                   env=pg.env(), check=True, capture_output=True)
    psycopg2_session()
    pipe = subprocess.run([pipeline_bin, f"host=127.0.0.1 port={PORT} user=postgres password={PW} dbname=postgres"],
                          capture_output=True, text=True, timeout=20) if cc.returncode == 0 else None
    # ---- pgbench: simple protocol (tpcb-like) and prepared (select-only)
    done_simple = pgbench("-n", "-t", str(TXNS), "-c", str(CLIENTS), "-M", "simple")
    done_prep = pgbench("-n", "-S", "-t", str(TXNS), "-c", str(CLIENTS), "-M", "prepared")
    done_ext = pgbench("-n", "-S", "-t", str(TXNS), "-c", str(CLIENTS), "-M", "extended")
    time.sleep(1.0)
    rc = zt.stop()
    log = zt.text()
    check("ztrace up exits 0", rc == 0, log[-2000:])
    drops = {k: int(v) for k, v in re.findall(r"(ring_full|queue_full|map_full) (\d+)", log.split("drops:")[-1])}

    all_spans = [s for s in spans(data) if s["l7_protocol"] == "PostgreSQL" and s["server_port"] == PORT]
    cli = [s for s in all_spans if s["tap_side"] == "client-process"]
    srv = [s for s in all_spans if s["tap_side"] == "server-process"]
    check("both sides traced", cli and srv, f"{len(cli)} client, {len(srv)} server spans")

    def find(side, pred):
        return [s for s in side if pred(s)]

    def res(text):
        return lambda s: s["request_resource"] and text in s["request_resource"]

    # ---- psql
    for name, side, proc in (("client", cli, "psql"), ("server", srv, "postgres")):
        two = find(side, res("select ? as e2e_one; select ?"))
        check(f"{name}: two statements in one Query are one span", len(two) == 1 and
              two[0]["request_type"] == "SELECT" and two[0]["response_status"] == "ok" and
              (two[0]["attributes"] or {}).get("pg.commands") == "2" and two[0]["process"] == proc and
              two[0]["request_domain"] == "postgres", two)
        e = find(side, res("e2e_nope"))
        check(f"{name}: missing table -> 42P01 with its message", len(e) == 1 and
              e[0]["response_status"] == "client_error" and
              e[0]["response_exception"] == '42P01: relation "e2e_nope" does not exist', e)
        cp = find(side, lambda s: s["request_type"] == "COPY")
        check(f"{name}: COPY FROM STDIN one span, 300 rows", len(cp) == 1 and
              (cp[0]["attributes"] or {}).get("pg.rows") == "300" and cp[0]["response_status"] == "ok", cp)
        big = find(side, res("repeat(?, ?) from generate_series"))
        check(f"{name}: a result past the capture is one span, flagged truncated",
              len(big) == 1 and big[0]["response_status"] == "ok" and "truncated" in (big[0]["flags"] or []) and
              big[0]["resp_bytes"] > 30000 * 20, big)
        after = find(side, res("select ?"))
        after = [s for s in after if s["request_resource"] == "select ?"]
        check(f"{name}: the query after the big result is in sync", len(after) == 1 and
              after[0]["response_status"] == "ok" and
              not {"truncated", "lost_sync"} & set(after[0]["flags"] or []) and
              (after[0]["attributes"] or {}).get("pg.rows") == "1", after)
        if name == "client":
            check("client: psql's error reached psql", "e2e_nope" in err.stderr, err.stderr)

    # ---- psycopg2
    for name, side in (("client", cli), ("server", srv)):
        s42 = find(side, res("SELECT ?::int + ? AS py_sum"))
        check(f"{name}: psycopg2 md5 and cleartext logins traced, no startup spans",
              len(s42) == 2 and {s["request_domain"] for s in s42} == {"postgres"}, s42)
        dup = find(side, lambda s: s["response_exception"] and s["response_exception"].startswith("23505:"))
        check(f"{name}: unique violation -> 23505 client_error", len(dup) == 1 and
              dup[0]["response_status"] == "client_error" and dup[0]["request_type"] == "INSERT", dup)
        fetch = find(side, lambda s: s["request_type"] == "FETCH")
        # 500 rows (~7 KB) per FETCH: past the capture, so their row counts
        # are unknown (the CommandComplete is not captured); the last is empty
        check(f"{name}: server-side cursor FETCHes (1200 rows by 500)", len(fetch) == 4 and
              all(s["response_status"] == "ok" for s in fetch) and
              (fetch[-1]["attributes"] or {}).get("pg.rows") == "0" and
              all("truncated" in (s["flags"] or []) for s in fetch[:3]), fetch)
        decl = find(side, lambda s: s["request_type"] == "DECLARE")
        check(f"{name}: DECLARE CURSOR span", len(decl) == 1, decl)
        canc = find(side, lambda s: s["request_type"] == "SELECT" and (s["request_resource"] or "") == "SELECT pg_sleep(?)")
        check(f"{name}: cancelled query -> 57014 server_error", len(canc) == 1 and
              canc[0]["response_status"] == "server_error" and
              (canc[0]["response_exception"] or "").startswith("57014:"), canc)
    cancels = find(srv, lambda s: s["request_type"] == "CANCEL") + find(cli, lambda s: s["request_type"] == "CANCEL")
    check("CancelRequest is a one-way span (client and server side)", len(cancels) == 2 and
          all("one_way" in (s["flags"] or []) for s in cancels), cancels)
    startup = [s for s in all_spans if not s["request_type"] or s["request_type"] in ("STARTUP", "AUTH")]
    check("no span without a request type (startup makes none)", not startup, startup[:3])

    # ---- mid-connection, with a notification between requests
    check("mid-connection client got its notification", "notifies 1 2" in mid_out, mid_out)
    for name, side in (("client", cli), ("server", srv)):
        one = find(side, res("SELECT ? AS midconn_one"))
        port = one[0]["client_port"] if len(one) == 1 else None
        conn = [s for s in side if s["client_port"] == port]
        types = [(s["request_resource"], s["response_status"]) for s in sorted(conn, key=lambda s: s["start_ns"])]
        check(f"{name}: traced from mid-connection: 3 spans, the notification is not one", types == [
            ("SELECT ? AS midconn_one", "ok"), ("SELECT * FROM midconn_missing", "client_error"),
            ("SELECT ? AS after_notify", "ok")], types)
        check(f"{name}: mid-connection: database unknown (no startup seen), not invented",
              all(s["request_domain"] is None for s in conn), [s["request_domain"] for s in conn])

    # ---- pipeline mode: 3 Syncs in flight, the 2nd fails, FIFO pairing holds
    if pipe is not None:
        check("pg_pipeline ran", pipe.returncode == 0 and pipe.stdout.count("PGRES_PIPELINE_SYNC") == 3,
              pipe.stdout + pipe.stderr)
        for name, side in (("client", cli), ("server", srv)):
            p = find(side, res("pipelined_one")) + find(side, res("pipeline_missing_table")) + \
                find(side, res("? AS x"))
            ok = len(p) == 3 and p[0]["response_status"] == "ok" and p[1]["response_status"] == "client_error" \
                and (p[1]["response_exception"] or "").startswith("42P01:") and p[2]["response_status"] == "ok"
            check(f"{name}: pipelined batches paired in order", ok, p)

    # ---- pgbench accounting
    lost = drops.get("ring_full", 0) + drops.get("queue_full", 0)

    def account(name, got, want):
        if got == want:
            check(name, True)
        else:
            check(name + (" (explained by ztrace's drop counters)" if lost >= want - got > 0 else ""),
                  lost >= want - got > 0, f"{got} spans, want {want}; drops {drops}")

    check("pgbench simple processed everything", done_simple == TXNS * CLIENTS, done_simple)
    check("pgbench prepared processed everything", done_prep == TXNS * CLIENTS, done_prep)
    check("pgbench extended processed everything", done_ext == TXNS * CLIENTS, done_ext)
    tpcb = {"BEGIN": 1, "UPDATE": 3, "SELECT": 1, "INSERT": 1, "END": 1}
    # the benchmark connections of the simple run: pgbench's that ran BEGIN
    # (its first connection only reads the scale); the server side of a
    # connection has the same client port
    ports = {s["client_port"] for s in cli if s["request_type"] == "BEGIN" and s["process"] == "pgbench"}
    check("pgbench -M simple: one connection per client", len(ports) == CLIENTS, ports)
    for name, side in (("client", cli), ("server", srv)):
        bench = [s for s in side if s["client_port"] in ports]
        count = collections.Counter(s["request_type"] for s in bench)
        account(f"{name}: pgbench -M simple: {TXNS * CLIENTS} transactions x 7 statements = spans",
                len(bench), TXNS * CLIENTS * 7)
        check(f"{name}: pgbench -M simple: per statement", all(count[k] == v * TXNS * CLIENTS for k, v in tpcb.items()),
              dict(count))
        check(f"{name}: pgbench -M simple: all ok and paired", all(s["response_status"] == "ok" for s in bench),
              collections.Counter(s["response_status"] for s in bench))
        sel = [s for s in side if s["request_resource"] == "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"]
        # -M extended: an unnamed statement per transaction (Parse/Bind/
        # Describe/Execute/Sync); -M prepared: named, parsed once
        ext_ports = {s["client_port"] for s in sel if s["request_type"] == "PREPARE"}
        ext = [s for s in sel if s["request_type"] == "SELECT" and s["client_port"] not in ext_ports]
        account(f"{name}: pgbench -M extended: {TXNS * CLIENTS} unnamed-statement batches = spans", len(ext),
                TXNS * CLIENTS)
        sel = [s for s in sel if s["client_port"] in ext_ports]
        ex = [s for s in sel if s["request_type"] == "SELECT"]
        prep = [s for s in sel if s["request_type"] == "PREPARE"]
        account(f"{name}: pgbench -M prepared: {TXNS * CLIENTS} executes show their statement's SQL",
                len(ex), TXNS * CLIENTS)
        check(f"{name}: pgbench -M prepared: one PREPARE per connection", len(prep) == CLIENTS, len(prep))
        check(f"{name}: pgbench -M prepared: all ok", all(s["response_status"] == "ok" for s in ex + prep),
              collections.Counter(s["response_status"] for s in ex + prep))

    # ---- credentials: nowhere in what ztrace stored
    leaked = []
    for root, _, files in os.walk(data):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                b = fh.read()
            leaked += [f"{f}: {w}" for w in (PW, MD5_PW, CLEAR_PW) if w.encode() in b]
    check("no password in the ztrace data files", not leaked, leaked)
    check("whole test under 60 s", time.monotonic() - T0 < 60, f"{time.monotonic() - T0:.1f} s")
except Exception as e:  # noqa: BLE001
    check("test ran", False, repr(e))
finally:
    if mid and mid.poll() is None:
        mid.kill()
        mid.wait()
    if zt:
        zt.stop()
    if pg:
        pg.stop()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
