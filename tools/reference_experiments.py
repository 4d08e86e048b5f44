#!/usr/bin/python3
"""reference_experiments.py - an independent float64 PyTorch reference of the
paper's experiments (docs/PROTOCOL.md sections 3-6), and the fixture model
they are tested on (tests/fixtures/models/exp_model).

Dev tool: Debian /usr/bin/python3 (torch 1.13 + numpy); CI never runs it.
  /usr/bin/python3 tools/reference_experiments.py --make-fixture
      (re)writes tests/fixtures/models/exp_model/ (config.json, model_final.pth,
      tokenizer.json, tokenizer_config.json, special_tokens_map.json, data.jsonl)
      and then its expected_results.tsv (the run below). Deterministic.
  /usr/bin/python3 tools/reference_experiments.py --model DIR [--data F]
      [--n-prompts N] [--seq-len T] [--out FILE] [--float32]
      computes results.tsv for any model directory (tokens JSONL data only).
The C test is `./cleanup all --model tests/fixtures/models/exp_model
--n-prompts 40 --seq-len 48` (tests/test_experiments_ref.sh).

Everything runs on the TransformerLens-processed model (tools/tlref.py) in float64.

Choices (docs/PROTOCOL.md leaves these to the implementation):
  * Heads: writer L0H2, cleaners L2H2..L2H7, patched layer 2 (the defaults).
  * Residual locations {loc}: resid_pre0, resid_mid0, resid_post0, resid_mid1,
    resid_post1, ..., resid_post{L-1} (resid_pre{l>0} = resid_post{l-1} is not repeated).
  * {stat} = median, q12_5, q25, q75, q87_5: numpy type-7 quantiles (np.nanquantile,
    linear), NaN samples skipped. Fig 4 patched uses median, q12_5, q87_5 only.
  * fig1.L0H{h}.{loc}.{stat}: every head of the writer's layer, all B*T samples.
  * fig2.L{l}H{h}.{stat} for every head except the writer itself (PR 1 by
    definition, "writer omitted"), fig2.MLP{l}.{stat} for every layer.
    fig2.cleaners_sum.{stat} = quantiles over samples of PR(sum of cleaner outputs,
    writer) (the headline is .median). fig2.sum_of_medians = sum over cleaners of
    fig2.L2H{c}.median (docs/PROTOCOL.md's "sum of the per-head medians", labelled).
  * fig3.clean.{loc}.{stat} (= fig1.L0H2.{loc}), fig3.patched.{loc}.{stat} for all
    locations (below the patched layer equal to clean), fig3.clean.L2H{h}.{stat}
    (= fig2.L2H{h}) and fig3.patched.L2H{h}.{stat} for every head of the patched layer.
    Patched value input of layer 2: (resid_pre - writer - mean)/s_clean, s_clean the
    clean ln1 scale; queries/keys clean; everything after recomputed (ln2 not frozen).
  * fig4: prompts tokenized with BOS prepended (BOS = tokenizer_config bos_token),
    T = prompt length. fig4.p{k}.logit_diff (b_U included), fig4.p{k}.top2 = 1 if
    the two answers are the two highest logits at T-1 (either order) else 0,
    fig4.p{k}.{head}.clean and fig4.p{k}.{head}.patched.{median,q12_5,q87_5} for the
    writer (L0H2) and the prompt's other head. Patched: for EVERY data row (all N
    rows), its ln1 hook_normalized of the head's layer at position T-1 replaces the
    head's q, k and v input at T-1 only; result at T-1 recomputed (no b_O); DLA with
    the clean prompt's ln_final scale at T-1, direction W_U[:,c]-W_U[:,i].
  * fig5: first min(10, N) rows, positions 32..T-2 (T = --seq-len), x = DLA(writer
    output) and y = DLA(V-composition v = sum_c (w/s2[i]) W_V[c] W_O[c]) along
    W_U[:, tok[i+1]]; s2 = ln1 scale of the patched layer at i; DLA uses ln_final
    scale at i. fig5.slope/intercept: least squares y = slope*x + intercept;
    fig5.r Pearson; fig5.n_points.
  * sec32: first min(30, N) rows, every position 0..T-1; u = W_U[:,top1] -
    W_U[:,top2] of the position's own logits (b_U included). x = DLA(writer);
    r_cleaners = Pearson(x, DLA(sum of cleaners' hook_result)); r_vcomp =
    Pearson(x, DLA(sum_c sum_{j<=i} A_c[i,j] (w[j]/s2[j]) W_V[c] W_O[c]));
    slope_vcomp = least-squares slope of that y on x; n_points.
  * DLA(r) = ((r - mean_D r)/lnf_scale) . u with processed W_U, never b_U.
  * Values printed %.9g, lines sorted by name (byte order), name<TAB>value.

The fixture tokenizer (HF tokenizer.json, GPT-NeoX style): NFC normalizer,
ByteLevel pre-tokenizer (add_prefix_space false, GPT-2 regex), BPE with
vocab = <|endoftext|> (0), <|padding|> (1), the 256 byte-level symbols (2 + byte
value), then one token per merge; merges build whole-word tokens for the answers
and a few common words (others stay byte-level). BOS = EOS = <|endoftext|> = 0
(tokenizer_config.json / special_tokens_map.json). The prompts are tokenized here
by a small BPE of our own (GPT-2 pre-tokenization rules hand-coded with
unicodedata); tools/ref-node/check_tokens.js checks the same ids with the HF
tokenizers library itself (npm @anush008/tokenizers) - run it after --make-fixture.
"""
import argparse
import json
import math
import os
import sys
import unicodedata
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlref  # noqa: E402
from gpt2_bytes import bytes_to_unicode  # noqa: E402
from make_fixtures import random_state_dict, neel_config  # noqa: E402

