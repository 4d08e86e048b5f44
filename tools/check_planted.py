#!/usr/bin/python3
"""check_planted.py - an independent numpy reference for the planted model (dev tool).

Loads a model directory written by `cleanup synth` (config.json, model.safetensors,
data.jsonl, tokenizer.json), applies TransformerLens processing exactly as
docs/PROTOCOL.md section 1 says, runs the forward pass in float64 and computes the
experiments of docs/PROTOCOL.md section 5 that the planted circuit is about (Fig 1, 2,
3, 5 and section 3.2) under their results.tsv names. It shares no code with
the C program, so it checks both the plant and, later, `cleanup all`.

usage: /usr/bin/python3 tools/check_planted.py MODEL_DIR [--rows N] [--tsv OUT]
           [--checks CHECKS_TSV] [--compare RESULTS_TSV]
  --checks  a file from `cleanup synth --print-checks`: verify every expectation
  --compare a results.tsv from `cleanup all`: report metrics that differ by > 1e-4
Exit 0 when every check holds (and every compared metric agrees), 1 otherwise.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_bytes import bytes_to_unicode  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a:base + b], dtype="<f4").astype(np.float64)
        out[name] = arr.reshape(info["shape"])
    return out


def process(w, cfg):
    """TransformerLens processing (docs/PROTOCOL.md section 1), in order."""
    L = cfg["n_layers"]
    for l in range(L):
        p = "blocks.%d." % l
        lw, lb = w[p + "ln1.w"], w[p + "ln1.b"]
        for x in "QKV":
            W, b = w[p + "attn.W_" + x], w[p + "attn.b_" + x]
            b = b + np.einsum("d,hde->he", lb, W)
            W = W * lw[None, :, None]
            W = W - W.mean(axis=1, keepdims=True)
            w[p + "attn.W_" + x], w[p + "attn.b_" + x] = W, b
        lw, lb = w[p + "ln2.w"], w[p + "ln2.b"]
        W = w[p + "mlp.W_in"]
        w[p + "mlp.b_in"] = w[p + "mlp.b_in"] + lb @ W
        W = W * lw[:, None]
        w[p + "mlp.W_in"] = W - W.mean(axis=0, keepdims=True)
        for k in ("ln1.w", "ln1.b", "ln2.w", "ln2.b"):
            del w[p + k]
    W = w["unembed.W_U"]
    w["unembed.b_U"] = w["unembed.b_U"] + w["ln_final.b"] @ W
    W = W * w["ln_final.w"][:, None]
    w["unembed.W_U"] = W - W.mean(axis=0, keepdims=True)
    del w["ln_final.w"], w["ln_final.b"]
    # center_writing_weights
    for k in ("embed.W_E", "pos_embed.W_pos"):
        w[k] = w[k] - w[k].mean(axis=-1, keepdims=True)
    for l in range(L):
        p = "blocks.%d." % l
        for k in ("attn.W_O", "mlp.W_out"):
            w[p + k] = w[p + k] - w[p + k].mean(axis=-1, keepdims=True)
        for k in ("attn.b_O", "mlp.b_out"):
            w[p + k] = w[p + k] - w[p + k].mean()
    # center_unembed
    w["unembed.W_U"] = w["unembed.W_U"] - w["unembed.W_U"].mean(axis=1, keepdims=True)
    w["unembed.b_U"] = w["unembed.b_U"] - w["unembed.b_U"].mean()
    # fold_value_biases
    for l in range(L):
        p = "blocks.%d." % l
        w[p + "attn.b_O"] = w[p + "attn.b_O"] + np.einsum("he,hed->d", w[p + "attn.b_V"], w[p + "attn.W_O"])
        w[p + "attn.b_V"] = np.zeros_like(w[p + "attn.b_V"])
    return w


def lnpre(x, eps):
    xc = x - x.mean(-1, keepdims=True)
    s = np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    return xc / s, s


def gelu(x):
    """Exact (erf) GELU in float64 (torch's erf when available: fast)."""
    try:
        import torch
        e = torch.erf(torch.from_numpy(x / np.sqrt(2.0))).numpy()
    except ImportError:
        from math import erf
        e = np.vectorize(erf)(x / np.sqrt(2.0))
    return 0.5 * x * (1.0 + e)


def attention(w, l, n, nq=None, nv=None):
    """One attention layer on normalised input n [B,T,D] (nq/nv override the
    query/key and value inputs). Returns pattern [B,H,T,T] and result [B,T,H,D]."""
    p = "blocks.%d.attn." % l
    nq = n if nq is None else nq
    nv = n if nv is None else nv
    q = np.einsum("btd,hde->bthe", nq, w[p + "W_Q"]) + w[p + "b_Q"]
    k = np.einsum("btd,hde->bthe", nq, w[p + "W_K"]) + w[p + "b_K"]
    v = np.einsum("btd,hde->bthe", nv, w[p + "W_V"]) + w[p + "b_V"]
    T = n.shape[1]
    dh = q.shape[-1]
    sc = np.einsum("bqhe,bkhe->bhqk", q, k) / np.sqrt(dh)
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    sc = np.where(mask, -1e5, sc)
    sc = sc - sc.max(-1, keepdims=True)
    pat = np.exp(sc)
    pat = pat / pat.sum(-1, keepdims=True)
    z = np.einsum("bhqk,bkhe->bqhe", pat, v)
    res = np.einsum("bthe,hed->bthd", z, w[p + "W_O"])
    return pat, res


def mlp(w, l, x, eps):
    p = "blocks.%d.mlp." % l
    n, s = lnpre(x, eps)
    pre = n @ w[p + "W_in"] + w[p + "b_in"]
    return gelu(pre) @ w[p + "W_out"] + w[p + "b_out"]


def forward(w, cfg, tokens, eps=1e-5):
    L = cfg["n_layers"]
    T = tokens.shape[1]
    x = w["embed.W_E"][tokens] + w["pos_embed.W_pos"][:T][None]
    acts = {"resid_pre0": x}
    for l in range(L):
        n, s = lnpre(x, eps)
        pat, res = attention(w, l, n)
        acts["scale%d" % l] = s[..., 0]
        acts["n%d" % l] = n
        acts["pattern%d" % l] = pat
        acts["result%d" % l] = res
        x = x + res.sum(2) + w["blocks.%d.attn.b_O" % l]
        acts["resid_mid%d" % l] = x
        m = mlp(w, l, x, eps)
        acts["mlp_out%d" % l] = m
        x = x + m
        acts["resid_post%d" % l] = x
        if l + 1 < L:
            acts["resid_pre%d" % (l + 1)] = x
    nf, sf = lnpre(x, eps)
    acts["lnf_scale"] = sf[..., 0]
    acts["logits"] = nf @ w["unembed.W_U"] + w["unembed.b_U"]
    return acts


def pr(a, b):
    num = (a * b).sum(-1)
    den = (b * b).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den == 0, np.nan, num / den)


