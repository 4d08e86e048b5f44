#!/usr/bin/python3
"""reference_scan.py - an independent float64 PyTorch reference of the full-model scan
(exp_scan.c; EXPERIMENTS.md "Scan") on any model directory with tokens JSONL data.

Dev tool: Debian /usr/bin/python3 (torch + numpy); CI never runs it.
  /usr/bin/python3 tools/reference_scan.py --make-fixture
      writes tests/fixtures/models/exp_model/expected_scan.tsv (40 rows x 48 tokens).
  /usr/bin/python3 tools/reference_scan.py --model DIR [--data F] [--n-prompts N]
      [--seq-len T] [--out FILE]
The C test: `./cleanup scan --model tests/fixtures/models/exp_model --n-prompts 40
--seq-len 48 --scan-pairs exact` (tests/test_scan.sh), within 1e-4.

Definitions (written from EXPERIMENTS.md, not from the C code):
  * sources: embed (hook_embed), pos_embed (hook_pos_embed), then per layer l its heads
    L{l}H{h} (attn.hook_result[:, :, h]) and MLP{l} (hook_mlp_out; none when attn_only).
    n is later than w when n's stage is larger: embeddings 0, heads of layer l 2l+1,
    MLP l 2l+2.
  * scan.{s}.{loc}.{median,q12_5,q25,q75,q87_5}: PR(resid_loc, s), numpy type-7 quantiles.
  * scan.{w}.{n}.{median,q12_5,q87_5}: PR(n, w) for n later than w.
  * cleaners of w: later n with median PR(n, w) <= -max(0.03, 0.25 |min over n|), most
    negative first, at most 8; scan.{w}.n_cleaners; scan.{w}.cleaners_sum.{median,q12_5,
    q87_5}: quantiles of sum over cleaners of PR(n, w) (when there are any).
  * after(w): resid_pre0 for the embeddings, resid_mid{l} (attn-only resid_post{l}) for a
    head of layer l, resid_post{l} for MLP l; last = the last location.
    scan.{w}.gone = median at after - median at last; scan.{w}.spread = q87_5 - q12_5 at
    last; scan.{w}.score = gone / max(spread, 1e-6); scan.{w}.rank among sources with a
    later node, by score descending (ties: the earlier source).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlref  # noqa: E402
from reference_experiments import EXP_DIR, pr, write_results  # noqa: E402

F64 = torch.float64
STATS5 = [("median", 0.5), ("q12_5", 0.125), ("q25", 0.25), ("q75", 0.75), ("q87_5", 0.875)]
STATS3 = [("median", 0.5), ("q12_5", 0.125), ("q87_5", 0.875)]


def quant(x, which):
    x = x.reshape(-1).numpy()
    return [(n, float(np.nanquantile(x, q))) for n, q in which]


def run_scan(model_dir, data_path, n_rows, seq_len):
    tlref.F64 = F64
    cfg, w_raw = tlref.load_model_dir(model_dir)
    w = tlref.process_weights(cfg, {k: v.to(F64) for k, v in w_raw.items()})
    L, H = cfg["n_layers"], cfg["n_heads"]
    attn_only = bool(cfg.get("attn_only", False))
    rows = []
    with open(data_path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line)["tokens"][:seq_len])
    rows = rows[:n_rows]
    toks = torch.tensor(rows, dtype=torch.long)
    h = tlref.forward(cfg, w, toks, True)

    src = [("embed", 0, h["hook_embed"]), ("pos_embed", 0, h["hook_pos_embed"].expand_as(h["hook_embed"]))]
    for l in range(L):
        for hh in range(H):
            src.append(("L%dH%d" % (l, hh), 2 * l + 1, h["blocks.%d.attn.hook_result" % l][:, :, hh]))
        if not attn_only:
            src.append(("MLP%d" % l, 2 * l + 2, h["blocks.%d.hook_mlp_out" % l]))
    locs = [("resid_pre0", h["blocks.0.hook_resid_pre"])]
    for l in range(L):
        if not attn_only:
            locs.append(("resid_mid%d" % l, h["blocks.%d.hook_resid_mid" % l]))
        locs.append(("resid_post%d" % l, h["blocks.%d.hook_resid_post" % l]))

    res = {}
    for name, stage, vec in src:
        for lname, r in locs:
            for s, v in quant(pr(r, vec), STATS5):
                res["scan.%s.%s.%s" % (name, lname, s)] = v
        later = [(n2, v2) for n2, st2, v2 in src if st2 > stage]
        prs = [pr(v2, vec) for _, v2 in later]
        meds = []
        for (n2, _), p in zip(later, prs):
            for s, v in quant(p, STATS3):
                res["scan.%s.%s.%s" % (name, n2, s)] = v
            meds.append(res["scan.%s.%s.median" % (name, n2)])
        lowest = min([0.0] + meds)
        thr = max(0.03, -0.25 * lowest)
        cands = sorted([(m, k) for k, m in enumerate(meds) if m <= -thr])[:8]
        res["scan.%s.n_cleaners" % name] = len(cands)
        if cands:
            tot = sum(prs[k] for _, k in cands)
            for s, v in quant(tot, STATS3):
                res["scan.%s.cleaners_sum.%s" % (name, s)] = v
        if stage == 0:
            after = "resid_pre0"
        elif stage % 2 == 1:
            after = ("resid_post%d" if attn_only else "resid_mid%d") % ((stage - 1) // 2)
        else:
            after = "resid_post%d" % ((stage - 2) // 2)
        last = locs[-1][0]
        gone = res["scan.%s.%s.median" % (name, after)] - res["scan.%s.%s.median" % (name, last)]
        spread = res["scan.%s.%s.q87_5" % (name, last)] - res["scan.%s.%s.q12_5" % (name, last)]
        res["scan.%s.gone" % name] = gone
        res["scan.%s.spread" % name] = spread
        res["scan.%s.score" % name] = gone / max(spread, 1e-6)
    ranked = [(i, name) for i, (name, stage, _) in enumerate(src) if any(st2 > stage for _, st2, _ in src)]
    order = sorted(ranked, key=lambda x: (-res["scan.%s.score" % x[1]], x[0]))
    for r, (_, name) in enumerate(order, 1):
        res["scan.%s.rank" % name] = r
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-fixture", action="store_true")
    ap.add_argument("--model", default=EXP_DIR)
    ap.add_argument("--data")
    ap.add_argument("--n-prompts", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=48)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.make_fixture:
        a.model = EXP_DIR
        a.out = os.path.join(EXP_DIR, "expected_scan.tsv")
    res = run_scan(a.model, a.data or os.path.join(a.model, "data.jsonl"), a.n_prompts, a.seq_len)
    out = a.out or "scan_ref.tsv"
    write_results(out, res)
    print("%s: %d metrics" % (out, len(res)))


if __name__ == "__main__":
    main()
