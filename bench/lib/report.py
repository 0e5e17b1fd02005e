#!/usr/bin/env python3
"""Turns the files bench/run collected into bench/RESULTS.md (markdown on stdout).

    report.py RESULTS_DIR BENCH_RESULTS_DIR

RESULTS_DIR holds oha's JSON per load (NAME.json), the server's metrics before/after (NAME.*.prom), RSS
samples (NAME.rss, KiB), the handshake, idle-connection, import and start-up JSON, and meta.json (which
says the store, and whether the measurements of issue 8 and the fleet section ran). Issue 16 added the
nginx proxy's runs (proxy_h1, proxy_h2), the allowed path with one setting changed (allowed_h1_noaudit,
allowed_h1_warn, allowed_h1_quiet), the audit log's count of SEES decisions before and after each sees run
(NAME.audit_before, NAME.audit_after), and the open loop with the upstream at 100 ms (open_rate;
open_proxy and open_sees: oha's JSON, the metrics and NAME.open.json from open_loop.py). `bench/run
--focus` leaves out everything but the proxy's runs, allowed_h1/h2 and the three variants: whatever is
missing is shown as "—". bench/PROFILES.md (hand-written), when it exists, is appended. The fleet section's
files are named fleet_*: fleet_CFG_PATH.json per configuration and path (fleet_two_PATH_{a,b}.json for
the two nodes), fleet_propagation[_strict].json from propagation.py, fleet_prop[_strict]_load_{a,b}.json
for the background loads, and fleet_pg_strict.skipped when the build refused the strict setting.
BENCH_RESULTS_DIR is target/bench-results (the decision benchmark's JSON, when `cargo bench` has run).
"""
import glob, json, os, re, sys

R, BENCH = sys.argv[1], sys.argv[2]
MIB = 1024.0


def load(name):
    path = os.path.join(R, name)
    return json.load(open(path)) if os.path.exists(path) else None


def rss(name):
    path = os.path.join(R, name + ".rss")
    if not os.path.exists(path):
        return []
    return [int(x) for x in open(path).read().split() if x.isdigit()]


OUTCOME = re.compile(r'^sees_entitlement_requests_total\{([^}]*)\}\s+([0-9.e+]+)', re.M)


def outcomes(path):
    counts = {}
    if os.path.exists(path):
        for labels, value in OUTCOME.findall(open(path).read()):
            m = re.search(r'outcome="([^"]+)"', labels)
            e = re.search(r'error="([^"]+)"', labels)
            key = f'{m.group(1) if m else "?"}/{e.group(1) if e else "?"}'
            counts[key] = counts.get(key, 0) + float(value)
    return counts


def sees_outcomes(name):
    before = outcomes(os.path.join(R, name + ".before.prom"))
    after = outcomes(os.path.join(R, name + ".after.prom"))
    diff = {k: int(after[k] - before.get(k, 0)) for k in after if after[k] - before.get(k, 0) > 0}
    return diff


def hist(path):
    sums = {}
    if os.path.exists(path):
        for m in re.finditer(r'^(sees_(?:entitlement|decision|key_lookup|upstream)_duration_seconds)_(sum|count)(\{[^}]*\})?\s+([0-9.e+]+)', open(path).read(), re.M):
            key = (m.group(1) + (m.group(3) or ""), m.group(2))
            sums[key] = sums.get(key, 0.0) + float(m.group(4))
    return sums


def stage_means(name):
    """Mean time per request of each stage during the run, in ms, from the server's own histograms."""
    b, a = hist(os.path.join(R, name + ".before.prom")), hist(os.path.join(R, name + ".after.prom"))
    means = {}
    for (metric, kind) in a:
        if kind != "count":
            continue
        n = a[(metric, "count")] - b.get((metric, "count"), 0)
        if n > 0:
            t = a.get((metric, "sum"), 0) - b.get((metric, "sum"), 0)
            short = metric.replace("sees_", "").replace("_duration_seconds", "").replace('{service="token"}', "(token)").replace('{service="record"}', "(record)")
            means[short] = t / n * 1000
    return means


def oha(name):
    d = load(name + ".json")
    if d is None:
        return None
    codes = {k: int(v) for k, v in d.get("statusCodeDistribution", {}).items()}
    # oha aborts the requests in flight when the duration ends: not errors of the server.
    errors = {k: int(v) for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k}
    aborted = sum(int(v) for k, v in d.get("errorDistribution", {}).items() if "deadline" in k)
    lat = d.get("latencyPercentiles", {})
    s = d["summary"]
    return {
        "rps": s.get("requestsPerSec") or 0.0,
        "p50": (lat.get("p50") or 0) * 1000, "p99": (lat.get("p99") or 0) * 1000,
        "max": (s.get("slowest") or 0) * 1000,
        "codes": codes, "errors": errors, "n_errors": sum(errors.values()), "aborted": aborted,
        "non200": sum(v for k, v in codes.items() if k != "200"),
        "outcomes": sees_outcomes(name),
        "stages": stage_means(name),
    }


def met(value, target, higher_is_better=True):
    if value is None or target is None:
        return "—"
    ok = value >= target if higher_is_better else value <= target
    return "**met**" if ok else "**missed**"


def f0(x):
    return "—" if x is None else f"{x:,.0f}"


def f0u(x, unit="req/s"):
    """A rate with its unit, or "—"."""
    return "—" if x is None else f"{x:,.0f} {unit}"


def ratio(a, b):
    return None if a is None or not b else a / b


def fr(x):
    return "—" if x is None else f"{x:.2f}×"


def n0(x):
    """A count, or "—" when it is not known."""
    return f"{x:,}" if isinstance(x, (int, float)) else "—"


def ms1(x):
    return "—" if x is None else f"{x:.1f}"


def ms2(x):
    return "—" if x is None else f"{x:.2f}"


meta = load("meta.json") or {}
MAIN = bool(meta.get("main", 1))
FLEET = bool(meta.get("fleet", 0))
STORE = meta.get("store", "sqlite")
PG = meta.get("postgres") or {}
NEED_PG = STORE == "postgres" or FLEET
STORE_TEXT = ("PostgreSQL store (`SEES__STORE__URL=postgres://…`, decision cache `auto`)" if STORE == "postgres"
              else "SQLite store")
VARIANTS = ["allowed_h1_noaudit", "allowed_h1_warn", "allowed_h1_quiet"]
runs = {n: oha(n) for n in ["nginx_h1", "nginx_h2", "proxy_h1", "proxy_h2", "cheap_h1", "cheap_h2", "allowed_h1",
                            "allowed_h2", "denied_h1", "denied_h2"] + VARIANTS +
        ["oha_newconn_nginx", "oha_newconn_sees", "open_proxy", "open_sees", "slow_h1"]}
