#!/usr/bin/env python3
"""The table of bench/overload (issue 19).

    overload_report.py WORK CAPACITY SHED_TOTAL OUT COMMIT

WORK holds, per phase listed in WORK/phases (`name rate connections seconds`), oha's per-request SQLite
file (NAME.db: start, start_latency_correction, end, status), its JSON summary (NAME.json: transport
errors) and sees's VmRSS samples in KiB (NAME.rss). Requests that started in a phase's first 2 s, while its
connections were opening, are left out. Latency is measured from the latency-corrected start — the moment
the fixed-rate schedule wanted the request sent — so a server that falls behind is charged for the wait.
Prints the Markdown and writes it to OUT."""
import datetime
import json
import platform
import sqlite3
import sys

WARM_S = 2.0

work, capacity, shed_total, out, commit = sys.argv[1:6]
capacity = int(capacity)


def pct(values, p):
    if not values:
        return None
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))] * 1000.0


def ms(value):
    return "—" if value is None else f"{value:.1f}"


def read_phase(name, rate, conns, secs):
    con = sqlite3.connect(f"{work}/{name}.db")
    rows = con.execute('SELECT start_latency_correction, "end", status, start FROM oha').fetchall()
    kept = [r for r in rows if r[0] >= WARM_S]
    as_sent = sorted(end - sent for begin, end, status, sent in kept if status == 200)
    span = max((r[1] for r in kept), default=WARM_S + 1) - WARM_S
    by_status = {}
    for begin, end, status, _ in kept:
        by_status.setdefault(status, []).append(end - begin)
    for values in by_status.values():
        values.sort()
    summary = json.load(open(f"{work}/{name}.json"))
    # oha aborts the requests in flight when the duration ends: not errors of the server.
    errors = {k: v for k, v in summary.get("errorDistribution", {}).items() if "deadline" not in k}
    rss = [int(line) for line in open(f"{work}/{name}.rss") if line.strip().isdigit()]
    shed_starts = sorted(r[0] for r in rows if r[2] == 503)
    return {
        "name": name, "rate": int(rate), "conns": int(conns), "secs": int(secs),
        "answered_per_s": len(kept) / span if span > 0 else 0.0,
        "admitted": by_status.get(200, []), "shed": by_status.get(503, []), "as_sent": as_sent,
        "other": sum(len(v) for s, v in by_status.items() if s not in (200, 503)),
        "errors": sum(errors.values()), "error_kinds": errors,
        "rss_max_mib": max(rss) / 1024.0 if rss else None,
        "last_shed_s": shed_starts[-1] if shed_starts else None,
        "shed_after_1s": sum(1 for s in shed_starts if s >= 1.0),
    }


phases = [read_phase(*line.split()) for line in open(f"{work}/phases") if line.strip()]
by_name = {p["name"]: p for p in phases}
unloaded_p99 = pct(by_name["unloaded"]["admitted"], 99)
half_p99 = pct(by_name["half"]["admitted"], 99)

lines = [
    "# Overload", "",
    f"`bench/overload` on {platform.node()} ({platform.machine()}), "
    f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}, commit {commit}. "
    f"Capacity (15 s closed loop, 32 keep-alive connections): **{capacity} req/s**.", "",
    "| phase | offered | connections | answered | admitted (200) | shed (503, 5004) | other / transport errors "
    "| admitted p50 / p99 / max (ms) | admitted p99 ÷ unloaded p99 | admitted p99 from the send (ms) | shed p99 (ms) | sees RSS max |",
    "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|",
]
for p in phases:
    admitted, shed = p["admitted"], p["shed"]
    total = len(admitted) + len(shed) + p["other"]
    share = (len(shed) / total * 100.0) if total else 0.0
    p99 = pct(admitted, 99)
    ratio = f"{p99 / unloaded_p99:.2f}" if p99 and unloaded_p99 else "—"
    lines.append(
        f"| {p['name']} | {p['rate']} req/s ({p['rate'] / capacity:.1f}×) | {p['conns']} "
        f"| {p['answered_per_s']:.0f} req/s | {len(admitted)} ({len(admitted) / max(p['secs'] - WARM_S, 1):.0f}/s) "
        f"| {len(shed)} ({share:.1f} %) | {p['other']} / {p['errors']} "
        f"| {ms(pct(admitted, 50))} / {ms(p99)} / {ms(admitted[-1] * 1000.0 if admitted else None)} "
        f"| {ratio} | {ms(pct(p['as_sent'], 99))} | {ms(pct(shed, 99))} | {ms(p['rss_max_mib'])} MiB |"
    )
recovery = by_name.get("recovery")
lines += [
    "",
    f"- Unloaded p99 (10 % of capacity): {ms(unloaded_p99)} ms; at half capacity: {ms(half_p99)} ms.",
    f"- Requests shed over the run (sees_requests_shed_total): {shed_total}.",
]
if recovery:
    last = recovery["last_shed_s"]
    lines.append(
        "- Recovery (half capacity at once after the 5× phase): "
        + ("nothing shed." if last is None else
           f"last shed answer {last:.2f} s into the phase; {recovery['shed_after_1s']} shed after its first second.")
    )
kinds = {k: v for p in phases for k, v in p["error_kinds"].items()}
if kinds:
    lines.append(f"- Transport errors by kind: {kinds}.")
lines.append("")
text = "\n".join(lines)
print(text)
open(out, "w").write(text)
