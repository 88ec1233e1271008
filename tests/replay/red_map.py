"""RED rollups from recorded event streams (deterministic, no root needed):
each fixture of tests/data/replay (a recording, the spans it must give, and
facts.json written from what the recorded programs did) is replayed into a
store, and `ztrace map --json` must give the client -> server edge and the
server node with the request and error counts of the facts, p50/p99 within
the histogram's bound (1/32) of the true quantiles of the golden spans'
durations, and the same answer on a second replay."""
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from lib import ROOT, ZTRACE, check, finish  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data", "replay")


def replay_map(rec, tmp, tag):
    d = os.path.join(tmp, tag)
    r = subprocess.run([ZTRACE, "replay", rec, "--data", d, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    out = subprocess.run([ZTRACE, "map", "--data", d, "--since", "36500d", "--json"], capture_output=True,
                         text=True, check=True).stdout
    rows = [json.loads(x) for x in out.splitlines() if x.strip()]
    for x in rows:
        x.pop("rate_per_s", None)  # requests / (now - since): depends on when it runs
    return rows


def quantile(vals, q):
    v = sorted(vals)
    return v[max(1, math.ceil(q * len(v))) - 1]


def main():
    tmp = tempfile.mkdtemp(prefix="zt-red-replay-")
    try:
        for facts_path in sorted(glob.glob(os.path.join(DATA, "*.facts.json"))):
            name = os.path.basename(facts_path)[: -len(".facts.json")]
            facts = json.load(open(facts_path))
            rec = os.path.join(DATA, name + ".zrec")
            spans = [json.loads(x) for x in open(os.path.join(DATA, name + ".expected.jsonl")) if x.strip()]
            a = replay_map(rec, tmp, name + "-a")
            b = replay_map(rec, tmp, name + "-b")
            if not check(f"{name}: replays into a store", a is not None and b is not None, ""):
                continue
            check(f"{name}: the same map from a second replay", a == b, f"{a} vs {b}")
            cli, srv = facts["client-process"], facts["server-process"]
            n = facts["exchanges"]
            c4 = sum(1 for c in facts["codes"] if 400 <= c < 500)
            c5 = sum(1 for c in facts["codes"] if c >= 500)
            edges = [x for x in a if x["type"] == "edge" and x["client"] == cli and x["server"] == srv]
            e = edges[0] if len(edges) == 1 else None
            check(f"{name}: one edge {cli} -> {srv} (HTTP)", e is not None and e["protocol"] == "HTTP", f"{a}")
            if e:
                check(f"{name}: edge carries {n} requests, {c4} client errors, {c5} server errors",
                      e["requests"] == n and e["error_classes"]["client_error"] == c4 and
                      e["error_classes"]["server_error"] == c5, f"{e}")
                durs = [s["duration_ns"] for s in spans if s["tap_side"] == "client-process"]
                for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
                    truth = quantile(durs, q) / 1e6
                    check(f"{name}: edge {key} ({e[key]:.4f}) within 1/32 of the spans' ({truth:.4f})",
                          abs(e[key] - truth) <= truth / 32, "")
            nodes = [x for x in a if x["type"] == "node" and x["service"] == srv]
            check(f"{name}: node {srv} serves {n} requests with {c4 + c5} errors",
                  len(nodes) == 1 and nodes[0]["requests"] == n and nodes[0]["errors"] == c4 + c5, f"{nodes}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
