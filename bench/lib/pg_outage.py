#!/usr/bin/env python3
"""The PostgreSQL outage of bench/pg-kill (issue 19): keep-alive Entitlement Requests and admin writes
running while PostgreSQL is SIGKILLed, kept down, started again, then restarted cleanly (fast shutdown).

    pg_outage.py --sees-port P --admin-port P --ops-port P --certs DIR --body JSON
                 --kill CMD --start CMD --restart CMD [--connections 32] [--down-s 5] [--after-s 10]

The admin token comes through SEES_BENCH_ADMIN_TOKEN (never printed). Each connection sends one request,
waits for the answer (10 s at most: longer counts as hung), and sends the next; a transport error opens a
new connection. One writer creates a package every 50 ms through the admin API and remembers which ones
were acknowledged (HTTP 200); afterwards every acknowledged package is read back. /readyz is polled every
100 ms. Prints one JSON document: per phase (before, down, back, restarting, after) the answers by outcome
(allowed, SEES error number, HTTP status, transport error, hung) with p50/p99/max latency; the seconds from
PostgreSQL being back to the first allowed answer; readiness per phase; the admin writes."""
import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time

HUNG_S = 10.0


def parse_args():
    p = argparse.ArgumentParser()
    for name in ("--sees-port", "--admin-port", "--ops-port"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--kill", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--restart", required=True)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--down-s", type=float, default=5.0)
    p.add_argument("--after-s", type=float, default=10.0)
    return p.parse_args()


