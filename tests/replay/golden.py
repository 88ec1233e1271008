"""Shared checks for golden replay fixtures (a recording NAME.zrec and the
spans it must give, NAME.expected.jsonl). Used by the per-protocol replay
tests (tests/replay/proto_*.py), whose fixtures live in
tests/data/proto/PROTOCOL/ next to a README saying how each was recorded.

    spans = golden.check_fixture(path_without_extension)

checks that `ztrace replay --no-store --json` exits 0, equals the golden file
byte for byte, is deterministic, and that the same spans come back out of a
store; returns the spans (dicts) so the caller can assert protocol facts
that do not trust the golden file (counts, commands, codes...)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from lib import ROOT, ZTRACE, check, finish  # noqa: E402,F401

PROTO_DATA = os.path.join(ROOT, "tests", "data", "proto")


def replay_json(rec):
    r = subprocess.run([ZTRACE, "replay", rec, "--no-store", "--json", "--quiet"], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def fixtures(proto):
    """The NAMEs (full paths without .zrec) of tests/data/proto/PROTO/."""
    d = os.path.join(PROTO_DATA, proto)
    return sorted(os.path.join(d, f[:-5]) for f in os.listdir(d) if f.endswith(".zrec"))


def check_fixture(base):
    name = os.path.basename(base)
    rec = base + ".zrec"
    rc, out, err = replay_json(rec)
    check(f"{name}: replay exits 0", rc == 0, err)
    with open(base + ".expected.jsonl") as f:
        expected = f.read()
    diff = [f"- {a}\n+ {b}" for a, b in zip(expected.splitlines(), out.splitlines()) if a != b]
    check(f"{name}: spans equal the golden file", out == expected,
          "\n".join(diff)[:3000] + f"\n({len(expected.splitlines())} vs {len(out.splitlines())} lines)")
    rc2, out2, _ = replay_json(rec)
    check(f"{name}: deterministic", rc2 == 0 and out2 == out, "two replays differ")
    tmp = tempfile.mkdtemp(prefix="zt-golden-")
    try:
        d = os.path.join(tmp, "data")
        r = subprocess.run([ZTRACE, "replay", rec, "--data", d, "--quiet"], capture_output=True, text=True)
        q = subprocess.run([ZTRACE, "spans", "--data", d, "--json", "--limit", "0"], capture_output=True,
                           text=True)
        stored = {json.loads(x)["span_uid"]: json.loads(x) for x in q.stdout.splitlines()}
        golden = {json.loads(x)["span_uid"]: json.loads(x) for x in expected.splitlines()}
        check(f"{name}: stored spans equal replayed spans", r.returncode == 0 and stored == golden,
              f"{r.stderr} {q.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [json.loads(x) for x in out.splitlines() if x.strip()]