QS = (("median", 50), ("q12_5", 12.5), ("q25", 25), ("q75", 75), ("q87_5", 87.5))


def add_quantiles(res, name, x):
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    for k, q in QS:
        res[name + "." + k] = float(np.percentile(x, q)) if x.size else float("nan")


def locations(L):
    locs = ["resid_pre0"]
    for l in range(L):
        locs += ["resid_mid%d" % l, "resid_post%d" % l]
    return locs


def dla(x, scale, u):
    xc = x - x.mean(-1, keepdims=True)
    return (xc / scale[..., None] * u).sum(-1)


def experiments(w, cfg, tokens, wl=0, wh=2, pl=2, cleaners=(2, 3, 4, 5, 6, 7), eps=1e-5):
    L, H = cfg["n_layers"], cfg["n_heads"]
    res = {}
    a = forward(w, cfg, tokens, eps)
    writer = a["result%d" % wl][:, :, wh]
    locs = locations(L)
    # Fig 1
    for h in range(H):
        hv = a["result0"][:, :, h]
        for loc in locs:
            add_quantiles(res, "fig1.L0H%d.%s" % (h, loc), pr(a[loc], hv))
    # Fig 2
    for l in range(L):
        for h in range(H):
            if (l, h) == (wl, wh):
                continue
            add_quantiles(res, "fig2.L%dH%d" % (l, h), pr(a["result%d" % l][:, :, h], writer))
        add_quantiles(res, "fig2.MLP%d" % l, pr(a["mlp_out%d" % l], writer))
    csum = a["result%d" % pl][:, :, list(cleaners)].sum(2)
    res["fig2.cleaners_sum.median"] = float(np.nanmedian(pr(csum, writer)))
    # Fig 3: value input of layer pl = resid_pre - writer, frozen ln1 scale
    s = a["scale%d" % pl]
    xv = a["resid_pre%d" % pl] - writer
    nv = (xv - xv.mean(-1, keepdims=True)) / s[..., None]
    _, pres = attention(w, pl, a["n%d" % pl], nv=nv)
    # queries/keys clean: attention() with nq = clean n gives the clean pattern
    x = a["resid_pre%d" % pl] + pres.sum(2) + w["blocks.%d.attn.b_O" % pl]
    patched = {"resid_mid%d" % pl: x}
    x = x + mlp(w, pl, x, eps)
    patched["resid_post%d" % pl] = x
    for l in range(pl + 1, L):
        n, _ = lnpre(x, eps)
        _, r = attention(w, l, n)
        x = x + r.sum(2) + w["blocks.%d.attn.b_O" % l]
        patched["resid_mid%d" % l] = x
        x = x + mlp(w, l, x, eps)
        patched["resid_post%d" % l] = x
    for loc in locs:
        add_quantiles(res, "fig3.clean.%s" % loc, pr(a[loc], writer))
        add_quantiles(res, "fig3.patched.%s" % loc, pr(patched.get(loc, a[loc]), writer))
    for h in range(H):
        add_quantiles(res, "fig3.clean.L%dH%d" % (pl, h), pr(a["result%d" % pl][:, :, h], writer))
        add_quantiles(res, "fig3.patched.L%dH%d" % (pl, h), pr(pres[:, :, h], writer))
    # Fig 5: first 10 rows, i = 32..T-2, same-position V-composition, no attention
    WU = w["unembed.W_U"]
    T = tokens.shape[1]
    OV = sum(w["blocks.%d.attn.W_V" % pl][c] @ w["blocks.%d.attn.W_O" % pl][c] for c in cleaners)
    nb = min(10, tokens.shape[0])
    xs, ys = [], []
    for b in range(nb):
        for i in range(32, T - 1):
            u = WU[:, tokens[b, i + 1]]
            wv = writer[b, i]
            v = (wv / s[b, i]) @ OV
            xs.append(dla(wv, a["lnf_scale"][b, i], u))
            ys.append(dla(v, a["lnf_scale"][b, i], u))
    xs, ys = np.array(xs), np.array(ys)
    res["fig5.n_points"] = len(xs)
    if len(xs) > 1:
        sl, ic = np.polyfit(xs, ys, 1)
        res["fig5.slope"], res["fig5.intercept"] = float(sl), float(ic)
        res["fig5.r"] = float(np.corrcoef(xs, ys)[0, 1])
    # Section 3.2: first 30 rows, all positions, top1 - top2 direction
    nb = min(30, tokens.shape[0])
    lg = a["logits"][:nb]
    top = np.argsort(-lg, axis=-1, kind="stable")[..., :2]
    udir = WU[:, top[..., 0]] - WU[:, top[..., 1]]  # [D, b, t]
    udir = np.moveaxis(udir, 0, -1)
    sf = a["lnf_scale"][:nb]
    dw = dla(writer[:nb], sf, udir)
    dc = dla(csum[:nb], sf, udir)
    pat = a["pattern%d" % pl][:nb]
    ws = writer[:nb] / s[:nb, :, None]
    vc = np.zeros_like(ws)
    for c in cleaners:
        Wc = w["blocks.%d.attn.W_V" % pl][c] @ w["blocks.%d.attn.W_O" % pl][c]
        vc += np.einsum("bij,bjd->bid", pat[:, c], ws @ Wc)
    dv = dla(vc, sf, udir)
    res["sec32.n_points"] = dw.size
    res["sec32.r_cleaners"] = float(np.corrcoef(dw.ravel(), dc.ravel())[0, 1])
    res["sec32.r_vcomp"] = float(np.corrcoef(dw.ravel(), dv.ravel())[0, 1])
    res["sec32.slope_vcomp"] = float(np.polyfit(dw.ravel(), dv.ravel(), 1)[0])
    return res


