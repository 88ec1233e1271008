"""Replays every recording in tests/data/replay and asserts the exact spans:
  - `ztrace replay --json` equals NAME.expected.jsonl byte for byte,
  - the same spans come back out of the store via `ztrace spans --json`,
  - and independent facts about each capture (NAME.facts.json: how many
    exchanges, which processes, which paths) hold, so the golden file is
    not trusted blindly.
Also: corrupt recordings give a clear error naming the byte offset."""
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from lib import ROOT, ZTRACE, check, finish  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data", "replay")


def replay_json(path):
    r = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


tmp = tempfile.mkdtemp(prefix="zt-replay-")
try:
    names = sorted(f[:-5] for f in os.listdir(DATA) if f.endswith(".zrec"))
    check("fixtures present", len(names) >= 3, f"{names}")
    for name in names:
        rec = os.path.join(DATA, name + ".zrec")
        rc, out, err = replay_json(rec)
        check(f"{name}: replay exits 0", rc == 0, err)
        with open(os.path.join(DATA, name + ".expected.jsonl")) as f:
            expected = f.read()
        check(f"{name}: spans equal the golden file", out == expected,
              "diff:\n" + "\n".join(f"- {a}\n+ {b}" for a, b in zip(expected.splitlines(), out.splitlines())
                                    if a != b)[:3000] + f"\n({len(expected.splitlines())} vs {len(out.splitlines())} lines)")
        rc2, out2, _ = replay_json(rec)
        check(f"{name}: deterministic", out2 == out, "two replays differ")
        # through the store
        d = os.path.join(tmp, name)
        r = subprocess.run([ZTRACE, "replay", rec, "--data", d, "--quiet"], capture_output=True, text=True)
        q = subprocess.run([ZTRACE, "spans", "--data", d, "--json", "--limit", "0"], capture_output=True, text=True)
        got = sorted(json.loads(x)["span_uid"] for x in q.stdout.splitlines())
        want = sorted(json.loads(x)["span_uid"] for x in expected.splitlines())
        check(f"{name}: stored and read back", r.returncode == 0 and got == want, f"{r.stderr} {q.stderr}")
        stored = {json.loads(x)["span_uid"]: json.loads(x) for x in q.stdout.splitlines()}
        golden = {json.loads(x)["span_uid"]: json.loads(x) for x in expected.splitlines()}
        check(f"{name}: stored spans equal replayed spans", stored == golden, "")
        # the table fits a 100-column terminal; recorded on another day, the date shows
        q = subprocess.run([ZTRACE, "spans", "--data", d, "--limit", "0"], capture_output=True, text=True,
                           env=dict(os.environ, COLUMNS="100"))
        lines = q.stdout.splitlines()
        check(f"{name}: table fits 100 columns, dated",
              q.returncode == 0 and len(lines) == len(golden) + 1 and all(len(ln) <= 100 for ln in lines)
              and all(re.match(r"\d\d-\d\d \d\d:\d\d ", ln) for ln in lines[1:]),
              "\n".join(lines[:3]))
        # the field-table printer: any fields, values as in JSON, nulls as "-"
        cols = ["span_uid", "response_code", "req_tcp_seq", "endpoint", "syscall_trace_id_resp"]
        q = subprocess.run([ZTRACE, "spans", "--data", d, "--limit", "0", "--fields", ",".join(cols)],
                           capture_output=True, text=True)
        lines = q.stdout.splitlines()
        rows = {ln.split("\t")[0]: ln.split("\t") for ln in lines[1:]}
        want_rows = {u: ["-" if g[c] is None else str(g[c]) for c in cols] for u, g in golden.items()}
        check(f"{name}: --fields prints the stored fields", q.returncode == 0 and lines[:1] == ["\t".join(cols)]
              and rows == want_rows, f"{q.stderr} {lines[:3]}")
        # the filters: each against the golden spans, and against the facts
        def filtered(*args):
            r = subprocess.run([ZTRACE, "spans", "--data", d, "--json", "--limit", "0", *args],
                               capture_output=True, text=True)
            return r.returncode, {json.loads(x)["span_uid"] for x in r.stdout.splitlines()}, r.stderr

        def want(pred):
            return {u for u, g in golden.items() if pred(g)}

        def check_filter(label, args, pred, count=None):
            rc, got, err = filtered(*args)
            exp = want(pred)
            check(f"{name}: spans {' '.join(args)} ({label})",
                  rc == 0 and got == exp and (count is None or len(got) == count),
                  f"rc={rc} {err} got {sorted(got)} want {sorted(exp)} count {count}")

        with open(os.path.join(DATA, name + ".facts.json")) as f:
            ffacts = json.load(f)
        n404 = ffacts.get("codes", []).count(404)
        check_filter("server spans only", ["--side", "server"], lambda g: g["tap_side"] == "server-process",
                     ffacts["exchanges"])
        check_filter("client spans only", ["--side", "client"], lambda g: g["tap_side"] == "client-process",
                     ffacts["exchanges"])
        check_filter("the 404s, both sides", ["--errors"], lambda g: g["response_code"] == 404, 2 * n404)
        check_filter("the 404s", ["--status", "client_error"], lambda g: g["response_code"] == 404, 2 * n404)
        check_filter("no 5xx", ["--status", "server_error"], lambda g: False, 0)
        check_filter("the 200s", ["--status", "OK"], lambda g: g["response_code"] == 200,
                     2 * (len(ffacts.get("codes", [])) - n404))
        durs = sorted(g["duration_ns"] for g in golden.values())
        mid = durs[len(durs) // 2]
        check_filter("at least the median", ["--min-duration", f"{mid}ns"], lambda g: g["duration_ns"] >= mid,
                     len(durs) - len(durs) // 2)
        check_filter("longer than any", ["--min-duration", f"{durs[-1] + 1}ns"], lambda g: False, 0)
        server = ffacts["server-process"]
        # e.g. NGI: every nginx span (no client's name starts like its server's)
        check_filter("prefix in any case", ["--process", server[:3].upper()], lambda g: g["process"] == server,
                     ffacts["exchanges"])
        check_filter("not inside the name", ["--process", server[1:]], lambda g: False, 0)
        path = ffacts["paths"][1]
        check_filter("substring of the path", ["--path", path], lambda g: path in g["request_resource"],
                     2 * ffacts["paths"].count(path))
        check_filter("path case-sensitive", ["--path", path.upper()], lambda g: False, 0)
        check_filter("% is a plain character", ["--path", "%"], lambda g: False, 0)
        check_filter("endpoint substring", ["--endpoint", "{id}"], lambda g: "{id}" in (g["endpoint"] or ""))
        spid = next(g["pid"] for g in golden.values() if g["tap_side"] == "server-process")
        check_filter("one pid", ["--pid", str(spid)], lambda g: g["pid"] == spid, ffacts["exchanges"])
        cport = next(iter(golden.values()))["client_port"]
        check_filter("either port", ["--port", str(cport)],
                     lambda g: cport in (g["client_port"], g["server_port"]))
        sport = next(iter(golden.values()))["server_port"]
        check_filter("the server port", ["--port", str(sport)], lambda g: True, 2 * ffacts["exchanges"])
        check_filter("filters together", ["--side", "client", "--errors", "--process", ffacts["client-process"]],
                     lambda g: g["tap_side"] == "client-process" and g["response_code"] == 404, n404)
        # independent facts
        with open(os.path.join(DATA, name + ".facts.json")) as f:
            facts = json.load(f)
        spans = [json.loads(x) for x in out.splitlines()]
        for side in ("client-process", "server-process"):
            ss = [s for s in spans if s["tap_side"] == side]
            check(f"{name}: {facts['exchanges']} {side} spans", len(ss) == facts["exchanges"], f"{len(ss)}")
            check(f"{name}: {side} process", all(s["process"] == facts[side] for s in ss),
                  f"{ {s['process'] for s in ss} }")
            check(f"{name}: {side} paths", sorted(s["request_resource"] for s in ss) == sorted(facts["paths"]),
                  f"{[s['request_resource'] for s in ss]}")
            if "codes" in facts:
                check(f"{name}: {side} codes", sorted(s["response_code"] for s in ss) == sorted(facts["codes"]),
                      f"{[s['response_code'] for s in ss]}")
        cl = {(s["req_tcp_seq"], s["resp_tcp_seq"]) for s in spans if s["tap_side"] == "client-process"}
        sv = {(s["req_tcp_seq"], s["resp_tcp_seq"]) for s in spans if s["tap_side"] == "server-process"}
        check(f"{name}: client and server spans pair by TCP seq", cl == sv and len(cl) == facts["exchanges"],
              f"{cl ^ sv}")
        # trace assembly: each server span hangs under the client span of its
        # exchange (equal seqs) in one trace; client spans (curl, python) are roots
        by_seq = {(s["req_tcp_seq"], s["resp_tcp_seq"]): s for s in spans if s["tap_side"] == "client-process"}
        ok = all(s["parent_uid"] == by_seq[(s["req_tcp_seq"], s["resp_tcp_seq"])]["span_uid"]
                 and s["link_kind"] == "tcp_seq"
                 and s["trace_id"] == by_seq[(s["req_tcp_seq"], s["resp_tcp_seq"])]["trace_id"]
                 for s in spans if s["tap_side"] == "server-process")
        check(f"{name}: server spans linked to their client spans", ok,
              f"{[(s['span_uid'], s['parent_uid'], s['link_kind']) for s in spans]}")
        check(f"{name}: client spans are roots with a trace id",
              all(s["parent_uid"] is None and s["link_kind"] is None and len(s["trace_id"] or "") >= 32
                  for s in spans if s["tap_side"] == "client-process"), "")
        if facts.get("connections"):
            conns = {s["client_port"] for s in spans}
            check(f"{name}: {facts['connections']} connection(s)", len(conns) == facts["connections"], f"{conns}")

    # bad filter values: exit 2, naming the flag and what it takes
    d = os.path.join(tmp, names[0])
    bad = {"--status": ("error", "ok, client_error"), "--min-duration": ("1.5s", "duration"),
           "--pid": ("0", "process id"), "--port": ("65536", "port number"), "--side": ("both", "client or server"),
           "--path": ("", "path"), "--endpoint": ("", "endpoint"), "--process": ("", "process name")}
    for flag, (val, form) in bad.items():
        r = subprocess.run([ZTRACE, "spans", "--data", d, flag, val], capture_output=True, text=True)
        check(f"spans {flag} '{val}': exit 2 naming the flag", r.returncode == 2 and flag in r.stderr
              and form in r.stderr and r.stdout == "", f"rc={r.returncode} {r.stderr}")
    r = subprocess.run([ZTRACE, "spans", "--help"], capture_output=True, text=True)
    check("spans --help: --process is a prefix in any case", r.returncode == 0
          and re.search(r"--process NAME +only processes whose name starts with NAME, in any case", r.stdout), "")

    # corrupt recordings: clear errors with offsets, never a crash
    src = os.path.join(DATA, names[0] + ".zrec")
    blob = open(src, "rb").read()
    cases = {
        "truncated": blob[: len(blob) - 7],
        "bad-magic": b"X" + blob[1:],
        "bad-length": blob[:64] + b"\xff\xff\xff\x7f" + blob[68:],
        "header-only-cut": blob[:30],
    }
    for cname, data in cases.items():
        p = os.path.join(tmp, cname + ".zrec")
        with open(p, "wb") as f:
            f.write(data)
        rc, out, err = replay_json(p)
        check(f"corrupt {cname}: clear error", rc == 1 and "byte" in err and "Sanitizer" not in err,
              f"rc={rc} {err}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
