#!/usr/bin/python3
"""max_deviation.py - how far two runs' values are apart, for changes that are allowed to
move results slightly (a kernel computed another way): dev tool, not used by CI.

    /usr/bin/python3 tools/max_deviation.py HOOKS_DIR_A HOOKS_DIR_B     # `cleanup run --hook all` outputs
    /usr/bin/python3 tools/max_deviation.py A/results.tsv B/results.tsv

Hook dumps (*.dat): per hook, the largest |a - b| relative to the hook's largest |a|
(scale-relative), and the largest elementwise |a - b| / |a| over elements with
|a| >= 1e-3 of the hook's largest (elementwise). results.tsv: per metric |a - b| / |a|
(|a| >= 1e-6; smaller values by their absolute difference), the worst listed, and how
many metrics differ at all. Names present in one only are counted.
"""
import os
import sys

import numpy as np


def read_dat(path):
    with open(path) as f:
        f.readline()
        return np.loadtxt(f, dtype=np.float64, ndmin=2)


def hooks(a, b):
    names = sorted(n for n in os.listdir(a) if n.endswith(".dat"))
    worst_scale = worst_elem = 0.0
    rows = []
    for n in names:
        if not os.path.exists(os.path.join(b, n)):
            print("only in %s: %s" % (a, n))
            continue
        x, y = read_dat(os.path.join(a, n)), read_dat(os.path.join(b, n))
        if x.shape != y.shape:
            print("%s: shapes differ %s %s" % (n, x.shape, y.shape))
            continue
        d = np.abs(x - y)
        big = np.abs(x).max()
        scale_rel = d.max() / big if big > 0 else d.max()
        sel = np.abs(x) >= 1e-3 * big
        elem_rel = (d[sel] / np.abs(x[sel])).max() if sel.any() else 0.0
        differ = int((d > 0).sum())
        rows.append((scale_rel, elem_rel, n[:-4], differ, x.size))
        worst_scale, worst_elem = max(worst_scale, scale_rel), max(worst_elem, elem_rel)
    for scale_rel, elem_rel, n, differ, size in sorted(rows, reverse=True):
        print("%-40s scale-relative %.3g  elementwise %.3g  (%d of %d values differ)" % (n, scale_rel, elem_rel,
                                                                                         differ, size))
    print("hooks: %d compared; worst scale-relative %.3g, worst elementwise (|a| >= 1e-3 max) %.3g"
          % (len(rows), worst_scale, worst_elem))


def read_tsv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, v = line.rstrip("\n").split("\t")
            out[k] = float(v)
    return out


def results(a, b):
    x, y = read_tsv(a), read_tsv(b)
    common = sorted(set(x) & set(y))
    devs = []
    for k in common:
        u, v = x[k], y[k]
        if u == v or (np.isnan(u) and np.isnan(v)):
            continue
        d = abs(u - v)
        devs.append((d / abs(u) if abs(u) >= 1e-6 else d, d, k, u, v))
    devs.sort(reverse=True)
    print("results: %d metrics in common (%d only in A, %d only in B), %d differ"
          % (len(common), len(set(x) - set(y)), len(set(y) - set(x)), len(devs)))
    for rel, d, k, u, v in devs[:12]:
        print("  %-48s %.9g -> %.9g  (relative %.3g, absolute %.3g)" % (k, u, v, rel, d))
    if devs:
        print("worst relative %.3g (%s); largest absolute difference %.3g (%s)"
              % (devs[0][0], devs[0][2], max(devs, key=lambda d: d[1])[1], max(devs, key=lambda d: d[1])[2]))
        for floor in (1e-3, 1e-2, 1e-1):
            big = [d for d in devs if abs(d[3]) >= floor]
            if big:
                w = max(big)
                print("  over the metrics with |value| >= %g: worst relative %.3g (%s)" % (floor, w[0], w[2]))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1], sys.argv[2]
    if os.path.isdir(a):
        hooks(a, b)
    else:
        results(a, b)


if __name__ == "__main__":
    main()