PROMPTS = [
    ("It's in the cupboard, either on the top or on the", " bottom", " top", (3, 1)),
    ("I went to university at Michigan", " State", " University", (2, 1)),
    ("class MyClass:\n\tdef", " __", " get", (3, 5)),
    ("The church I go to is the Seventh-day Adventist", " Church", " church", (2, 2)),
]


def fig4(w, cfg, tokens, tok, res, wl=0, wh=2, eps=1e-5):
    """docs/PROTOCOL.md section 5.4 (Fig 4): logit difference, clean DLA and patched DLA of the writer
    and the other head at the prompt's last position."""
    vocab, ranks = tok
    WU = w["unembed.W_U"]
    for k, (prompt, good, bad, other) in enumerate(PROMPTS, 1):
        ids = [1] + encode(prompt, vocab, ranks)
        T = len(ids)
        a = forward(w, cfg, np.array([ids]), eps)
        cg, ci = encode(good, vocab, ranks), encode(bad, vocab, ranks)
        assert len(cg) == 1 and len(ci) == 1
        lg = a["logits"][0, T - 1]
        res["fig4.p%d.logit_diff" % k] = float(lg[cg[0]] - lg[ci[0]])
        udir = WU[:, cg[0]] - WU[:, ci[0]]
        sf = a["lnf_scale"][0, T - 1]
        rows = forward(w, cfg, tokens[:, :T], eps)
        for (l, h) in ((wl, wh), other):
            name = "fig4.p%d.L%dH%d" % (k, l, h)
            res[name + ".clean"] = float(dla(a["result%d" % l][0, T - 1, h], np.float64(sf), udir))
            p = "blocks.%d.attn." % l
            n = a["n%d" % l][0]                                  # [T,D] clean
            vals = []
            for b in range(tokens.shape[0]):
                nn = n.copy()
                nn[T - 1] = rows["n%d" % l][b, T - 1]
                q = nn[T - 1] @ w[p + "W_Q"][h] + w[p + "b_Q"][h]
                kk = nn @ w[p + "W_K"][h] + w[p + "b_K"][h]
                v = nn @ w[p + "W_V"][h] + w[p + "b_V"][h]
                sc = kk @ q / np.sqrt(q.shape[0])
                pat = np.exp(sc - sc.max())
                pat /= pat.sum()
                out = (pat @ v) @ w[p + "W_O"][h]
                vals.append(dla(out, np.float64(sf), udir))
            vals = np.array(vals)
            res[name + ".patched.median"] = float(np.percentile(vals, 50))
            res[name + ".patched.q12_5"] = float(np.percentile(vals, 12.5))
            res[name + ".patched.q87_5"] = float(np.percentile(vals, 87.5))


