"""Re-records the PostgreSQL golden fixtures in this folder from the real
programs with the real BPF programs (`ztrace record --port 16420`, as root):

    /usr/bin/python3 tests/data/proto/postgresql/record.py   # after `make`

A PostgreSQL 15 server (Debian's, tests/e2e/pg_server.py) is started on
127.0.0.1:16420 with scram-sha-256 for postgres, md5 for md5user and
cleartext ("password") for clearuser; the passwords below are fixed so that
tests/replay/proto_postgresql.py can check that no recording holds them
(`ztrace record` redacts them). Each fixture is NAME.zrec + NAME.expected.jsonl
(`ztrace replay --no-store --json`, reviewed by hand). See README.md.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
from pg_server import PgServer  # noqa: E402

PORT = 16420
PW, MD5_PW, CLEAR_PW = "fixture-scram-pw-1", "fixture-md5-pw-2", "fixture-clear-pw-3"
PY = "/usr/bin/python3"


def record(name, action):
    path = os.path.join(HERE, name + ".zrec")
    if os.path.exists(path):
        os.unlink(path)
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT)], stderr=subprocess.PIPE, text=True)
    while True:
        line = rec.stderr.readline()
        if "recording to" in line:
            break
        if not line:
            raise RuntimeError("record did not start")
    action()
    time.sleep(1)
    rec.send_signal(2)
    err = rec.communicate(timeout=30)[1]
    print(f"{name}: {err.strip()}", file=sys.stderr)
    out = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"], check=True,
                         capture_output=True, text=True).stdout
    with open(os.path.join(HERE, name + ".expected.jsonl"), "w") as f:
        f.write(out)


def psql(pg, *cmds, stdin=None):
    args = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "-d", "postgres"]
    for c in cmds:
        args += ["-c", c]
    subprocess.run(args, env=pg.env(), input=stdin, text=True, capture_output=True)


def main():
    with PgServer(PORT, PW) as pg:
        pg.add_user("md5user", MD5_PW, "md5")
        pg.add_user("clearuser", CLEAR_PW, "password")
        pg.admin("CREATE TABLE t (a int PRIMARY KEY, b text)")
        subprocess.run(["runuser", "-u", "postgres", "--", "pgbench", "-i", "-q", "-s", "1", "-h", pg.sock, "-p",
                        str(PORT), "postgres"], check=True, capture_output=True)

        def psql_session():
            psql(pg, "select 1 as one; select 2")          # one connection each
            psql(pg, "select * from nope")
            psql(pg, "drop table if exists zz")
            psql(pg, "COPY t FROM STDIN", stdin="1\tone\n2\ttwo\n3\tthree\n")
        record("psql_session", psql_session)

        def psycopg2_logins():
            code = f"""
import psycopg2
for user, pw in (('md5user', {MD5_PW!r}), ('clearuser', {CLEAR_PW!r}), ('postgres', {PW!r})):
    c = psycopg2.connect(host='127.0.0.1', port={PORT}, user=user, password=pw, dbname='postgres')
    cur = c.cursor()
    cur.execute("SELECT %s::text || %s AS who", (user, '!'))
    c.commit()
    if user == 'postgres':
        cur.execute("INSERT INTO t VALUES (%s, %s)", (10, 'x'))
        try:
            cur.execute("INSERT INTO t VALUES (%s, %s)", (10, 'again'))
        except psycopg2.IntegrityError:
            c.rollback()
    c.close()
"""
            subprocess.run([PY, "-c", code], check=True)
        record("psycopg2_logins", psycopg2_logins)

        def pgbench_prepared():
            subprocess.run(["pgbench", "-n", "-S", "-t", "10", "-c", "1", "-M", "prepared", "-h", "127.0.0.1",
                            "-p", str(PORT), "-U", "postgres", "postgres"], env=pg.env(), check=True,
                           capture_output=True)
        record("pgbench_prepared", pgbench_prepared)

        with tempfile.TemporaryDirectory() as tmp:
            exe = os.path.join(tmp, "pg_pipeline")
            subprocess.run(["cc", "-O1", "-o", exe, os.path.join(ROOT, "tests", "e2e", "pg_pipeline.c"),
                            "-I/usr/include/postgresql", "-lpq"], check=True)
            record("libpq_pipeline", lambda: subprocess.run(
                [exe, f"host=127.0.0.1 port={PORT} user=postgres password={PW} dbname=postgres"], check=True,
                capture_output=True))

        record("big_result", lambda: psql(pg, "select g from generate_series(1, 20000) g", "select 'after'"))


main()
