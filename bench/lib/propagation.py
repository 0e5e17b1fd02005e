#!/usr/bin/env python3
"""How long a catalogue write committed on node A takes to show in node B's SEES answers.

    propagation.py --a-admin-port P --a-sees-port P --b-sees-port P --ca CA --cert CERT --key KEY
                   --uid U --package P --content C [--count N] [--timeout-s S] [--max-seconds S]
                   [--after-checks K]

The admin token and the playback-session cookie come from the environment (SEES_BENCH_ADMIN_TOKEN,
SEES_BENCH_COOKIE), never from the command line (which every user of the machine can read); nothing
secret is printed (no token, cookie or SEES answer: an allowed answer holds a token URL).

Before the first write, the user must hold an entitlement to PACKAGE, and B must allow C with the
cookie (checked). Then, N times, alternately:

  revoke  `DELETE /oem/v1/admin/entitlements/U/P` on A's admin API;
  grant   `POST /oem/v1/admin/entitlements` {U, P, start 2020-01-01} on A's admin API.

A's admin answer (200) is the commit's upper bound: the clock starts when it has arrived. Then B is
asked — SEES Entitlement Requests for C with the cookie, one after the other over one open mutual-TLS
keep-alive connection — until its answer reflects the write (revoke: isAllowed false with 3001; grant:
isAllowed true). The delay is the arrival of that first reflecting answer minus the arrival of A's
admin answer, so it includes one round trip of B under the load (an upper bound of the visibility
delay; the round trip is reported too). After that, K more requests to B and one to A must reflect the
write as well: any that does not counts as a stale answer after the delay (a flapping cache, a
second-level cache missed by the invalidation) — must be 0. A write not visible on B within
--timeout-s counts as a timeout; the loop also stops after --max-seconds in all.

A lower bound is kept too: the sending of B's last answer that still showed the old state (0 when the
first answer after the write already reflected it) — the write became visible on B between the two.

Prints one JSON object: writes, delays p50/p90/p99/max (ms), the lower bound's p50/p99, timeouts, stale
answers after the delay, unexpected answers (other error numbers, HTTP errors), requests to B, B's round
trip p50/p99.
"""
import argparse, http.client, json, math, os, ssl, sys, time

ADMIN_TOKEN_ENV = "SEES_BENCH_ADMIN_TOKEN"
COOKIE_ENV = "SEES_BENCH_COOKIE"


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))  # nearest rank
    return s[k]


