#!/usr/bin/python3
"""protocol_torch.py - the protocol of `cleanup all` (Figs 1-3, 5, Section 3.2 and the
full-model scan) run the way a researcher runs the paper's notebooks: a
TransformerLens-style PyTorch pipeline in float32, for timing it side by side with
`cleanup all` (issue 15: "the whole protocol on 30 rows: >= 10x a TransformerLens-style
PyTorch pipeline on the same machine"; BENCHMARKS.md). Dev tool, not used by CI.

    /usr/bin/python3 tools/protocol_torch.py --model DIR [--data F] [--rows 30]
        [--seq-len 1024] [--threads N] [--batch 2] [--out FILE] [--compare RESULTS_TSV]

What "TransformerLens-style" means here (and what it costs):
  * Weights processed as TransformerLens does (tools/tlref.py: fold_ln,
    center_writing_weights, center_unembed, fold_value_biases), float32.
  * Per batch of --batch rows, one `run_with_cache`-style forward pass that keeps EVERY
    hook (scores and pattern [B,H,T,T] included) and computes the logits, with
    TransformerLens' einsums and its -1e5 causal mask (tools/tlref.py's forward, float32),
    then the experiments read the cache; Fig 3's value patch is a second full forward
    pass (as `run_with_hooks` does; its logits are computed too, as TransformerLens
    returns them, unless --lean).
  * The statistics are vectorised torch over the batch (projection ratios as
    (a*b).sum(-1) / (b*b).sum(-1), DLA by einsum, Section 3.2's V-composition by one
    einsum over the cleaners' pattern), samples kept per series and their quantiles by
    numpy's nanquantile at the end. No Python loop runs per position.
  * Fig 4 is not run (it needs the model's real tokenizer; `cleanup all` skips it too
    on a model without one, such as `cleanup synth --shape gelu-4l`).
This is deliberately not a worst case: batches and vectorised statistics are what a
careful researcher writes; a per-position Python loop (as in the float64 references,
tools/reference_experiments.py) is many times slower.

--compare RESULTS_TSV prints the largest deviation of these float32 values from a
`cleanup all` results.tsv of the same rows (a check that both computed the same thing).
Timing lines go to stdout: wall and CPU seconds (process, all threads) per phase and in all.
"""
import argparse
import json
import math
import os
import resource
import sys
import time
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlref  # noqa: E402

F32 = torch.float32
WRITER = (0, 2)
CLEANERS = [2, 3, 4, 5, 6, 7]
PATCHED = 2
STATS5 = [("median", 0.5), ("q12_5", 0.125), ("q25", 0.25), ("q75", 0.75), ("q87_5", 0.875)]
STATS3 = [("median", 0.5), ("q12_5", 0.125), ("q87_5", 0.875)]