F64 = torch.float64
HERE = os.path.dirname(os.path.abspath(__file__))
EXP_DIR = os.path.join(HERE, "..", "tests", "fixtures", "models", "exp_model")

PROMPTS = [
    ("It's in the cupboard, either on the top or on the", " bottom", " top", "L3H1"),
    ("I went to university at Michigan", " State", " University", "L2H1"),
    ("class MyClass:\n\tdef", " __", " get", "L3H5"),
    ("The church I go to is the Seventh-day Adventist", " Church", " church", "L2H2"),
]
WRITER = (0, 2)
CLEANERS = [2, 3, 4, 5, 6, 7]
PATCHED = 2
STATS = [("median", 0.5), ("q12_5", 0.125), ("q25", 0.25), ("q75", 0.75), ("q87_5", 0.875)]


# --------------------------------------------------------------- tokenizer --


def pretokenize(text):
    """GPT-2 split pattern  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|
    ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+  written out by hand."""
    def is_l(c):
        return unicodedata.category(c).startswith("L")

    def is_n(c):
        return unicodedata.category(c).startswith("N")

    def is_s(c):
        return c.isspace()

    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "'":
            m = None
            for suf in ("re", "ve", "ll", "s", "t", "m", "d"):
                if text.startswith(suf, i + 1):
                    m = 1 + len(suf)
                    break
            if m:
                out.append(text[i:i + m]); i += m; continue
        j = i + 1 if text[i] == " " and i + 1 < n else i
        matched = False
        for cls in (is_l, is_n):
            if j < n and cls(text[j]):
                k = j
                while k < n and cls(text[k]):
                    k += 1
                out.append(text[i:k]); i = k; matched = True
                break
        if matched:
            continue
        other = lambda c: not (is_s(c) or is_l(c) or is_n(c))  # noqa: E731
        if j < n and other(text[j]):
            k = j
            while k < n and other(text[k]):
                k += 1
            out.append(text[i:k]); i = k; continue
        # whitespace: \s+(?!\S) then \s+
        k = i
        while k < n and is_s(text[k]):
            k += 1
        if k == n or k - i == 1:
            out.append(text[i:k]); i = k
        else:
            out.append(text[i:k - 1]); i = k - 1
    return out


def bpe_word(symbols, ranks):
    """Classic BPE: repeatedly merge the adjacent pair of lowest rank."""
    symbols = list(symbols)
    while len(symbols) > 1:
        best, bi = None, -1
        for i in range(len(symbols) - 1):
            r = ranks.get((symbols[i], symbols[i + 1]))
            if r is not None and (best is None or r < best):
                best, bi = r, i
        if best is None:
            break
        pair = (symbols[bi], symbols[bi + 1])
        merged, i = [], 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == pair:
                merged.append(symbols[i] + symbols[i + 1]); i += 2
            else:
                merged.append(symbols[i]); i += 1
        symbols = merged
    return symbols


class Tokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            t = json.load(f)
        self.vocab = t["model"]["vocab"]
        self.ranks = {}
        for r, m in enumerate(t["model"]["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.ranks[(a, b)] = r
        self.b2u = bytes_to_unicode()
        assert t["normalizer"]["type"] == "NFC" and t["pre_tokenizer"]["type"] == "ByteLevel"
        d = os.path.dirname(path)
        with open(os.path.join(d, "tokenizer_config.json")) as f:
            bos = json.load(f)["bos_token"]
        self.bos = self.vocab[bos if isinstance(bos, str) else bos["content"]]

    def encode(self, text):
        text = unicodedata.normalize("NFC", text)
        ids = []
        for piece in pretokenize(text):
            sym = [self.b2u[b] for b in piece.encode("utf-8")]
            ids += [self.vocab[s] for s in bpe_word(sym, self.ranks)]
        return ids


# Words made whole tokens by the fixture tokenizer (its "training").
WHOLE_WORDS = [" bottom", " top", " State", " University", " __", " get", " Church", " church",
               " the", " on", " or", " in", " to", " is", " at", " go", " I", "It", "'s", " went",
               " either", " university", "The", "class", " My", "def", "day"]


def make_tokenizer(d):
    b2u = bytes_to_unicode()
    vocab = OrderedDict([("<|endoftext|>", 0), ("<|padding|>", 1)])
    for b in range(256):
        vocab[b2u[b]] = 2 + b
    # Prefix-chain merges (a, b) -> a+b, ordered by the length of the result,
    # so every word builds up left to right.
    chains = set()
    for w in WHOLE_WORDS:
        s = [b2u[b] for b in w.encode("utf-8")]
        cur = s[0]
        for c in s[1:]:
            chains.add((cur, c))
            cur = cur + c
    merges = sorted(chains, key=lambda p: (len(p[0]) + len(p[1]), p))
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = OrderedDict([
        ("version", "1.0"), ("truncation", None), ("padding", None),
        ("added_tokens", [OrderedDict([("id", i), ("special", True), ("content", c),
                                       ("single_word", False), ("lstrip", False),
                                       ("rstrip", False), ("normalized", False)])
                          for c, i in (("<|endoftext|>", 0), ("<|padding|>", 1))]),
        ("normalizer", {"type": "NFC"}),
        ("pre_tokenizer", OrderedDict([("type", "ByteLevel"), ("add_prefix_space", False),
                                       ("trim_offsets", True), ("use_regex", True)])),
        ("post_processor", OrderedDict([("type", "ByteLevel"), ("add_prefix_space", False),
                                        ("trim_offsets", True), ("use_regex", True)])),
        ("decoder", OrderedDict([("type", "ByteLevel"), ("add_prefix_space", False),
                                 ("trim_offsets", True), ("use_regex", True)])),
        ("model", OrderedDict([("type", "BPE"), ("dropout", None), ("unk_token", None),
                               ("continuing_subword_prefix", None), ("end_of_word_suffix", None),
                               ("fuse_unk", False), ("byte_fallback", False),
                               ("vocab", vocab), ("merges", ["%s %s" % m for m in merges])])),
    ])
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    special = OrderedDict([("bos_token", "<|endoftext|>"), ("eos_token", "<|endoftext|>"),
                           ("unk_token", "<|endoftext|>"), ("pad_token", "<|padding|>")])
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=1)
        f.write("\n")
    conf = OrderedDict([("add_prefix_space", False), ("tokenizer_class", "GPTNeoXTokenizer"),
                        ("model_max_length", 48)])
    conf.update(special)
    conf["bos_token"] = {"content": "<|endoftext|>", "lstrip": False, "normalized": False,
                         "rstrip": False, "single_word": False}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(conf, f, indent=1)
        f.write("\n")
    return len(vocab)


def plant_top2(cfg, sd, tok):
    """Makes prompt 1's answers the model's top two at its last position (so the
    top-2 check of Fig 4 is 1 there and 0 for the others): adds alpha x/|x|^2 to
    the raw W_U columns of ' bottom' and ' top', x = the ln_final output there,
    which raises exactly those two logits there by alpha."""
    prompt, correct, incorrect, _ = PROMPTS[0]
    ids = [tok.bos] + tok.encode(prompt)
    w = OrderedDict((k, v.to(F64)) for k, v in sd.items()
                    if not (k.endswith("attn.mask") or k.endswith("attn.IGNORE")))
    hk = tlref.forward(cfg, w, torch.tensor([ids]), False)
    lnf = lambda hh: hh["ln_final.hook_normalized"]  # noqa: E731  (the LN output, n*w+b)
    x = lnf(hk)[0, -1]
    # Only the part of x that differs from typical positions (random rows), so
    # other positions' logits move little and sec32's top-2 stays varied.
    g = torch.Generator().manual_seed(2003)
    rand = torch.randint(2, cfg["d_vocab"], (8, len(ids)), generator=g)
    rand[:, 0] = tok.bos
    gdir = x - lnf(tlref.forward(cfg, w, rand, False)).reshape(-1, cfg["d_model"]).mean(0)
    lg = hk["logits"][0, -1]
    top = float(lg.max())
    for ans, margin in ((correct, 2.0), (incorrect, 1.5)):
        t = tok.encode(ans)[0]
        alpha = top - float(lg[t]) + margin
        sd["unembed.W_U"][:, t] += (alpha * gdir / (gdir @ x)).to(torch.float32)


def make_fixture():
    d = EXP_DIR
    os.makedirs(d, exist_ok=True)
    V = make_tokenizer(d)
    cfg = dict(d_model=64, n_layers=4, d_mlp=128, d_head=8, n_heads=8, n_ctx=48, d_vocab=V,
               act_fn="gelu", attn_only=False, normalization="LN", eps=1e-5)
    sd = random_state_dict(cfg, 2001)
    plant_top2(cfg, sd, Tokenizer(os.path.join(d, "tokenizer.json")))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(neel_config(cfg, "exp_model"), f, indent=2)
        f.write("\n")
    torch.save(sd, os.path.join(d, "model_final.pth"))
    g = np.random.default_rng(2002)
    with open(os.path.join(d, "data.jsonl"), "w") as f:
        for _ in range(40):
            row = [0] + [int(x) for x in g.integers(2, V, size=cfg["n_ctx"] - 1)]
            f.write(json.dumps({"tokens": row}) + "\n")
    tok = Tokenizer(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "prompt_tokens.txt"), "w") as f:
        f.write("# BOS + prompt ids, then correct and incorrect answer ids "
                "(our BPE; tools/ref-node/check_tokens.js checks them with HF tokenizers)\n")
        for p, c, i, _ in PROMPTS:
            f.write("%s\t%s\t%s\n" % (" ".join(map(str, [tok.bos] + tok.encode(p))),
                                      " ".join(map(str, tok.encode(c))), " ".join(map(str, tok.encode(i)))))


