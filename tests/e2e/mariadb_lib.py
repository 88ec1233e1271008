"""Starts a private MariaDB server for the MySQL tests (e2e and fixture
recording): its own data dir under a temp dir, its own port on 127.0.0.1,
its own unix socket; stop() kills it. Stdlib only (Debian's python3)."""
import os
import shutil
import signal
import subprocess
import time

USER = "zt_app"
DB = "ztdb"


def _which(*names):
    for n in names:
        p = shutil.which(n) or (os.path.exists(f"/usr/sbin/{n}") and f"/usr/sbin/{n}")
        if p:
            return p
    raise RuntimeError(f"none of {names} installed")


class MariaDB:
    def __init__(self, tmp, port, password):
        self.tmp, self.port, self.password = tmp, port, password
        self.data = os.path.join(tmp, "mysql-data")
        self.sock = os.path.join(tmp, "mysql.sock")
        self.log = open(os.path.join(tmp, "mariadbd.log"), "w+")
        subprocess.run([_which("mariadb-install-db", "mysql_install_db"), "--no-defaults",
                        f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", "--user=root"], check=True, capture_output=True)
        self.proc = subprocess.Popen(
            [_which("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.data}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--socket={self.sock}", "--user=root", "--skip-log-bin",
             "--skip-name-resolve", f"--pid-file={tmp}/mariadbd.pid", "--innodb-buffer-pool-size=16M",
             "--skip-ssl"], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + self.text())
            if os.path.exists(self.sock) and self.sql_socket("SELECT 1").returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("mariadbd did not come up: " + self.text())
        # an application user with a password, over TCP, mysql_native_password
        r = self.sql_socket(
            f"CREATE DATABASE {DB}; CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password "
            f"USING PASSWORD('{password}'); GRANT ALL ON {DB}.* TO '{USER}'@'127.0.0.1'; "
            f"CREATE TABLE {DB}.items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(8,2));")
        if r.returncode != 0:
            raise RuntimeError("setup SQL failed: " + r.stderr)

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def sql_socket(self, sql):
        """Runs SQL as root over the unix socket (not traced by the tests'
        port filters)."""
        return subprocess.run(["mariadb", "--no-defaults", f"--socket={self.sock}", "-uroot", "-e", sql],
                              capture_output=True, text=True)

    def cli(self, sql, user=USER, password=None, db=DB, extra=()):
        """The mariadb CLI over TCP as the application user."""
        pw = self.password if password is None else password
        return subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(self.port), "-u", user,
                               f"-p{pw}", "--skip-ssl", *extra, db, "-e", sql], capture_output=True, text=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