# --focus (bench/run) measures only the proxy, allowed_h1/h2 and the variants; older meta.json has no flag.
FOCUS = bool(meta.get("focus", runs["nginx_h1"] is None and runs["allowed_h1"] is not None))
# Runs of a load generator against nginx: sees's metrics around them are not theirs.
NOT_SEES = {"nginx_h1", "nginx_h2", "proxy_h1", "proxy_h2", "oha_newconn_nginx", "open_proxy"}
# sees's runs with the audit log's count around them (bench/run's sees_load and open_sees).
AUDITED_RUNS = ["cheap_h1", "cheap_h2", "allowed_h1", "allowed_h2", "denied_h1", "denied_h2"] + VARIANTS + \
    ["open_sees", "slow_h1"]
AUDIT_OFF = {"allowed_h1_noaudit", "allowed_h1_quiet"}
# Refused by the router before the handler (GET → 405 / 1010, an unknown path → 404 / 1009): answers sees
# counts but does not record (the README: reads are not recorded), so none is expected in the audit log.
NOT_RECORDED = {"error/1009", "error/1010"}
hs = {k: load(f"hs_{k}.json") for k in ["full_nginx", "full_sees", "resume_nginx", "resume_sees"]}
hs_log = {k: load(f"hs_{k}_nginx.reuse.json") for k in ["full", "resume"]}
oha_reuse = load("oha_newconn_nginx.reuse.json")
idle = load("idle.json") or {}
idle_conns = load("idle_conns.json") or {}
imported = load("import.json") or {}
startup = load("startup.json") or {}
open_rate = None
if os.path.exists(os.path.join(R, "open_rate")):
    text = open(os.path.join(R, "open_rate")).read().strip()
    open_rate = int(text) if text.isdigit() else None


def decision_rows():
    """The decision benchmark's figures (target/bench-results/*.json), SQLite first, warm first."""
    rows = []
    for path in sorted(glob.glob(os.path.join(BENCH, "*.json"))):
        try:
            d = json.load(open(path))
        except (OSError, ValueError):
            continue
        for item in d if isinstance(d, list) else [d]:
            if isinstance(item, dict) and "p99_us" in item:
                rows.append(item)
    order = {"sqlite": 0, "sqlite-uncached": 1, "postgres": 2, "postgres-cached": 3}
    return sorted(rows, key=lambda x: (order.get(x.get("backend"), 9), x.get("workload") != "warm"))


def is_decision_target(x):
    """The issue's target is the warm decision on SQLite (as the server runs it there); the rest is reported."""
    return x.get("backend") == "sqlite" and x.get("workload") == "warm"


rows = decision_rows()


def rps(name):
    r = runs.get(name)
    return r["rps"] if r else None


def hsrate(k):
    return hs[k]["per_second"] if hs.get(k) else None


def reuse_share(k):
    d = hs.get(k)
    return d["reused"] / d["connections"] if d and d["connections"] else None


def count_file(name):
    """A number bench/run wrote alone in a file (the audit log's count), or None."""
    path = os.path.join(R, name)
    if not os.path.exists(path):
        return None
    text = open(path).read().strip()
    return int(text) if text.isdigit() else None


DROPPED = re.compile(r'^sees_audit_events_dropped_total(?:\{[^}]*\})?\s+([0-9.e+]+)', re.M)


def dropped(path):
    """sees_audit_events_dropped_total in a metrics snapshot; absent (never incremented) is 0."""
    return sum(float(v) for v in DROPPED.findall(open(path).read())) if os.path.exists(path) else 0.0


def audit_info(name):
    """A sees run's answers (its own counter's delta) against the audit log's SEES decisions (the table's
    count after the writer caught up, less the count before) and the events dropped meanwhile."""
    x = runs.get(name)
    before, after = count_file(name + ".audit_before"), count_file(name + ".audit_after")
    if x is None or before is None or after is None or not os.path.exists(os.path.join(R, name + ".after.prom")):
        return None
    answers = sum(x["outcomes"].values())
    exempt = sum(v for k, v in x["outcomes"].items() if k in NOT_RECORDED)
    return {"on": name not in AUDIT_OFF, "answers": answers, "exempt": exempt, "expected": answers - exempt,
            "recorded": after - before,
            "dropped": int(dropped(os.path.join(R, name + ".after.prom")) - dropped(os.path.join(R, name + ".before.prom")))}


def audit_ok(a):
    return a["dropped"] == 0 and a["recorded"] == a["expected"]


def audit_verdict(a):
    if a is None:
        return "—"
    if not a["on"]:
        return "audit off" + (f" (⚠ {a['recorded']:,} recorded)" if a["recorded"] else "")
    if audit_ok(a):
        return "every answer recorded" if a["expected"] else "nothing to record (router refusals only)"
    gap = a["expected"] - a["recorded"]
    return ("**" + (f"{gap:,} not recorded" if gap > 0 else f"{-gap:,} more recorded than answered")
            + (f", {a['dropped']:,} dropped" if a["dropped"] else "") + "**")


audits = {n: audit_info(n) for n in AUDITED_RUNS}


def open_info(name):
    """open_loop.py's figures of an open-loop run; errors are oha's transport errors less its deadline
    aborts (the requests in flight when the duration ended), statuses and SEES outcomes over the whole run."""
    d = load(name + ".open.json")
    if d is None:
        return None
    d = dict(d)
    x = runs.get(name)
    if x:
        d["errors"], d["aborted"], d["non200_all"] = x["n_errors"], x["aborted"], x["non200"]
        d["not_allowed"] = None if name in NOT_SEES else sum(v for k, v in x["outcomes"].items() if not k.startswith("allowed"))
    else:
        d["errors"], d["aborted"], d["non200_all"], d["not_allowed"] = None, None, d.get("non_200"), None
    return d


open_proxy, open_sees = open_info("open_proxy"), open_info("open_sees")
WARM_S = meta.get("warm_s", (open_sees or open_proxy or {}).get("warm_s"))


def secs(x):
    return "?" if not isinstance(x, (int, float)) else f"{x:g}"


def open_text(d):
    if not d:
        return "—"
    return (f"{f0(d.get('rate'))} req/s → {f0(d.get('achieved_per_s'))}/s achieved; p50 / p99 / p99.9 / max "
            f"{ms1(d.get('p50_ms'))} / {ms1(d.get('p99_ms'))} / {ms1(d.get('p999_ms'))} / {ms1(d.get('max_ms'))} ms")


keepalive_rss = [x for n in ["allowed_h1", "allowed_h2", "denied_h1", "denied_h2", "cheap_h1", "cheap_h2"] for x in rss(n)]
slow_rss = rss("slow_h1")
gauge = None
prom = os.path.join(R, "idle_conns.prom")
if os.path.exists(prom):
    m = re.search(r'^sees_open_connections\{[^}]*listener="sees"[^}]*\}\s+([0-9.e+]+)', open(prom).read(), re.M)
    gauge = int(float(m.group(1))) if m else None
slow = runs.get("slow_h1")
idle_mib = idle.get("idle_rss_kib", 0) / MIB if idle else None
conns_mib = idle_conns.get("rss_kib", 0) / MIB if idle_conns else None

