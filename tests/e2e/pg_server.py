"""A throw-away PostgreSQL 15 server for tests (Debian's postgresql package):
initdb as user postgres into a temporary directory, password authentication
(scram-sha-256) for TCP connections, listening on 127.0.0.1:PORT only, its
socket in the temporary directory. Used by tests/e2e/proto_postgresql.py and
tests/data/proto/postgresql/record.py.

    with PgServer(port, password) as pg:
        pg.psql("SELECT 1")           # over TCP, with the password
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"


class PgServer:
    def __init__(self, port, password, md5_user=None):
        self.port = port
        self.password = password
        self.tmp = tempfile.mkdtemp(prefix="zt-pg-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.sock = os.path.join(self.tmp, "sock")
        os.makedirs(self.sock)
        pwfile = os.path.join(self.tmp, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        shutil.chown(self.tmp, "postgres", "postgres")
        shutil.chown(self.sock, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
        self.proc = None
        try:
            subprocess.run(["runuser", "-u", "postgres", "--", f"{BIN}/initdb", "-D", self.data, "-U", "postgres",
                            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                            "--no-sync"], check=True, capture_output=True, text=True)
            os.unlink(pwfile)
            self.proc = subprocess.Popen(
                ["runuser", "-u", "postgres", "--", f"{BIN}/postgres", "-D", self.data, "-p", str(port),
                 "-k", self.sock, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "ssl=off",
                 "-c", "max_connections=30", "-c", "shared_buffers=16MB"],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "server.log"), "w"),
                start_new_session=True)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def env(self):
        e = dict(os.environ)
        e["PGPASSWORD"] = self.password
        e.pop("PGHOST", None)
        return e

    def wait_ready(self, timeout=30):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            r = subprocess.run([f"{BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        with open(os.path.join(self.tmp, "server.log")) as f:
            raise RuntimeError("postgres did not start: " + f.read()[-2000:])

    def psql(self, sql, db="postgres", check=True, *extra):
        """Runs SQL with psql over TCP (password auth); returns the process."""
        return subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", db, "-v", "ON_ERROR_STOP=0", *extra, "-c", sql],
                              env=self.env(), capture_output=True, text=True, check=check)

    def admin(self, sql):
        """Runs SQL over the Unix socket (not traced as TCP: no spans)."""
        return subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", self.sock, "-p",
                               str(self.port), "-d", "postgres", "-c", sql], check=True, capture_output=True, text=True)

    def add_user(self, name, password, method):
        """A login role authenticated by METHOD (password = cleartext, md5)
        over TCP: a pg_hba line before the scram-sha-256 default."""
        enc = "md5" if method == "md5" else "scram-sha-256"
        self.admin(f"SET password_encryption = '{enc}'")
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", self.sock, "-p", str(self.port),
                        "-d", "postgres", "-c", f"SET password_encryption = '{enc}'",
                        "-c", f"CREATE USER {name} PASSWORD '{password}'"], check=True, capture_output=True)
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            old = f.read()
        with open(hba, "w") as f:
            f.write(f"host all {name} 127.0.0.1/32 {method}\n" + old)
        self.admin("SELECT pg_reload_conf()")
        time.sleep(0.3)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown, our own process group only
                self.proc.wait(20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
