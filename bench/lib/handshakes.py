#!/usr/bin/env python3
"""Connections per second over mutual TLS, each connection a FULL handshake or a RESUMED one.

    handshakes.py --port P --ca CA --cert CERT --key KEY --mode full|resume [--seconds S] [--procs N]
                  [--path /x] [--tls 1.2|1.3]

Each connection: TCP connect, TLS handshake (client certificate), one `GET PATH HTTP/1.1` with
`Connection: close`, read the answer to EOF (so TLS 1.3 session tickets are received and both sides have
finished), close. `full` never offers a session (Python's ssl keeps no client-side cache: every handshake
is full); `resume` offers the session of the previous connection of the same worker. Every connection's
`session_reused` is counted, so the mode actually measured is verified, not assumed. N worker processes
(default 4) run in parallel; the summed rate is printed as one JSON object.
"""
import argparse, json, multiprocessing, socket, ssl, time


def worker(args, deadline, queue):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    version = ssl.TLSVersion.TLSv1_3 if args.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = version
    request = f"GET {args.path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    conns = reused = errors = 0
    statuses = {}
    session = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((args.host, args.port), timeout=10) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname="localhost",
                                     session=session if args.mode == "resume" else None) as tls:
                    tls.sendall(request)
                    data = b""
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    status = data[9:12].decode(errors="replace")
                    statuses[status] = statuses.get(status, 0) + 1
                    conns += 1
                    reused += 1 if tls.session_reused else 0
                    if args.mode == "resume":
                        session = tls.session
        except (OSError, ssl.SSLError):
            errors += 1
    queue.put((conns, reused, errors, statuses))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", choices=["full", "resume"], required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--path", default="/")
    p.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    args = p.parse_args()
    queue = multiprocessing.Queue()
    start = time.monotonic()
    deadline = start + args.seconds
    procs = [multiprocessing.Process(target=worker, args=(args, deadline, queue)) for _ in range(args.procs)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - start
    conns = sum(r[0] for r in results)
    statuses = {}
    for r in results:
        for k, v in r[3].items():
            statuses[k] = statuses.get(k, 0) + v
    print(json.dumps({
        "mode": args.mode, "tls": args.tls, "procs": args.procs, "seconds": round(elapsed, 3),
        "connections": conns, "reused": sum(r[1] for r in results), "errors": sum(r[2] for r in results),
        "statuses": statuses, "per_second": conns / elapsed if elapsed else 0.0,
    }))


if __name__ == "__main__":
    main()