out = []
w = out.append
w("# Benchmark results")
w("")
quick = " — **--quick smoke run: short durations and smaller counts; not figures for the targets**" if meta.get("quick") else ""
flags = (" --quick" if meta.get("quick") else "") + (" --store postgres" if STORE == "postgres" else "") + \
    ((" --fleet" if MAIN else " --fleet-only") if FLEET else "") + (" --focus" if FOCUS and MAIN else "")
focus = (" — **--focus: only the nginx proxy's runs, the allowed path and its three variants were measured; "
         "every other figure is —**" if FOCUS and MAIN else "")
w(f"Written by `bench/run{flags}`{quick}{focus}.")
w("")
w(f"- **Machine:** {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, {meta.get('memory', '?')} memory, {meta.get('kernel', '?')}")
w(f"- **Date:** {meta.get('date', '?')}; **commit** {meta.get('commit', '?')} on `{meta.get('branch', '?')}`, tree {meta.get('tree', '?')} (bench/RESULTS*.md not counted) when the run started"
  + (f"; binary: {meta['binary']}" if meta.get("binary") else ""))
w(f"- **Tools:** {meta.get('sees', '?')}; {meta.get('oha', '?')}; {meta.get('nginx', '?')}; {meta.get('openssl', '?')}; {meta.get('python', '?')}; {meta.get('rustc', '?')}")
sharing = ["the load generators (oha, the Python clients)", "sees", "the ExpressPlay simulator"] + \
    (["PostgreSQL"] if NEED_PG else []) + (["nginx"] if MAIN else [])
w(f"- **Shared cores:** {', '.join(sharing[:-1])} and {sharing[-1]} all run on these "
  f"{meta.get('cores', '?')} cores at once; every figure includes the client's cost, for sees and its baselines alike. "
  "Other work on the machine during the run adds noise"
  + (f" (load average before the run: {meta['load_start']}; at its end: {meta.get('load_end', '?')})." if meta.get("load_start") else "."))
w("- **sees settings for the load: the production defaults.** The audit log on (`audit.enabled` true: one `sees-decision` "
  "event per answer, handed to the background writer through a queue of `audit.queue_capacity` 10,000 and written to the "
  "store in batches), `info` logs (`log.level`: one `entitlement decided` line per answer, text format) written to a file "
  "as a service manager would, catalogue mode. Changed from the defaults, for the load only: "
  f"`SEES__EXPRESSPLAY__MAX_IN_FLIGHT={meta.get('max_in_flight')}` (default 512: {meta.get('slow_conns')} requests waiting 100 ms "
  f"on the upstream would be refused with 4006) and `SEES__SERVER__HEADER_READ_TIMEOUT_MS={meta.get('header_timeout_ms')}` "
  "(default 20 s, which also closes idle HTTP/1.1 connections: the idle-connection test holds them longer); "
  f"`server.max_connections` left at its default 16384; {STORE_TEXT}, dev PKI (ECDSA P-256), "
  f"`serve --dev`; the simulator runs as a process of its own. `ulimit -n` {meta.get('ulimit_n')}. "
  "**Variants** (the allowed path, HTTP/1.1, after a restart on the same store, one setting changed): "
  "`SEES__AUDIT__ENABLED=false` (`allowed_h1_noaudit`), `SEES__LOG__LEVEL=warn` (`allowed_h1_warn`, audit on), both "
  "(`allowed_h1_quiet`); each after 2,000 warm-up requests, as every sees run.")
if MAIN:
    w(f"- **nginx static baseline:** the same server certificate and key, `ssl_verify_client on` with the same CA, TLS 1.2 and 1.3, "
      f"`http2`, {meta.get('cores', '?')} workers (one per core), session cache and tickets on, no access log, "
      f"`return 200` with a JSON body of {meta.get('answer_bytes', '?')} bytes — the exact length of sees's allowed answer.")
    w("- **nginx proxy baseline** (the allowed path's limit): the same nginx, the same mutual TLS and workers, making the one "
      "upstream call sees makes — `proxy_pass` over a keep-alive upstream pool (`keepalive 256`, HTTP/1.1) to the same "
      "ExpressPlay simulator, the same `GET` token request (the same key, IV, cookie and authenticator) — and answering with "
      "the simulator's body (the token URL); no access log. No decision, no store, no JSON: what any server making this call "
      "behind this TLS can reach on these cores.")
    w("- **sees's cheapest route:** `GET /sees/v1/entitlement` on the same mutual-TLS listener: TLS, the client gate "
      "(revocation, allow-list, rate limit), HTTP and the router, answered 405 / 1010 without reading a body or touching the store.")
w("- **Full SEES path** (the catalogue path): `POST /sees/v1/entitlement` with a customerCookie naming a live playback session of `bench-user`, "
  "who is entitled to `bench-root`; `bench-root` → `bench-mid` → `bench-leaf` (package graph), `bench-leaf` holds the asset "
  "`bench-asset` of the content key `bench-content` (cached after the first request); the simulator's token. "
  "**Denied:** the same request with the session of `bench-nobody`, who holds no entitlement (isAllowed false, 3001).")
if NEED_PG:
    w(f"- **PostgreSQL:** {PG.get('version', '?')}, started for the run (bench/lib/postgres.sh), sees connecting over TCP to "
      f"127.0.0.1, trust authentication, `max_connections` {PG.get('max_connections', '?')}, `shared_buffers` "
      f"{PG.get('shared_buffers', '?')} × 8 kB, normal durability: `fsync` {PG.get('fsync', '?')}, `synchronous_commit` "
      f"{PG.get('synchronous_commit', '?')}, `full_page_writes` {PG.get('full_page_writes', '?')}; on the same cores as "
      "everything else. sees's pool: `store.max_connections` left at its default 8.")
w("")

# --- the fleet (bench/run --fleet) ------------------------------------------------------------------------
HALF = meta.get("fleet_half", 32)
FLEET_CFGS = [
    ("sqlite", "(a) SQLite node", "defaults (`decision.cache` auto: on)"),
    ("pg", "(b) PostgreSQL node", "defaults: `decision.cache` auto, `decision.consistency` bounded where the build has it"),
    ("pg_strict", "(c) PostgreSQL node, strict", "`SEES__DECISION__CONSISTENCY=strict`"),
    ("pg_nocache", "(d) PostgreSQL node, caches off", "`SEES__DECISION__CACHE=off` (every decision reads the database; "
     "the PostgreSQL default before cross-node invalidation), for reference"),
    ("two", "(e) two nodes, one PostgreSQL database", f"defaults; {HALF} + {HALF} connections, two oha at once, rates summed"),
]
PROPS = [("", "(f) write propagation, defaults (bounded)", "the two nodes of (e), defaults",
          "p99 ≤ 50 ms over ≥ 1,000 writes, 0 stale"),
         ("_strict", "(g) write propagation, strict", "two nodes with `SEES__DECISION__CONSISTENCY=strict`", "(reported)")]
FLEET_PATHS = [("free", "quick start (free package)"), ("catalog", "catalogue path")]


