#!/usr/bin/python3
"""make_fixtures.py - writes the small random engine fixtures under
tests/fixtures/models/<name>/ and their float64 reference activations.

Dev tool: run with Debian's /usr/bin/python3 (torch 1.13 + numpy) from the repo
root: `/usr/bin/python3 tools/make_fixtures.py`. CI never runs it; its outputs
are committed. Deterministic (fixed seeds), so re-running reproduces the files.

Models (published layout: config.json + one weights file):
  gelu_pth     act_fn gelu, Neel-style config keys (as gelu-4l's config.json, with
               unrelated training keys), torch.save state dict `model_final.pth`
               with TransformerLens key names plus the buffers
               blocks.l.attn.mask (bool [n_ctx,n_ctx]) and blocks.l.attn.IGNORE (0-d).
  gelu_new_st  act_fn gelu_new, TransformerLens config keys, `model.safetensors`
               written by hand from the spec (tlref.write_safetensors; F32 weights,
               plus the mask as BOOL and IGNORE as a 0-d F32, both to be skipped).
  attn_only    attn_only true, 2 layers, act_fn gelu (unused), Neel-style keys, .pth.
  gelu_st_twin gelu_pth's weights and config as an F32 model.safetensors; no
               references of its own: `refs_of` names gelu_pth, whose apply.
  relu_half_st act_fn relu, 1 layer, TransformerLens keys, model.safetensors with
               matrices in BF16 and vectors in F16 (the mask BOOL, IGNORE F32).
Every model has non-trivial LayerNorm weights (1 + 0.3 N(0,1)) and biases
(0.1 N(0,1)) and non-zero biases everywhere (b_Q/K/V/O, b_in/out, b_U).

Per model directory:
  tokens.txt            the token ids run (BOS first), space-separated
  ref_processed/*.dat   every hook (docs/PROTOCOL.md section 2) of the TransformerLens-
                        processed model, format of `cleanup run --hook all --out`
  ref_raw/*.dat         the same for --no-processing
  ref_processed/weights_check.json  a few processed weight values (TL layout,
                        row-major flat index into the tensor) to test processing.
"""
import json
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")