# ------------------------------------------------------------- experiments --

def quantiles(x, which=STATS):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return [(n, float(np.nanquantile(x, q))) for n, q in which]


def pr(a, b):
    """Projection ratio over the last dim; NaN where b = 0."""
    num = (a * b).sum(-1)
    den = (b * b).sum(-1)
    return torch.where(den == 0, torch.full_like(num, float("nan")), num / den)


def dla(r, scale, u):
    """((r - mean r)/scale) . u ; r [..., D], scale [...,1], u [..., D] or [D]."""
    rc = r - r.mean(-1, keepdim=True)
    return ((rc / scale) * u).sum(-1)


def pearson(x, y):
    x = np.asarray(x, dtype=np.float64); y = np.asarray(y, dtype=np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    return float((xc * yc).sum() / math.sqrt((xc * xc).sum() * (yc * yc).sum()))


def lstsq(x, y):
    x = np.asarray(x, dtype=np.float64); y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    return slope, float(y.mean() - slope * x.mean())


def locations(h, L):
    """[(name, tensor [B,T,D])] in docs/PROTOCOL.md section 3 order."""
    locs = [("resid_pre0", h["blocks.0.hook_resid_pre"])]
    for l in range(L):
        locs.append(("resid_mid%d" % l, h["blocks.%d.hook_resid_mid" % l]))
        locs.append(("resid_post%d" % l, h["blocks.%d.hook_resid_post" % l]))
    return locs


def run_all(model_dir, data_path, n_rows, seq_len, dtype=F64):
    tlref.F64 = dtype
    cfg, w_raw = tlref.load_model_dir(model_dir)
    w = tlref.process_weights(cfg, OrderedDict((k, v.to(dtype)) for k, v in w_raw.items()))
    L, H = cfg["n_layers"], cfg["n_heads"]
    wl, wh = WRITER
    res = OrderedDict()

    rows = []
    with open(data_path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line)["tokens"][:seq_len])
    rows = rows[:n_rows]
    assert len(rows) == n_rows and all(len(r) == seq_len for r in rows)
    toks = torch.tensor(rows, dtype=torch.long)
    h = tlref.forward(cfg, w, toks, True)
    writer = h["blocks.%d.attn.hook_result" % wl][:, :, wh]          # [B,T,D]
    locs = locations(h, L)

    # Fig 1: every resid location onto every head of the writer's layer.
    for hh in range(H):
        head = h["blocks.%d.attn.hook_result" % wl][:, :, hh]
        for name, r in locs:
            for s, v in quantiles(pr(r, head)):
                res["fig1.L%dH%d.%s.%s" % (wl, hh, name, s)] = v

    # Fig 2: every node onto the writer.
    for l in range(L):
        for hh in range(H):
            if (l, hh) == WRITER:
                continue
            for s, v in quantiles(pr(h["blocks.%d.attn.hook_result" % l][:, :, hh], writer)):
                res["fig2.L%dH%d.%s" % (l, hh, s)] = v
        for s, v in quantiles(pr(h["blocks.%d.hook_mlp_out" % l], writer)):
            res["fig2.MLP%d.%s" % (l, s)] = v
    csum = h["blocks.%d.attn.hook_result" % PATCHED][:, :, CLEANERS].sum(2)
    for s, v in quantiles(pr(csum, writer)):
        res["fig2.cleaners_sum.%s" % s] = v
    res["fig2.sum_of_medians"] = sum(res["fig2.L%dH%d.median" % (PATCHED, c)] for c in CLEANERS)

    # Fig 3: value-input patch at the patched layer with the frozen clean ln1 scale.
    s_clean = h["blocks.%d.ln1.hook_scale" % PATCHED]
    v_resid = h["blocks.%d.hook_resid_pre" % PATCHED] - writer
    hp = tlref.forward(cfg, w, toks, True, v_patch=(PATCHED, v_resid, s_clean))
    for tag, hx in (("clean", h), ("patched", hp)):
        for name, r in locations(hx, L):
            for s, v in quantiles(pr(r, writer)):
                res["fig3.%s.%s.%s" % (tag, name, s)] = v
    for tag, hx in (("clean", h), ("patched", hp)):
        for hh in range(H):
            for s, v in quantiles(pr(hx["blocks.%d.attn.hook_result" % PATCHED][:, :, hh], writer)):
                res["fig3.%s.L%dH%d.%s" % (tag, PATCHED, hh, s)] = v

    # Fig 4: adversarial prompts.
    W_U = w["unembed.W_U"]
    tok = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    margins = []
    for k, (prompt, correct, incorrect, other) in enumerate(PROMPTS, 1):
        ids = [tok.bos] + tok.encode(prompt)
        c_ids, i_ids = tok.encode(correct), tok.encode(incorrect)
        assert len(c_ids) == 1 and len(i_ids) == 1, "answers must be single tokens"
        c, i = c_ids[0], i_ids[0]
        T = len(ids)
        assert T <= cfg["n_ctx"] and T <= seq_len
        hc = tlref.forward(cfg, w, torch.tensor([ids]), True)
        lg = hc["logits"][0, T - 1]
        res["fig4.p%d.logit_diff" % k] = float(lg[c] - lg[i])
        top = torch.topk(lg, 3).indices.tolist()
        res["fig4.p%d.top2" % k] = 1.0 if set(top[:2]) == {c, i} else 0.0
        srt = torch.sort(lg, descending=True).values
        margins.append(float(srt[1] - srt[2]))
        u = W_U[:, c] - W_U[:, i]
        scale = hc["ln_final.hook_scale"][0, T - 1]
        ol, oh = int(other[1:other.index("H")]), int(other[other.index("H") + 1:])
        for hl, hh in (WRITER, (ol, oh)):
            hname = "L%dH%d" % (hl, hh)
            res["fig4.p%d.%s.clean" % (k, hname)] = float(
                dla(hc["blocks.%d.attn.hook_result" % hl][0, T - 1, hh], scale, u))
            p = "blocks.%d." % hl
            n_clean = hc[p + "ln1.hook_normalized"][0]                      # [T,D]
            n_rows_T = h[p + "ln1.hook_normalized"][:, T - 1]                # [N,D]
            vals = []
            for r in range(n_rows):
                n_in = n_clean.clone()
                n_in[T - 1] = n_rows_T[r]
                q = n_in[T - 1] @ w[p + "attn.W_Q"][hh] + w[p + "attn.b_Q"][hh]
                kk = n_in @ w[p + "attn.W_K"][hh] + w[p + "attn.b_K"][hh]
                vv = n_in @ w[p + "attn.W_V"][hh] + w[p + "attn.b_V"][hh]
                a = torch.softmax(kk @ q / math.sqrt(cfg["d_head"]), dim=0)
                out = (a @ vv) @ w[p + "attn.W_O"][hh]
                vals.append(float(dla(out, scale, u)))
            for s, v in quantiles(vals, [STATS[0], STATS[1], STATS[4]]):
                res["fig4.p%d.%s.patched.%s" % (k, hname, s)] = v

    # Shared by Fig 5 and Sec 3.2: per cleaner the (unweighted) OV image of w/s2.
    s2 = h["blocks.%d.ln1.hook_scale" % PATCHED]                         # [B,T,1]
    pl = "blocks.%d.attn." % PATCHED
    ov = torch.stack([(writer / s2) @ w[pl + "W_V"][c] @ w[pl + "W_O"][c] for c in CLEANERS], 2)  # [B,T,C,D]
    lnf = h["ln_final.hook_scale"]                                       # [B,T,1]

    # Fig 5: positions 32..T-2 of the first 10 rows, along W_U[:, next token].
    assert seq_len > 33
    nb = min(10, n_rows)
    xs, ys = [], []
    for b in range(nb):
        for i in range(32, seq_len - 1):
            u = W_U[:, rows[b][i + 1]]
            xs.append(float(dla(writer[b, i], lnf[b, i], u)))
            ys.append(float(dla(ov[b, i].sum(0), lnf[b, i], u)))
    res["fig5.n_points"] = float(len(xs))
    res["fig5.slope"], res["fig5.intercept"] = lstsq(xs, ys)
    res["fig5.r"] = pearson(xs, ys)

    # Sec 3.2: first 30 rows, every position, along the model's own top1 - top2.
    nb = min(30, n_rows)
    A = h[pl + "hook_pattern"]                                           # [B,H,Tq,Tk]
    x, y1, y2, y3, xn, yn = [], [], [], [], [], []
    for b in range(nb):
        for i in range(seq_len):
            srt = torch.sort(h["logits"][b, i], descending=True)
            t1, t2 = int(srt.indices[0]), int(srt.indices[1])
            margins.append(float(srt.values[1] - srt.values[2]))
            margins.append(float(srt.values[0] - srt.values[1]))
            u = W_U[:, t1] - W_U[:, t2]
            x.append(float(dla(writer[b, i], lnf[b, i], u)))
            y1.append(float(dla(csum[b, i], lnf[b, i], u)))
            vc = sum(A[b, c, i, :i + 1] @ ov[b, :i + 1, ci] for ci, c in enumerate(CLEANERS))
            y2.append(float(dla(vc, lnf[b, i], u)))
            # other readings: Fig 5's same-position composition; the next token's direction
            y3.append(float(dla(ov[b, i].sum(0), lnf[b, i], u)))
            if i + 1 < seq_len:
                un = W_U[:, rows[b][i + 1]]
                xn.append(float(dla(writer[b, i], lnf[b, i], un)))
                yn.append(float(dla(vc, lnf[b, i], un)))
    res["sec32.n_points"] = float(len(x))
    res["sec32.r_cleaners"] = pearson(x, y1)
    res["sec32.r_vcomp"] = pearson(x, y2)
    res["sec32.slope_vcomp"] = lstsq(x, y2)[0]
    res["sec32.r_vcomp_no_attention"] = pearson(x, y3)
    res["sec32.r_vcomp_next_token"] = pearson(xn, yn)
    res["sec32.r_vcomp_10_rows"] = pearson(x[:10 * seq_len], y2[:10 * seq_len])
    tlref.F64 = F64
    return res, min(margins)


def write_results(path, res):
    with open(path, "w") as f:
        for k in sorted(res):
            f.write("%s\t%.9g\n" % (k, res[k]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-fixture", action="store_true")
    ap.add_argument("--model", default=EXP_DIR)
    ap.add_argument("--data")
    ap.add_argument("--n-prompts", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=48)
    ap.add_argument("--out")
    ap.add_argument("--float32", action="store_true", help="float32 run, to measure rounding")
    a = ap.parse_args()
    if a.make_fixture:
        make_fixture()
        a.model = EXP_DIR
        a.out = os.path.join(EXP_DIR, "expected_results.tsv")
    data = a.data or os.path.join(a.model, "data.jsonl")
    res, margin = run_all(a.model, data, a.n_prompts, a.seq_len,
                          torch.float32 if a.float32 else F64)
    out = a.out or "results_ref.tsv"
    write_results(out, res)
    print("%s: %d metrics; smallest gap between the 2nd and 3rd (and 1st and 2nd) logits "
          "used for top-2 choices: %.3g" % (out, len(res), margin))


if __name__ == "__main__":
    main()
