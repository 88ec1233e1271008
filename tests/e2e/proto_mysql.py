"""End to end: the real BPF programs trace Debian's MariaDB server and its
real clients (python3-pymysql, the mariadb CLI, a binary-protocol client on
pymysql's packet layer) on loopback, port 16520; everything is asserted
through `ztrace spans --json`, filtered by that port (other tests may run at
the same time). A fresh random password is used: finding it in the store's
files can only mean this run stored it.

Also checks tracing that starts mid-connection: a pymysql connection is
opened before `ztrace up` and queried after it."""
import collections
import glob
import os
import secrets
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Recorder, Ztrace, check, finish, spans, wait_for  # noqa: E402
from mariadb_lib import MariaDB  # noqa: E402
import mysql_workload as w  # noqa: E402

PORT = 16520
PASSWORD = "pw-" + secrets.token_hex(8)
PREP = "SELECT name, price FROM items WHERE id = ?"
T0 = time.monotonic()


def by_conn(ss, tap):
    """client port -> that connection's spans on one side, in time order."""
    out = collections.defaultdict(list)
    for s in sorted(ss, key=lambda s: s["start_ns"]):
        if s["tap_side"] == tap:
            out[s["client_port"]].append(s)
    return out


def find_conn(conns, first_types):
    for port, ss in conns.items():
        if [s["request_type"] for s in ss][:len(first_types)] == first_types:
            return ss
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="zt-e2e-mysql-")
    srv = zt = early = rec = None
    try:
        srv = MariaDB(tmp, PORT, PASSWORD)
        early = w.connect(PORT, PASSWORD)  # before tracing starts
        data = os.path.join(tmp, "data")
        zt = Ztrace(data)
        # a recording alongside: redaction of the raw payloads
        rec = Recorder(os.path.join(tmp, "mysql.zrec"), "--port", str(PORT))
        rec.ready()
        cur = early.cursor()
        cur.execute("SELECT 'mid', 1")
        w.pymysql_session(PORT, PASSWORD)
        w.binary_protocol(PORT, PASSWORD)
        w.bad_login(PORT)
        w.cli_session(srv)
        w.big_results(PORT, PASSWORD)
        w.deprecate_eof(PORT, PASSWORD)
        w.cli_clear_password(srv)
        w.local_infile(PORT, PASSWORD)
        cur.execute("SELECT COUNT(*) FROM items WHERE id > 1")
        early.close()

        def mine():
            return [s for s in spans(data, "--protocol", "MySQL") if s["server_port"] == PORT]
        # 2 x (9 + 9 + 1 + 4 + 4 + 5 + 2 + 3) + 2 x 3 (the early connection)
        want = 2 * (9 + 9 + 1 + 4 + 4 + 5 + 2 + 3) + 2 * 3
        got, waited = wait_for(lambda: (lambda m: m if len(m) >= want else None)(mine()), 15, 0.3)
        ss = got or mine()
        check("all spans visible", len(ss) == want, f"{len(ss)} spans, want {want}")
        for tap, proc in (("client-process", None), ("server-process", "mariadbd")):
            conns = by_conn(ss, tap)
            p = find_conn(conns, ["DELETE", "INSERT", "SELECT", "SELECT", "PING", "INIT_DB"])
            check(f"{tap}: pymysql session", p is not None and len(p) == 9, f"{dict(conns)}"[:800])
            if p:
                e = p[3]
                check(f"{tap}: missing table: 1146 #42S02 client_error",
                      e["response_code"] == 1146 and e["response_status"] == "client_error" and
                      e["response_exception"].startswith("#42S02 Table 'ztdb.no_such_table' doesn't exist"), e)
                check(f"{tap}: SQL normalised, database set",
                      p[2]["request_resource"] == "SELECT id, name FROM items WHERE price > ? AND name <> ?" and
                      all(x["request_domain"] == "ztdb" for x in p), p[2])
                check(f"{tap}: rows counted", (p[2]["attributes"] or {}).get("mysql.rows") == "2", p[2])
                check(f"{tap}: endpoint names the table", p[2]["endpoint"] == "SELECT items", p[2]["endpoint"])
                if proc:
                    check(f"{tap}: process is {proc}", all(x["process"] == proc for x in p), p[0]["process"])
            b = find_conn(conns, ["STMT_PREPARE", "STMT_EXECUTE"])
            check(f"{tap}: binary protocol session", b is not None and len(b) == 9, f"{b}"[:600])
            if b:
                check(f"{tap}: COM_STMT_EXECUTE shows the prepared SQL",
                      [x["request_resource"] for x in b[1:3]] == [PREP, PREP], b[1:3])
                check(f"{tap}: unknown statement: 1243", b[3]["response_code"] == 1243, b[3])
                check(f"{tap}: COM_STMT_CLOSE one-way", "one_way" in b[4]["flags"], b[4])
            lg = find_conn(conns, ["LOGIN"])
            check(f"{tap}: failed login: 1045 #28000", lg is not None and lg[0]["response_code"] == 1045 and
                  lg[0]["response_exception"].startswith("#28000 Access denied"), lg)
            cl = find_conn(conns, ["SELECT", "SELECT", "SELECT", "QUIT"])
            check(f"{tap}: mariadb CLI: 3 statements, the last 1146",
                  cl is not None and cl[2]["response_code"] == 1146 and cl[1]["request_resource"] == "SELECT ?, ?",
                  cl)
            big = [c for c in conns.values() if c and c[0]["request_resource"].startswith("SELECT seq, REPEAT")]
            check(f"{tap}: big result truncated, next query paired",
                  len(big) == 1 and "truncated" in big[0][0]["flags"] and big[0][0]["resp_bytes"] > 2400 and
                  big[0][2]["request_resource"] == "SELECT ?" and not big[0][2]["flags"], big)
            de = find_conn(conns, ["SELECT", "STMT_PREPARE", "STMT_EXECUTE", "STMT_CLOSE"])
            check(f"{tap}: CLIENT_DEPRECATE_EOF results",
                  de is not None and (de[0]["attributes"] or {}).get("mysql.rows") == "3" and
                  (de[2]["attributes"] or {}).get("mysql.rows") == "1", de)
            li = find_conn(conns, ["LOAD", "DELETE", "QUIT"])
            check(f"{tap}: LOAD DATA LOCAL INFILE: file asked for, 2 rows loaded",
                  li is not None and (li[0]["attributes"] or {}).get("mysql.affected_rows") == "2" and
                  "mysql.local_infile" in (li[0]["attributes"] or {}), li)
            mid = [c for c in conns.values() if c and c[0]["request_resource"] == "SELECT ?, ?" and
                   c[0]["request_domain"] is None]
            check(f"{tap}: started mid-connection: queries still traced",
                  len(mid) == 1 and [x["request_type"] for x in mid[0]] == ["SELECT", "SELECT", "QUIT"] and
                  (mid[0][1]["attributes"] or {}).get("mysql.rows") == "1", mid or list(conns.values())[:3])
        check("no LOGIN span for successful logins", sum(s["request_type"] == "LOGIN" for s in ss) == 2)
        for tap in ("client-process", "server-process"):
            conns = by_conn(ss, tap)
            cp = [c for c in conns.values() if [x["request_resource"] for x in c] == ["SELECT ?", None]]
            check(f"{tap}: login with a clear password and an auth switch: SELECT 1 then QUIT",
                  len(cp) == 1 and (cp[0][0]["attributes"] or {}).get("mysql.rows") == "1", cp)
        rec.stop()
        with open(rec.path, "rb") as f:
            raw = f.read()
        check("recording made", len(raw) > 10000, f"{len(raw)} bytes")
        check("password (sent in clear once) in no byte of the recording", PASSWORD.encode() not in raw)
        zt.stop()
        zt = None
        leaked = []
        for f in glob.glob(os.path.join(data, "*")):
            with open(f, "rb") as fh:
                if PASSWORD.encode() in fh.read():
                    leaked.append(f)
        check("password in no file of the store", not leaked and glob.glob(os.path.join(data, "*.db")), leaked)
        check("whole test under 60 s", time.monotonic() - T0 < 60, f"{time.monotonic() - T0:.1f} s")
    except Exception as e:  # noqa: BLE001
        check("test ran", False, repr(e))
    finally:
        if zt:
            zt.stop()
        if rec:
            rec.stop()
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
