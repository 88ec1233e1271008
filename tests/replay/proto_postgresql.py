"""Golden replay of the PostgreSQL fixtures (tests/data/proto/postgresql/,
see its README): each recording must give exactly its golden spans, and the
facts below, written from what the clients did (record.py), must hold
independently of the golden files."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "postgresql")
PASSWORDS = [b"fixture-scram-pw-1", b"fixture-md5-pw-2", b"fixture-clear-pw-3"]


def sides(spans):
    c = [s for s in spans if s["tap_side"] == "client-process"]
    v = [s for s in spans if s["tap_side"] == "server-process"]
    return (("client", c), ("server", v))


def rows(s):
    return (s["attributes"] or {}).get("pg.rows")


def psql_session(spans):
    for side, ss in sides(spans):
        by = {s["request_resource"]: s for s in ss}
        check(f"psql_session {side}: 4 spans, one per query", len(ss) == 4, [s["request_resource"] for s in ss])
        two = by.get("select ? as one; select ?")
        check(f"psql_session {side}: two statements, one span", two and two["response_status"] == "ok" and
              rows(two) == "2" and two["request_domain"] == "postgres", two)
        e = by.get("select * from nope")
        check(f"psql_session {side}: 42P01", e and e["response_status"] == "client_error" and
              e["response_exception"] == '42P01: relation "nope" does not exist', e)
        cp = by.get("COPY t FROM STDIN")
        # psql sends the 3 lines as one CopyData, then CopyDone: 5 + 20 + 5 bytes
        check(f"psql_session {side}: COPY of 3 rows", cp and rows(cp) == "3" and
              (cp["attributes"] or {}).get("pg.copy_in_bytes") == str(5 + len("1\tone\n2\ttwo\n3\tthree\n") + 5), cp)


def psycopg2_logins(spans):
    for side, ss in sides(spans):
        who = [s for s in ss if s["request_resource"] == "SELECT ?::text || ? AS who"]
        check(f"psycopg2_logins {side}: md5, cleartext and SCRAM sessions each traced", len(who) == 3 and
              all(s["response_status"] == "ok" and rows(s) == "1" for s in who), who)
        n = collections.Counter(s["request_type"] for s in ss)
        check(f"psycopg2_logins {side}: BEGIN x4, COMMIT x3, INSERT x2, ROLLBACK x1, nothing else",
              n == {"BEGIN": 4, "SELECT": 3, "COMMIT": 3, "INSERT": 2, "ROLLBACK": 1}, dict(n))
        dup = [s for s in ss if s["response_status"] != "ok"]
        check(f"psycopg2_logins {side}: the duplicate key is 23505, a client error", len(dup) == 1 and
              dup[0]["response_status"] == "client_error" and dup[0]["response_exception"].startswith("23505: "), dup)


def pgbench_prepared(spans):
    sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
    for side, ss in sides(spans):
        ex = [s for s in ss if s["request_resource"] == sql and s["request_type"] == "SELECT"]
        pr = [s for s in ss if s["request_resource"] == sql and s["request_type"] == "PREPARE"]
        check(f"pgbench_prepared {side}: 10 transactions = 10 executes with their SQL", len(ex) == 10 and
              all(rows(s) == "1" and s["response_status"] == "ok" for s in ex), len(ex))
        check(f"pgbench_prepared {side}: prepared once", len(pr) == 1, len(pr))
        check(f"pgbench_prepared {side}: 2 scale queries on the first connection, nothing else",
              len(ss) == 13, len(ss))


def libpq_pipeline(spans):
    for side, ss in sides(spans):
        order = [(s["request_resource"], s["response_status"]) for s in sorted(ss, key=lambda s: s["start_ns"])]
        check(f"libpq_pipeline {side}: 3 Syncs in flight paired in order", order == [
            ("SELECT $1::int + ? AS pipelined_one", "ok"),
            ("SELECT * FROM pipeline_missing_table", "client_error"),
            ("SELECT ? AS x", "ok")], order)


def big_result(spans):
    for side, ss in sides(spans):
        big = [s for s in ss if s["request_resource"] == "select g from generate_series(?, ?) g"]
        after = [s for s in ss if s["request_resource"] == "select ?"]
        check(f"big_result {side}: the big result is one span, truncated, all its bytes counted",
              len(big) == 1 and "truncated" in big[0]["flags"] and big[0]["resp_bytes"] > 20000 * 11, big)
        check(f"big_result {side}: the next query is back in sync", len(after) == 1 and rows(after[0]) == "1" and
              not {"truncated", "lost_sync"} & set(after[0]["flags"] or []), after)


FACTS = {"psql_session": psql_session, "psycopg2_logins": psycopg2_logins, "pgbench_prepared": pgbench_prepared,
         "libpq_pipeline": libpq_pipeline, "big_result": big_result}

names = [os.path.basename(b) for b in golden.fixtures("postgresql")]
check("all fixtures present", sorted(names) == sorted(FACTS), names)
for base in golden.fixtures("postgresql"):
    name = os.path.basename(base)
    spans = [s for s in golden.check_fixture(base) if s["l7_protocol"] == "PostgreSQL"]
    with open(base + ".zrec", "rb") as f:
        raw = f.read()
    check(f"{name}: no password in the recording", not any(p in raw for p in PASSWORDS))
    if name in FACTS:
        FACTS[name](spans)
finish()
