#!/usr/bin/env python3
"""Opens N mutual-TLS connections and holds them open, idle (no request), until killed.

    idle_conns.py --port P --ca CA --cert CERT --key KEY --count N --ready FILE [--parallel K]

Handshakes run K at a time (default 64). When all are open (or have failed) it writes
`{"open": n, "failed": m, "seconds": s}` to FILE and sleeps; the caller measures, then ends it with SIGTERM.
The soft fd limit is raised to the hard one.
"""
import argparse, asyncio, json, resource, ssl, time


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--parallel", type=int, default=64)
    p.add_argument("--ready", required=True)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    gate = asyncio.Semaphore(args.parallel)
    held = []
    failed = 0
    start = time.monotonic()

    async def one():
        nonlocal failed
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port, ssl=ctx, server_hostname="localhost"), 30)
                held.append((reader, writer))
            except (OSError, ssl.SSLError, asyncio.TimeoutError):
                failed += 1

    await asyncio.gather(*(one() for _ in range(args.count)))
    with open(args.ready, "w") as f:
        json.dump({"open": len(held), "failed": failed, "seconds": round(time.monotonic() - start, 3)}, f)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main())
