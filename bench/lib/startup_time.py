#!/usr/bin/env python3
"""Time from exec of `sees serve ...` to the first HTTP 200 from the ops listener's /readyz.

    startup_time.py --ops-port P --runs N --log FILE -- COMMAND...

Runs COMMAND (in the current directory, with the current environment) N times; each time polls
`GET /readyz` on 127.0.0.1:P over a fresh TCP connection every 0.5 ms from the moment of exec, records
the elapsed time at the first 200, then ends the server with SIGTERM and waits for it. Prints JSON.
"""
import argparse, json, socket, subprocess, time


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ops-port", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    times = []
    with open(args.log, "ab") as log:
        for _ in range(args.runs):
            start = time.monotonic()
            proc = subprocess.Popen(command, stdout=log, stderr=log)
            elapsed = None
            while time.monotonic() - start < args.timeout and proc.poll() is None:
                if ready(args.ops_port):
                    elapsed = time.monotonic() - start
                    break
                time.sleep(0.0005)
            proc.terminate()
            proc.wait()
            if elapsed is None:
                print(json.dumps({"error": "never ready", "runs": times}))
                raise SystemExit(1)
            times.append(elapsed)
    times.sort()
    print(json.dumps({"runs_s": times, "median_s": times[len(times) // 2], "max_s": times[-1]}))


if __name__ == "__main__":
    main()
