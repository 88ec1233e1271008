"""Re-records the MySQL golden fixtures from the real programs, with the
real BPF programs (`ztrace record --port`, as root). Run with Debian's
python3 from the repository root:

    /usr/bin/python3 tests/data/proto/mysql/record.py

It starts a private MariaDB (Debian's mariadbd, own data dir, port 16510,
user zt_app with a mysql_native_password password), then records one
fixture per client session (see tests/e2e/mysql_workload.py for exactly
what each one sends) and writes NAME.zrec and NAME.expected.jsonl
(`ztrace replay NAME.zrec --no-store --json`, to be reviewed by hand).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
from mariadb_lib import MariaDB  # noqa: E402
import mysql_workload as w  # noqa: E402

PORT = 16510
PASSWORD = "fixture-pw-Zq81x"  # checked absent from every .zrec by proto_mysql.py


def record(name, action):
    path = os.path.join(HERE, name + ".zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT), "--force"],
                           stderr=subprocess.PIPE, text=True)
    line = rec.stderr.readline()
    while line and "recording to" not in line:
        line = rec.stderr.readline()
    if "recording to" not in line:
        raise RuntimeError(line + rec.stderr.read())
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


def main():
    tmp = tempfile.mkdtemp(prefix="zt-myfix-")
    srv = None
    try:
        srv = MariaDB(tmp, PORT, PASSWORD)
        record("pymysql_session", lambda: w.pymysql_session(PORT, PASSWORD))
        record("big_results", lambda: w.big_results(PORT, PASSWORD))
        record("binary_protocol", lambda: w.binary_protocol(PORT, PASSWORD))
        record("bad_login", lambda: w.bad_login(PORT))
        record("deprecate_eof", lambda: w.deprecate_eof(PORT, PASSWORD))
        record("cursor_fetch", lambda: w.cursor_fetch(PORT, PASSWORD))  # items holds 3 rows by now
        record("mariadb_cli", lambda: w.cli_session(srv))
        record("local_infile", lambda: w.local_infile(PORT, PASSWORD))
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
