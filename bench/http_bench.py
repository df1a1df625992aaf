# SPDX-License-Identifier: MIT
"""bench/http_bench.py: the HTTP benchmark of issue 7.  Runs keep-alive "hello world" servers
side by side in one run: libgreen (handler in blocking style, private and shared stacks), a
raw libev callback server (the floor), nginx with one worker, gevent's StreamServer and Go's
net/http with GOMAXPROCS=1.  Prints one table with ratios to the libev floor and the issue's
targets.

Run by meson (`meson compile -C BUILD bench-http`), which builds and passes the programs;
by hand:
    /usr/bin/python3 bench/http_bench.py --ev-http BUILD/bench/ev_http \\
        --hold-conns BUILD/bench/hold_conns --go BUILD/bench/go_http \\
        --gevent bench/http/gevent_http.py --nginx-conf bench/http/nginx.conf [--libgreen PROG]

Method.  Throughput: every figure from a fresh server process pinned to --server-cpu
(taskset), loaded by `wrk -t1 -c100 -dSECONDS` pinned to --client-cpu after a 1 s warm-up
run; a round measures every server once, starting at a different one each round.  The
server's CPU time is utime + stime of its process and its children (/proc/PID/stat) before
and after the measured run, divided by the requests wrk counted.  Concurrency: a fresh server,
VmRSS of its process tree (/proc/PID/status) after one request, then after
bench/http/hold_conns.c has opened --conns keep-alive connections and had one request served
on each; the growth divided by the connections.  Figures are medians over rounds; ratios are
medians of the per-round ratios, so a slow phase of the shared machine hits both sides alike.

A server is an entry of server_list() below: a command with {port} (and {prefix}, a scratch
directory) in it, pinned and started by the driver; it must serve the same 12-byte body
"hello world\\n" on 127.0.0.1:{port} with HTTP/1.1 keep-alive until SIGTERM.  The libgreen
entries run `http_hello PORT private|shared` (--libgreen, or else BUILD/examples/http_hello
of --build-dir or of a build*/ directory of this checkout) and are skipped, with a note, when
there is none.

--json FILE writes the table's figures (medians, per-round values, ratios, notes, the
machine) as JSON; --png FILE then renders them with bench/http_chart.py (matplotlib,
Debian's python3-matplotlib; without it the table is still printed, with a note).
`ninja -C BUILD bench-http` writes BUILD/bench/http_bench.json and http_bench.png.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchutil import cpu_field, fmt, median, ratio

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_PER_REQ_X = 1.15    # libgreen CPU per request <= 1.15x raw libev's
NGINX_X, GEVENT_X, GO_X = 1.0, 2.0, 1.3  # libgreen requests/s >= these times the peer's
SHARED_PER_CONN_MAX = 2048               # bytes of RSS growth per connection, shared stacks
PROBE = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
BODY = b'hello world\n'


class Server:
    def __init__(self, key, title, argv, env=None, missing=None, setup=None):
        self.key, self.title, self.argv, self.env = key, title, argv, env or {}
        self.missing = missing          # why it cannot run, or None
        self.setup = setup              # setup(prefix, port, options) before the start
        self.version = ''
        self.rps, self.cpu_us, self.wrk_busy, self.rss_per_conn = [], [], [], []
        self.others = []    # share of the machine's CPU time other processes took
        self.errors = []


def find_libgreen(o):
    if o.libgreen:
        return o.libgreen if os.access(o.libgreen, os.X_OK) else None
    dirs = ([o.build_dir] if o.build_dir else []) + sorted(
        glob.glob(os.path.join(TOP, 'build*')),
        key=lambda d: ('release' not in d, d))   # release builds first
    for d in dirs:
        if re.search(r'[at]san|valgrind', os.path.basename(d)):
            continue    # instrumented: not what a benchmark should measure
        p = os.path.join(d, 'examples', 'http_hello')
        if os.access(p, os.X_OK):
            return p
    return None


def nginx_setup(prefix, port, o):
    with open(o.nginx_conf) as f:
        conf = f.read()
    conf = re.sub(r'listen\s+127\.0\.0\.1:\d+', f'listen 127.0.0.1:{port}', conf)
    conf = re.sub(r'worker_connections\s+(\d+)',
                  lambda m: f'worker_connections {max(int(m.group(1)), o.conns + 64)}', conf)
    with open(os.path.join(prefix, 'nginx.conf'), 'w') as f:
        f.write(conf)


def server_list(o):
    """Every server of the table, in its order; the first is the floor."""
    nginx = shutil.which('nginx') or shutil.which('nginx', path='/usr/sbin:/sbin')
    lg = find_libgreen(o)
    lg_missing = None if lg else f'no libgreen server: {o.libgreen} is not executable' \
        if o.libgreen else (
        'no libgreen server: build*/examples/http_hello does not exist (it needs the '
        'cooperative socket API, include/green/io.h); point --libgreen at one to add it')
    have = lambda path, why: None if path and os.path.exists(path) else why
    return [
        Server('libev', 'raw libev callbacks (floor)', [o.ev_http, '{port}'],
               missing=have(o.ev_http, 'no ev_http: libev was not found at configure time')),
        Server('lg_private', 'libgreen, private stacks', [lg, '{port}', 'private'],
               missing=lg_missing),
        Server('lg_shared', 'libgreen, shared stacks', [lg, '{port}', 'shared'],
               missing=lg_missing),
        Server('nginx', 'nginx, 1 worker',
               [nginx, '-p', '{prefix}', '-c', '{prefix}/nginx.conf',
                '-e', '{prefix}/error.log'],
               missing=have(nginx, 'no nginx row: nginx is not installed') or
               have(o.nginx_conf, 'no nginx row: no --nginx-conf'),
               setup=nginx_setup),
        Server('gevent', 'gevent StreamServer', [o.python, o.gevent, '{port}'],
               missing=have(o.gevent, 'no gevent row: no --gevent') or
               (None if os.access(o.python, os.X_OK) else f'no gevent row: no {o.python}')),
        Server('go', 'Go net/http, GOMAXPROCS=1', [o.go, '{port}'], env={'GOMAXPROCS': '1'},
               missing=have(o.go, 'no Go row: golang-go was not found at configure time')),
    ]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def probe(port):
    """One request on a fresh connection; True when the body came back."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
            s.sendall(PROBE)
            got = b''
            while not got.endswith(BODY):
                data = s.recv(4096)
                if not data:
                    return False
                got += data
            return True
    except OSError:
        return False


