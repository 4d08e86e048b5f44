"""tlref.py - an independent float64 PyTorch reference of the TransformerLens
semantics that cleanup implements (docs/PROTOCOL.md sections 1-2).

Dev tool only (Debian /usr/bin/python3 with torch + numpy); CI never runs it.
Written from the text of docs/PROTOCOL.md and checked against TransformerLens' own source
(components/layer_norm.py, layer_norm_pre.py, abstract_attention.py,
transformer_block.py, weight_processing.py); no code copied.

Semantics followed (TransformerLens, the version the paper used):
  * LayerNorm: x - mean; scale = sqrt(mean(x^2) + eps) -> hook_scale [B,T,1];
    hook_normalized = the LayerNorm's OUTPUT: centred x / scale, times w plus b
    when the LayerNorm keeps its weights (unprocessed LN model). This is the
    TransformerLens the paper used (2023: `return self.hook_normalized(x * self.w
    + self.b)`) and docs/PROTOCOL.md section 2; TransformerLens moved the hook before w
    and b only in 2025 (PR #770). Processed (LNPre): centred x / scale.
  * Attention: q,k,v = input @ W[h] + b[h]; scores = q.k / sqrt(d_head);
    positions above the diagonal set to exactly -1e5 (the IGNORE buffer of the
    paper's TransformerLens; recent versions use -inf, which gives the same
    pattern); softmax over keys; z = pattern @ v; result[h] = z[h] @ W_O[h]
    (no b_O); attn_out = sum_h result + b_O.
  * attn_only blocks: no hook_resid_mid, no ln2/mlp hooks (transformer_block.py
    only creates hook_resid_mid when not attn_only); resid_post = resid_pre + attn_out.
  * MLP: pre = n2 @ W_in + b_in; post = act(pre); mlp_out = post @ W_out + b_out.
    gelu = 0.5 x (1 + erf(x/sqrt 2)); gelu_new/gelu_fast = tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); relu.
  * Processing (fold_ln, center_writing_weights, center_unembed, fold_value_biases)
    in that order, docs/PROTOCOL.md section 1.
All arithmetic is float64, starting from the float32 values stored in the file.
"""
import json
import math
import os
import struct
from collections import OrderedDict

import torch

F64 = torch.float64


# ---------------------------------------------------------------- config ----

def normalize_config(raw):
    """Maps Neel-style or TransformerLens config keys onto one dict."""
    c = {}
    for k in ("d_model", "n_layers", "d_mlp", "d_head", "n_heads", "n_ctx", "d_vocab"):
        c[k] = int(raw[k])
    c["act_fn"] = raw.get("act_fn", "gelu")
    c["attn_only"] = bool(raw.get("attn_only", False))
    norm = raw.get("normalization_type", raw.get("normalization", "LN"))
    c["normalization"] = norm
    c["eps"] = float(raw.get("eps", 1e-5))
    return c


# ------------------------------------------------------------- safetensors --