class Timeline:
    """Phase boundaries (monotonic seconds) and everything observed."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.marks = {"before": 0.0}
        self.answers = []  # (sent, took, outcome)
        self.ready = []  # (t, status)
        self.writes = []  # (t, id, status, took)

    def now(self):
        return time.monotonic() - self.t0

    def mark(self, name):
        self.marks[name] = self.now()


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def license_server(args, tl, stop):
    ctx = ssl.create_default_context(cafile=f"{args.certs}/ca.pem")
    ctx.load_cert_chain(f"{args.certs}/client.pem", f"{args.certs}/client.key")
    body = args.body.encode()
    request = (f"POST /sees/v1/entitlement HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    reader = writer = None
    while not stop.is_set():
        if writer is None:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", args.sees_port, ssl=ctx, server_hostname="localhost"),
                    HUNG_S)
            except Exception:
                tl.answers.append((tl.now(), 0.0, "transport"))
                await asyncio.sleep(0.05)
                continue
        sent = tl.now()
        try:
            writer.write(request)
            status, answer = await asyncio.wait_for(read_response(reader), HUNG_S)
            took = tl.now() - sent
            try:
                doc = json.loads(answer)
            except ValueError:
                doc = {}
            if status == 200 and doc.get("isAllowed"):
                outcome = "allowed"
            elif status == 200:
                outcome = f"error {doc.get('error')}"
            else:
                outcome = f"HTTP {status} error {doc.get('error')}"
            tl.answers.append((sent, took, outcome))
        except asyncio.TimeoutError:
            tl.answers.append((sent, tl.now() - sent, "hung"))
            writer.close()
            writer = None
        except Exception:
            tl.answers.append((sent, tl.now() - sent, "transport"))
            writer.close()
            writer = None


async def http_plain(port, method, path, token=None, body=None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    writer.write(head.encode() + b"\r\n" + payload)
    try:
        return await read_response(reader)
    finally:
        writer.close()


async def admin_writer(args, tl, stop, token):
    n = 0
    while not stop.is_set():
        n += 1
        pid = f"pgkill-{n}"
        body = {"package": {"id": pid, "name": pid, "description": "bench/pg-kill", "assetIDs": [f"asset-{n}"],
                            "bypassEntitlementCheck": True}}
        sent = tl.now()
        try:
            status, answer = await asyncio.wait_for(
                http_plain(args.admin_port, "POST", "/oem/v1/user/packages", token, body), HUNG_S)
            if status == 400 and n < 3:
                print(f"admin write refused: {answer[:300]!r}", file=sys.stderr)
        except asyncio.TimeoutError:
            status = "hung"
        except Exception:
            status = "transport"
        tl.writes.append((sent, pid, status, tl.now() - sent))
        await asyncio.sleep(0.05)


async def readiness(args, tl, stop):
    while not stop.is_set():
        try:
            status, _ = await asyncio.wait_for(http_plain(args.ops_port, "GET", "/readyz"), 2.0)
        except Exception:
            status = "transport"
        tl.ready.append((tl.now(), status))
        await asyncio.sleep(0.1)


async def run_command(cmd):
    proc = await asyncio.create_subprocess_shell(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return await proc.wait()


def pct(values, p):
    return round(values[min(len(values) - 1, int(p / 100.0 * len(values)))] * 1000.0, 1) if values else None


async def main():
    args = parse_args()
    token = os.environ["SEES_BENCH_ADMIN_TOKEN"]
    tl = Timeline()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(license_server(args, tl, stop)) for _ in range(args.connections)]
    tasks.append(asyncio.create_task(admin_writer(args, tl, stop, token)))
    tasks.append(asyncio.create_task(readiness(args, tl, stop)))
    await asyncio.sleep(5)
    tl.mark("down")
    killed = await run_command(args.kill)
    await asyncio.sleep(args.down_s)
    tl.mark("starting")
    started = await run_command(args.start)
    tl.mark("back")
    await asyncio.sleep(args.after_s)
    tl.mark("restarting")
    restarted = await run_command(args.restart)
    tl.mark("after")
    await asyncio.sleep(args.after_s)
    tl.mark("end")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    order = ["before", "down", "starting", "back", "restarting", "after", "end"]
    phases = {}
    for name, nxt in zip(order, order[1:]):
        lo, hi = tl.marks[name], tl.marks[nxt]
        answers = [a for a in tl.answers if lo <= a[0] < hi]
        outcomes = {}
        for _, _, outcome in answers:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        took = sorted(a[1] for a in answers)
        ready = {}
        for t, status in tl.ready:
            if lo <= t < hi:
                ready[str(status)] = ready.get(str(status), 0) + 1
        writes = {}
        for t, _, status, _ in tl.writes:
            if lo <= t < hi:
                writes[str(status)] = writes.get(str(status), 0) + 1
        phases[name] = {
            "seconds": round(hi - lo, 2), "answers": len(answers), "outcomes": outcomes,
            "p50_ms": pct(took, 50), "p99_ms": pct(took, 99), "max_ms": pct(took, 100),
            "readyz": ready, "admin_writes": writes,
            "last_allowed_sent_s": max((round(s - lo, 3) for s, _, o in answers if o == "allowed"), default=None),
            "admin_write_max_ms": round(max((w[3] for w in tl.writes if lo <= w[0] < hi), default=0) * 1000, 1),
        }
    back = tl.marks["back"]
    first_allowed = min((s + took for s, took, o in tl.answers if o == "allowed" and s + took >= back), default=None)
    first_ready = min((t for t, status in tl.ready if t >= back and status == 200), default=None)
    # Every acknowledged write must be in the store; a refused one must not be half there.
    acked = [pid for _, pid, status, _ in tl.writes if status == 200]
    refused = [pid for _, pid, status, _ in tl.writes if status != 200]
    missing, present_refused = [], []
    for pid in acked:
        status, _ = await http_plain(args.admin_port, "GET", f"/oem/v1/user/packages/{pid}", token)
        if status != 200:
            missing.append(pid)
    for pid in refused:
        status, _ = await http_plain(args.admin_port, "GET", f"/oem/v1/user/packages/{pid}", token)
        if status == 200:
            present_refused.append(pid)
    print(json.dumps({
        "commands": {"kill": killed, "start": started, "restart": restarted},
        "marks_s": {k: round(v, 3) for k, v in tl.marks.items()},
        "phases": phases,
        "seconds_pg_start_took": round(back - tl.marks["starting"], 3),
        "seconds_to_first_allowed_after_start": None if first_allowed is None else round(first_allowed - back, 3),
        "seconds_to_ready_after_start": None if first_ready is None else round(first_ready - back, 3),
        "slowest_answer_ms": pct(sorted(a[1] for a in tl.answers), 100),
        "hung": sum(1 for a in tl.answers if a[2] == "hung"),
        "admin_writes": {"acknowledged": len(acked), "refused": len(refused), "acknowledged_missing": missing,
                          "refused_but_present": present_refused},
    }, indent=1))


asyncio.run(main())