def load_model_dir(d):
    """tlref.load_model_dir, with F32 safetensors read in one piece (numpy) rather than
    value by value (as from_pretrained would: loading is not what is compared)."""
    names = sorted(os.listdir(d))
    st = [n for n in names if n.endswith(".safetensors")]
    if any(n.endswith(".pth") for n in names) or not st:
        return tlref.load_model_dir(d)
    with open(os.path.join(d, "config.json")) as f:
        cfg = tlref.normalize_config(json.load(f))
    with open(os.path.join(d, st[0]), "rb") as f:
        buf = f.read()
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    w = OrderedDict()
    for name, info in header.items():
        if name == "__metadata__" or name.endswith(("attn.mask", "attn.IGNORE")):
            continue
        if info["dtype"] != "F32":
            return tlref.load_model_dir(d)
        b, e = info["data_offsets"]
        arr = np.frombuffer(buf, dtype="<f4", count=(e - b) // 4, offset=8 + n + b)
        w[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return cfg, w


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """Wall and CPU seconds per phase."""

    def __init__(self):
        self.t, self.c = time.perf_counter(), cpu_seconds()
        self.t0, self.c0 = self.t, self.c
        self.phases = OrderedDict()

    def lap(self, name):
        t, c = time.perf_counter(), cpu_seconds()
        w0, c0 = self.phases.get(name, (0.0, 0.0))
        self.phases[name] = (w0 + t - self.t, c0 + c - self.c)
        self.t, self.c = t, c


def pr(a, b):
    """Projection ratio over the last dim; NaN where b = 0."""
    num = (a * b).sum(-1)
    den = (b * b).sum(-1)
    return torch.where(den == 0, torch.full_like(num, float("nan")), num / den)


def dla(r, scale, u):
    """((r - mean r)/scale) . u over the last dim."""
    rc = r - r.mean(-1, keepdim=True)
    return ((rc / scale) * u).sum(-1)


def forward(cfg, w, tokens, v_patch=None, logits=True):
    """tlref.forward in float32 (every hook kept), optionally without the unembedding."""
    if logits:
        return tlref.forward(cfg, w, tokens, True, v_patch=v_patch)
    W_U, b_U = w["unembed.W_U"], w["unembed.b_U"]
    w2 = dict(w)
    w2["unembed.W_U"], w2["unembed.b_U"] = W_U[:, :1], b_U[:1]  # a one-column stand-in
    return tlref.forward(cfg, w2, tokens, True, v_patch=v_patch)


def locations(h, L):
    locs = [("resid_pre0", h["blocks.0.hook_resid_pre"])]
    for l in range(L):
        locs.append(("resid_mid%d" % l, h["blocks.%d.hook_resid_mid" % l]))
        locs.append(("resid_post%d" % l, h["blocks.%d.hook_resid_post" % l]))
    return locs


class Series:
    """Samples per metric series, appended batch by batch."""

    def __init__(self):
        self.s = OrderedDict()

    def add(self, name, t):
        self.s.setdefault(name, []).append(t.detach().reshape(-1).to(F32).clone())

    def get(self, name):
        return torch.cat(self.s[name])


def quantiles(x, which):
    x = x.numpy().astype(np.float64)
    return [(n, float(np.nanquantile(x, q))) for n, q in which]


def scan_sources(h, L, H):
    src = [("embed", 0, h["hook_embed"]), ("pos_embed", 0, h["hook_pos_embed"].expand_as(h["hook_embed"]))]
    for l in range(L):
        for hh in range(H):
            src.append(("L%dH%d" % (l, hh), 2 * l + 1, h["blocks.%d.attn.hook_result" % l][:, :, hh]))
        src.append(("MLP%d" % l, 2 * l + 2, h["blocks.%d.hook_mlp_out" % l]))
    return src


def batch_stats(cfg, w, rows, b0, toks, S, lean, clock):
    """One batch: the cached forward passes and every experiment's samples."""
    L, H = cfg["n_layers"], cfg["n_heads"]
    wl, wh = WRITER
    T = toks.shape[1]
    h = forward(cfg, w, toks)
    clock.lap("forward (clean, every hook, logits)")
    writer = h["blocks.%d.attn.hook_result" % wl][:, :, wh]
    locs = locations(h, L)
    # Fig 1
    for hh in range(H):
        head = h["blocks.%d.attn.hook_result" % wl][:, :, hh]
        for name, r in locs:
            S.add("fig1.L%dH%d.%s" % (wl, hh, name), pr(r, head))
    # Fig 2
    for l in range(L):
        for hh in range(H):
            if (l, hh) != WRITER:
                S.add("fig2.L%dH%d" % (l, hh), pr(h["blocks.%d.attn.hook_result" % l][:, :, hh], writer))
        S.add("fig2.MLP%d" % l, pr(h["blocks.%d.hook_mlp_out" % l], writer))
    csum = h["blocks.%d.attn.hook_result" % PATCHED][:, :, CLEANERS].sum(2)
    S.add("fig2.cleaners_sum", pr(csum, writer))
    clock.lap("statistics")
    # Fig 3: the value patch, a second forward pass
    s_clean = h["blocks.%d.ln1.hook_scale" % PATCHED]
    v_resid = h["blocks.%d.hook_resid_pre" % PATCHED] - writer
    hp = forward(cfg, w, toks, v_patch=(PATCHED, v_resid, s_clean), logits=not lean)
    clock.lap("forward (value patch)")
    for tag, hx in (("clean", h), ("patched", hp)):
        for name, r in locations(hx, L):
            S.add("fig3.%s.%s" % (tag, name), pr(r, writer))
        for hh in range(H):
            S.add("fig3.%s.L%dH%d" % (tag, PATCHED, hh), pr(hx["blocks.%d.attn.hook_result" % PATCHED][:, :, hh], writer))
    del hp
    W_U = w["unembed.W_U"]
    s2 = h["blocks.%d.ln1.hook_scale" % PATCHED]
    pl = "blocks.%d.attn." % PATCHED
    ov = torch.stack([(writer / s2) @ w[pl + "W_V"][c] @ w[pl + "W_O"][c] for c in CLEANERS], 2)  # [B,T,C,D]
    lnf = h["ln_final.hook_scale"]
    # Fig 5: rows 0..9, positions 32..T-2, along W_U[:, next token]
    nb = max(0, min(10 - b0, toks.shape[0]))
    if nb > 0:
        u = W_U.T[toks[:nb, 33:T]]                                           # [nb, T-33, D]
        S.add("fig5.x", dla(writer[:nb, 32:T - 1], lnf[:nb, 32:T - 1], u))
        S.add("fig5.y", dla(ov[:nb, 32:T - 1].sum(2), lnf[:nb, 32:T - 1], u))
    # Section 3.2: rows 0..29, every position, along the model's own top1 - top2
    nb = max(0, min(30 - b0, toks.shape[0]))
    if nb > 0:
        top = torch.topk(h["logits"][:nb], 2, dim=-1).indices                # [nb, T, 2]
        u = W_U.T[top[..., 0]] - W_U.T[top[..., 1]]
        A = h[pl + "hook_pattern"][:nb, CLEANERS]                           # [nb, C, T, T]
        vc = torch.einsum("bcij,bjcd->bid", A, ov[:nb])
        S.add("sec32.x", dla(writer[:nb], lnf[:nb], u))
        S.add("sec32.y_cleaners", dla(csum[:nb], lnf[:nb], u))
        S.add("sec32.y_vcomp", dla(vc, lnf[:nb], u))
        S.add("sec32.y_vcomp_no_attention", dla(ov[:nb].sum(2), lnf[:nb], u))
        un = W_U.T[toks[:nb, 1:]]
        S.add("sec32.xn", dla(writer[:nb, :T - 1], lnf[:nb, :T - 1], un))
        S.add("sec32.yn", dla(vc[:, :T - 1], lnf[:nb, :T - 1], un))
    clock.lap("statistics")
    # The scan: every source onto every residual location, every later source onto it
    src = scan_sources(h, L, H)
    for name, stage, vec in src:
        for lname, r in locs:
            S.add("scan.%s.%s" % (name, lname), pr(r, vec))
        later = [(n2, v2) for n2, st2, v2 in src if st2 > stage]
        for n2, v2 in later:
            S.add("scan.%s.%s" % (name, n2), pr(v2, vec))
    clock.lap("statistics (scan)")
    del h


def pearson(x, y):
    x = x.double().numpy(); y = y.double().numpy()
    xc, yc = x - x.mean(), y - y.mean()
    return float((xc * yc).sum() / math.sqrt((xc * xc).sum() * (yc * yc).sum()))


def slope_intercept(x, y):
    x = x.double().numpy(); y = y.double().numpy()
    xc = x - x.mean()
    s = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    return s, float(y.mean() - s * x.mean())


def finish(cfg, S, n_rows, T):
    """Quantiles and fits of every series: the metrics, named as in results.tsv."""
    L, H = cfg["n_layers"], cfg["n_heads"]
    res = OrderedDict()
    for name in S.s:
        if name.startswith(("fig1.", "fig2.", "fig3.")):
            for s, v in quantiles(S.get(name), STATS5):
                res["%s.%s" % (name, s)] = v
    res["fig2.sum_of_medians"] = sum(res["fig2.L%dH%d.median" % (PATCHED, c)] for c in CLEANERS)
    x, y = S.get("fig5.x"), S.get("fig5.y")
    res["fig5.n_points"] = float(x.numel())
    res["fig5.slope"], res["fig5.intercept"] = slope_intercept(x, y)
    res["fig5.r"] = pearson(x, y)
    x, y2 = S.get("sec32.x"), S.get("sec32.y_vcomp")
    res["sec32.n_points"] = float(x.numel())
    res["sec32.r_cleaners"] = pearson(x, S.get("sec32.y_cleaners"))
    res["sec32.r_vcomp"] = pearson(x, y2)
    res["sec32.slope_vcomp"] = slope_intercept(x, y2)[0]
    res["sec32.r_vcomp_no_attention"] = pearson(x, S.get("sec32.y_vcomp_no_attention"))
    res["sec32.r_vcomp_next_token"] = pearson(S.get("sec32.xn"), S.get("sec32.yn"))
    res["sec32.r_vcomp_10_rows"] = pearson(x[:10 * T], y2[:10 * T])
    # the scan (tools/reference_scan.py's definitions, from per-series samples)
    names = [("embed", 0), ("pos_embed", 0)]
    for l in range(L):
        names += [("L%dH%d" % (l, hh), 2 * l + 1) for hh in range(H)] + [("MLP%d" % l, 2 * l + 2)]
    locs = ["resid_pre0"] + ["resid_%s%d" % (k, l) for l in range(L) for k in ("mid", "post")]
    for name, stage in names:
        for lname in locs:
            for s, v in quantiles(S.get("scan.%s.%s" % (name, lname)), STATS5):
                res["scan.%s.%s.%s" % (name, lname, s)] = v
        later = [n2 for n2, st2 in names if st2 > stage]
        prs = [S.get("scan.%s.%s" % (name, n2)) for n2 in later]
        meds = []
        for n2, p in zip(later, prs):
            for s, v in quantiles(p, STATS3):
                res["scan.%s.%s.%s" % (name, n2, s)] = v
            meds.append(res["scan.%s.%s.median" % (name, n2)])
        lowest = min([0.0] + meds)
        thr = max(0.03, -0.25 * lowest)
        cands = sorted([(m, k) for k, m in enumerate(meds) if m <= -thr])[:8]
        res["scan.%s.n_cleaners" % name] = len(cands)
        if cands:
            tot = sum(prs[k] for _, k in cands)
            for s, v in quantiles(tot, STATS3):
                res["scan.%s.cleaners_sum.%s" % (name, s)] = v
        after = "resid_pre0" if stage == 0 else (
            "resid_mid%d" % ((stage - 1) // 2) if stage % 2 == 1 else "resid_post%d" % ((stage - 2) // 2))
        last = locs[-1]
        gone = res["scan.%s.%s.median" % (name, after)] - res["scan.%s.%s.median" % (name, last)]
        spread = res["scan.%s.%s.q87_5" % (name, last)] - res["scan.%s.%s.q12_5" % (name, last)]
        res["scan.%s.gone" % name] = gone
        res["scan.%s.spread" % name] = spread
        res["scan.%s.score" % name] = gone / max(spread, 1e-6)
    ranked = [(i, n) for i, (n, st) in enumerate(names) if any(st2 > st for _, st2 in names)]
    for r, (_, n) in enumerate(sorted(ranked, key=lambda x: (-res["scan.%s.score" % x[1]], x[0])), 1):
        res["scan.%s.rank" % n] = r
    return res


def compare(res, path):
    """Largest deviations of res from a results.tsv (common names)."""
    theirs = {}
    with open(path) as f:
        for line in f:
            k, v = line.rstrip("\n").split("\t")
            theirs[k] = float(v)
    common = [k for k in res if k in theirs]
    dev = []
    for k in common:
        a, b = res[k], theirs[k]
        if math.isnan(a) or math.isnan(b):
            continue
        dev.append((abs(a - b), abs(a - b) / max(abs(b), 1e-3), k, a, b))
    dev.sort(reverse=True)
    print("compare: %d metrics in common with %s (%d here, %d there); largest |ours - theirs|:"
          % (len(common), path, len(res), len(theirs)))
    for d, rel, k, a, b in dev[:5]:
        print("  %-44s %.6g vs %.6g (abs %.3g, rel %.3g)" % (k, a, b, d, rel))
    print("  median abs deviation %.3g" % float(np.median([d[0] for d in dev])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data")
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2, help="rows per cached forward pass")
    ap.add_argument("--lean", action="store_true", help="no logits in Fig 3's patched pass")
    ap.add_argument("--out", help="write the metrics here (results.tsv format)")
    ap.add_argument("--compare", help="a cleanup results.tsv of the same rows")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clock = Clock()
    tlref.F64 = F32  # tlref's dtype for its mask constant: the pipeline is float32
    with torch.no_grad():
        cfg, w_raw = load_model_dir(a.model)
        w = tlref.process_weights(cfg, OrderedDict((k, v.to(F32)) for k, v in w_raw.items()))
        del w_raw
        assert not cfg["attn_only"], "attention-only models: not supported by this tool"
        rows = []
        with open(a.data or os.path.join(a.model, "data.jsonl")) as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line)["tokens"][:a.seq_len])
                if len(rows) == a.rows:
                    break
        assert len(rows) == a.rows and all(len(r) == a.seq_len for r in rows), "not enough rows of seq-len tokens"
        toks = torch.tensor(rows, dtype=torch.long)
        clock.lap("load + process")
        S = Series()
        for b0 in range(0, a.rows, a.batch):
            batch_stats(cfg, w, rows, b0, toks[b0:b0 + a.batch], S, a.lean, clock)
        res = finish(cfg, S, a.rows, a.seq_len)
        clock.lap("quantiles and fits")
    if a.out:
        with open(a.out, "w") as f:
            for k in sorted(res):
                f.write("%s\t%.9g\n" % (k, res[k]))
    wall, cpu = time.perf_counter() - clock.t0, cpu_seconds() - clock.c0
    print("protocol_torch: torch %s, %d threads, %d rows x %d tokens, batch %d%s: %d metrics"
          % (torch.__version__, torch.get_num_threads(), a.rows, a.seq_len, a.batch, ", lean" if a.lean else "",
             len(res)))
    for name, (pw, pc) in clock.phases.items():
        print("  %-40s wall %8.2f s  cpu %8.2f s" % (name, pw, pc))
    print("total\twall %.2f s\tcpu %.2f s\tmax RSS %.0f MB" % (
        wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    if a.compare:
        compare(res, a.compare)


if __name__ == "__main__":
    main()
