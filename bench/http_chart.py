# SPDX-License-Identifier: MIT
"""bench/http_chart.py: the HTTP benchmark's chart (issue 7, docs/benchmarks.md).

Usage: /usr/bin/python3 bench/http_chart.py http_bench.json http_bench.png

Reads the figures bench/http_bench.py --json wrote and renders one PNG with three panels,
a bar per server in the table's order: keep-alive requests/s under wrk, the server's CPU
time per request (µs; the issue's target is libgreen <= 1.15x the raw libev floor, drawn as
a dashed line), and RSS growth per held connection (bytes; the shared-stack target, 2 KB,
dashed).  libgreen's rows are drawn in one colour, the peers in another; a server that was
skipped or has no figure gets no bar and says so.  Needs matplotlib (Debian's
python3-matplotlib); exits 1 with a message without it.
"""
import json
import sys

PANELS = [  # (figure's key, axis label, number format)
    ('requests_per_s', 'requests/s (keep-alive, wrk)', '{:,.0f}'),
    ('cpu_us_per_request', 'server CPU µs per request', '{:.2f}'),
    ('rss_bytes_per_connection', 'RSS growth per held connection, bytes', '{:,.0f}'),
]
LIBGREEN, PEER = '#2a7ab0', '#9a9a9a'


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('\n\n')[1])
    try:
        import matplotlib
        matplotlib.use('Agg')  # no display: render to a file
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit('http_chart: matplotlib is missing (Debian package python3-matplotlib)')
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    rows = doc['servers']
    titles = [r['title'] for r in rows]
    colours = [LIBGREEN if r['key'].startswith('lg_') else PEER for r in rows]
    base = next((r for r in rows if r['key'] == 'libev' and not r['missing']), None)
    targets = doc.get('targets', {})

    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 0.55 * len(rows) + 2.2),
                             sharey=True)
    for ax, (key, label, form) in zip(axes, PANELS):
        values = [r.get(key) for r in rows]
        ys = range(len(rows))
        ax.barh(ys, [v or 0 for v in values], color=colours)
        top = max([v for v in values if v] or [1])
        for y, v, r in zip(ys, values, rows):
            text = form.format(v) if v is not None else (
                'skipped' if r['missing'] else 'no figure')
            ax.text((v or 0) + top * 0.01, y, text, va='center', fontsize=8)
        if key == 'cpu_us_per_request' and base and base.get(key):
            limit = base[key] * targets.get('cpu_per_request_vs_libev_max', 1.15)
            ax.axvline(limit, color=LIBGREEN, linestyle='--', linewidth=1)
            ax.text(limit, -0.7, ' target', color=LIBGREEN, fontsize=8)
        if key == 'rss_bytes_per_connection' and targets.get(
                'shared_rss_bytes_per_connection_max'):
            limit = targets['shared_rss_bytes_per_connection_max']
            ax.axvline(limit, color=LIBGREEN, linestyle='--', linewidth=1)
            ax.text(limit, -0.7, ' shared target', color=LIBGREEN, fontsize=8)
        ax.set_xlabel(label)
        ax.set_xlim(0, top * 1.25)
        ax.grid(axis='x', alpha=0.3)
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels(titles)
    axes[0].invert_yaxis()  # the table's order, top down
    m = doc.get('method', {})
    fig.suptitle(f"HTTP keep-alive hello: {doc.get('machine', '?')}; run {doc.get('run_utc')} "
                 f"UTC; wrk -c{m.get('wrk_connections')} {m.get('duration_s')} s x "
                 f"{m.get('rounds')} rounds, {m.get('held_connections', 0):,} held "
                 f"connections; medians", fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == '__main__':
    sys.exit(main())
