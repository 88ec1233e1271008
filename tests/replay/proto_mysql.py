"""Golden replay of the MySQL fixtures (tests/data/proto/mysql, recorded by
record.py there from pymysql, a raw binary-protocol client on pymysql's
packet layer and the mariadb CLI against Debian's MariaDB). Besides the
byte-for-byte golden check, asserts what the clients did (written from
tests/e2e/mysql_workload.py, not from ztrace's output)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "mysql")
PASSWORD = b"fixture-pw-Zq81x"
PREP = "SELECT name, price FROM items WHERE id = ?"


def side(spans, tap):
    return [s for s in spans if s["tap_side"] == tap]


def types(spans):
    return [s["request_type"] for s in spans]


def both_sides(name, spans, want_types):
    for tap in ("client-process", "server-process"):
        got = side(spans, tap)
        check(f"{name}: {tap} commands in order", types(got) == want_types, f"{types(got)}")
        check(f"{name}: {tap} all MySQL, on port 16510",
              all(s["l7_protocol"] == "MySQL" and s["server_port"] == 16510 for s in got))
    return side(spans, "client-process")


def main():
    for base in golden.fixtures("mysql"):
        with open(base + ".zrec", "rb") as f:
            check(f"{os.path.basename(base)}: password absent from the recording", PASSWORD not in f.read())
    s = golden.check_fixture(os.path.join(D, "pymysql_session"))
    c = both_sides("pymysql_session", s, ["DELETE", "INSERT", "SELECT", "SELECT", "PING", "INIT_DB", "UPDATE",
                                          "SELECT", "QUIT"])
    if len(c) == 9:
        check("pymysql_session: literals normalised",
              c[2]["request_resource"] == "SELECT id, name FROM items WHERE price > ? AND name <> ?",
              c[2]["request_resource"])
        check("pymysql_session: 2 rows", (c[2]["attributes"] or {}).get("mysql.rows") == "2", c[2])
        check("pymysql_session: endpoints name the table",
              [x["endpoint"] for x in c[:3]] == ["DELETE items", "INSERT items", "SELECT items"] and
              c[4]["endpoint"] == "PING", [x["endpoint"] for x in c])
        check("pymysql_session: 3 rows inserted", (c[1]["attributes"] or {}).get("mysql.affected_rows") == "3")
        e = c[3]
        check("pymysql_session: missing table is 1146 #42S02 client_error",
              e["response_code"] == 1146 and e["response_exception"].startswith("#42S02 Table 'ztdb.no_such_table'")
              and e["response_status"] == "client_error", e)
        check("pymysql_session: database from the handshake", all(x["request_domain"] == "ztdb" for x in c))
        check("pymysql_session: QUIT is one-way", "one_way" in c[8]["flags"])
        check("pymysql_session: no LOGIN span on success", "LOGIN" not in types(s))
        check("pymysql_session: others ok",
              all(x["response_status"] == "ok" for i, x in enumerate(c) if i not in (3, 8)))

    s = golden.check_fixture(os.path.join(D, "big_results"))
    c = both_sides("big_results", s, ["SELECT", "SELECT", "SELECT", "QUIT"])
    if len(c) == 4:
        check("big_results: 60-row result past the capture: truncated, all bytes counted",
              "truncated" in c[0]["flags"] and c[0]["resp_bytes"] > 60 * 40, c[0])
        check("big_results: 3 KiB statement truncated, all bytes counted",
              "truncated" in c[1]["flags"] and c[1]["req_bytes"] > 3000 and
              c[1]["request_resource"].startswith("SELECT id FROM items WHERE id IN (?, ?"), c[1])
        check("big_results: the next query still pairs",
              c[2]["request_resource"] == "SELECT ?" and (c[2]["attributes"] or {}).get("mysql.rows") == "1"
              and not c[2]["flags"], c[2])

    s = golden.check_fixture(os.path.join(D, "binary_protocol"))
    c = both_sides("binary_protocol", s, ["STMT_PREPARE", "STMT_EXECUTE", "STMT_EXECUTE", "STMT_EXECUTE",
                                          "STMT_CLOSE", "PREPARE", "EXECUTE", "DEALLOCATE", "QUIT"])
    if len(c) == 9:
        sid = (c[0]["attributes"] or {}).get("mysql.stmt_id")
        check("binary_protocol: prepare gives a statement id", sid is not None and c[0]["response_status"] == "ok")
        check("binary_protocol: execute endpoint", c[1]["endpoint"] == "STMT_EXECUTE items", c[1]["endpoint"])
        check("binary_protocol: executes show the prepared SQL",
              all(x["request_resource"] == PREP and (x["attributes"] or {}).get("mysql.rows") == "1"
                  for x in c[1:3]), c[1:3])
        check("binary_protocol: unknown statement is 1243",
              c[3]["response_code"] == 1243 and c[3]["request_resource"] is None, c[3])
        check("binary_protocol: close is one-way with its SQL",
              "one_way" in c[4]["flags"] and c[4]["request_resource"] == PREP, c[4])
        check("binary_protocol: SQL-level PREPARE normalised", c[5]["request_resource"] == "PREPARE s1 FROM ?")

    s = golden.check_fixture(os.path.join(D, "bad_login"))
    c = both_sides("bad_login", s, ["LOGIN"])
    if c:
        check("bad_login: 1045 #28000, user and database, no password",
              c[0]["response_code"] == 1045 and c[0]["response_exception"].startswith("#28000 Access denied")
              and c[0]["request_resource"] == "zt_app" and c[0]["request_domain"] == "ztdb", c[0])

    s = golden.check_fixture(os.path.join(D, "deprecate_eof"))
    c = both_sides("deprecate_eof", s, ["SELECT", "STMT_PREPARE", "STMT_EXECUTE", "STMT_CLOSE", "QUIT"])
    if len(c) == 5:
        check("deprecate_eof: OK-terminated results counted",
              (c[0]["attributes"] or {}).get("mysql.rows") == "3" and
              (c[2]["attributes"] or {}).get("mysql.rows") == "1" and c[2]["request_resource"] == PREP, c)
        check("deprecate_eof: prepare without EOFs ends at its last definition",
              c[1]["response_status"] == "ok" and c[2]["response_status"] == "ok")

    s = golden.check_fixture(os.path.join(D, "cursor_fetch"))
    c = both_sides("cursor_fetch", s, ["STMT_PREPARE", "STMT_EXECUTE", "STMT_FETCH", "STMT_FETCH", "QUIT"])
    if len(c) == 5:
        q = "SELECT id, name FROM items ORDER BY id"
        check("cursor_fetch: the cursor's execute ends at its EOF, without rows",
              c[1]["request_resource"] == q and c[1]["response_status"] == "ok" and
              (c[1]["attributes"] or {}).get("mysql.rows") is None, c[1])
        check("cursor_fetch: fetches show the SQL and their rows (2, then 1)",
              [x["request_resource"] for x in c[2:4]] == [q, q] and
              [(x["attributes"] or {}).get("mysql.rows") for x in c[2:4]] == ["2", "1"], c[2:4])

    s = golden.check_fixture(os.path.join(D, "local_infile"))
    c = both_sides("local_infile", s, ["LOAD", "DELETE", "QUIT"])
    if len(c) == 3:
        a = c[0]["attributes"] or {}
        check("local_infile: the file asked for, the rows loaded",
              a.get("mysql.local_infile", "").startswith("/tmp/zt-infile-") and a.get("mysql.affected_rows") == "2"
              and c[0]["response_status"] == "ok", c[0])
        check("local_infile: the next command pairs", (c[1]["attributes"] or {}).get("mysql.affected_rows") == "2")

    s = golden.check_fixture(os.path.join(D, "mariadb_cli"))
    c = both_sides("mariadb_cli", s, ["SELECT", "SELECT", "SELECT", "QUIT"])
    if len(c) == 4:
        check("mariadb_cli: rows and error", (c[0]["attributes"] or {}).get("mysql.rows") == "1" and
              c[1]["request_resource"] == "SELECT ?, ?" and c[2]["response_code"] == 1146, c)
    finish()


if __name__ == "__main__":
    main()