class Sees:
    """One keep-alive mutual-TLS connection to a node's SEES listener; reconnects after an error."""

    def __init__(self, port, ctx, body):
        self.port, self.ctx, self.body = port, ctx, body
        self.conn = None
        self.requests = 0
        self.rtts = []

    def ask(self):
        """(isAllowed, error number, arrival time) — or (None, description, arrival) on a failure."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
            sent = time.perf_counter()
            try:
                self.conn.request("POST", "/sees/v1/entitlement", body=self.body,
                                  headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                data = resp.read()
                arrived = time.perf_counter()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 0:
                    continue
                return None, "connection error", time.perf_counter()
            self.requests += 1
            self.rtts.append(arrived - sent)
            if resp.status != 200:
                return None, f"HTTP {resp.status}", arrived
            try:
                answer = json.loads(data)
            except ValueError:
                return None, "unreadable answer", arrived
            return bool(answer.get("isAllowed")), int(answer.get("error") or 0), arrived
        return None, "connection error", time.perf_counter()


class Admin:
    """One keep-alive HTTP connection to node A's admin API."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = None

    def call(self, method, path, body=None):
        """(status, arrival time)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers={"Authorization": "Bearer " + self.token,
                                           "Content-Type": "application/json"})
                resp = self.conn.getresponse()
                resp.read()
                return resp.status, time.perf_counter()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--a-admin-port", type=int, required=True)
    p.add_argument("--a-sees-port", type=int, required=True)
    p.add_argument("--b-sees-port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--uid", required=True)
    p.add_argument("--package", required=True)
    p.add_argument("--content", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--timeout-s", type=float, default=5.0)
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--after-checks", type=int, default=2)
    args = p.parse_args()
    token, cookie = os.environ.get(ADMIN_TOKEN_ENV), os.environ.get(COOKIE_ENV)
    if not token or not cookie:
        sys.exit(f"propagation.py: {ADMIN_TOKEN_ENV} and {COOKIE_ENV} must be set")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    body = json.dumps({"messageID": "propagation", "version": 1, "contentID": args.content,
                       "customerCookie": cookie})
    a_sees, b_sees = Sees(args.a_sees_port, ctx, body), Sees(args.b_sees_port, ctx, body)
    admin = Admin(args.a_admin_port, token)
    revoke_path = f"/oem/v1/admin/entitlements/{args.uid}/{args.package}"
    grant_body = {"entitlement": {"packageID": args.package, "uid": args.uid, "startDate": "2020-01-01T00:00:00Z"}}

    def reflects(answer, revoked):
        allowed, error, _ = answer
        if allowed is None:
            return None
        return (not allowed and error == 3001) if revoked else allowed

    # The starting state: entitled, allowed on both nodes.
    first = b_sees.ask()
    if reflects(first, False) is not True or reflects(a_sees.ask(), False) is not True:
        sys.exit(f"propagation.py: the starting state is not 'allowed' on both nodes (B answered {first[0]} {first[1]})")

    delays, lower, timeouts, stale, unexpected = [], [], 0, 0, {}
    first_poll_hits, writes = 0, 0
    started = time.perf_counter()
    for i in range(args.count):
        if time.perf_counter() - started > args.max_seconds:
            break
        revoked = i % 2 == 0
        status, committed = (admin.call("DELETE", revoke_path) if revoked
                             else admin.call("POST", "/oem/v1/admin/entitlements", grant_body))
        if status != 200:
            sys.exit(f"propagation.py: write {i} ({'revoke' if revoked else 'grant'}) on A: HTTP {status}")
        writes += 1
        polls = 0
        last_stale_sent = None
        while True:
            sent = time.perf_counter()
            answer = b_sees.ask()
            polls += 1
            r = reflects(answer, revoked)
            other = answer[0] is None or (answer[0] is False and answer[1] != 3001)
            if other:
                # Neither the old state nor the new one: another error number, an HTTP or connection error.
                key = str(answer[1])
                unexpected[key] = unexpected.get(key, 0) + 1
            if r:
                delays.append(answer[2] - committed)
                # B's last answer still showing the old state was decided after it was sent: the write
                # became visible after that moment (0 when B's first answer already reflected it).
                lower.append(max(0.0, last_stale_sent - committed) if last_stale_sent is not None else 0.0)
                first_poll_hits += polls == 1
                break
            if not other:  # the old state: stale
                last_stale_sent = sent
            if answer[2] - committed > args.timeout_s:
                timeouts += 1
                break
        if r:
            for node in [b_sees] * args.after_checks + [a_sees]:
                if reflects(node.ask(), revoked) is not True:
                    stale += 1
    # Leave the user entitled, as found.
    if writes % 2 == 1:
        admin.call("POST", "/oem/v1/admin/entitlements", grant_body)

    ms = [d * 1000 for d in delays]
    rtt = [x * 1000 for x in b_sees.rtts]
    r3 = lambda x: None if x is None else round(x, 3)
    print(json.dumps({
        "writes": writes, "visible": len(delays), "timeouts": timeouts, "timeout_s": args.timeout_s,
        "stale_after": stale, "after_checks": args.after_checks + 1, "unexpected": unexpected,
        "p50_ms": r3(percentile(ms, 50)), "p90_ms": r3(percentile(ms, 90)), "p99_ms": r3(percentile(ms, 99)),
        "max_ms": r3(max(ms) if ms else None),
        "lower_p50_ms": r3(percentile([d * 1000 for d in lower], 50)),
        "lower_p99_ms": r3(percentile([d * 1000 for d in lower], 99)), "first_poll_share": round(first_poll_hits / len(delays), 4) if delays else None,
        "b_requests": b_sees.requests, "b_rtt_p50_ms": r3(percentile(rtt, 50)), "b_rtt_p99_ms": r3(percentile(rtt, 99)),
        "seconds": round(time.perf_counter() - started, 2),
    }))


if __name__ == "__main__":
    main()
