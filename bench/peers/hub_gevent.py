# SPDX-License-Identifier: MIT
"""bench/peers/hub_gevent.py: the hub workloads of bench/hub.c in gevent (Debian
python3-gevent 22.10), run by /usr/bin/python3.  Protocol of every peer (bench/hub_bench.py
reads it): one line per figure, "<metric> <value> <unit>".

    hub_gevent.py micro MS        the four operations, each timed over a batch of ~MS ms
    hub_gevent.py sleepers N      N greenlets, all alive at once, each sleeping 10 ms
"""
import sys
import time

import gevent
from gevent import joinall, sleep, spawn
from gevent.event import Event
from gevent.queue import Queue

# The operations are timed in process CPU time (as every peer): wall time would count the
# time other jobs held the CPU.  The sleepers' wall time is wall time.
now = time.process_time
wall = time.perf_counter


def trivial():
    pass


def spawn_join(n):
    t = now()
    for _ in range(n):
        spawn(trivial).join()
    return now() - t


def yield_roundtrip(n):
    def yielder():
        for _ in range(n):
            sleep(0)
    t = now()
    joinall([spawn(yielder), spawn(yielder)])
    return now() - t


def event_pingpong(n):
    e1, e2 = Event(), Event()

    def ping():
        for _ in range(n):
            e1.set()
            e2.wait()
            e2.clear()

    def pong():
        for _ in range(n):
            e1.wait()
            e1.clear()
            e2.set()
    t = now()
    joinall([spawn(pong), spawn(ping)])
    return now() - t


def queue_pingpong(n):
    q1, q2 = Queue(), Queue()

    def ping():
        for i in range(n):
            q1.put(i)
            q2.get()

    def pong():
        for _ in range(n):
            q2.put(q1.get())
    t = now()
    joinall([spawn(pong), spawn(ping)])
    return now() - t


def batch_ns(fn, ms):
    """ns per operation over one batch of about ms milliseconds (the growing runs warm up)."""
    n = 64
    while True:
        s = fn(n)
        if s * 1e3 >= ms / 4:
            break
        n *= 4
    n = max(64, int(n * ms / 1e3 / s))
    return fn(n) / n * 1e9


def status_kb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return -1


def sleepers(n):
    gevent.get_hub()
    sleep(0)
    rss0 = status_kb('VmRSS')
    live = max_live = 0
    go, all_started = Event(), Event()

    def sleeper():
        nonlocal live, max_live
        live += 1
        max_live = max(max_live, live)
        if live == n:
            all_started.set()
        go.wait()
        sleep(0.01)
        live -= 1
    t = wall()
    gs = [spawn(sleeper) for _ in range(n)]
    all_started.wait()
    go.set()
    joinall(gs)
    elapsed = wall() - t
    peak = status_kb('VmHWM')
    print(f'sleepers_max_alive {max_live} tasks')
    print(f'sleepers_wall {elapsed * 1e3:.1f} ms')
    print(f'sleepers_rss_before {rss0 * 1024} B')
    print(f'sleepers_peak_rss {peak * 1024} B')
    print(f'sleepers_per_task {(peak - rss0) * 1024 / n:.1f} B')


def main():
    if sys.argv[1] == 'micro':
        ms = float(sys.argv[2])
        print(f'version gevent-{gevent.__version__} -')
        for name, fn in [('spawn_join', spawn_join), ('yield_roundtrip', yield_roundtrip),
                         ('event_pingpong', event_pingpong), ('queue_pingpong', queue_pingpong)]:
            print(f'{name} {batch_ns(fn, ms):.1f} ns', flush=True)
    else:
        sleepers(int(sys.argv[2]))


main()