def random_state_dict(cfg, seed):
    """TransformerLens-named float32 weights, each tensor its own storage.
    Scales keep activations O(1): matmul weights ~ N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)

    def n(*shape, std=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(torch.float32)

    D, H, dh, M = cfg["d_model"], cfg["n_heads"], cfg["d_head"], cfg["d_mlp"]
    V, C, L = cfg["d_vocab"], cfg["n_ctx"], cfg["n_layers"]
    lnw = lambda: 1.0 + n(D, std=0.3)  # noqa: E731
    lnb = lambda: n(D, std=0.1)  # noqa: E731
    sd = OrderedDict()
    sd["embed.W_E"] = n(V, D)
    sd["pos_embed.W_pos"] = n(C, D, std=0.7)
    # Token 3 at position 3 gives a residual of norm ~0.05*sqrt(D): there the
    # LayerNorm eps changes the scale by ~0.2%, so a wrong eps cannot pass.
    sd["embed.W_E"][3] = -sd["pos_embed.W_pos"][3] + n(D, std=0.05)
    for l in range(L):
        p = "blocks.%d." % l
        sd[p + "ln1.w"] = lnw()
        sd[p + "ln1.b"] = lnb()
        for x in "QKV":
            sd[p + "attn.W_" + x] = n(H, D, dh, std=D ** -0.5)
        sd[p + "attn.W_O"] = n(H, dh, D, std=dh ** -0.5)
        for x in "QKV":
            sd[p + "attn.b_" + x] = n(H, dh, std=0.1)
        sd[p + "attn.b_O"] = n(D, std=0.1)
        sd[p + "attn.mask"] = torch.tril(torch.ones(C, C, dtype=torch.bool))
        sd[p + "attn.IGNORE"] = torch.tensor(-1e5, dtype=torch.float32)
        if not cfg["attn_only"]:
            sd[p + "ln2.w"] = lnw()
            sd[p + "ln2.b"] = lnb()
            sd[p + "mlp.W_in"] = n(D, M, std=D ** -0.5)
            sd[p + "mlp.b_in"] = n(M, std=0.1)
            sd[p + "mlp.W_out"] = n(M, D, std=M ** -0.5)
            sd[p + "mlp.b_out"] = n(D, std=0.1)
    sd["ln_final.w"] = lnw()
    sd["ln_final.b"] = lnb()
    sd["unembed.W_U"] = n(D, V, std=D ** -0.5)
    sd["unembed.b_U"] = n(V, std=0.1)
    return sd


def neel_config(cfg, extra_name):
    """Neel-style config.json keys as in gelu-4l's published file, plus
    unrelated training keys a loader must ignore."""
    return OrderedDict([
        ("act_fn", cfg["act_fn"]), ("attn_only", cfg["attn_only"]), ("batch_size", 32),
        ("batches_per_step", 1), ("d_head", cfg["d_head"]), ("d_mlp", cfg["d_mlp"]),
        ("d_model", cfg["d_model"]), ("d_vocab", cfg["d_vocab"]), ("debug", False),
        ("dataset_name", "c4_code"), ("grad_norm_clip", 1.0), ("lr", 0.001),
        ("lr_schedule", "cosine_warmup"), ("max_tokens", 22000000000), ("n_ctx", cfg["n_ctx"]),
        ("n_heads", cfg["n_heads"]), ("n_layers", cfg["n_layers"]), ("normalization", "LN"),
        ("seed", 12345), ("shortformer_pos", False), ("tokenizer_name", "fixture/" + extra_name),
        ("train_loss_ema_beta", 0.99), ("use_bfloat16_matmul", True), ("version", 159),
        ("warmup_tokens", 3e8), ("weight_decay", 0.05), ("window_size", None),
        ("initializer_range", 0.035355339059327376), ("betas", [0.9, 0.99]),
        ("n_params", 0), ("log_interval", 50), ("save_checkpoints", True),
    ])


def tl_config(cfg, name):
    """TransformerLens HookedTransformerConfig-style keys."""
    return OrderedDict([
        ("model_name", name), ("n_layers", cfg["n_layers"]), ("d_model", cfg["d_model"]),
        ("n_ctx", cfg["n_ctx"]), ("d_head", cfg["d_head"]), ("n_heads", cfg["n_heads"]),
        ("d_mlp", cfg["d_mlp"]), ("act_fn", cfg["act_fn"]), ("d_vocab", cfg["d_vocab"]),
        ("eps", 1e-05), ("use_attn_result", False), ("use_attn_scale", True),
        ("use_split_qkv_input", False), ("use_local_attn", False), ("original_architecture", None),
        ("from_checkpoint", False), ("tokenizer_name", None), ("window_size", None),
        ("attn_types", None), ("init_mode", "gpt2"), ("normalization_type", "LN"),
        ("device", "cpu"), ("n_devices", 1), ("attention_dir", "causal"),
        ("attn_only", cfg["attn_only"]), ("seed", None), ("initializer_range", 0.1),
        ("init_weights", True), ("scale_attn_by_inverse_layer_idx", False),
        ("positional_embedding_type", "standard"), ("final_rms", False),
        ("d_vocab_out", cfg["d_vocab"]), ("parallel_attn_mlp", False), ("rotary_dim", None),
        ("n_params", 0), ("use_hook_tokens", False), ("gated_mlp", False),
        ("default_prepend_bos", True), ("dtype", "torch.float32"), ("tokenizer_prepends_bos", None),
        ("post_embedding_ln", False),
    ])


WEIGHT_CHECKS = [
    # (tensor, index prefix, how many along the last free axis) -> picks values.
    ("embed.W_E", (3,), 4),
    ("pos_embed.W_pos", (5,), 4),
    ("blocks.0.attn.W_Q", (1, None, 2), 4),
    ("blocks.0.attn.b_Q", (1,), 4),
    ("blocks.0.attn.W_K", (2, None, 0), 4),
    ("blocks.0.attn.b_K", (2,), 4),
    ("blocks.1.attn.W_V", (3, None, 7), 4),
    ("blocks.1.attn.b_V", (3,), 4),
    ("blocks.1.attn.W_O", (1, 2), 4),
    ("blocks.1.attn.b_O", (), 4),
    ("blocks.1.mlp.W_in", (None, 5), 4),
    ("blocks.1.mlp.b_in", (), 4),
    ("blocks.1.mlp.W_out", (5,), 4),
    ("blocks.1.mlp.b_out", (), 4),
    ("unembed.W_U", (None, 5), 4),
    ("unembed.b_U", (), 5),
]


def weight_checks(w):
    """A list of {tensor, shape, index, flat, value} of processed weights."""
    out = []
    for name, pre, count in WEIGHT_CHECKS:
        if name not in w:
            continue
        t = w[name]
        shape = list(t.shape)
        free = list(pre).index(None) if None in pre else len(pre)
        for i in range(count):
            idx = list(pre) + [0] * (len(shape) - len(pre)) if free == len(pre) else list(pre)
            idx = [0 if v is None else v for v in idx]
            idx[free] = i
            flat = 0
            for d, s in zip(idx, shape):
                flat = flat * s + d
            out.append(OrderedDict([("tensor", name), ("shape", shape), ("index", idx),
                                    ("flat", flat), ("value", float(t[tuple(idx)]))]))
    return out


def write_refs(d, cfg, w_raw, tokens):
    toks = torch.tensor([tokens], dtype=torch.long)
    for sub, processed in (("ref_processed", True), ("ref_raw", False)):
        out = os.path.join(d, sub)
        os.makedirs(out, exist_ok=True)
        for f in os.listdir(out):
            os.remove(os.path.join(out, f))
        w = tlref.process_weights(cfg, w_raw) if processed else w_raw
        hooks = tlref.forward(cfg, w, toks, processed)
        assert list(hooks.keys()) == tlref.hook_order(cfg), "hook order"
        for name, t in hooks.items():
            tlref.write_dat(os.path.join(out, name + ".dat"), name, t[0])
        if processed:
            with open(os.path.join(out, "weights_check.json"), "w") as f:
                f.write('{"about": "processed weights (TransformerLens layout, row-major flat '
                        'index), float64 reference of the float32 file",\n "checks": [\n')
                f.write(",\n".join("  " + json.dumps(c) for c in weight_checks(w)))
                f.write("\n]}\n")


def half_dtypes(sd):
    """Stores weights as 16-bit floats: matrices BF16, vectors F16 (both widen
    exactly to float32, so the reference reads back the file's exact values)."""
    out = OrderedDict()
    for k, v in sd.items():
        if v.dtype == torch.float32 and v.dim() >= 1:
            v = v.to(torch.bfloat16 if v.dim() >= 2 else torch.float16)
        out[k] = v
    return out


def make(name, cfg, fmt, keys, seed, tokens):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for f in ("model_final.pth", "model.safetensors"):
        if os.path.exists(os.path.join(d, f)):
            os.remove(os.path.join(d, f))
    sd = random_state_dict(cfg, seed)
    conf = neel_config(cfg, name) if keys == "neel" else tl_config(cfg, name)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    if fmt == "pth":
        torch.save(sd, os.path.join(d, "model_final.pth"))
    elif fmt == "safetensors16":
        tlref.write_safetensors(os.path.join(d, "model.safetensors"), half_dtypes(sd))
    else:
        tlref.write_safetensors(os.path.join(d, "model.safetensors"), sd)
    with open(os.path.join(d, "tokens.txt"), "w") as f:
        f.write(" ".join(str(t) for t in tokens) + "\n")
    # Reload through the reader, so the reference starts from the file's bits.
    cfg2, w = tlref.load_model_dir(d)
    write_refs(d, cfg2, w, tokens)
    return sd


def make_twin(name, of, sd):
    """The same weights as model `of` in an F32 .safetensors, same config and
    tokens; its references are `of`'s (file refs_of names it)."""
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(ROOT, of)
    for f in ("config.json", "tokens.txt"):
        with open(os.path.join(src, f)) as a, open(os.path.join(d, f), "w") as b:
            b.write(a.read())
    tlref.write_safetensors(os.path.join(d, "model.safetensors"), sd)
    with open(os.path.join(d, "refs_of"), "w") as f:
        f.write(of + "\n")
    cfg, w = tlref.load_model_dir(d)
    cfg0, w0 = tlref.load_model_dir(src)
    assert cfg == cfg0 and all(torch.equal(w[k], w0[k]) for k in w0) and list(w) == list(w0)


def base_cfg(**kw):
    c = dict(d_model=32, n_layers=2, d_mlp=64, d_head=8, n_heads=4, n_ctx=16, d_vocab=50,
             act_fn="gelu", attn_only=False, normalization="LN", eps=1e-5)
    c.update(kw)
    return c


def main():
    # 12 tokens, BOS (0) first, including the largest id (d_vocab-1) and a repeat.
    tokens = [0, 17, 49, 3, 3, 28, 41, 9, 0, 33, 12, 45]
    sd = make("gelu_pth", base_cfg(n_layers=3), "pth", "neel", 1001, tokens)
    make_twin("gelu_st_twin", "gelu_pth", sd)
    make("gelu_new_st", base_cfg(act_fn="gelu_new"), "safetensors", "tl", 1002, tokens)
    make("attn_only", base_cfg(attn_only=True), "pth", "neel", 1003, tokens)
    make("relu_half_st", base_cfg(n_layers=1, act_fn="relu"), "safetensors16", "tl", 1004, tokens)


if __name__ == "__main__":
    main()