def write_safetensors(path, tensors):
    """Writes an OrderedDict name -> torch tensor (F32/F16/BF16/BOOL) by the
    safetensors spec: u64 little-endian header length N, N bytes of JSON
    header (padded with spaces to a multiple of 8), then the raw data."""
    header = OrderedDict()
    blobs = []
    off = 0
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.float32:
            dt = "F32"
            data = struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())
        elif t.dtype in (torch.float16, torch.bfloat16):
            dt = "F16" if t.dtype == torch.float16 else "BF16"
            bits = [b & 0xFFFF for b in t.reshape(-1).view(torch.int16).tolist()]
            data = struct.pack("<%dH" % t.numel(), *bits)
        elif t.dtype == torch.bool:
            dt = "BOOL"
            data = bytes(1 if v else 0 for v in t.reshape(-1).tolist())
        else:
            raise ValueError("unsupported dtype %s" % t.dtype)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Reads F32/F16/BF16/BOOL tensors (F16/BF16 widened exactly to float32)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[base + b:base + e]
        shape = info["shape"]
        if info["dtype"] == "F32":
            vals = struct.unpack("<%df" % (len(raw) // 4), raw)
            out[name] = torch.tensor(vals, dtype=torch.float32).reshape(shape)
        elif info["dtype"] in ("F16", "BF16"):
            bits = struct.unpack("<%dh" % (len(raw) // 2), raw)
            dt = torch.float16 if info["dtype"] == "F16" else torch.bfloat16
            out[name] = torch.tensor(bits, dtype=torch.int16).view(dt).to(torch.float32).reshape(shape)
        elif info["dtype"] == "BOOL":
            out[name] = torch.tensor(list(raw), dtype=torch.bool).reshape(shape)
        else:
            raise ValueError("%s: dtype %s" % (path, info["dtype"]))
    return out


# ----------------------------------------------------------------- loading --

def load_model_dir(d):
    """Returns (cfg, float64 state dict without buffers) of a model directory."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = normalize_config(json.load(f))
    names = sorted(os.listdir(d))
    pth = [n for n in names if n.endswith("final.pth")] or [n for n in names if n.endswith(".pth")]
    if pth:
        sd = torch.load(os.path.join(d, pth[0]), map_location="cpu")
    else:
        st = [n for n in names if n.endswith(".safetensors")]
        sd = read_safetensors(os.path.join(d, st[0]))
    w = OrderedDict()
    for k, v in sd.items():
        if k.endswith("attn.mask") or k.endswith("attn.IGNORE"):
            continue
        w[k] = v.to(F64).clone()
    return cfg, w


# -------------------------------------------------------------- processing --

def process_weights(cfg, sd):
    """TransformerLens default processing (docs/PROTOCOL.md section 1), on a copy."""
    w = OrderedDict((k, v.clone()) for k, v in sd.items())
    L = cfg["n_layers"]
    is_ln = cfg["normalization"] == "LN"
    # 1. fold_ln (and centre the reading weights over d_model).
    for l in range(L):
        p = "blocks.%d." % l
        if is_ln:
            lw, lb = w.pop(p + "ln1.w"), w.pop(p + "ln1.b")
            for x in "QKV":
                W, b = w[p + "attn.W_" + x], w[p + "attn.b_" + x]
                w[p + "attn.b_" + x] = b + (W * lb[None, :, None]).sum(1)
                w[p + "attn.W_" + x] = W * lw[None, :, None]
        for x in "QKV":
            W = w[p + "attn.W_" + x]
            w[p + "attn.W_" + x] = W - W.mean(1, keepdim=True)
        if not cfg["attn_only"]:
            if is_ln:
                lw, lb = w.pop(p + "ln2.w"), w.pop(p + "ln2.b")
                W = w[p + "mlp.W_in"]
                w[p + "mlp.b_in"] = w[p + "mlp.b_in"] + lb @ W
                w[p + "mlp.W_in"] = W * lw[:, None]
            W = w[p + "mlp.W_in"]
            w[p + "mlp.W_in"] = W - W.mean(0, keepdim=True)
    if is_ln:
        lw, lb = w.pop("ln_final.w"), w.pop("ln_final.b")
        W = w["unembed.W_U"]
        w["unembed.b_U"] = w["unembed.b_U"] + lb @ W
        w["unembed.W_U"] = W * lw[:, None]
    W = w["unembed.W_U"]
    w["unembed.W_U"] = W - W.mean(0, keepdim=True)
    # 2. center_writing_weights: every vector written into the residual stream.
    for k in ("embed.W_E", "pos_embed.W_pos"):
        w[k] = w[k] - w[k].mean(-1, keepdim=True)
    for l in range(L):
        p = "blocks.%d." % l
        w[p + "attn.W_O"] = w[p + "attn.W_O"] - w[p + "attn.W_O"].mean(-1, keepdim=True)
        w[p + "attn.b_O"] = w[p + "attn.b_O"] - w[p + "attn.b_O"].mean()
        if not cfg["attn_only"]:
            w[p + "mlp.W_out"] = w[p + "mlp.W_out"] - w[p + "mlp.W_out"].mean(-1, keepdim=True)
            w[p + "mlp.b_out"] = w[p + "mlp.b_out"] - w[p + "mlp.b_out"].mean()
    # 3. center_unembed: logits shift-invariant, so remove each row's mean over V.
    w["unembed.W_U"] = w["unembed.W_U"] - w["unembed.W_U"].mean(-1, keepdim=True)
    w["unembed.b_U"] = w["unembed.b_U"] - w["unembed.b_U"].mean()
    # 4. fold_value_biases: pattern rows sum to 1, so b_V contributes b_V @ W_O.
    for l in range(L):
        p = "blocks.%d." % l
        bV, WO = w[p + "attn.b_V"], w[p + "attn.W_O"]
        w[p + "attn.b_O"] = w[p + "attn.b_O"] + torch.einsum("he,hed->d", bV, WO)
        w[p + "attn.b_V"] = torch.zeros_like(bV)
    return w


# ----------------------------------------------------------------- forward --

def act(cfg, x):
    a = cfg["act_fn"]
    if a == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if a in ("gelu_new", "gelu_fast"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if a == "relu":
        return torch.clamp(x, min=0.0)
    raise ValueError("act_fn " + a)


def layer_norm(cfg, x, w, prefix, hooks, weight=None, bias=None):
    """Records PREFIX.hook_scale [B,T,1] and PREFIX.hook_normalized (the
    output: normalized*w+b when the LN keeps its weights) and returns it."""
    xc = x - x.mean(-1, keepdim=True)
    scale = torch.sqrt((xc * xc).mean(-1, keepdim=True) + cfg["eps"])
    n = xc / scale
    if weight is not None:
        n = n * weight + bias
    hooks[prefix + ".hook_scale"] = scale
    hooks[prefix + ".hook_normalized"] = n
    return n


def attention(cfg, w, p, q_in, k_in, v_in, hooks):
    """One attention layer on [B,T,D] inputs (already normalised)."""
    T = q_in.shape[1]
    q = torch.einsum("btd,hde->bthe", q_in, w[p + "attn.W_Q"]) + w[p + "attn.b_Q"]
    k = torch.einsum("btd,hde->bthe", k_in, w[p + "attn.W_K"]) + w[p + "attn.b_K"]
    v = torch.einsum("btd,hde->bthe", v_in, w[p + "attn.W_V"]) + w[p + "attn.b_V"]
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(cfg["d_head"])
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = torch.where(causal, scores, torch.tensor(-1e5, dtype=F64))
    pattern = torch.softmax(scores, dim=-1)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    result = torch.einsum("bqhe,hed->bqhd", z, w[p + "attn.W_O"])
    attn_out = result.sum(2) + w[p + "attn.b_O"]
    if hooks is not None:
        hooks[p + "attn.hook_q"] = q
        hooks[p + "attn.hook_k"] = k
        hooks[p + "attn.hook_v"] = v
        hooks[p + "attn.hook_attn_scores"] = scores
        hooks[p + "attn.hook_pattern"] = pattern
        hooks[p + "attn.hook_z"] = z
        hooks[p + "attn.hook_result"] = result
        hooks[p + "hook_attn_out"] = attn_out
    return attn_out


def forward(cfg, w, tokens, processed, v_patch=None):
    """Runs tokens [B,T] (LongTensor). Returns an OrderedDict hook name ->
    float64 tensor with the batch dim, in TransformerLens forward order.

    v_patch = (layer, resid [B,T,D], scale [B,T,1]): at that layer the value
    input of every head is (resid - mean)/scale (then *w+b if unprocessed)
    instead of the clean ln1 output; queries and keys stay clean (Fig 3)."""
    has_ln_w = (not processed) and cfg["normalization"] == "LN"
    hooks = OrderedDict()
    B, T = tokens.shape
    embed = w["embed.W_E"][tokens]
    pos = w["pos_embed.W_pos"][:T].unsqueeze(0).expand(B, T, -1)
    hooks["hook_embed"] = embed
    hooks["hook_pos_embed"] = pos
    x = embed + pos
    for l in range(cfg["n_layers"]):
        p = "blocks.%d." % l
        hooks[p + "hook_resid_pre"] = x
        n1 = layer_norm(cfg, x, w, p + "ln1", hooks,
                        w.get(p + "ln1.w") if has_ln_w else None, w.get(p + "ln1.b"))
        v_in = n1
        if v_patch is not None and v_patch[0] == l:
            r, s = v_patch[1], v_patch[2]
            v_in = (r - r.mean(-1, keepdim=True)) / s
            if has_ln_w:
                v_in = v_in * w[p + "ln1.w"] + w[p + "ln1.b"]
        attn_out = attention(cfg, w, p, n1, n1, v_in, hooks)
        if cfg["attn_only"]:
            x = x + attn_out
        else:
            mid = x + attn_out
            hooks[p + "hook_resid_mid"] = mid
            n2 = layer_norm(cfg, mid, w, p + "ln2", hooks,
                            w.get(p + "ln2.w") if has_ln_w else None, w.get(p + "ln2.b"))
            pre = n2 @ w[p + "mlp.W_in"] + w[p + "mlp.b_in"]
            post = act(cfg, pre)
            mlp_out = post @ w[p + "mlp.W_out"] + w[p + "mlp.b_out"]
            hooks[p + "mlp.hook_pre"] = pre
            hooks[p + "mlp.hook_post"] = post
            hooks[p + "hook_mlp_out"] = mlp_out
            x = mid + mlp_out
        hooks[p + "hook_resid_post"] = x
    nf = layer_norm(cfg, x, w, "ln_final", hooks,
                    w.get("ln_final.w") if has_ln_w else None, w.get("ln_final.b"))
    hooks["logits"] = nf @ w["unembed.W_U"] + w["unembed.b_U"]
    return hooks


def hook_order(cfg):
    """Every hook name for this model, TransformerLens forward order."""
    names = ["hook_embed", "hook_pos_embed"]
    for l in range(cfg["n_layers"]):
        p = "blocks.%d." % l
        names += [p + "hook_resid_pre", p + "ln1.hook_scale", p + "ln1.hook_normalized"]
        names += [p + "attn.hook_" + s for s in ("q", "k", "v", "attn_scores", "pattern", "z", "result")]
        names += [p + "hook_attn_out"]
        if not cfg["attn_only"]:
            names += [p + "hook_resid_mid", p + "ln2.hook_scale", p + "ln2.hook_normalized",
                      p + "mlp.hook_pre", p + "mlp.hook_post", p + "hook_mlp_out"]
        names += [p + "hook_resid_post"]
    return names + ["ln_final.hook_scale", "ln_final.hook_normalized", "logits"]


def write_dat(path, name, t):
    """The `cleanup run --out` format: '# NAME shape d1 d2 ...' (no batch dim),
    then one line per index of the leading dims, last dim's values %.9g."""
    t = t.detach().to(F64)
    shape = list(t.shape)
    rows = t.reshape(-1, shape[-1]).tolist()
    with open(path, "w") as f:
        f.write("# %s shape %s\n" % (name, " ".join(str(s) for s in shape)))
        for r in rows:
            f.write(" ".join("%.9g" % v for v in r) + "\n")
