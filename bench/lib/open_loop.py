#!/usr/bin/env python3
"""Latency of an open-loop oha run, warm connections only (bench/run, issue 16).

    open_loop.py DB OHA_JSON WARM_S RATE

DB is oha's `--db-url` SQLite file (one row per succeeded request: start, start_latency_correction, end,
in seconds from the run's start); OHA_JSON its JSON summary (errors and statuses). Requests that started in
the first WARM_S seconds, while connections were still being opened, are left out. Latency is measured
from the latency-corrected start (the moment the fixed-rate schedule wanted the request sent) to the end,
so a server that falls behind is charged for the wait (no coordinated omission). Prints JSON."""
import json
import sqlite3
import sys

db, summary_path, warm_s, rate = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
con = sqlite3.connect(db)
cols = [r[1] for r in con.execute("PRAGMA table_info(oha)")]
start = "start_latency_correction" if "start_latency_correction" in cols else "start"
rows = con.execute(f"SELECT {start}, \"end\", status FROM oha").fetchall()
measured = sorted(end - begin for begin, end, _ in rows if begin >= warm_s)
non_200 = sum(1 for begin, _, status in rows if begin >= warm_s and status != 200)
last = max((end for _, end, _ in rows), default=warm_s)
summary = json.load(open(summary_path))


def pct(p):
    if not measured:
        return None
    return round(measured[min(len(measured) - 1, int(p / 100.0 * len(measured)))] * 1000.0, 2)


print(json.dumps({
    "rate": rate,
    "warm_s": warm_s,
    "requests": len(measured),
    "achieved_per_s": round(len(measured) / max(last - warm_s, 1e-9), 1),
    "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "p999_ms": pct(99.9),
    "max_ms": round(measured[-1] * 1000.0, 2) if measured else None,
    "non_200": non_200,
    "errors": sum(summary.get("errorDistribution", {}).values()),
    "latency_from": start,
}))
