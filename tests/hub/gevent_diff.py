#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hub's differential test: random programs run on gevent and on libgreen must print
identical traces.

A program is a few greenlets, G0 being the main greenlet, each a list of operations on a
fixed set of objects: events E0 E1, queues Q0 (unbounded) and Q1 (maxsize 1), bounded
semaphores S0 (1 unit) and S1 (2 units), async results A0 A1, and the other greenlets
(spawn, kill, join), plus sleep(0) and scoped zero-second timeouts.  Timeouts are None
or 0 only: zero-second timers are deterministic, real delays are not.  Every operation
prints its result; main ends by killing every greenlet it knows, in order.

    gevent_diff.py --runner PATH [--count N] [--seed S]   generate, run both, compare
    gevent_diff.py --gevent FILE                          run FILE's programs on gevent

Both interpreters (this file's and tests/hub/gevent_runner.c) run each program on a fresh
hub (libgreen: a thread of its own; gevent: the previous hub destroyed with its loop).  gevent runs with sys.setswitchinterval(1e6) and
libgreen with its time budget off, so the order depends on nothing but the rules.
"""
import argparse
import difflib
import random
import subprocess
import sys

TIMEOUTS = ("-", "0")


def gen_op(rng, self, n):
    """One random operation of greenlet `self` in a program of n greenlets."""
    other = rng.randrange(1, n) if n > 1 else 1
    t = rng.choice(TIMEOUTS)
    choices = [
        (6, lambda: "sleep0"),
        (4, lambda: f"eset {rng.randrange(2)}"),
        (2, lambda: f"eclear {rng.randrange(2)}"),
        (4, lambda: f"ewait {rng.randrange(2)} {t}"),
        (3, lambda: f"qput {rng.randrange(2)} {rng.randrange(100)} {t}"),
        (2, lambda: f"qputnw {rng.randrange(2)} {rng.randrange(100)}"),
        (3, lambda: f"qget {rng.randrange(2)} {t}"),
        (2, lambda: f"qgetnw {rng.randrange(2)}"),
        (3, lambda: f"sacq {rng.randrange(2)} {t}"),
        (1, lambda: f"sacqnw {rng.randrange(2)}"),
        (3, lambda: f"srel {rng.randrange(2)}"),
        (2, lambda: f"aset {rng.randrange(2)} {rng.randrange(100)}"),
        (2, lambda: f"aget {rng.randrange(2)} {t}"),
        (1, lambda: f"agetnw {rng.randrange(2)}"),
        (2, lambda: f"kill {other}"),
        (2, lambda: f"killnw {other}"),
        (2, lambda: f"join {other} {t}" if other != self else "sleep0"),
        (1, lambda: f"say {rng.randrange(100)}"),
    ]
    total = sum(w for w, _ in choices)
    pick = rng.randrange(total)
    for w, make in choices:
        if pick < w:
            return make()
        pick -= w
    raise AssertionError


def gen_body(rng, self, n, depth=0):
    ops = []
    for _ in range(rng.randrange(2, 8)):
        if depth < 2 and rng.random() < 0.08:
            ops.append("tbegin")
            ops.extend(gen_body(rng, self, n, depth + 1))
            ops.append("tend")
        else:
            ops.append(gen_op(rng, self, n))
    return ops


def gen_program(rng):
    n = rng.randrange(2, 7)
    bodies = [gen_body(rng, k, n) for k in range(n)]
    for k in range(1, n):  # each greenlet is spawned by one earlier greenlet
        parent = rng.randrange(k)
        body = bodies[parent]
        pos = rng.randrange(len(body) + 1)
        while pos > 0 and body[pos - 1] == "tbegin":
            pos -= 1
        body.insert(pos, f"spawn {k}")
    return "\n".join(f"G{k}: " + ";".join(ops) for k, ops in enumerate(bodies))


# ---- the gevent interpreter -------------------------------------------------------------


def run_on_gevent(text, out):
    import gevent
    from gevent import Timeout
    from gevent.event import AsyncResult, Event
    from gevent.exceptions import LoopExit
    from gevent.lock import BoundedSemaphore
    from gevent.queue import Empty, Full, Queue

    bodies = {}
    for line in text.splitlines():
        name, _, ops = line.partition(": ")
        bodies[int(name[1:])] = ops.split(";") if ops else []
    E = [Event(), Event()]
    Q = [Queue(), Queue(maxsize=1)]
    S = [BoundedSemaphore(1), BoundedSemaphore(2)]
    A = [AsyncResult(), AsyncResult()]
    G = {}
    say = out.append

    def tmo(arg):
        return None if arg == "-" else 0

    def state(g):
        return "dead" if g.dead else "alive"

    def op(me, words):
        w = words[0]
        a = [x for x in words[1:]]
        if w == "sleep0":
            gevent.sleep(0)
            return "ok"
        if w == "say":
            return a[0]
        if w == "spawn":
            k = int(a[0])
            G[k] = gevent.spawn(body, k)
            return "ok"
        if w == "eset":
            E[int(a[0])].set()
            return "ok"
        if w == "eclear":
            E[int(a[0])].clear()
            return "ok"
        if w == "ewait":
            return str(E[int(a[0])].wait(timeout=tmo(a[1])))
        if w == "qput":
            try:
                Q[int(a[0])].put(int(a[1]), timeout=tmo(a[2]))
                return "ok"
            except Full:
                return "Full"
        if w == "qputnw":
            try:
                Q[int(a[0])].put_nowait(int(a[1]))
                return "ok"
            except Full:
                return "Full"
        if w == "qget":
            try:
                return str(Q[int(a[0])].get(timeout=tmo(a[1])))
            except Empty:
                return "Empty"
        if w == "qgetnw":
            try:
                return str(Q[int(a[0])].get_nowait())
            except Empty:
                return "Empty"
        if w == "sacq":
            return str(S[int(a[0])].acquire(timeout=tmo(a[1])))
        if w == "sacqnw":
            return str(S[int(a[0])].acquire(blocking=False))
        if w == "srel":
            try:
                S[int(a[0])].release()
                return "ok"
            except ValueError:
                return "ValueError"
        if w == "aset":
            A[int(a[0])].set(int(a[1]))
            return "ok"
        if w == "aget":
            return str(A[int(a[0])].get(timeout=tmo(a[1])))
        if w == "agetnw":
            return str(A[int(a[0])].get(block=False))
        if w in ("kill", "killnw", "join"):
            k = int(a[0])
            if k not in G:
                return "unspawned"
            if w == "kill":
                G[k].kill()
            elif w == "killnw":
                G[k].kill(block=False)
            else:
                G[k].join(timeout=tmo(a[1]))
            return state(G[k])
        raise AssertionError(w)

    def block(me, ops, i, scopes):
        """Run ops from i; returns the index after the block's end."""
        while i < len(ops):
            w = ops[i]
            if w == "tend":
                return i + 1
            if w == "tbegin":
                t = Timeout(0)
                t.start()
                try:
                    i = block(me, ops, i + 1, scopes + [t])
                except Timeout as ex:
                    if ex is not t:
                        raise
                    say(f"G{me}: timeout {len(scopes)} fired")
                    i = skip_block(ops, i + 1)
                finally:
                    t.close()
                continue
            try:
                say(f"G{me}: {w} -> {op(me, w.split())}")
            except Timeout as ex:
                if any(ex is s for s in scopes):
                    say(f"G{me}: {w} -> interrupted")
                    raise
                say(f"G{me}: {w} -> Timeout")
            except LoopExit:
                say(f"G{me}: {w} -> LoopExit")
            i += 1
        return i

    def skip_block(ops, i):
        depth = 0
        while i < len(ops):
            if ops[i] == "tbegin":
                depth += 1
            elif ops[i] == "tend":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
        return i

    def body(k):
        say(f"G{k}: starts")
        try:
            block(k, bodies[k], 0, [])
        except gevent.GreenletExit:
            say(f"G{k}: killed")
            return
        say(f"G{k}: ends")

    say("G0: starts")
    block(0, bodies[0], 0, [])
    for k in sorted(G):
        G[k].kill()
        say(f"G0: final kill {k} -> {state(G[k])}")
    say("G0: ends")


def gevent_traces(programs):
    """Each program on a fresh hub: the previous one is destroyed with its loop."""
    import gevent
    sys.setswitchinterval(1e6)
    traces = []
    for text in programs:
        out = []
        run_on_gevent(text, out)
        gevent.get_hub().destroy(destroy_loop=True)
        traces.append("\n".join(out))
    return traces


def c_traces(runner, programs):
    data = "".join(f"=== {i}\n{p}\n" for i, p in enumerate(programs))
    proc = subprocess.run([runner], input=data, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        sys.exit(f"gevent_diff: {runner} exited with status {proc.returncode}")
    traces, cur = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("=== "):
            cur = int(line[4:])
            traces[cur] = []
        elif cur is not None:
            traces[cur].append(line)
    return ["\n".join(traces.get(i, ["(no output)"])) for i in range(len(programs))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", help="libgreen's interpreter (tests/hub/gevent_runner)")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--gevent", help="run this file's programs (=== n headers) on gevent")
    args = ap.parse_args()
    try:
        import gevent  # noqa: F401
    except ImportError:
        sys.exit("gevent_diff: python3-gevent is not installed (./dev.sh installs it)")
    if args.gevent:
        text = open(args.gevent).read()
        progs = [p.split("\n", 1)[1].strip() for p in text.split("=== ")[1:]]
        for i, t in enumerate(gevent_traces(progs)):
            print(f"=== {i}\n{t}")
        return 0
    rng = random.Random(args.seed)
    programs = [gen_program(rng) for _ in range(args.count)]
    want = gevent_traces(programs)
    got = c_traces(args.runner, programs)
    bad = [i for i in range(len(programs)) if want[i] != got[i]]
    lines = sum(t.count("\n") + 1 for t in want)
    for i in bad[:3]:
        print(f"--- program {i} (seed {args.seed}):\n{programs[i]}")
        print("\n".join(difflib.unified_diff(want[i].splitlines(), got[i].splitlines(),
                                             "gevent", "libgreen", lineterm="")))
    print(f"gevent_diff: {len(programs)} programs, {lines} trace lines, "
          f"{len(bad)} differ (seed {args.seed})")
    print(f"{len(programs) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