CACHE_SERIES = re.compile(r'^(sees_cache_[a-z_]+)(\{[^}]*\})?\s+([0-9.e+-]+)', re.M)


def cache_series(path):
    """The coherence metrics (sees_cache_*) of a metrics snapshot: {(metric, label value): value}."""
    series = {}
    if os.path.exists(path):
        for metric, labels, value in CACHE_SERIES.findall(open(path).read()):
            m = re.search(r'="([^"]*)"', labels or "")
            key = (metric, m.group(1) if m else "")
            series[key] = series.get(key, 0.0) + float(value)
    return series


def cache_info(name):
    """The node's cache coherence over a run: subscribed at its end, strict checks, subscriptions lost,
    notifications — None when the build has no such metrics."""
    b = cache_series(os.path.join(R, name + ".before.prom"))
    a = cache_series(os.path.join(R, name + ".after.prom"))
    if not a:
        return None
    delta = lambda metric: {k[1]: int(v - b.get(k, 0)) for k, v in a.items() if k[0] == metric and v - b.get(k, 0) > 0}
    return {"subscribed": a.get(("sees_cache_subscribed", "")),
            "strict": delta("sees_cache_strict_checks_total"),
            "lost": delta("sees_cache_subscription_lost_total"),
            "notifications": delta("sees_cache_notifications_total")}


def cache_text(info):
    if info is None:
        return "—"
    parts = [f"subscribed {'—' if info['subscribed'] is None else int(info['subscribed'])}"]
    if info["strict"]:
        parts.append("strict checks " + ", ".join(f"{k} {v:,}" for k, v in sorted(info["strict"].items())))
    parts.append("lost " + (", ".join(f"{k} {v:,}" for k, v in sorted(info["lost"].items())) if info["lost"] else "0"))
    return "; ".join(parts)


def fleet_runs(cfg, path):
    """The oha results of a configuration and path: one run, or one per node for the two-node case."""
    names = [f"fleet_two_{path}_a", f"fleet_two_{path}_b"] if cfg == "two" else [f"fleet_{cfg}_{path}"]
    runs_ = [(n, oha(n)) for n in names]
    return [(n, x) for n, x in runs_ if x]


def fleet_rps(cfg, path):
    rs = fleet_runs(cfg, path)
    want = 2 if cfg == "two" else 1
    return sum(x["rps"] for _, x in rs) if len(rs) == want else None


def not_allowed(x):
    """Answers of a run that were not allowed: HTTP errors, transport errors, SEES outcomes other than allowed."""
    return x["non200"] + x["n_errors"] + sum(v for k, v in x["outcomes"].items() if not k.startswith("allowed"))


def fleet_decision_ms(cfg, path):
    ms = [x["stages"].get("decision") for _, x in fleet_runs(cfg, path)]
    ms = [m for m in ms if m is not None]
    return sum(ms) / len(ms) if ms else None


def strict_skipped():
    path = os.path.join(R, "fleet_pg_strict.skipped")
    return open(path).read().strip().replace("|", "\\|").replace("`", "'") if os.path.exists(path) else None


def prop_met(p):
    if not p or p.get("p99_ms") is None:
        return "—"
    ok = p["p99_ms"] <= 50 and p["writes"] >= 1000 and p["stale_after"] == 0 and p["timeouts"] == 0
    return "**met**" if ok else "**missed**"


def prop_text(p):
    return (f"p50 {p['p50_ms']:.1f} / p99 {p['p99_ms']:.1f} / max {p['max_ms']:.1f} ms over {p['writes']:,} writes; "
            f"{p['stale_after']} stale answers after the delay, {p['timeouts']} timeouts") if p and p.get("p99_ms") is not None else "—"


def pct(x):
    return "—" if x is None else f"{x:.1%}"


def ms3(x):
    return "—" if x is None else f"{x:.3f}"


def fleet_targets():
    base = {path: fleet_rps("sqlite", path) for path, _ in FLEET_PATHS}
    for path, label in FLEET_PATHS:
        r = ratio(fleet_rps("pg", path), base[path])
        w(f"| PostgreSQL node (defaults) against the SQLite node, {label}, keep-alive HTTP/1.1 ({meta.get('ka_conns')} conns) | "
          f"{f0(fleet_rps('pg', path))} req/s | SQLite {f0(base[path])} req/s | {fr(r)} | ≥ 0.9× | {met(r, 0.9)} |")
    for path, label in FLEET_PATHS:
        r = ratio(fleet_rps("pg_strict", path), base[path])
        skipped = strict_skipped()
        w(f"| PostgreSQL node, strict consistency, {label} | "
          f"{'skipped: not supported by this build' if skipped else f0(fleet_rps('pg_strict', path)) + ' req/s'} | "
          f"SQLite {f0(base[path])} req/s | {fr(r)} | (reported) | |")
    p = load("fleet_propagation.json")
    w(f"| commit on node A → visible on node B, both under load (defaults: bounded) | {prop_text(p)} | | | p99 ≤ 50 ms over ≥ 1,000 writes, "
      f"0 stale | {prop_met(p)} |")
    p = load("fleet_propagation_strict.json")
    if p:
        w(f"| commit on node A → visible on node B, both under load, both nodes strict | {prop_text(p)} | | | (reported) | |")