def encode(text, vocab, ranks):
    """GPT-2 pre-tokenizer regex restricted to ASCII, then byte-level BPE."""
    import re
    pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
    out = []
    for piece in pat.findall(text):
        out += bpe_encode_word(piece, vocab, ranks)
    return out


# ---- tokenizer: an independent byte-level BPE (ASCII text only) ----

def bpe_encode_word(word, vocab, ranks):
    b2u = bytes_to_unicode()
    parts = [b2u[b] for b in word.encode("utf-8")]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get((parts[i], parts[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
    return [vocab[p] for p in parts]


def check_tokenizer(model_dir):
    tok = json.load(open(model_dir + "/tokenizer.json", encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(tok["model"]["merges"])}
    bad = []
    for ans in (" bottom", " top", " State", " University", " __", " get", " Church", " church"):
        ids = bpe_encode_word(ans, vocab, ranks)
        if len(ids) != 1:
            bad.append((ans, ids))
    return bad, len(vocab)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 1
    d = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    cfg = json.load(open(d + "/config.json"))
    w = process(load_safetensors(d + "/model.safetensors"), cfg)
    rows = [json.loads(line)["tokens"] for line in open(d + "/data.jsonl") if line.strip()]
    rows = rows[: int(opts.get("--rows", len(rows)))]
    tokens = np.array(rows, dtype=np.int64)
    res = experiments(w, cfg, tokens)
    ok = True
    tj = json.load(open(d + "/tokenizer.json", encoding="utf-8"))
    fig4(w, cfg, tokens, (tj["model"]["vocab"], {tuple(m.split(" ")): i for i, m in enumerate(tj["model"]["merges"])}), res)
    print("fig4 L0H2 clean/patched:", " ".join("p%d %.3f/%.3f" % (k, res["fig4.p%d.L0H2.clean" % k],
                                                                 res["fig4.p%d.L0H2.patched.median" % k]) for k in range(1, 5)))
    bad, nv = check_tokenizer(d)
    print("tokenizer: vocab %d, answers not single tokens: %s" % (nv, bad or "none"))
    ok = ok and not bad
    locs = locations(cfg["n_layers"])
    print("fig1 L0H2 medians:", " ".join("%s %.3f" % (l, res["fig1.L0H2.%s.median" % l]) for l in locs))
    print("fig2 L2 medians:", " ".join("H%d %.3f" % (h, res["fig2.L2H%d.median" % h]) for h in range(8)),
          "cleaners_sum %.3f" % res["fig2.cleaners_sum.median"])
    print("fig3 patched medians:", " ".join("%s %.3f" % (l, res["fig3.patched.%s.median" % l]) for l in locs[4:]))
    print("fig3 patched L2:", " ".join("H%d %.3f" % (h, res["fig3.patched.L2H%d.median" % h]) for h in range(8)))
    print("fig5: slope %.3f intercept %.3f r %.3f (n %d)" % (res.get("fig5.slope", np.nan), res.get("fig5.intercept", np.nan),
                                                            res.get("fig5.r", np.nan), res["fig5.n_points"]))
    print("sec32: r_cleaners %.3f r_vcomp %.3f slope_vcomp %.3f" % (res["sec32.r_cleaners"], res["sec32.r_vcomp"],
                                                                  res["sec32.slope_vcomp"]))
    if "--tsv" in opts:
        with open(opts["--tsv"], "w") as f:
            for k in sorted(res):
                f.write("%s\t%.9g\n" % (k, res[k]))
    if "--checks" in opts:
        n_bad = 0
        for line in open(opts["--checks"]):
            if not line.strip():
                continue
            name, exp, tol = line.split("\t")[:3]
            v = res.get(name)
            good = v is not None and abs(v - float(exp)) <= float(tol)
            n_bad += not good
            print("%s %-40s %9.4f expected %8.4f +- %.4f" % ("ok  " if good else "FAIL", name,
                                                             np.nan if v is None else v, float(exp), float(tol)))
        ok = ok and n_bad == 0
    if "--compare" in opts:
        other = {}
        for line in open(opts["--compare"]):
            k, v = line.rstrip("\n").split("\t")
            other[k] = float(v)
        diffs = [(k, res[k], other[k]) for k in sorted(res) if k in other
                 and not (np.isnan(res[k]) and np.isnan(other[k])) and not abs(res[k] - other[k]) <= 1e-4]
        missing = [k for k in sorted(res) if k not in other]
        print("compare: %d common metrics, %d differ by > 1e-4, %d missing" % (
            sum(k in other for k in res), len(diffs), len(missing)))
        for k, a, b in diffs[:30]:
            print("  %s reference %.6g cleanup %.6g" % (k, a, b))
        ok = ok and not diffs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
