# SPDX-License-Identifier: MIT
"""What the benchmark drivers (hub_bench.py, http_bench.py) share: the CPU's name, medians
over rounds, per-round ratios and the tables' number format.  The C programs' counterpart is
benchutil.h."""
import statistics


def cpu_field(key):
    """A field of /proc/cpuinfo's first CPU ('model name', 'vendor_id'), or '?'."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                k, _, v = line.partition(':')
                if k.strip() == key:
                    return v.strip()
    except OSError:
        pass
    return '?'


def median(v):
    """Median of the figures that exist (None: a round without one)."""
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def ratio(a, b):
    """Median over rounds of a/b, over the rounds where both have a figure."""
    r = [x / y for x, y in zip(a, b) if x is not None and y]
    return statistics.median(r) if r else None


def fmt(x, spec='.1f'):
    return '—' if x is None else format(x, spec)
