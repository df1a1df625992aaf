# SPDX-License-Identifier: MIT
"""bench/hub_bench.py: the hub benchmark.  Runs libgreen's bench_hub (private and shared
stacks) side by side with gevent, Go (GOMAXPROCS=1) and State Threads on the same
workloads, interleaved round by round, and prints one table with ratios and the targets.

Run by meson (`meson compile -C BUILD bench-hub`, `./dev.sh bench`), which passes the
programs; by hand:
    /usr/bin/python3 bench/hub_bench.py --libgreen BUILD/bench/bench_hub \
        --gevent bench/peers/hub_gevent.py --go BUILD/bench/hub_go --st BUILD/bench/hub_st

Method: every peer is a fresh process per measurement, pinned to one CPU (--cpu).  A round
runs the micro workloads of every peer once (each operation timed over a batch of about
--ms ms after a warm-up), starting at a different peer each round; --rounds rounds.  The
sleepers run --sleeper-rounds times per peer, interleaved the same way.  Figures are
medians over rounds; ratios are medians of the per-round ratios, so a slow phase of the
shared machine hits both sides of a ratio alike.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys

from benchutil import cpu_field, fmt, median, ratio

OPS = [('spawn_join', 'spawn + join of a trivial task'),
       ('yield_roundtrip', 'yield round trip between two (sleep(0) / Gosched / st_usleep(0))'),
       ('event_pingpong', 'Event ping-pong round trip (Go: mutex + 2 conds; ST: st_cond)'),
       ('queue_pingpong', 'Queue ping-pong round trip (Go: channels, buffer 1)')]
SLEEPER_FIELDS = ['sleepers_wall', 'sleepers_peak_rss', 'sleepers_per_task',
                  'sleepers_max_alive', 'sleepers_rss_before']
GEVENT_X, GO_X, ST_X = 20.0, 1.0, 1.0       # the issue's targets (peer time / libgreen time)
PER_TASK_MAX = 1024                         # bytes of peak RSS per sleeping task


class Peer:
    def __init__(self, key, title, argv, env=None):
        self.key, self.title, self.argv, self.env = key, title, argv, env
        self.micro = {}      # op -> [ns per round]
        self.sleep = {}      # field -> [value per round]
        self.version = ''
        self.error = None

    def run(self, args, cpu):
        env = dict(os.environ, **(self.env or {}))
        pre = ['taskset', '-c', str(cpu)] if cpu >= 0 else []
        try:
            p = subprocess.run(pre + self.argv + args, capture_output=True, text=True,
                               env=env, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.error = str(e)
            return {}
        if p.returncode != 0:
            self.error = f'exit {p.returncode}: {p.stderr.strip()[-300:]}'
            return {}
        out = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] == 'version':
                self.version = ' '.join(f[1:]).rstrip(' -')
            elif len(f) == 3:
                out[f[0]] = float(f[1])
        return out


def peer_ratio(peer, base, get):
    """Median over rounds of peer/base, rounds where both have a figure."""
    return ratio(get(peer), get(base))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--libgreen', required=True)
    ap.add_argument('--gevent')
    ap.add_argument('--go')
    ap.add_argument('--st')
    ap.add_argument('--python', default='/usr/bin/python3',
                    help="gevent's interpreter (Debian's, where python3-gevent is)")
    ap.add_argument('-r', '--rounds', type=int, default=7)
    ap.add_argument('-m', '--ms', type=float, default=100)
    ap.add_argument('--sleepers', type=int, default=100000)
    ap.add_argument('--sleeper-rounds', type=int, default=3)
    ap.add_argument('--cpu', type=int, default=os.cpu_count() - 1,
                    help='CPU to pin every peer to (-1: no pinning)')
    ap.add_argument('--quick', action='store_true', help='-r 3 -m 30 --sleeper-rounds 1')
    o = ap.parse_args()
    if o.quick:
        o.rounds, o.ms, o.sleeper_rounds = 3, 30, 1

    lg_p = Peer('lg_p', 'libgreen, private stacks', [o.libgreen], None)
    lg_s = Peer('lg_s', 'libgreen, shared stacks', [o.libgreen], None)
    peers = [lg_p, lg_s]
    notes = []
    gev = go = st = None
    if o.gevent and os.access(o.python, os.X_OK):
        gev = Peer('gevent', 'gevent', [o.python, o.gevent])
        peers.append(gev)
    else:
        notes.append(f'no gevent column: {o.python} or the gevent peer is missing')
    if o.go:
        go = Peer('go', 'Go, GOMAXPROCS=1', [o.go], {'GOMAXPROCS': '1'})
        peers.append(go)
    else:
        notes.append('no Go column: golang-go was not found at configure time')
    if o.st:
        st = Peer('st', 'State Threads', [o.st])
        peers.append(st)
    else:
        notes.append('no State Threads column: libst-dev was not found at configure time')

    def args_for(p, mode, n):
        extra = {'lg_p': ['private'], 'lg_s': ['shared']}.get(p.key, [])
        return [mode, n] + extra

    t0 = datetime.datetime.now(datetime.timezone.utc)
    for k in range(o.rounds):
        for j in range(len(peers)):
            p = peers[(j + k) % len(peers)]
            got = p.run(args_for(p, 'micro', f'{o.ms:g}'), o.cpu)
            for op, _ in OPS:
                p.micro.setdefault(op, []).append(got.get(op))
    for k in range(o.sleeper_rounds):
        for j in range(len(peers)):
            p = peers[(j + k) % len(peers)]
            got = p.run(args_for(p, 'sleepers', str(o.sleepers)), o.cpu)
            for f in SLEEPER_FIELDS:
                p.sleep.setdefault(f, []).append(got.get(f))
    seconds = (datetime.datetime.now(datetime.timezone.utc) - t0).total_seconds()

    print(f"machine: {cpu_field('model name')} ({cpu_field('vendor_id')}, family "
          f"{cpu_field('cpu family')} model {cpu_field('model')}), {os.cpu_count()} CPUs "
          f"online, Linux {platform.release()}; run {t0:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s")
    print('peers: ' + '; '.join(f'{p.title}' + (f' ({p.version})' if p.version else '')
                                for p in peers))
    pin = f'pinned to CPU {o.cpu}' if o.cpu >= 0 else 'not pinned'
    print(f'method: every figure from a fresh process {pin}; {o.rounds} rounds of the micro '
          f'workloads (each operation one ~{o.ms:g} ms batch after a warm-up, peers '
          f'interleaved), {o.sleeper_rounds} of the sleepers; medians over rounds, ratios = '
          f'median of per-round ratios (peer time / libgreen time: > 1 means libgreen is '
          f'faster).\n')

    cols = [p for p in peers]
    print('| ns per operation (median) | ' + ' | '.join(p.title for p in cols) + ' |')
    print('|---|' + '---:|' * len(cols))
    for op, title in OPS:
        print(f'| {title} | ' + ' | '.join(fmt(median([x for x in p.micro[op] if x]))
                                            for p in cols) + ' |')
    others = [p for p in (gev, go, st) if p]
    print('\n| ratio peer ÷ libgreen (private / shared) | ' +
          ' | '.join(p.title for p in others) + ' |')
    print('|---|' + '---:|' * len(others))
    for op, title in OPS:
        cells = []
        for p in others:
            g = lambda q, op=op: q.micro[op]
            cells.append(f'{fmt(peer_ratio(p, lg_p, g), ".2f")} / {fmt(peer_ratio(p, lg_s, g), ".2f")}')
        print(f'| {op} | ' + ' | '.join(cells) + ' |')

    print(f'\n{o.sleepers:,} tasks sleeping 10 ms, all alive at once (each waits on an '
          f'Event / a closed channel / a condition until all have started):\n')
    print('| peer | wall ms | peak RSS MiB | RSS before MiB | peak growth per task B | '
          'max alive | wall ÷ libgreen shared |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    sl = lambda q: q.sleep['sleepers_wall']
    for p in peers:
        m = {f: median([x for x in p.sleep[f] if x is not None]) for f in SLEEPER_FIELDS}
        mib = lambda b: None if b is None else b / 2**20
        title = p.title + (' (16 KiB)' if p is lg_p else '')
        print(f"| {title} | {fmt(m['sleepers_wall'])} | {fmt(mib(m['sleepers_peak_rss']))} | "
              f"{fmt(mib(m['sleepers_rss_before']))} | {fmt(m['sleepers_per_task'], '.0f')} | "
              f"{fmt(m['sleepers_max_alive'], '.0f')} | {fmt(peer_ratio(p, lg_s, sl), '.2f')} |")

    for p in peers:
        if p.error:
            notes.append(f'{p.title} failed at least once: {p.error}')
    for n in notes:
        print(f'({n})')

    print('\ntargets:')

    def target(ok, text):
        if ok is None:
            print(f'- n/a    {text}')
        else:
            print(f"- {'MET   ' if ok else 'MISSED'} {text}")

    for lg in (lg_p, lg_s):
        kind = 'private' if lg is lg_p else 'shared'
        for op, _ in OPS:
            g = lambda q, op=op: q.micro[op]
            for p, x, what in ((gev, GEVENT_X, 'faster than gevent'),
                               (go, GO_X, 'faster than Go'),
                               (st, ST_X, 'no slower than State Threads')):
                if not p or not any(p.micro[op]):
                    continue
                r = peer_ratio(p, lg, g)
                need = f'>= {x:g}x {what}' if x > 1 else what
                target(None if r is None else r >= x,
                       f'{op}, {kind}: {need}: {fmt(r, ".2f")}x '
                       f'({fmt(median([v for v in lg.micro[op] if v]))} ns vs '
                       f'{fmt(median([v for v in p.micro[op] if v]))} ns)')
    if go:
        r = peer_ratio(go, lg_s, sl)
        target(None if r is None else r > 1,
               f'{o.sleepers:,} sleepers, shared: less wall time than Go: Go takes '
               f'{fmt(r, ".2f")}x libgreen')
    per = median([x for x in lg_s.sleep['sleepers_per_task'] if x is not None])
    target(None if per is None else per <= PER_TASK_MAX,
           f'{o.sleepers:,} sleepers, shared: <= {PER_TASK_MAX} B peak RSS per task: '
           f'{fmt(per, ".0f")} B')
    return 0


sys.exit(main())