def tree(pid):
    """pid and its descendants (nginx's worker is the master's child)."""
    parent = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    parent[int(d)] = int(f.read().rpartition(')')[2].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def tree_cpu_s(pid):
    ticks = 0
    for p in tree(pid):
        try:
            with open(f'/proc/{p}/stat') as f:
                fields = f.read().rpartition(')')[2].split()
            ticks += int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15)
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf('SC_CLK_TCK')


def tree_rss_bytes(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
    return total


class Running:
    """A server process pinned to a CPU, from start until stop()."""

    def __init__(self, server, o):
        self.server = server
        self.port = free_port()
        self.prefix = tempfile.mkdtemp(prefix='http-bench-')
        if server.setup:
            server.setup(self.prefix, self.port, o)
        argv = [a.format(port=self.port, prefix=self.prefix) for a in server.argv]
        self.out = open(os.path.join(self.prefix, 'stdout'), 'w+')
        self.err = open(os.path.join(self.prefix, 'stderr'), 'w+')
        # taskset execs the server: the pid is the server's.
        self.proc = subprocess.Popen(['taskset', '-c', str(o.server_cpu)] + argv,
                                     stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, **server.env))
        deadline = time.monotonic() + 20
        while not probe(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f'did not start: {self.tail()}')
            time.sleep(0.05)
        self.out.seek(0)
        for line in self.out:
            if line.startswith('version '):
                server.version = line.split(None, 1)[1].strip()

    def tail(self):
        self.err.seek(0)
        text = self.err.read().strip()
        log = os.path.join(self.prefix, 'error.log')
        if os.path.exists(log):
            with open(log) as f:
                text += f.read().strip()
        return (text or f'exit status {self.proc.poll()}')[-300:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.prefix, ignore_errors=True)