def fleet_section():
    w("## Fleet: PostgreSQL, strict consistency, two nodes")
    w("")
    skipped = strict_skipped()
    w(f"Measured in this run, one configuration after the other, each a fresh `sees serve --dev` process (the same PKI, master key "
      f"and simulator as above), {meta.get('dur')} per load, {meta.get('ka_conns')} keep-alive HTTP/1.1 connections (oha) — "
      f"for the two-node case {HALF} on each node at once (two oha processes; the rates are summed). The SQLite node has a "
      "fresh store of its own; the PostgreSQL nodes share one fresh database, seeded once through the first node's admin API "
      "with the catalogue above. **Quick start (free package):** `POST /sees/v1/entitlement` for `demo-content` without a "
      "customerCookie, allowed by the free package `demo-free` that `serve --dev` seeds (the rule checked first: the asset's "
      "packages, no session, no entitlement, no lease). **Catalogue path:** the full SEES path above "
      "(session → user → graph → lease → token). Each load is preceded by 2,000 warm-up requests.")
    w("")
    w("`decision.consistency` in this build: " + (
        f"**not supported** — `SEES__DECISION__CONSISTENCY=strict` was refused at start, so (c) is skipped (`{skipped}`). "
        "Where the build has no cross-node invalidation either, `decision.cache = \"auto\"` still means off on PostgreSQL "
        "and (b) is (d) under another name: the decision-time column tells which."
        if skipped else "supported (the strict node started)."))
    w("")
    base = {path: fleet_rps("sqlite", path) for path, _ in FLEET_PATHS}
    w("| run | settings | " + " | ".join(f"{label}: req/s | ratio to SQLite" for _, label in FLEET_PATHS) + " | decision ms, mean (free / catalogue) | target | |")
    w("|---|---|" + "---|---|" * len(FLEET_PATHS) + "---|---|---|")
    targets = {"sqlite": ("baseline", ""), "pg": ("≥ 0.9× on both", None), "pg_strict": ("(reported)", ""),
               "pg_nocache": ("(reference)", ""), "two": ("(reported)", "")}
    for cfg, label, settings in FLEET_CFGS:
        cells = []
        for path, _ in FLEET_PATHS:
            v = fleet_rps(cfg, path)
            flag = ""
            bad = sum(not_allowed(x) for _, x in fleet_runs(cfg, path))
            if v is not None and bad:
                flag = f" (⚠ {bad:,} answers not allowed)"
            if cfg == "pg_strict" and skipped:
                cells += ["skipped: not supported by this build", "—"]
            else:
                cells += [f0(v) + flag, fr(ratio(v, base[path]))]
        dm = [fleet_decision_ms(cfg, path) for path, _ in FLEET_PATHS]
        dms = " / ".join("—" if m is None else f"{m:.3f}" for m in dm)
        target, verdict = targets[cfg]
        if verdict is None:
            rs = [ratio(fleet_rps(cfg, path), base[path]) for path, _ in FLEET_PATHS]
            verdict = "—" if None in rs else ("**met**" if min(rs) >= 0.9 else "**missed**")
        w(f"| {label} | {settings} | " + " | ".join(cells) + f" | {dms} | {target} | {verdict} |")
    for sfx, label, nodes, target in PROPS:
        p = load(f"fleet_propagation{sfx}.json")
        if not p:
            continue
        la, lb = oha(f"fleet_prop{sfx}_load_a"), oha(f"fleet_prop{sfx}_load_b")
        bg = (f"{f0(la['rps'])} + {f0(lb['rps'])} req/s of background load on the catalogue path" if la and lb
              else f"{HALF} + {HALF} connections of background load on the catalogue path")
        verdict = prop_met(p) if sfx == "" else ""
        w(f"| {label}: commit on node A → visible on node B | {nodes}; {bg} | "
          f"{prop_text(p)} | | | | | {target} | {verdict} |")
    w("")
    w("`decision ms` is sees's own `sees_decision_duration_seconds` over the load (mean per request): a few µs when "
      "the decision is answered from the in-process caches, about a millisecond or more when it reads PostgreSQL.")
    w("")
    props = [(sfx, label, load(f"fleet_propagation{sfx}.json")) for sfx, label, _, _ in PROPS]
    props = [x for x in props if x[2]]
    if props:
        w(f"**Propagation** (`bench/lib/propagation.py`): {props[0][2]['writes']:,} writes through node A's admin API, alternately "
          "`DELETE /oem/v1/admin/entitlements/bench-prop/bench-root` and `POST /oem/v1/admin/entitlements` (the same entitlement "
          "again), for a user of its own (`bench-prop`, with a playback session of its own). A's admin answer arriving is "
          "the clock's start (the commit happened before it); node B is then asked, over one open mutual-TLS keep-alive "
          "connection, one request after the other, until its SEES answer reflects the write (revoked: denied 3001; granted: "
          "allowed); the delay ends when that answer arrives, so it includes one round trip of B under the load. "
          "After the delay 3 more requests per write (B twice, A once) must reflect it too, or count as stale answers. "
          "A lower bound is kept as well: the write became visible on B after B's last answer still showing the old state "
          "was sent (0 when B's first answer after the write reflected it).")
        w("")
        for sfx, label, p in props:
            ci = cache_info(f"fleet_prop{sfx}_b")
            w(f"- {label}: delays p50 {p['p50_ms']} / p90 {p['p90_ms']} / p99 {p['p99_ms']} / max {p['max_ms']} ms over "
              f"{p['visible']:,} of {p['writes']:,} writes (lower bound p50 {p.get('lower_p50_ms', '—')} / p99 "
              f"{p.get('lower_p99_ms', '—')} ms); visible on B's first request after the write for {pct(p['first_poll_share'])}; "
              f"**{p['stale_after']} stale answers** after the delay; {p['timeouts']} writes not visible within "
              f"{meta.get('prop_timeout_s')} s; unexpected answers (neither the old state nor the new): "
              f"{json.dumps(p['unexpected']) if p['unexpected'] else 'none'}; B's round trip p50 {p['b_rtt_p50_ms']} / p99 "
              f"{p['b_rtt_p99_ms']} ms over {p['b_requests']:,} requests; {p['seconds']} s in all"
              + (f". Node B meanwhile: {ci['notifications'].get('change', 0):,} change notifications received, "
                 f"{ci['notifications'].get('ping', 0):,} heartbeats; {cache_text(ci)}." if ci else "."))
        w("")
    w("Every fleet load:")
    w("")
    w("| run | req/s | p50 ms | p99 ms | max ms | HTTP statuses | transport errors | sees outcomes | entitlement ms | decision ms | caches (`sees_cache_*`) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for cfg, label, _ in FLEET_CFGS:
        for path, plabel in FLEET_PATHS:
            for name, x in fleet_runs(cfg, path):
                node = f", node {name[-1].upper()}" if cfg == "two" else ""
                oc = ", ".join(f"{k} {v:,}" for k, v in sorted(x["outcomes"].items()))
                st_ = x["stages"]
                w(f"| {label}{node}, {plabel} | {x['rps']:,.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['max']:.2f} | "
                  f"{', '.join(f'{k}: {v:,}' for k, v in sorted(x['codes'].items()))} | {x['n_errors']} {json.dumps(x['errors']) if x['errors'] else ''} | "
                  f"{oc} | {ms3(st_.get('entitlement'))} | {ms3(st_.get('decision'))} | {cache_text(cache_info(name))} |")
    for sfx, label, _, _ in PROPS:
        for node in ["a", "b"]:
            x = oha(f"fleet_prop{sfx}_load_{node}")
            if x:
                w(f"| background load during {label}, node {node.upper()}, catalogue path | {x['rps']:,.0f} | {x['p50']:.2f} | "
                  f"{x['p99']:.2f} | {x['max']:.2f} | {', '.join(f'{k}: {v:,}' for k, v in sorted(x['codes'].items()))} | "
                  f"{x['n_errors']} | | | | {cache_text(cache_info(f'fleet_prop{sfx}_{node}'))} |")
    w("")


w("## Targets")
w("")
w("| figure | measured | baseline (same run) | ratio | target | |")
w("|---|---|---|---|---|---|")
if MAIN:
    h1 = f"keep-alive HTTP/1.1 ({meta.get('ka_conns')} conns)"
    h2 = f"HTTP/2 ({meta.get('h2_conns')} conns × {meta.get('h2_streams')} streams)"
    r = ratio(rps("allowed_h1"), rps("proxy_h1"))
    w(f"| full SEES path, allowed, {h1} | {f0u(rps('allowed_h1'))} | nginx proxy {f0u(rps('proxy_h1'))} | {fr(r)} | ≥ 0.8× | {met(r, 0.8)} |")
    r = ratio(rps("allowed_h2"), rps("proxy_h2"))
    w(f"| full SEES path, allowed, {h2} | {f0u(rps('allowed_h2'))} | nginx proxy {f0u(rps('proxy_h2'))} | {fr(r)} | ≥ 0.8× | {met(r, 0.8)} |")
    for n, proto in [("denied_h1", h1), ("denied_h2", h2)]:
        r = ratio(rps(n), rps("nginx_h" + n[-1]))
        w(f"| full SEES path, denied (3001), {proto} | {f0u(rps(n))} | nginx static {f0u(rps('nginx_h' + n[-1]))} | {fr(r)} | ≥ 0.8× | {met(r, 0.8)} |")
    for n, what, limit in [("allowed_h1_noaudit", "audit log", 0.10), ("allowed_h1_warn", "`info` log line", 0.05)]:
        r = ratio(rps("allowed_h1"), rps(n))
        cost = None if r is None else 1 - r
        setting = "audit log off" if n.endswith("noaudit") else "`warn` logs"
        w(f"| {what} cost, allowed path HTTP/1.1: 1 − defaults / {setting} | {pct(cost)} (defaults {f0u(rps('allowed_h1'))}) | "
          f"{setting} (`{n}`) {f0u(rps(n))} | {fr(r)} | cost ≤ {limit:.0%} | {met(cost, limit, False)} |")
    r = ratio(rps("allowed_h1_quiet"), rps("proxy_h1"))
    w(f"| full SEES path, allowed, {h1}, audit log off and `warn` logs (`allowed_h1_quiet`) | {f0u(rps('allowed_h1_quiet'))} | "
      f"nginx proxy {f0u(rps('proxy_h1'))} | {fr(r)} | (reported) | |")
    ra, rb = ratio(rps("allowed_h1"), rps("nginx_h1")), ratio(rps("allowed_h2"), rps("nginx_h2"))
    w(f"| full SEES path, allowed, against nginx **static** (the comparison before issue 16), HTTP/1.1 / HTTP/2 | "
      f"{f0(rps('allowed_h1'))} / {f0(rps('allowed_h2'))} req/s | nginx static {f0(rps('nginx_h1'))} / {f0(rps('nginx_h2'))} req/s | "
      f"{fr(ra)} / {fr(rb)} | (reported) | |")
    o, p_ = open_sees, open_proxy
    if o:
        bad = [o.get("errors"), o.get("non200_all"), o.get("not_allowed")]
        open_ok = None if None in bad or o.get("p99_ms") is None else (o["p99_ms"] <= 110.0 and sum(bad) == 0)
        errs = (f"; {n0(o['errors'])} transport errors ({n0(o['aborted'])} requests cut at the end of the duration not counted), "
                f"{n0(o['non200_all'])} non-200, {n0(o['not_allowed'])} SEES answers not allowed")
        verdict = "—" if open_ok is None else ("**met**" if open_ok else "**missed**")
    else:
        errs, verdict = "", "—"
    r = ratio(o.get("p99_ms") if o else None, p_.get("p99_ms") if p_ else None)
    proxy_errs = f"; {n0(p_['errors'])} transport errors, {n0(p_['non200_all'])} non-200" if p_ else ""
    w(f"| upstream at 100 ms, warmed open loop at half the allowed HTTP/1.1 capacity ({meta.get('slow_conns')} connections, "
      f"latency-corrected{'' if WARM_S is None else f', after {secs(WARM_S)} s of warm-up'}) | {open_text(o)}{errs} | "
      f"nginx proxy: {open_text(p_)}{proxy_errs} | p99 {fr(r)} | p99 ≤ 110 ms, zero errors | {verdict} |")
    if slow:
        sees_errors = sum(v for k, v in slow["outcomes"].items() if not k.startswith("allowed"))
        slow_text = (f"{slow['rps']:,.0f} req/s; p50 / p99 / max {slow['p50']:.1f} / {slow['p99']:.1f} / {slow['max']:.1f} ms; "
                     f"{slow['n_errors']} transport errors, {slow['non200']} non-200, {sees_errors} SEES answers not allowed")
    else:
        slow_text = "—"
    w(f"| upstream at 100 ms, closed loop, {meta.get('slow_conns')} connections: capacity and latency | {slow_text} | | | (reported) | |")
    on = [(n, a) for n, a in audits.items() if a and a["on"]]
    if on:
        expected, recorded = sum(a["expected"] for _, a in on), sum(a["recorded"] for _, a in on)
        drops = [(n, a["dropped"]) for n, a in on if a["dropped"]]
        # Differences the drops do not explain: events lost otherwise, or counted twice.
        wrong = [(n, a["expected"] - a["recorded"] - a["dropped"]) for n, a in on if a["recorded"] + a["dropped"] != a["expected"]]
        audit_text = (f"{recorded:,} recorded of {expected:,} answers to record over {len(on)} runs; "
                      + (f"**{sum(d for _, d in drops):,} dropped** ({', '.join(f'{n} {d:,}' for n, d in drops)})" if drops else "0 dropped")
                      + (f"; **not explained by drops:** {', '.join(f'{n} {d:+,} missing' for n, d in wrong)}" if wrong else ""))
        audit_verdict_ = "**met**" if all(audit_ok(a) for _, a in on) else "**missed**"
    else:
        audit_text, audit_verdict_ = "—", "—"
    w(f"| audit log records every answer (sees runs with the audit log on; see Audit log accounting) | {audit_text} | | | "
      f"0 dropped, recorded = answered | {audit_verdict_} |")
    r = ratio(hsrate("full_sees"), hsrate("full_nginx"))
    w(f"| full handshakes (TLS 1.3, ECDSA P-256, client cert) | {f0u(hsrate('full_sees'), 'conn/s')} | nginx {f0u(hsrate('full_nginx'), 'conn/s')} | {fr(r)} | ≥ 1.0× | {met(r, 1.0)} |")
    rs = reuse_share("resume_sees")
    r = ratio(hsrate("resume_sees"), hsrate("resume_nginx"))
    w(f"| resumed handshakes (TLS 1.3 tickets) | {f0u(hsrate('resume_sees'), 'conn/s')}, {'—' if rs is None else f'{rs:.1%}'} resumed | nginx {f0u(hsrate('resume_nginx'), 'conn/s')} | {fr(r)} | resumption supported | {met(rs, 0.99)} |")
    w(f"| RSS idle (after start and seeding) | {'—' if idle_mib is None else f'{idle_mib:.1f} MiB'} | | | ≤ 50 MiB | {met(idle_mib, 50, False)} |")
    n_idle = idle_conns.get("open")
    w(f"| RSS with {n_idle if n_idle is not None else '—'} idle mTLS connections (gauge `sees_open_connections{{listener=\"sees\"}}` = {gauge if gauge is not None else '—'}) | "
      f"{'—' if conns_mib is None else f'{conns_mib:.1f} MiB'} | | | ≤ 300 MiB with 10,000 | {met(conns_mib, 300, False) if (n_idle or 0) >= 10000 else '— (fewer than 10,000 connections)'} |")
    w(f"| RSS max under keep-alive load | {'—' if not keepalive_rss else f'{max(keepalive_rss) / MIB:.1f} MiB'} | | | (reported) | |")
    w(f"| RSS max with the upstream at 100 ms, {meta.get('slow_conns')} connections | {'—' if not slow_rss else f'{max(slow_rss) / MIB:.1f} MiB'} | | | (reported) | |")
    st = startup.get("median_s")
    smax = f"{startup['max_s'] * 1000:.0f} ms" if st is not None else "—"
    w(f"| start-up to ready (exec → first 200 from /readyz) with {n0(imported.get('stored'))} content keys stored, median of {len(startup.get('runs_s', [])) or '—'} | "
      f"{'—' if st is None else f'{st * 1000:.0f} ms'} (max {'—' if st is None else smax}) | | | ≤ 500 ms with 1,000,000 | "
      f"{met(st, 0.5, False) if (imported.get('stored') or 0) >= 1000000 else '— (fewer than 1,000,000 keys)'} |")
    for x in [r for r in rows if is_decision_target(r)] or [{}]:
        w(f"| decision p99, warm, SQLite, 1M users / 3M entitlements (`cargo bench --bench decision`) | "
          f"{x.get('p99_us', '—')} µs | | | ≤ 50 µs | {met(x.get('p99_us'), 50, False) if x else '— (run cargo bench)'} |")
if FLEET:
    fleet_targets()
w("")

if MAIN:
    w("## Every load run")
    w("")
    w(f"Keep-alive runs last {meta.get('dur')}, each after 2,000 warm-up requests; sees outcomes are counted from its own "
      "`sees_entitlement_requests_total` (outcome/error number) before and after each run. "
      + (f"The open-loop runs (oha `-q RATE --latency-correction`, {meta.get('slow_conns')} connections, {meta.get('slow_dur')} "
         f"after {secs(WARM_S)} s of warm-up) show the fixed rate → the rate achieved, and `bench/lib/open_loop.py`'s "
         "percentiles of the requests started after the warm-up; their statuses, errors and outcomes cover the whole run. "
         if open_sees or open_proxy else "")
      + "Transport errors leave out oha's deadline aborts (requests in flight when the duration ended).")
    w("")
    w("| run | req/s | p50 ms | p99 ms | max ms | HTTP statuses | transport errors | sees outcomes |")
    w("|---|---|---|---|---|---|---|---|")
    labels = {
        "nginx_h1": "nginx static, HTTP/1.1 keep-alive", "nginx_h2": "nginx static, HTTP/2",
        "proxy_h1": "nginx mTLS → proxy_pass → simulator, HTTP/1.1 keep-alive",
        "proxy_h2": "nginx mTLS → proxy_pass → simulator, HTTP/2",
        "cheap_h1": "sees cheapest route (GET → 405), HTTP/1.1", "cheap_h2": "sees cheapest route (GET → 405), HTTP/2",
        "allowed_h1": "sees full path, allowed, HTTP/1.1", "allowed_h2": "sees full path, allowed, HTTP/2",
        "denied_h1": "sees full path, denied (3001), HTTP/1.1", "denied_h2": "sees full path, denied (3001), HTTP/2",
        "allowed_h1_noaudit": "sees full path, allowed, HTTP/1.1, audit log off",
        "allowed_h1_warn": "sees full path, allowed, HTTP/1.1, `warn` logs",
        "allowed_h1_quiet": "sees full path, allowed, HTTP/1.1, audit log off and `warn` logs",
        "oha_newconn_nginx": "nginx, oha new connection per request", "oha_newconn_sees": "sees cheapest route, oha new connection per request",
        "open_proxy": f"nginx proxy, upstream 100 ms, open loop, {meta.get('slow_conns')} connections (HTTP/1.1)",
        "open_sees": f"sees full path, upstream 100 ms, open loop, {meta.get('slow_conns')} connections (HTTP/1.1)",
        "slow_h1": f"sees full path, upstream 100 ms, closed loop, {meta.get('slow_conns')} connections (HTTP/1.1)",
    }
    opens = {"open_proxy": open_proxy, "open_sees": open_sees}
    for name, label in labels.items():
        x = runs.get(name)
        if not x:
            continue
        oc = ", ".join(f"{k} {v:,}" for k, v in sorted(x["outcomes"].items())) if name not in NOT_SEES else ""
        codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(x["codes"].items()))
        errors = f"{x['n_errors']} {json.dumps(x['errors']) if x['errors'] else ''}"
        d = opens.get(name)
        if d:
            w(f"| {label} | {f0(d.get('rate'))} → {f0(d.get('achieved_per_s'))} | {ms2(d.get('p50_ms'))} | {ms2(d.get('p99_ms'))} | "
              f"{ms2(d.get('max_ms'))} | {codes} | {errors} | {oc} |")
        else:
            w(f"| {label} | {x['rps']:,.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['max']:.2f} | {codes} | {errors} | {oc} |")
    w("")
    if open_sees or open_proxy:
        w(f"Open loop, upstream at 100 ms: {f0(open_rate)} req/s, half of `allowed_h1`'s rate (`open_rate`), the same for sees "
          "and the nginx proxy; latency from the moment the fixed-rate schedule wanted each request sent (no coordinated omission):")
        w("")
        w("| run | rate req/s | achieved /s | requests measured | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-200 | transport errors | cut at the end | latency from |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name, d in opens.items():
            if d:
                w(f"| {labels[name]} | {f0(d.get('rate'))} | {f0(d.get('achieved_per_s'))} | {n0(d.get('requests'))} | "
                  + " | ".join(ms2(d.get(k)) for k in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"])
                  + f" | {n0(d.get('non200_all'))} | {n0(d.get('errors'))} | {n0(d.get('aborted'))} | `{d.get('latency_from', '?')}` |")
        w("")
    w("Mean time per Entitlement Request in each stage during the run, from sees's own histograms "
      "(`sees_entitlement_duration_seconds` = the whole answer; `decision` includes waiting for a store connection):")
    w("")
    w("| run | entitlement ms | decision ms | key lookup ms | upstream (token) ms |")
    w("|---|---|---|---|---|")
    for name in ["allowed_h1", "allowed_h2", "denied_h1", "denied_h2"] + VARIANTS + ["open_sees", "slow_h1"]:
        x = runs.get(name)
        if x and x["stages"]:
            st_ = x["stages"]
            w(f"| {labels[name]} | " + " | ".join("—" if st_.get(k) is None else f"{st_[k]:.3f}" for k in ["entitlement", "decision", "key_lookup", "upstream(token)"]) + " |")
    w("")
    proto = lambda n: "2" if "_h2" in n else "1"
    w("Ratios to nginx static on the same protocol: " + ("; ".join(
        f"{labels[n]} {fr(ratio(rps(n), rps('nginx_h' + proto(n))))}"
        for n in ["cheap_h1", "cheap_h2", "allowed_h1", "allowed_h2", "denied_h1", "denied_h2"] + VARIANTS
        if runs.get(n) and runs.get("nginx_h" + proto(n))) or "—") + ".")
    w("")
    w("Ratios to the nginx proxy on the same protocol (the allowed path's limit): " + ("; ".join(
        f"{labels[n]} {fr(ratio(rps(n), rps('proxy_h' + proto(n))))}"
        for n in ["allowed_h1", "allowed_h2"] + VARIANTS if runs.get(n) and runs.get("proxy_h" + proto(n))) or "—") + ".")
    w("")

    w("## Audit log accounting")
    w("")
    w("Per sees run: the answers sees counted (`sees_entitlement_requests_total`, every outcome, after − before the run), the "
      "`sees-decision` rows the audit log's table gained (its count before the run, and after it once the writer had caught up: "
      "unchanged for 1 s), and the events dropped because the writer's queue was full (`sees_audit_events_dropped_total`, after − "
      "before; absent counts as 0). The warm-up requests come before the first count, so with nothing dropped the rows gained "
      "equal the answers. Requests the router refuses before the handler (GET → 405 / 1010, an unknown path → 404 / 1009) are "
      "counted but not recorded (reads are not recorded): they are subtracted from what the audit log must hold. With the audit "
      "log off nothing is recorded, by design.")
    w("")
    w("| run | audit log | answers (metrics Δ) | of which router refusals (not recorded) | recorded (audit Δ) | dropped (counter Δ) | |")
    w("|---|---|---|---|---|---|---|")
    for name in AUDITED_RUNS:
        a = audits.get(name)
        if not a:
            continue
        w(f"| {labels[name]} | {'on' if a['on'] else 'off'} | {a['answers']:,} | {a['exempt']:,} | {a['recorded']:,} | "
          f"{a['dropped']:,} | {audit_verdict(a)} |")
    if not any(audits.values()):
        w("| — | — | — | — | — | — | no audit counts in this run |")
    w("")

    w("## Handshakes")
    w("")
    if any(hs.values()):
        w(f"`bench/lib/handshakes.py`, the same client for both servers: {meta.get('hs_procs')} processes for {meta.get('hs_seconds')} s each; "
          "every connection is TCP connect, a TLS 1.3 handshake with the client certificate, one small `GET` with `Connection: close` "
          "read to the end, close. `full` never offers a session; `resume` offers the previous connection's ticket. Each connection's "
          "`session_reused` is counted, and nginx's access log (`$ssl_session_reused`) confirms it on the server side.")
        w("")
        w("| server | mode | connections/s | connections | resumed (client) | resumed (nginx log) | errors |")
        w("|---|---|---|---|---|---|---|")
        for k in ["full_nginx", "full_sees", "resume_nginx", "resume_sees"]:
            d = hs.get(k)
            if not d:
                continue
            mode, server = k.split("_")
            lg = hs_log.get(mode) if server == "nginx" else None
            logged = f"{lg['reused']:,} of {lg['reused'] + lg['full']:,}" if lg else "—"
            w(f"| {server} | {mode} | {d['per_second']:,.0f} | {d['connections']:,} | {d['reused']:,} | "
              f"{'—' if not lg else logged} | {d['errors']} |")
        w("")
        w(f"nginx here links the system OpenSSL ({meta.get('openssl', '?')}); the Python client uses it too, for both servers. "
          "`openssl s_time -new` against the same nginx gives a similar full-handshake rate, so the nginx figure is not an artefact "
          "of the client. sees uses rustls with aws-lc-rs.")
    else:
        w("Not measured in this run" + (" (`--focus`)." if FOCUS else "."))
    if oha_reuse:
        tot = oha_reuse["reused"] + oha_reuse["full"]
        w("")
        w(f"oha with `--disable-keepalive` ({meta.get('hs_conns')} connections): nginx logged {oha_reuse['reused']:,} resumed of {tot:,} connections "
          f"— {'oha resumes TLS sessions across its connections, so its figure is a resumption rate, not a full-handshake rate' if tot and oha_reuse['reused'] > tot / 2 else 'oha does full handshakes'}. "
          f"Its rates: nginx {f0(rps('oha_newconn_nginx'))}, sees {f0(rps('oha_newconn_sees'))} connections/s.")
    w("")

    w("## Memory and start-up")
    w("")
    if not (idle_conns or imported or startup):
        w("Idle connections, content-key import and start-up: not measured in this run" + (" (`--focus`)." if FOCUS else "."))
    if idle_conns:
        w(f"- Idle connections: {idle_conns.get('open'):,} opened in {idle_conns.get('seconds')} s by `bench/lib/idle_conns.py` "
          f"({idle_conns.get('failed')} failed); the server held {gauge if gauge is not None else '?'} (`sees_open_connections`) and "
          f"{idle_conns.get('server_fds')} file descriptors; RSS {idle_conns.get('rss_kib', 0) / MIB:.1f} MiB "
          f"(before opening them: {(load('idle_conns.before.json') or {}).get('before_rss_kib', 0) / MIB:.1f} MiB).")
    if imported:
        w(f"- Content keys: {imported.get('keys'):,} random keys generated as JSON lines and imported with `sees keys import` "
          f"in {imported.get('import_s', 0):.1f} s; {n0(imported.get('stored'))} rows in `content_keys`.")
    if startup:
        w(f"- Start-up runs (exec of `sees serve --dev` → first 200 from `/readyz`, polled every 0.5 ms; the server is then "
          f"stopped with SIGTERM): {', '.join(f'{t * 1000:.0f} ms' for t in startup.get('runs_s', []))}.")
    w("")

    w("## Decision latency (`cargo bench`)")
    w("")
    if rows:
        w("From `target/bench-results/*.json` (written by `cargo bench`; not measured by bench/run). Target: p99 ≤ 50 µs.")
        w("")
        w("| backend | workload | samples | p50 µs | p90 µs | p99 µs | max µs | target: p99 ≤ 50 µs warm on SQLite |")
        w("|---|---|---|---|---|---|---|---|")
        for x in rows:
            w(f"| {x.get('backend', '?')} | {x.get('workload', '?')} | {x.get('samples', '?')} | {x.get('p50_us', '?')} | "
              f"{x.get('p90_us', '?')} | {x.get('p99_us', '?')} | {x.get('max_us', '?')} | "
              f"{met(x.get('p99_us'), 50, False) if is_decision_target(x) else '(reported)'} |")
    else:
        w("No `target/bench-results/*.json` found: run `cargo bench` (the decision benchmark writes p50/p90/p99/max per "
          "backend and workload there), then `bench/run` again to include them here. Target: decision p99 ≤ 50 µs.")
    w("")
profiles = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench", "PROFILES.md")
if MAIN and os.path.exists(profiles):
    w(open(profiles).read().rstrip("\n"))
    w("")
if FLEET:
    fleet_section()

print("\n".join(out))
