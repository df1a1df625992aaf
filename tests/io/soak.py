#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Soak test of examples/http_hello (issue 7, Reliability): bounded, loopback only.

For each stack model the built server is started on a free port and saturated for
DURATION seconds by examples/http_fetch (CONCURRENCY keep-alive connections, every answer
checked) while RESETTERS threads open connections and leave them at random points with an
RST (SO_LINGER 0 close): before sending, mid-request, after the request, mid-response, or
after a few whole answers.  Afterwards:

  - the server's open fds (/proc/PID/fd) are exactly those it had before the load, once
    it has seen every close (polled, bounded);
  - its RSS grew by at most RSS_BOUND_KIB over the RSS after a one-second warm-up at the
    same load;
  - http_fetch got a correct answer to every request, and the server exits 0 on SIGTERM.

The RSS bound (default 4096 KiB) and why: the warm-up brings the stack pool, the record
slabs and malloc's arenas to the sizes this concurrency needs (a few hundred KiB; we saw
+8 KiB after the warm-up), so what grows after it is what leaks.  On a 2-core machine the
resetters open 6,000-8,000 connections a second and http_fetch makes 40,000-75,000
requests a second: over the 60 s form (~400,000 resets, ~2.5 million requests) a leak of
about 10 bytes per reset connection, or 2 per request, passes 4 MiB; over the short form
(the meson test, 7 s per model) about 80 bytes per reset connection or 10 per request do.

Usage: soak.py --build-dir DIR [--duration S] [--models private,shared] [...]
Exit status 0 when every check held, 1 otherwise.
"""
import argparse
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
          b"Content-Type: text/plain\r\n\r\nhello world\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(build_dir, model):
    """http_hello on a free port, once it prints its version line (it listens by then)."""
    exe = os.path.join(build_dir, "examples", "http_hello")
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen([exe, str(port), model], stdout=subprocess.PIPE)
        line = proc.stdout.readline()
        if line == b"version libgreen\n":
            return proc, port
        proc.wait()  # the port was taken meanwhile: another one
    raise RuntimeError(f"http_hello {model} did not start")


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Resetter(threading.Thread):
    """Connections left at random points with an RST, until `until`."""

    def __init__(self, port, until, seed):
        super().__init__(daemon=True)
        self.port, self.until, self.rng = port, until, random.Random(seed)
        self.connections = 0
        self.error = None

    def one(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.connections += 1
        how = self.rng.randrange(5)
        if how == 1:  # mid-request
            s.sendall(REQUEST[: self.rng.randrange(1, len(REQUEST))])
        elif how == 2:  # the request, then gone before the answer is read
            s.sendall(REQUEST)
        elif how == 3:  # mid-response: a few requests pipelined, part of the answers read
            s.sendall(REQUEST * 8)
            s.recv(self.rng.randrange(1, len(ANSWER) * 8))
        elif how == 4:  # keep-alive, whole answers checked, then an RST
            for _ in range(self.rng.randrange(1, 4)):
                s.sendall(REQUEST)
                got = b""
                while len(got) < len(ANSWER):
                    chunk = s.recv(len(ANSWER) - len(got))
                    if not chunk:
                        raise RuntimeError("server closed a keep-alive connection")
                    got += chunk
                if got != ANSWER:
                    raise RuntimeError(f"wrong answer {got!r}")
        reset(s)  # how == 0: before sending anything

    def run(self):
        try:
            while time.monotonic() < self.until:
                self.one()
        except Exception as e:  # reported by the main thread
            self.error = e


def load(build_dir, port, seconds, concurrency, resetters, seed):
    """Runs http_fetch and the resetters for `seconds`; returns (fetch output, connections)."""
    fetch = subprocess.Popen(
        [os.path.join(build_dir, "examples", "http_fetch"), "-c", str(concurrency),
         "-d", str(seconds), f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, text=True)
    until = time.monotonic() + seconds
    threads = [Resetter(port, until, seed + i) for i in range(resetters)]
    for t in threads:
        t.start()
    out, _ = fetch.communicate(timeout=seconds + 60)
    for t in threads:
        t.join(timeout=30)
    errors = [t.error for t in threads if t.error]
    if errors:
        raise RuntimeError(f"resetter: {errors[0]}")
    if fetch.returncode != 0:
        raise RuntimeError(f"http_fetch exited {fetch.returncode}:\n{out}")
    return out, sum(t.connections for t in threads)


def settle_fds(pid, want, seconds=10):
    """The server's fd count once it equals `want`, or the last one seen after `seconds`
    (the server closes a connection when it sees the client's RST, a moment after)."""
    deadline = time.monotonic() + seconds
    n = fd_count(pid)
    while n != want and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition with a deadline, not waiting out a race
        n = fd_count(pid)
    return n


def figure(out, key):
    for line in out.splitlines():
        if line.startswith(key):
            return line[len(key):].strip()
    return "?"


def soak(args, model):
    proc, port = start_server(args.build_dir, model)
    ok = True
    try:
        fds_before = fd_count(proc.pid)
        load(args.build_dir, port, 1, args.concurrency, args.resetters, 1)  # warm-up
        fds_warm = settle_fds(proc.pid, fds_before)
        rss_warm = rss_kib(proc.pid)
        start = time.monotonic()
        out, conns = load(args.build_dir, port, args.duration, args.concurrency,
                          args.resetters, 1000)
        wall = time.monotonic() - start
        fds_after = settle_fds(proc.pid, fds_before)
        rss_after = rss_kib(proc.pid)
        growth = rss_after - rss_warm
        print(f"{model}: {args.duration:g} s: http_fetch {figure(out, 'requests:')}, "
              f"{figure(out, 'requests/s:')} requests/s; {conns} reset connections "
              f"({conns / wall:.0f}/s)")
        print(f"{model}: fds {fds_before} before, {fds_warm} after warm-up, {fds_after} after")
        print(f"{model}: RSS {rss_warm} KiB after warm-up, {rss_after} KiB after: "
              f"{growth:+d} KiB (bound {args.rss_bound_kib} KiB)")
        if fds_warm != fds_before or fds_after != fds_before:
            print(f"{model}: FAIL: the server's fd count changed", file=sys.stderr)
            ok = False
        if growth > args.rss_bound_kib:
            print(f"{model}: FAIL: RSS grew beyond the bound", file=sys.stderr)
            ok = False
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    if rc != 0:
        print(f"{model}: FAIL: http_hello exited {rc} on SIGTERM", file=sys.stderr)
        ok = False
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", required=True)
    p.add_argument("--duration", type=float, default=60.0, help="seconds per stack model")
    p.add_argument("--models", default="private,shared")
    p.add_argument("--concurrency", type=int, default=64, help="http_fetch connections")
    p.add_argument("--resetters", type=int, default=4, help="threads resetting connections")
    p.add_argument("--rss-bound-kib", type=int, default=4096)
    args = p.parse_args()
    results = [soak(args, m) for m in args.models.split(",")]
    print("soak:", "ok" if all(results) else "FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
