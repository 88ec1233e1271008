"""Starts a private rabbitmq-server for a test (as root; the server script
drops to the rabbitmq user, so its temp dir is given to that user): own
RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, HOME, node name, AMQP port, Erlang
distribution port and EPMD port, a default user with a password (so the
PLAIN response carries a real secret). Startup takes 20-30 s on the shared
test machine: start one per test file. stop() kills the node and its epmd
and removes the directory."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

USER, PASSWORD = "ztuser", "zt-amqp-s3cret"


class RabbitMQ:
    def __init__(self, port, dist_port, epmd_port, name="ztmqtt"):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="zt-rabbit-")
        for d in ("home", "mnesia", "log"):
            os.mkdir(os.path.join(self.dir, d))
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(f"default_user = {USER}\ndefault_pass = {PASSWORD}\nloopback_users = none\n"
                    f"listeners.tcp.default = 127.0.0.1:{port}\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", self.dir], check=True)
        self.env = dict(os.environ, HOME=os.path.join(self.dir, "home"),
                        RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                        RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
                        RABBITMQ_NODE_PORT=str(port), RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                        RABBITMQ_NODENAME=f"{name}@localhost", RABBITMQ_DIST_PORT=str(dist_port),
                        ERL_EPMD_PORT=str(epmd_port), ERL_EPMD_ADDRESS="127.0.0.1",
                        RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"))
        self.epmd_port = epmd_port
        self.log = open(os.path.join(self.dir, "server.out"), "w")
        # setpriv execs in place (su would fork into a session of its own):
        # the whole server tree stays below self.proc
        self.proc = subprocess.Popen(["setpriv", "--reuid", "rabbitmq", "--regid", "rabbitmq", "--init-groups",
                                      "/usr/lib/rabbitmq/bin/rabbitmq-server"], env=self.env, cwd=self.dir,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout=60):
        import socket
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return time.monotonic() - t0
            except OSError:
                time.sleep(0.3)
        with open(os.path.join(self.dir, "server.out")) as f:
            raise RuntimeError("rabbitmq-server did not come up: " + f.read()[-2000:])

    def _tree(self):
        """self.proc and its descendants, by pid (some start sessions of their own)."""
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    kids.setdefault(ppid, []).append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = [], [self.proc.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += kids.get(p, [])
        return out

    def _epmd(self):
        """epmd daemonizes away from the tree: the one on our epmd port."""
        r = subprocess.run(["ss", "-Hltnp", f"sport = :{self.epmd_port}"], capture_output=True, text=True)
        return {int(t[4:]) for t in r.stdout.replace(",", " ").replace(")", " ").split()
                if t.startswith("pid=") and t[4:].isdigit()}

    def stop(self):
        pids = self._tree() + sorted(self._epmd())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(10)
                break
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        for p in pids:  # stragglers (erl_child_setup, the disk monitor)
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
