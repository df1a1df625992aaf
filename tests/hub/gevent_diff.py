#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hub's differential test: random programs run on gevent and on libgreen must print
identical traces.

Programs.  A few greenlets, G0 being the main greenlet, each a list of operations on a
fixed set of objects: events E0 E1; queues Q0 (unbounded) and Q1 (maxsize 1); semaphores
S0 (bounded, 1 unit), S1 (bounded, 2 units), S2 (unbounded, 1 unit); a lock L0; async
results A0 A1; and the other greenlets: spawn, spawn_later, kill (with or without a
timeout), kill_nowait, join (with a timeout), rawlink; plus sleep(0), sleep(s > 0), the try forms,
and scoped timeouts nested two deep; gevent.killall and gevent.wait (green/wait.h) over
the greenlets spawned so far (wait: with E0 A0 S0 L0).  Timeouts are none, 0 or a delay.
Every operation prints its result, also the queries (is_set, qsize, ready, a semaphore's
counter) and a greenlet's end (returned, killed, or failed with a code: green_exit); main
ends by killing every greenlet spawned, in index order.  Gen below is the generator;
run_on_gevent() and tests/hub/gevent_runner.c are the two interpreters of the same text.

Time.  Delays are written in units (each program's header gives the unit: 5 ms by
default).  Zero-second timers are deterministic (they fire at the next idle point, in
start order).  Positive delays are too when no two timers can fall due together: each
program draws its positive delays, without repetition, from 1, 2, 4, 8 units, so a
deadline is the sum of a distinct set of powers of two (the delays along the chain of
timers that led to it) and two deadlines are a unit apart at least, while the rest of a
program takes microseconds.  A loaded machine can still eat that margin: a scheduler
stall between the starts of two timers reorders them (a timer started from a timer
callback counts from the loop time of the last poll, on both sides, as gevent's rule is).
So a program with positive delays that differs is run again alone with the unit times 4,
16, then 64, and fails only if it differs every time (under a load of 2 on this 2-core
machine, about 1 program in 800 needs the second run).  gevent runs
with sys.setswitchinterval(1e6) and libgreen with its time budget off, so nothing else
depends on the clock.

Deliberate differences (include/green/sync.h, src/sync/linkable.h).  libgreen's Lock is a
BoundedSemaphore(1) with an owner, so gevent's side uses a BoundedSemaphore(1) (not
gevent.thread.LockType, whose failed non-blocking acquire also sleeps (0) for spin locks,
gevent issue 1464; libgreen's try forms never switch).  A second acquire by the owner is
EDEADLK and a release by anyone else EPERM in libgreen: the gevent interpreter tracks the
owner and prints those without calling gevent.  A held lock cannot be destroyed and only
its owner may release it, so on both sides a greenlet that ends holding it releases it (as
`with lock:` would) and says so.  When the last linked waiter of an Event, AsyncResult or
Semaphore leaves while its notifier is pending, gevent drops the waiters that arrived
behind the notifier (blocked for good) and libgreen keeps them linked: a program that
differs is run again on gevent in PURE_PYTHON mode with gevent's AbstractLinkable.unlink
patched to keep them too (keep_arrived_waiters); if that run took the patched path and
matches, the program counts as explained, and is listed, instead of failing.

Isolation and hangs.  Each side runs the programs one after another in one worker process
(libgreen: one thread, so one fresh hub, per program; gevent: one hub, drained after each
program by a wait on a fresh Event that ends in LoopExit, so no callback or timer is left
behind; the runner drains the same way before freeing its objects).  The hub is not
destroyed between programs: gevent's Hub.destroy() drops the queued callbacks without the
loop reference (ev_ref) each one holds, and libev's default loop, created again in the
same static struct, inherits the count, so the next loop.run() never returns: no LoopExit,
and the first program that needs one hangs (the earlier version's hang).  Workers print
"=== done N" after program N; one that does not finish within --timeout seconds, or
crashes its worker, fails the test with its seed and index, and a fresh worker goes on
with the next program.

Running it.  meson runs it as the test gevent_diff (suites hub, gevent) when
/usr/bin/python3 can import gevent (-Dgevent_diff=auto|enabled|disabled).  By hand:

    gevent_diff.py --runner build/tests/hub/gevent_runner [--count N] [--seed S]
                   [--unit SECONDS] [--timeout SECONDS] [--show K]
    gevent_diff.py --print N [--seed S]     print program N of seed S

--count defaults to 2000 x GREEN_TEST_SCALE (16 s alone here, 30 s beside the rest of the
suite); for long local runs use --count 10000 with a few --seed values.  Under a valgrind
wrapper (dev.sh valgrind wraps every test, and Python under valgrind is far too slow) the
script re-executes itself natively, valgrind not following the exec, and runs only the
runner under valgrind (memcheck; an error fails the test), with a 20 ms unit.
"""
import argparse
import difflib
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

DELAYS = (1, 2, 4, 8)  # units; each used at most once per program (see "Time" above)
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect"]


# ---- the generator ------------------------------------------------------------------------


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.pool = list(DELAYS)
        rng.shuffle(self.pool)

    def delay(self):
        """A positive delay not used yet in this program, or 0 when all are taken."""
        return self.pool.pop() if self.pool else 0

    def timeout(self):
        r = self.rng.random()
        if r < 0.45:
            return "-"
        if r < 0.8 or not self.pool:
            return "0"
        return str(self.delay())

    def op(self, me, n):
        """One random operation of greenlet `me` in a program of n greenlets."""
        rng = self.rng
        other = rng.randrange(1, n) if n > 1 else 1
        choices = [
            (6, lambda: "sleep0"),
            (2, lambda: f"sleep {self.delay()}" if self.pool else "sleep0"),
            (4, lambda: f"eset {rng.randrange(2)}"),
            (2, lambda: f"eclear {rng.randrange(2)}"),
            (4, lambda: f"ewait {rng.randrange(2)} {self.timeout()}"),
            (3, lambda: f"qput {rng.randrange(2)} {rng.randrange(100)} {self.timeout()}"),
            (2, lambda: f"qputnw {rng.randrange(2)} {rng.randrange(100)}"),
            (3, lambda: f"qget {rng.randrange(2)} {self.timeout()}"),
            (2, lambda: f"qgetnw {rng.randrange(2)}"),
            (3, lambda: f"sacq {rng.randrange(3)} {self.timeout()}"),
            (1, lambda: f"sacqnw {rng.randrange(3)}"),
            (3, lambda: f"srel {rng.randrange(3)}"),
            (2, lambda: f"lacq {self.timeout()}"),
            (1, lambda: "lacqnw"),
            (2, lambda: "lrel"),
            (2, lambda: f"aset {rng.randrange(2)} {rng.randrange(100)}"),
            (1, lambda: f"aerr {rng.randrange(2)} {rng.randrange(1, 100)}"),
            (1, lambda: f"fail {rng.randrange(1, 100)}" if me else "sleep0"),
            (1, lambda: rng.choice(("eisset", "qsize", "aready")) + f" {rng.randrange(2)}"),
            (1, lambda: f"sval {rng.randrange(3)}"),
            (2, lambda: f"aget {rng.randrange(2)} {self.timeout()}"),
            (1, lambda: f"agetnw {rng.randrange(2)}"),
            (2, lambda: f"kill {other} {self.timeout() if rng.random() < 0.3 else '-'}"),
            (2, lambda: f"killnw {other}"),
            (2, lambda: f"join {other} {self.timeout()}" if other != me else "sleep0"),
            (1, lambda: f"say {rng.randrange(100)}"),
            (1, lambda: f"killall {rng.randrange(2)} {self.timeout()}"),
            (1, lambda: f"link {other}"),
            (2, lambda: f"wait {rng.choice(('1', '2', 'all'))} {self.timeout()}"),
        ]
        pick = rng.randrange(sum(w for w, _ in choices))
        for w, make in choices:
            if pick < w:
                return make()
            pick -= w
        raise AssertionError

    def body(self, me, n, depth=0):
        ops = []
        for _ in range(self.rng.randrange(2, 8)):
            if depth < 2 and self.rng.random() < 0.1:
                d = self.delay() if self.rng.random() < 0.3 else 0
                ops.append(f"tbegin {d}")
                ops.extend(self.body(me, n, depth + 1))
                ops.append("tend")
            else:
                ops.append(self.op(me, n))
        return ops

    def program(self):
        rng = self.rng
        n = rng.randrange(2, 7)
        bodies = [self.body(k, n) for k in range(n)]
        for k in range(1, n):  # each greenlet is spawned by one earlier greenlet
            body = bodies[rng.randrange(k)]
            pos = rng.randrange(len(body) + 1)
            while pos > 0 and body[pos - 1].startswith("tbegin"):
                pos -= 1
            if rng.random() < 0.2:
                body.insert(pos, f"spawnl {k} {self.delay() if rng.random() < 0.6 else 0}")
            else:
                body.insert(pos, f"spawn {k}")
        return "\n".join(f"G{k}: " + ";".join(ops) for k, ops in enumerate(bodies))

    def join_program(self):
        """Spawn + join (src/hub/death_handoff.c's case): short greenlets, each joined right
        after its spawn, sometimes also by others or linked, among the usual operations."""
        rng = self.rng
        n = rng.randrange(2, 7)
        quick = ("sleep0", "say 1", "eset 0", "aset 0 7", "qputnw 0 5")
        bodies = []
        for k in range(n):
            ops = [rng.choice(quick) if rng.random() < 0.7 else self.op(k, n)
                   for _ in range(rng.randrange(1, 3))]
            bodies.append(ops)
        for k in range(1, n):
            j = rng.randrange(k)
            pos = rng.randrange(len(bodies[j]) + 1)
            ops = [f"spawn {k}"]
            if rng.random() < 0.2:
                ops.append(f"link {k}")
            if rng.random() < 0.8:
                ops.append(f"join {k} {'-' if rng.random() < 0.7 else self.timeout()}")
            bodies[j][pos:pos] = ops
            for other in range(k + 1, n):  # a later greenlet joins k too
                if rng.random() < 0.25:
                    bodies[other].insert(rng.randrange(len(bodies[other]) + 1), f"join {k} -")
        return "\n".join(f"G{k}: " + ";".join(ops) for k, ops in enumerate(bodies))


class PingGen(Gen):
    """Programs where one greenlet wakes another and blocks at once, round after round: the
    patterns where the hub's direct hand-off (src/hub/handoff.c) may apply, and the ways it
    must not (several waiters, a clear or a set between, sleep(0), kills and zero or scoped
    timeouts meanwhile, rawlink callbacks and wait() as other links, chains through a third
    greenlet, main as a partner)."""

    # (ping, pong) per round; {a} {b}: the two objects of the pair, {v} a value
    PAIRS = {
        "event": (["eset {a}", "ewait {b} -", "eclear {b}"],
                  ["ewait {a} -", "eclear {a}", "eset {b}"]),
        "event_late_clear": (["eset {a}", "ewait {b} -"], ["ewait {a} -", "eset {b}", "eclear {a}"]),
        "queue": (["qput {a} {v} -", "qget {b} -"], ["qget {a} -", "qput {b} {v} -"]),
        "sem": (["srel 2", "sacq {s} -"], ["sacq 2 -", "srel {s}"]),
        "lock": (["lacq -", "sleep0", "lrel"], ["lacq -", "lrel", "sleep0"]),
        "result": (["aset {a} {v}", "aget {b} -"], ["aget {a} -", "aset {b} {v}"]),
        "set_wait": (["eset {a}", "ewait {a} -", "eclear {a}", "ewait {b} -"],
                     ["ewait {a} -", "eset {b}", "sleep0", "eclear {b}"]),
        "set_sleep": (["eset {a}", "sleep0", "ewait {b} -", "eclear {b}"],
                      ["ewait {a} -", "eclear {a}", "eset {b}", "sleep0"]),
    }

    def noise(self, me, n):
        rng = self.rng
        other = rng.randrange(1, n)
        return rng.choice([
            lambda: "sleep0",
            lambda: f"eclear {rng.randrange(2)}",
            lambda: f"eset {rng.randrange(2)}",
            lambda: f"ewait {rng.randrange(2)} 0",
            lambda: f"killnw {other}" if rng.random() < 0.3 else "sleep0",
            lambda: f"kill {other} 0" if rng.random() < 0.2 else f"eisset {rng.randrange(2)}",
            lambda: f"link {other}",
            lambda: f"wait 1 {self.timeout()}",
            lambda: f"join {other} 0" if other != me else "sleep0",
            lambda: f"srel {rng.randrange(3)}",
            lambda: f"qputnw {rng.randrange(2)} {rng.randrange(100)}",
            lambda: self.op(me, n),
        ])()

    def role(self, me, n, pair, a, b, rounds):
        """One side of a ping-pong over rounds, mutated: timeouts on the waits, noise
        between the steps, scoped timeouts around some."""
        rng = self.rng
        ops = []
        for r in range(rounds):
            for step in pair:
                op = step.format(a=a, b=b, v=rng.randrange(100), s=rng.randrange(2))
                if op.endswith(" -") and rng.random() < 0.15:
                    op = op[:-1] + self.timeout()
                if rng.random() < 0.06:
                    ops += [f"tbegin {self.delay() if rng.random() < 0.2 else 0}", op, "tend"]
                else:
                    ops.append(op)
                if rng.random() < 0.1:
                    ops.append(self.noise(me, n))
        return ops

    def program(self):
        rng = self.rng
        n = rng.randrange(3, 6)
        bodies = [[] for _ in range(n)]
        # pairs of partners: 1-2 always; then 3 pongs with 1 on the same objects (several
        # waiters), chains on with 2 on other objects, or only makes noise; main joins in
        # as a partner sometimes
        kinds = list(self.PAIRS)
        plan = [(1, 2, rng.choice(kinds), 0, 1)]
        for k in range(3, n):
            r = rng.random()
            if r < 0.35:
                plan.append((plan[0][0], k, plan[0][2], 0, 1))
            elif r < 0.7:
                plan.append((k - 1, k, rng.choice(kinds), 1, 0))
            else:
                bodies[k] = [self.noise(k, n) for _ in range(rng.randrange(2, 6))]
        if rng.random() < 0.25:
            plan.append((0, rng.randrange(1, n), rng.choice(kinds), rng.randrange(2), 1))
        rounds = rng.randrange(1, 6)
        for ping, pong, kind, a, b in plan:
            p, q = self.PAIRS[kind]
            bodies[ping] += self.role(ping, n, p, a, b, rounds)
            bodies[pong] += self.role(pong, n, q, a, b, rounds)
        order = list(range(1, n))
        rng.shuffle(order)
        spawns = [f"spawn {k}" for k in order]
        if rng.random() < 0.5:  # some spawned later, from main's body
            cut = rng.randrange(len(spawns))
            body, depth, outside = bodies[0], 0, [0]
            for i, op in enumerate(body):  # never inside a scoped timeout
                depth += op.startswith("tbegin") - (op == "tend")
                if depth == 0:
                    outside.append(i + 1)
            pos = rng.choice(outside)
            body[pos:pos] = spawns[cut:]
            spawns = spawns[:cut]
        bodies[0] = spawns + bodies[0]
        for k in range(1, n):  # main waits for most, which deadlocks (LoopExit) at worst
            if rng.random() < 0.6:
                bodies[0].append(f"join {k} {'-' if rng.random() < 0.7 else self.timeout()}")
        return "\n".join(f"G{k}: " + ";".join(ops) for k, ops in enumerate(bodies))


def gen_programs(seed, count):
    """Half of them ping-pong programs (PingGen), a quarter spawn + join programs
    (Gen.join_program), the rest fully random (Gen)."""
    rng = random.Random(seed)
    return [PingGen(rng).program() if i % 2 else
            Gen(rng).join_program() if i % 4 == 2 else Gen(rng).program() for i in range(count)]


# Where each operation that waits has its delay or timeout, in units.
DELAY_ARG = {"sleep": 0, "spawnl": 1, "ewait": 1, "qput": 2, "qget": 1, "sacq": 1, "lacq": 0,
             "aget": 1, "kill": 1, "join": 1, "tbegin": 0, "killall": 1, "wait": 1}


def timed(program):
    """Whether the program has a positive delay (its order may depend on the machine)."""
    for line in program.splitlines():
        for op in line.partition(": ")[2].split(";"):
            w = op.split()
            k = DELAY_ARG.get(w[0]) if w else None
            if k is not None and w[1 + k].isdigit() and int(w[1 + k]) > 0:
                return True
    return False


# ---- the gevent interpreter -----------------------------------------------------------------


class Fail(Exception):
    """The error a greenlet dies of on "fail CODE" (libgreen: green_exit(CODE, NULL))."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def run_on_gevent(text, unit, out):
    import gevent
    from gevent import Timeout
    from gevent.event import AsyncResult, Event
    from gevent.exceptions import LoopExit
    from gevent.lock import BoundedSemaphore, Semaphore
    from gevent.queue import Empty, Full, Queue

    bodies = {}
    for line in text.splitlines():
        name, _, ops = line.partition(": ")
        bodies[int(name[1:])] = ops.split(";") if ops else []
    E = [Event(), Event()]
    Q = [Queue(), Queue(maxsize=1)]
    S = [BoundedSemaphore(1), BoundedSemaphore(2), Semaphore(1)]
    lock = BoundedSemaphore(1)  # sync.h's model of Lock (see the header)
    owner = [None]  # libgreen's lock has an owner; gevent's does not (see the header)
    A = [AsyncResult(), AsyncResult()]
    G = {}
    say = out.append

    def tmo(arg):
        return None if arg == "-" else int(arg) * unit

    hub = gevent.get_hub()
    if Fail not in hub.NOT_ERROR:  # dying of it is not worth a traceback
        hub.NOT_ERROR = hub.NOT_ERROR + (Fail,)

    def state(g):
        if not g.dead:
            return "alive"
        return "dead" if g.successful() else f"failed {g.exception.code}"

    def value(a, **kw):
        try:
            return str(a.get(**kw))
        except Fail as ex:
            return f"error {ex.code}"

    def op(me, words):
        w, a = words[0], words[1:]
        if w == "sleep0":
            gevent.sleep(0)
            return "ok"
        if w == "sleep":
            gevent.sleep(int(a[0]) * unit)
            return "ok"
        if w == "say":
            return a[0]
        if w == "spawn":
            G[int(a[0])] = gevent.spawn(body, int(a[0]))
            return "ok"
        if w == "spawnl":
            G[int(a[0])] = gevent.spawn_later(int(a[1]) * unit, body, int(a[0]))
            return "ok"
        if w == "eset":
            E[int(a[0])].set()
            return "ok"
        if w == "eclear":
            E[int(a[0])].clear()
            return "ok"
        if w == "ewait":
            return str(E[int(a[0])].wait(timeout=tmo(a[1])))
        if w in ("qput", "qputnw"):
            try:
                if w == "qput":
                    Q[int(a[0])].put(int(a[1]), timeout=tmo(a[2]))
                else:
                    Q[int(a[0])].put_nowait(int(a[1]))
                return "ok"
            except Full:
                return "Full"
        if w in ("qget", "qgetnw"):
            try:
                if w == "qget":
                    return str(Q[int(a[0])].get(timeout=tmo(a[1])))
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
        if w in ("lacq", "lacqnw"):
            if w == "lacq" and owner[0] == me:
                return "EDEADLK"
            t = tmo(a[0]) if w == "lacq" else None
            got = lock.acquire(w == "lacq", t)
            if got:
                owner[0] = me
            return str(got)
        if w == "lrel":
            if owner[0] != me:
                return "EPERM"
            owner[0] = None
            lock.release()
            return "ok"
        if w == "aset":
            A[int(a[0])].set(int(a[1]))
            return "ok"
        if w == "aerr":
            A[int(a[0])].set_exception(Fail(int(a[1])))
            return "ok"
        if w == "aget":
            return value(A[int(a[0])], timeout=tmo(a[1]))
        if w == "agetnw":
            return value(A[int(a[0])], block=False)
        if w == "aready":
            return str(bool(A[int(a[0])].ready()))
        if w == "eisset":
            return str(E[int(a[0])].is_set())
        if w == "qsize":
            return str(Q[int(a[0])].qsize())
        if w == "sval":
            return str(S[int(a[0])].counter)
        if w == "link":  # rawlink: the callback runs in the hub (as green_link's)
            k = int(a[0])
            if k not in G:
                return "unspawned"
            G[k].rawlink(lambda g: say(f"G{me}'s link on G{k}: {state(g)}"))
            return "ok"
        if w == "killall":  # every greenlet spawned so far, in index order
            gs = [G[k] for k in sorted(G)]
            gevent.killall(gs, block=a[0] == "1", timeout=tmo(a[1]))
            return ",".join(state(g) for g in gs) or "none"
        if w == "wait":  # E0 A0 S0 L0 and the greenlets spawned so far
            objs = [E[0], A[0], S[0], lock] + [G[k] for k in sorted(G)]
            names = ["E0", "A0", "S0", "L0"] + [f"G{k}" for k in sorted(G)]
            got = gevent.wait(objs, timeout=tmo(a[1]), count=None if a[0] == "all" else int(a[0]))
            return " ".join(names[next(i for i, o in enumerate(objs) if o is x)]
                            for x in got) or "none"
        if w == "fail":
            say(f"G{me}: fail {a[0]}")
            raise Fail(int(a[0]))
        if w in ("kill", "killnw", "join"):
            k = int(a[0])
            if k not in G:
                return "unspawned"
            if w == "kill":
                G[k].kill(timeout=tmo(a[1]))
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
            if w.startswith("tbegin"):
                t = Timeout(int(w.split()[1]) * unit)
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
            if ops[i].startswith("tbegin"):
                depth += 1
            elif ops[i] == "tend":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
        return i

    def drop_lock(me):
        if owner[0] == me:  # as gevent_runner.c's drop_lock()
            owner[0] = None
            lock.release()
            say(f"G{me}: lock released at exit")

    def body(k):
        say(f"G{k}: starts")
        try:
            block(k, bodies[k], 0, [])
        except gevent.GreenletExit:
            say(f"G{k}: killed")
            drop_lock(k)
            return
        except Fail:
            drop_lock(k)
            raise
        drop_lock(k)
        say(f"G{k}: ends")

    say("G0: starts")
    block(0, bodies[0], 0, [])
    drop_lock(0)
    for k in range(1, len(bodies)):  # G[k] spawns only greenlets after k: none is left
        if k not in G:
            continue
        G[k].kill()
        say(f"G0: final kill {k} -> {state(G[k])}")
    say("G0: ends")
    try:  # drain: runs whatever the program left queued, so the next one starts clean
        Event().wait()
    except LoopExit:
        pass
    else:
        raise AssertionError("the drain returned without LoopExit")


def keep_arrived_waiters(dropped):
    """Make gevent's AbstractLinkable do what libgreen does on purpose (src/sync/linkable.h):
    when the last linked waiter leaves while the notifier is pending, the notifier is
    cancelled (as in gevent) but the waiters that arrived behind it stay linked, and if the
    object is still ready a fresh notifier is queued at the tail for them (gevent drops them:
    they stay blocked for good).  Needs PURE_PYTHON=1 (the compiled
    class cannot be patched); dropped[0] counts the cases."""
    from gevent._abstract_linkable import AbstractLinkable
    unlink = AbstractLinkable.unlink

    def patched(self, callback):
        n = self._notifier
        arrived = n.args[0] if n is not None and n.pending and n.args else None
        if arrived and callback in arrived:  # libgreen's link_remove: from either list
            arrived.remove(callback)
        unlink(self, callback)
        if arrived and not n.pending:
            self._links.extend(arrived)
            del arrived[:]
            self._check_and_notify()
            dropped[0] += 1

    AbstractLinkable.unlink = patched


def gevent_worker(keep_arrived):
    """Read "=== N UNIT" headers and programs from stdin, print each trace as it ends."""
    import gevent  # noqa: F401
    sys.setswitchinterval(1e6)
    dropped = [0]
    if keep_arrived:
        keep_arrived_waiters(dropped)
    # gevent's first trip round the loop does one-time work that can take longer than a
    # unit: do it before any program.
    run_on_gevent("G0: sleep 1;tbegin 0;ewait 0 0;tend", 0.001, [])
    for i, unit, text in parse_batch(sys.stdin.read()):
        out = []
        print(f"=== {i}", flush=True)
        before = dropped[0]
        run_on_gevent(text, unit, out)
        if dropped[0] != before:
            out.append("# linkable.h: waiters that gevent drops kept linked")
        print("\n".join(out), f"=== done {i}", sep="\n", flush=True)
    return 0


def parse_batch(data):
    for chunk in data.split("=== ")[1:]:
        head, _, text = chunk.partition("\n")
        i, unit = head.split()
        yield int(i), float(unit), text.strip()


# ---- running the two sides --------------------------------------------------------------------


class Side:
    """One interpreter run as a stream of programs with a deadline each."""

    def __init__(self, name, argv, timeout, env=None):
        self.name, self.argv, self.timeout, self.env = name, argv, timeout, env

    def run(self, batch):
        """batch: [(index, unit, text)].  Returns {index: (trace, problem or None, notes)},
        notes being the trace's "# " lines, which the trace leaves out; a
        problem after the last program (valgrind's leak report) goes to self.errors."""
        results = {}
        self.errors = []
        todo = list(batch)
        while todo:
            with tempfile.TemporaryFile("w+") as f:
                f.write("".join(f"=== {i} {u!r}\n{t}\n" for i, u, t in todo))
                f.seek(0)
                proc = subprocess.Popen(self.argv, stdin=f, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=self.env,
                                        start_new_session=True)
            done = self.read(proc, results)
            todo = [p for p in todo if p[0] not in results]
            if todo and done is not None:  # the worker died or hung on todo[0]
                results[todo[0][0]] = ("", done, [])
                todo = todo[1:]
            elif done is not None:
                self.errors.append(done)
        return results

    def read(self, proc, results):
        """Collect traces until EOF; None when all went well, else the problem."""
        cur, lines, notes, buf = None, [], [], b""
        deadline = time.monotonic() + self.timeout
        fd = proc.stdout.fileno()
        problem = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                problem = f"{self.name}: no result after {self.timeout:g} s (hangs)"
                os.killpg(proc.pid, signal.SIGKILL)  # its children too (valgrind's tool)
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                line = raw.decode()
                if line.startswith("=== done "):
                    results[cur] = ("\n".join(lines), None, notes)
                    cur, lines, notes = None, [], []
                    deadline = time.monotonic() + self.timeout
                elif line.startswith("=== "):
                    cur, lines, notes = int(line[4:]), [], []
                elif line.startswith("# "):
                    notes.append(line[2:])
                else:
                    lines.append(line)
        err = proc.stderr.read().decode(errors="replace")
        # expected: libgreen's word on a greenlet that died of "fail" unjoined
        err = "".join(x for x in err.splitlines(True) if "and nobody joined it" not in x)
        rc = proc.wait()
        if problem is None and (rc != 0 or cur is not None):
            problem = f"{self.name}: exit status {rc}: {err[-2000:]}"
        elif problem is None and err:
            print(f"gevent_diff: {self.name} wrote to stderr:\n{err[-2000:]}")
        proc.stdout.close()
        proc.stderr.close()
        return problem


def run_both(gevent_side, c_side, batch):
    """Both sides at once (each waits mostly on timers or on its own process)."""
    res = {}
    th = threading.Thread(target=lambda: res.update(g=gevent_side.run(batch)))
    th.start()
    res["c"] = c_side.run(batch)
    th.join()
    return res["g"], res["c"]


def under_valgrind():
    return "vgpreload" in os.environ.get("LD_PRELOAD", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", help="libgreen's interpreter (tests/hub/gevent_runner)")
    ap.add_argument("--count", type=int, help="programs (default 2000 x GREEN_TEST_SCALE)")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--unit", type=float, help="seconds per delay unit (default 0.005)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per program")
    ap.add_argument("--show", type=int, default=3, help="differences to print in full")
    ap.add_argument("--print", type=int, metavar="N", help="print program N and exit")
    ap.add_argument("--gevent-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep-arrived", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--valgrind-runner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if under_valgrind():
        # Not traced across exec (valgrind's default): Python runs natively from here on.
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
                  + ["--valgrind-runner"], env)
    try:
        import gevent  # noqa: F401
    except ImportError:
        print("gevent_diff: python3-gevent is not installed (./dev.sh installs it)")
        return 77
    if args.gevent_worker:
        return gevent_worker(args.keep_arrived)
    scale = float(os.environ.get("GREEN_TEST_SCALE", "1"))
    if args.print is not None:
        print(gen_programs(args.seed, args.print + 1)[args.print])
        return 0
    count = args.count if args.count is not None else max(10, int(2000 * scale))
    unit = args.unit or (0.02 if args.valgrind_runner else 0.005)
    programs = gen_programs(args.seed, count)
    if not args.runner:
        ap.error("--runner is required")
    runner = [os.path.abspath(args.runner)]
    timeout = args.timeout
    if args.valgrind_runner:
        runner = VALGRIND + runner
        timeout *= 4
    gside = Side("gevent", [sys.executable, os.path.abspath(__file__), "--gevent-worker"],
                 timeout)
    cside = Side("libgreen", runner, timeout)

    # gevent with linkable.h's deviation applied, to explain a difference (see the header)
    kside = Side("gevent+linkable.h", gside.argv + ["--keep-arrived"], timeout,
                 dict(os.environ, PURE_PYTHON="1"))

    def explain(i, p, c):
        """Why program i differs, if for a reason that is not a bug: c is libgreen's trace."""
        for factor in (1, 4, 16, 64) if timed(p) else (1,):
            batch = [(i, unit * factor, p)]
            if factor > 1:
                g, c = (r[i] for r in run_both(gside, cside, batch))
                if not (g[1] or c[1]) and g[0] == c[0]:
                    return f"matched only with a {factor}x unit (machine load)"
            k = kside.run(batch)[i]
            if not (k[1] or c[1]) and k[2] and k[0] == c[0]:
                return ("matches gevent with linkable.h's deliberate deviation applied"
                        + (f", with a {factor}x unit" if factor > 1 else ""))
        return None

    start = time.monotonic()
    want, got = run_both(gside, cside, [(i, unit, p) for i, p in enumerate(programs)])
    errors = gside.errors + cside.errors
    failed, explained = [], []
    for i, p in enumerate(programs):
        (w, wp, _), (g, gp, _) = want[i], got[i]
        if wp or gp:
            failed.append((i, wp or gp, w, g))
        elif w != g:
            why = explain(i, p, got[i])
            if why:
                explained.append((i, why))
            else:
                failed.append((i, None, w, g))
    lines = sum(t[0].count("\n") + 1 for t in want.values())
    for i, problem, w, g in failed[:args.show]:
        print(f"--- program {i} (seed {args.seed}, unit {unit:g} s):\n{programs[i]}")
        if problem:
            print(problem)
        print("\n".join(difflib.unified_diff(w.splitlines(), g.splitlines(),
                                             "gevent", "libgreen", lineterm="")))
    for e in errors:
        print(f"gevent_diff: after the last program, {e}")
    for i, why in explained:
        print(f"gevent_diff: program {i} {why}")
    print(f"gevent_diff: seed {args.seed}: {count} programs, {lines} trace lines: "
          f"{count - len(failed) - len(explained)} identical, {len(explained)} explained, "
          f"{len(failed)} differ"
          + (f" (programs {', '.join(str(f[0]) for f in failed[:20])})" if failed else "")
          + f"; {time.monotonic() - start:.1f} s")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
