"""Captures psql_sessions.pcap (tcpdump on lo, as root): psql 15 and pgbench
against a PostgreSQL 15 server started by tests/e2e/pg_server.py on port
16403, with SCRAM, md5 and cleartext logins. gen_vectors.py turns it into
unit-test streams and fuzz seeds."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "e2e"))
from pg_server import PgServer  # noqa: E402
port=16403
with PgServer(port, 'sekrit-pw-42') as pg:
    pg.admin("create table t(a int, b text)")
    pg.add_user("mduser", "md5-pw-77", "md5")
    pg.add_user("clearuser", "clear-pw-55", "password")
    td=subprocess.Popen(["tcpdump","-i","lo","-s","0","-U","-w",os.path.join(HERE, "psql_sessions.pcap"),f"tcp port {port}"],stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    env=pg.env()
    pg.psql("select 1; select 2")
    pg.psql("select * from nope", check=False)
    pg.psql("drop table if exists zz; set application_name='x'")
    subprocess.run(["psql","-X","-q","-h","127.0.0.1","-p",str(port),"-U","postgres","-d","postgres","-c","COPY t FROM STDIN"],input="1\tone\n2\ttwo\n",text=True,env=env,check=True)
    for u,pw in (("mduser","md5-pw-77"),("clearuser","clear-pw-55")):
        e2=dict(env); e2["PGPASSWORD"]=pw
        subprocess.run(["psql","-X","-q","-h","127.0.0.1","-p",str(port),"-U",u,"-d","postgres","-c","select 3"],env=e2,check=True,capture_output=True)
    subprocess.run(["pgbench","-n","-S","-t","2","-c","1","-M","prepared","-h","127.0.0.1","-p",str(port),"-U","postgres","postgres"],env=env,capture_output=True)
    time.sleep(1)
    td.terminate(); td.wait()
