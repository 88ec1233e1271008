"""Builds bench/RESULTS.md from the JSON results in build/bench/ (one per
bench, written by benchlib.write_result). usage: report.py [OUT_MD]"""
import json
import os
import sys

from benchlib import HERE, OUT

ORDER = ["syscall", "nginx", "redis", "postgres", "pipeline", "parser", "proto", "store", "traces", "node", "otlp"]


def fmt(v):
    if isinstance(v, float):
        if v != 0 and abs(v) < 0.01:
            return f"{v:.2g}"
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    if v is None:
        return "n/a"
    return str(v)


def table(rows):
    if not rows:
        return []
    cols = list(rows[0].keys())
    for r in rows[1:]:
        cols += [k for k in r if k not in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    return out


def main():
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "RESULTS.md")
    res = {}
    for f in sorted(os.listdir(OUT)) if os.path.isdir(OUT) else []:
        if f.endswith(".json"):
            with open(os.path.join(OUT, f)) as fh:
                r = json.load(fh)
            res[r["bench"]] = r
    names = [n for n in ORDER if n in res] + sorted(n for n in res if n not in ORDER)
    if not names:
        sys.exit("report: no results in " + OUT)
    first = res[names[0]]
    md = ["# ztrace benchmark results", "",
          "Written by `make bench` (bench/report.py) from the JSON results in build/bench/.",
          f"Machine: {first['machine']}. Dates: "
          + ", ".join(sorted({r['date'] for r in res.values()})) + ".", "",
          "Every ratio compares runs made in the same bench run, alternated (A B B A), as medians.",
          "The machine is shared and noisy; compare ratios, not absolute numbers.", ""]
    if any(r["quick"] for r in res.values()):
        md += ["**Smoke run (BENCH_QUICK=1): these figures are not measurements.**", ""]
    missing = [n for n in ORDER if n not in res]
    if missing:
        md += [f"Not run: {', '.join(missing)}.", ""]
    md += ["## Headline figures", "", "| bench | figure | value | target | met |", "|---|---|---|---|---|"]
    for n in names:
        for fg in res[n]["figures"]:
            met = "" if fg.get("met") is None else ("yes" if fg["met"] else "**no**")
            md.append(f"| {n} | {fg['name']} | {fmt(fg['value'])} {fg.get('unit') or ''} | "
                      f"{fg.get('target') or ''} | {met} |")
    for n in names:
        r = res[n]
        md += ["", f"## {n}: {r['title']}", ""]
        if r.get("config"):
            md += ["Config: " + ", ".join(f"{k}={v}" for k, v in r["config"].items()), ""]
        md += table(r["rows"])
        if r["notes"]:
            md += [""] + [f"- {x}" for x in r["notes"]]
    with open(dest, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: wrote {dest} ({len(names)} benches)")


if __name__ == "__main__":
    main()