def machine_task_s():
    """CPU seconds every process of the machine has run so far (user, nice, system; not
    interrupts, which no process is charged with) and the CPUs' total time."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf('SC_CLK_TCK')
    return (v[0] + v[1] + v[2]) / hz, sum(v) / hz


def wrk(o, port, seconds):
    """(requests, requests/s, wrk's CPU seconds, wall seconds, problems) of one wrk run."""
    argv = ['taskset', '-c', str(o.client_cpu), o.wrk, '-t1', f'-c{o.connections}',
            f'-d{seconds}s', f'http://127.0.0.1:{port}/']
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    p.stdout.close()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = status
    wall = time.monotonic() - t0
    requests = re.search(r'(\d+) requests in', out)
    rate = re.search(r'Requests/sec:\s*([\d.]+)', out)
    problems = [line.strip() for line in out.splitlines()
                if 'Socket errors' in line or 'Non-2xx' in line]
    if status or not requests or not rate:
        raise RuntimeError(f'wrk failed: {out.strip()[-300:]}')
    return (int(requests.group(1)), float(rate.group(1)), usage.ru_utime + usage.ru_stime,
            wall, problems)


def measure_throughput(s, o):
    r = Running(s, o)
    try:
        wrk(o, r.port, 1)   # warm-up: caches, lazily built tables, Go's and Python's heaps
        cpu0, machine0 = tree_cpu_s(r.proc.pid), machine_task_s()
        requests, rate, wrk_cpu, wall, problems = wrk(o, r.port, o.duration)
        cpu1, machine1 = tree_cpu_s(r.proc.pid), machine_task_s()
        if r.proc.poll() is not None:
            raise RuntimeError(f'died under load: {r.tail()}')
    finally:
        r.stop()
    s.errors += problems
    others = machine1[0] - machine0[0] - (cpu1 - cpu0) - wrk_cpu
    return (rate, (cpu1 - cpu0) * 1e6 / requests, wrk_cpu / wall,
            max(others, 0) / (machine1[1] - machine0[1]))


def measure_connections(s, o):
    r = Running(s, o)
    holder = None
    try:
        time.sleep(0.2)    # let the server settle after its start-up and the probe
        before = tree_rss_bytes(r.proc.pid)
        holder = subprocess.Popen(['taskset', '-c', str(o.client_cpu), o.hold_conns,
                                   str(r.port), str(o.conns)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = holder.stdout.readline()
        if not line.startswith('ready'):
            holder.stdin.close()
            raise RuntimeError(f'hold_conns: {holder.stderr.read().strip()[-300:]}')
        after = tree_rss_bytes(r.proc.pid)
        holder.stdin.close()
        holder.wait(timeout=60)
        holder = None
    finally:
        if holder:
            holder.kill()
            holder.wait()
        r.stop()
    return (after - before) / o.conns


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def load_average():
    try:
        with open('/proc/loadavg') as f:
            return f.read().split()[0]
    except OSError:
        return '?'


def program_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return '?'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ev-http', help='the raw libev server (bench/http/ev_http.c)')
    ap.add_argument('--hold-conns', required=True, help='bench/http/hold_conns.c, built')
    ap.add_argument('--go', help='bench/http/go_http.go, built')
    ap.add_argument('--gevent', help='bench/http/gevent_http.py')
    ap.add_argument('--nginx-conf', help='bench/http/nginx.conf')
    ap.add_argument('--libgreen', help='the libgreen server (default: examples/http_hello)')
    ap.add_argument('--build-dir', help='where to look for examples/http_hello first')
    ap.add_argument('--python', default='/usr/bin/python3',
                    help="gevent's interpreter (Debian's, where python3-gevent is)")
    ap.add_argument('--wrk', default=shutil.which('wrk'))
    ap.add_argument('-r', '--rounds', type=int, default=5)
    ap.add_argument('-d', '--duration', type=int, default=5, help='seconds of each wrk run')
    ap.add_argument('-c', '--connections', type=int, default=100, help="wrk's connections")
    ap.add_argument('--conns', type=int, default=10000,
                    help='connections held open in the concurrency part (0: skip it)')
    ap.add_argument('--conn-rounds', type=int, default=3)
    ap.add_argument('--server-cpu', type=int, default=0)
    ap.add_argument('--client-cpu', type=int, default=1)
    ap.add_argument('--only', help='comma-separated keys of the servers to run '
                    '(libev, lg_private, lg_shared, nginx, gevent, go)')
    ap.add_argument('--quick', action='store_true', help='-r 2 -d 2 --conn-rounds 1')
    ap.add_argument('--json', help="write the table's figures to this file")
    ap.add_argument('--png', help='render the --json figures as a chart (bench/http_chart.py)')
    o = ap.parse_args()
    if o.quick:
        o.rounds, o.duration, o.conn_rounds = 2, 2, 1
    if not o.wrk:
        sys.exit('http_bench: wrk is not installed (Debian package wrk)')
    if o.png and not o.json:
        sys.exit('http_bench: --png needs --json')

    notes = []
    limit = raise_fd_limit(o.conns + 256)   # inherited by every server and hold_conns
    if o.conns and limit < o.conns + 256:
        notes.append(f'RLIMIT_NOFILE is {limit}: {o.conns} connections do not fit; '
                     f'holding {limit - 256}')
        o.conns = max(limit - 256, 0)

    servers = server_list(o)
    if o.only:
        keep = o.only.split(',')
        servers = [s for s in servers if s.key in keep]
    for why in dict.fromkeys(s.missing for s in servers if s.missing):
        titles = ' and '.join(s.title for s in servers if s.missing == why)
        notes.append(f'skipped {titles}: {why}')
    run = [s for s in servers if not s.missing]
    by_key = {s.key: s for s in servers}

    t0 = datetime.datetime.now(datetime.timezone.utc)
    load0 = load_average()
    for k in range(o.rounds):
        for j in range(len(run)):
            s = run[(j + k) % len(run)]
            try:
                rate, cpu, busy, others = measure_throughput(s, o)
            except RuntimeError as e:
                s.errors.append(str(e))
                rate = cpu = busy = others = None
            s.rps.append(rate)
            s.cpu_us.append(cpu)
            s.wrk_busy.append(busy)
            s.others.append(others)
    for k in range(o.conn_rounds if o.conns else 0):
        for j in range(len(run)):
            s = run[(j + k) % len(run)]
            try:
                s.rss_per_conn.append(measure_connections(s, o))
            except RuntimeError as e:
                s.errors.append(str(e))
                s.rss_per_conn.append(None)
    seconds = (datetime.datetime.now(datetime.timezone.utc) - t0).total_seconds()

    if 'nginx' in by_key and not by_key['nginx'].missing:
        by_key['nginx'].version = program_version([by_key['nginx'].argv[0], '-v']).replace(
            'nginx version: ', '')
    print(f"machine: {cpu_field('model name')} ({cpu_field('vendor_id')}, family "
          f"{cpu_field('cpu family')} model {cpu_field('model')}), {os.cpu_count()} CPUs "
          f"online, Linux {platform.release()}; run {t0:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s, "
          f"load average {load0} before, {load_average()} after")
    print(f'client: {program_version([o.wrk, "-v"]).split(" Copyright")[0]}')
    print('servers: ' + '; '.join(s.title + (f' ({s.version})' if s.version else '')
                                  for s in run))
    print(f'method: every figure from a fresh server process pinned to CPU {o.server_cpu}; '
          f'throughput: `wrk -t1 -c{o.connections} -d{o.duration}s` pinned to CPU '
          f'{o.client_cpu} after a 1 s warm-up, {o.rounds} rounds, servers interleaved; '
          f'server CPU = utime+stime of its process tree (/proc/PID/stat) over the measured '
          f'run / requests; wrk busy = its CPU time / wall time (near 100%: wrk is the '
          f'limit, compare CPU per request); others = the share of all CPUs\' time that '
          f'other processes ran during the run (/proc/stat; the shared machine\'s noise). '
          f'Concurrency: VmRSS of the server\'s process tree '
          f'after one request, then with {o.conns:,} keep-alive connections open, each served '
          f'one request ({o.conn_rounds} rounds); growth / connections. Medians over rounds; '
          f'ratios = median of per-round ratios to the libev floor.\n')

    machine = (f"{cpu_field('model name')}, {os.cpu_count()} CPUs online, "
               f"Linux {platform.release()}")
    base = by_key.get('libev')
    print('| server | requests/s | ÷ libev | server CPU µs/request | ÷ libev | wrk busy | '
          f'others | RSS growth per connection ({o.conns:,} held), B |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for s in servers:
        if s.missing:
            print(f'| {s.title} | skipped | | | | | | |')
            continue
        has_base = base and not base.missing
        rr = ratio(s.rps, base.rps) if has_base else None
        cr = ratio(s.cpu_us, base.cpu_us) if has_base else None
        busy, others = median(s.wrk_busy), median(s.others)
        print(f'| {s.title} | {fmt(median(s.rps), ",.0f")} | {fmt(rr, ".2f")} | '
              f'{fmt(median(s.cpu_us), ".2f")} | {fmt(cr, ".2f")} | '
              f'{fmt(None if busy is None else 100 * busy, ".0f")}% | '
              f'{fmt(None if others is None else 100 * others, ".0f")}% | '
              f'{fmt(median(s.rss_per_conn), ",.0f")} |')
    for s in run:
        for e in sorted(set(s.errors)):
            notes.append(f'{s.title}: {e}')
    for n in notes:
        print(f'({n})')
    if o.json:
        write_json(o, servers, base, notes, machine, t0, seconds)

    print('\ntargets:')

    def target(ok, text):
        print(f"- {'n/a   ' if ok is None else 'MET   ' if ok else 'MISSED'} {text}")

    def peer(key):
        p = by_key.get(key)
        return p if p and not p.missing else None

    for key in ('lg_private', 'lg_shared'):
        lg = by_key.get(key)
        if not lg:
            continue
        name = lg.title
        if lg.missing:
            target(None, f'{name}: every target (skipped, see above)')
            continue
        cr = ratio(lg.cpu_us, base.cpu_us) if peer('libev') else None
        target(None if cr is None else cr <= CPU_PER_REQ_X,
               f'{name}: CPU per request <= {CPU_PER_REQ_X}x raw libev: {fmt(cr, ".2f")}x '
               f'({fmt(median(lg.cpu_us), ".2f")} µs vs '
               f'{fmt(median(base.cpu_us) if peer("libev") else None, ".2f")} µs)')
        for pkey, x, what in (('nginx', NGINX_X, 'nginx'), ('gevent', GEVENT_X, 'gevent'),
                              ('go', GO_X, 'Go')):
            p = peer(pkey)
            r = ratio(lg.rps, p.rps) if p else None
            target(None if r is None else r >= x,
                   f'{name}: requests/s >= {x:g}x {what}: {fmt(r, ".2f")}x ('
                   f'{fmt(median(lg.rps), ",.0f")} vs '
                   f'{fmt(median(p.rps) if p else None, ",.0f")})')
        if key == 'lg_shared' and o.conns:
            per = median(lg.rss_per_conn)
            target(None if per is None else per <= SHARED_PER_CONN_MAX,
                   f'{name}: <= {SHARED_PER_CONN_MAX} B RSS growth per connection: '
                   f'{fmt(per, ",.0f")} B')
    if o.png:
        chart = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'http_chart.py')
        p = subprocess.run([sys.executable, chart, o.json, o.png])
        print(f'\nchart: {o.png}' if p.returncode == 0 else
              f'\n(no chart: http_chart.py exited {p.returncode})')
    return 0


def write_json(o, servers, base, notes, machine, t0, seconds):
    """The table's figures, for bench/http_chart.py and for comparing runs."""
    has_base = base is not None and not base.missing
    rows = []
    for s in servers:
        row = {'key': s.key, 'title': s.title, 'version': s.version, 'missing': s.missing}
        if not s.missing:
            row.update({
                'requests_per_s': median(s.rps), 'requests_per_s_rounds': s.rps,
                'requests_per_s_vs_libev': ratio(s.rps, base.rps) if has_base else None,
                'cpu_us_per_request': median(s.cpu_us), 'cpu_us_per_request_rounds': s.cpu_us,
                'cpu_vs_libev': ratio(s.cpu_us, base.cpu_us) if has_base else None,
                'wrk_busy': median(s.wrk_busy), 'others': median(s.others),
                'rss_bytes_per_connection': median(s.rss_per_conn),
                'rss_bytes_per_connection_rounds': s.rss_per_conn,
                'errors': sorted(set(s.errors))})
        rows.append(row)
    doc = {'machine': machine, 'run_utc': f'{t0:%Y-%m-%d %H:%M}', 'seconds': round(seconds),
           'method': {'rounds': o.rounds, 'duration_s': o.duration,
                      'wrk_connections': o.connections, 'held_connections': o.conns,
                      'conn_rounds': o.conn_rounds, 'server_cpu': o.server_cpu,
                      'client_cpu': o.client_cpu},
           'targets': {'cpu_per_request_vs_libev_max': CPU_PER_REQ_X,
                       'requests_per_s_vs_nginx_min': NGINX_X,
                       'requests_per_s_vs_gevent_min': GEVENT_X,
                       'requests_per_s_vs_go_min': GO_X,
                       'shared_rss_bytes_per_connection_max': SHARED_PER_CONN_MAX},
           'servers': rows, 'notes': notes}
    os.makedirs(os.path.dirname(os.path.abspath(o.json)), exist_ok=True)
    with open(o.json, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')


sys.exit(main())
