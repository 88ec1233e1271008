"""`ztrace up --data` on a 2 MB tmpfs while wrk drives nginx: the disk fills
within seconds. ztrace must keep tracing, count the spans it cannot store
(store_failed, in the status line), warn once, recover when the tmpfs is
grown (spans made afterwards are stored) and stop on SIGTERM within 2 s
with exit status 0, its final line accounting for the lost spans. Then
retention: bad --retention/--max-size values are refused, and a span older
than --retention 2s is dropped and counted."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Ztrace, check, finish, spans, wait_for, wait_port  # noqa: E402

PORT = 18493
tmp = tempfile.mkdtemp(prefix="zt-fulldisk-")
mnt = os.path.join(tmp, "mnt")
os.makedirs(mnt)
os.makedirs(os.path.join(tmp, "www"))
with open(os.path.join(tmp, "www", "index.html"), "w") as f:
    f.write("hello\n")
conf = os.path.join(tmp, "nginx.conf")
with open(conf, "w") as f:
    f.write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{ access_log off; server {{ listen 127.0.0.1:{PORT}; root {tmp}/www; }} }}
""")
nginx = None
zt = None
mounted = False
try:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)
    mounted = True
    nginx = subprocess.Popen(["nginx", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port("127.0.0.1", PORT)
    data = os.path.join(mnt, "data")
    zt = Ztrace(data)
    # ~25k spans/s at ~300 bytes each: 2 MB is full within a second
    subprocess.run(["wrk", "-c4", "-t1", "-d5s", f"http://127.0.0.1:{PORT}/index.html"], capture_output=True)
    text, _ = wait_for(lambda: "store_failed" in zt.text() and zt.text(), 5)
    check("the status line counts store_failed", text and re.search(r"lost: .*store_failed \d+", text),
          zt.text()[-800:])
    check("the failure is told once, with the store's reason",
          zt.text().count("storing spans failed") == 1 and "full" in zt.text(), zt.text()[-800:])
    check("ztrace keeps running on a full disk", zt.proc.poll() is None, zt.text()[-800:])
    # room again: the store is retried (every 8 s at most) and works
    subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
    text, waited = wait_for(lambda: "storing spans again" in zt.text(), 20, 0.5)
    check("the store works again once there is room", text, zt.text()[-800:])
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{PORT}/after-room"], check=True)
    got, _ = wait_for(lambda: [s for s in spans(data, "--path", "/after-room")], 10, 0.5)
    check("spans made after the recovery are stored", got and len(got) == 2, f"{got}")
    # and a full disk again, then SIGTERM: out within 2 s
    subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=64k"], capture_output=True)  # ENOSPC
    subprocess.run(["wrk", "-c4", "-t1", "-d2s", f"http://127.0.0.1:{PORT}/index.html"], capture_output=True)
    t0 = time.monotonic()
    zt.proc.send_signal(signal.SIGTERM)
    try:
        rc = zt.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    print(f"# stopped {took:.2f} s after SIGTERM", flush=True)
    check("SIGTERM on a full disk: out within 2 s, exit status 0", rc == 0 and took <= 2.0,
          f"rc={rc} took={took:.2f}s " + zt.text()[-600:])
    m = re.search(r"(\d+) spans stored.*store_failed (\d+)", zt.text())
    check("the final line says how many spans were stored and how many were not",
          m and int(m.group(1)) > 0 and int(m.group(2)) > 0, zt.text()[-600:])

    # Retention: spans older than --retention are dropped and counted
    for args, what in ((["--retention", "500ms"], "--retention under 1s"), (["--retention", "1x"], "--retention 1x"),
                       (["--max-size", "10XB"], "--max-size 10XB"), (["--max-size", "1KB"], "--max-size 1KB")):
        r = subprocess.run([ZTRACE, "up", "--data", os.path.join(tmp, "bad"), *args], capture_output=True, text=True)
        check(f"up refuses {what} with a clear message", r.returncode == 2 and args[0] in r.stderr
              and not os.path.exists(os.path.join(tmp, "bad")), r.stderr)
    data2 = os.path.join(tmp, "data2")
    zt = Ztrace(data2, "--retention", "2s", "--max-size", "50MB")
    check("up says what it keeps", "keeping spans for 2s, at most 50 MB" in zt.text(), zt.text()[-300:])
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{PORT}/old"], check=True)
    got, _ = wait_for(lambda: spans(data2, "--path", "/old"), 5, 0.2)
    check("a span is stored", got and len(got) == 2, f"{got}")
    gone, waited = wait_for(lambda: not spans(data2, "--path", "/old"), 8, 0.5)
    print(f"# dropped {waited:.1f} s after being stored", flush=True)
    check("it is dropped once older than --retention", gone, "")
    rc = zt.stop()
    m = re.search(r"retention dropped (\d+) old spans", zt.text())
    check("the final lines count the spans retention dropped", rc == 0 and m and int(m.group(1)) >= 2,
          zt.text()[-500:])
finally:
    if zt and zt.proc.poll() is None:
        zt.proc.kill()
    if nginx:
        nginx.terminate()
        nginx.wait()
    if mounted:
        subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(tmp, ignore_errors=True)

finish()
