#!/usr/bin/python3
"""make_bad_fixtures.py - writes the malformed-input fixtures of
tests/test_bad_inputs.sh (tests/fixtures/bad/) and the fuzzers' binary seeds
(fuzz/corpus/fuzz_{zip,pickle,safetensors}/).

Dev tool: run from the repo root with Debian's /usr/bin/python3 (torch 1.13):
`/usr/bin/python3 tools/make_bad_fixtures.py`. CI never runs it; its small
outputs are committed. Deterministic: re-running reproduces the same bytes.

The torch.save archives are written by a small independent emitter (the pickle
opcodes torch.save uses for a state dict, in a stored ZIP), so that malformed
variants (evil globals, strides outside the storage, absurd sizes) can be made
byte by byte. The valid ones are checked to load in real torch.load with
weights_only=True and to equal the tensors they were made from.

tests/fixtures/bad/:
  tiny/config.json, tiny/model_final.pth  a valid 1-layer model (d_model 4, 2 heads,
                             d_mlp 8, n_ctx 8, d_vocab 12, LN, gelu): the base
  tiny_st.safetensors        the same weights as a safetensors file
  noncontig.pth              the same weights, but W_E stored transposed (strides
                             (1, V)), W_U a view at storage offset 5 of a larger
                             storage and W_Q with a shared, permuted storage:
                             must load and give exactly tiny's outputs
  dup_last_wins.safetensors  embed.W_E appears twice, the first with a wrong shape:
                             JSON (Python, serde) semantics keep the last one
  dup_last_wins.pth          the same for the pickle dict (SETITEMS with a repeated key)
  evil_os_system.pth         a pickle whose value is os.system('touch MARKER')
  evil_eval.pth              builtins.eval via STACK_GLOBAL (protocol 4)
  evil_posix.pth             posix.system (what pickle writes for os.system on Linux)
  stride_oob.pth             W_E with a stride that reaches past its storage
  offset_oob.pth             W_E with a storage offset past its storage
  neg_stride.pth             a negative stride
  shape_overflow.pth         W_E of shape (2^40, 2^40, 2^40): product overflows 64 bits
  shape_overflow.safetensors the same in safetensors (data_offsets [0, 0])
  numel_huge.pth             a storage claiming 2^62 elements
  string_huge.pth            a BINUNICODE8 string claiming 2^62 bytes
  memo_huge.pth              LONG_BINPUT at index 2^32 - 1
  int_dtype.pth              W_E stored as int64 (LongStorage)
  complex_dtype.pth          W_E stored as torch.ComplexFloatStorage (not whitelisted)
  unknown_dtype.safetensors  W_E with dtype "F8_E4M3"
  nan_weights.pth            a NaN in blocks.0.mlp.W_in
  inf_weights.safetensors    an Inf in unembed.W_U
  missing_key.pth            no blocks.0.attn.W_K
  extra_key.pth              an extra blocks.7.attn.W_Q (the config has 1 layer)
  wrong_shape.pth            W_pos of shape [9, 4] (config n_ctx 8)
  header_huge.safetensors    header length 2^63
  header_past_end.safetensors header length larger than the file
  offsets_oob.safetensors    data_offsets beyond the data area
  zip_count_huge.pth         EOCD claims 65535 entries
  zip_deflate.pth            data.pkl stored with deflate (torch.save never compresses)
  not_a_dict.pth             the pickle is a list
  no_stop.pth                the pickle ends without STOP
"""
import io
import json
import os
import struct
import sys
import zipfile
import zlib
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_bytes import bytes_to_unicode  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

CFG = OrderedDict(
    [
        ("act_fn", "gelu"),
        ("d_head", 2),
        ("d_mlp", 8),
        ("d_model", 4),
        ("d_vocab", 12),
        ("n_ctx", 8),
        ("n_heads", 2),
        ("n_layers", 1),
        ("normalization", "LN"),
        ("model_name", "bad-fixture-tiny"),
        ("tokenizer_name", "none"),
    ]
)


def tiny_state_dict():
    g = torch.Generator().manual_seed(7)
    D, H, dh, M, V, C = 4, 2, 2, 8, 12, 8

    def n(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * 0.5

    sd = OrderedDict()
    sd["embed.W_E"] = n(V, D)
    sd["pos_embed.W_pos"] = n(C, D)
    sd["blocks.0.ln1.w"] = 1 + n(D)
    sd["blocks.0.ln1.b"] = n(D)
    sd["blocks.0.attn.W_Q"] = n(H, D, dh)
    sd["blocks.0.attn.W_K"] = n(H, D, dh)
    sd["blocks.0.attn.W_V"] = n(H, D, dh)
    sd["blocks.0.attn.W_O"] = n(H, dh, D)
    sd["blocks.0.attn.b_Q"] = n(H, dh)
    sd["blocks.0.attn.b_K"] = n(H, dh)
    sd["blocks.0.attn.b_V"] = n(H, dh)
    sd["blocks.0.attn.b_O"] = n(D)
    sd["blocks.0.ln2.w"] = 1 + n(D)
    sd["blocks.0.ln2.b"] = n(D)
    sd["blocks.0.mlp.W_in"] = n(D, M)
    sd["blocks.0.mlp.b_in"] = n(M)
    sd["blocks.0.mlp.W_out"] = n(M, D)
    sd["blocks.0.mlp.b_out"] = n(D)
    sd["ln_final.w"] = 1 + n(D)
    sd["ln_final.b"] = n(D)
    sd["unembed.W_U"] = n(D, V)
    sd["unembed.b_U"] = n(V)
    return sd


# ---------------------------------------------------------------- pickle emitter


def p_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -(2**31) <= v < 2**31:
        return b"J" + struct.pack("<i", v)
    nb = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([nb]) + v.to_bytes(nb, "little", signed=True)


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


def p_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


class Storage:
    """One ARCHIVE/data/KEY entry: raw little-endian bytes, an element type."""

    def __init__(self, key, data, stype="FloatStorage", numel=None, esize=4):
        self.key, self.data, self.stype = key, data, stype
        self.numel = len(data) // esize if numel is None else numel


def p_tensor(st, offset, size, stride):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    persid = p_tuple([p_str("storage"), p_global("torch", st.stype), p_str(st.key), p_str("cpu"), p_int(st.numel)]) + b"Q"
    args = p_tuple(
        [
            persid,
            p_int(offset),
            p_tuple([p_int(x) for x in size]),
            p_tuple([p_int(x) for x in stride]),
            b"\x89",
            p_global("collections", "OrderedDict") + b")R",
        ]
    )
    return p_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def p_state_dict(items):
    """items: list of (key, pickled value bytes); SETITEMS keeps the order."""
    body = b"".join(p_str(k) + v for k, v in items)
    return b"\x80\x02" + p_global("collections", "OrderedDict") + b")R" + b"(" + body + b"u."


def contiguous_stride(shape):
    s, out = 1, []
    for d in reversed(shape):
        out.append(s)
        s *= d
    return list(reversed(out))


def f32_bytes(t):
    return t.contiguous().numpy().astype("<f4").tobytes()


def zip_bytes(entries, compress=None):
    """A stored ZIP like torch.save's: ARCHIVE/data.pkl, ARCHIVE/data/KEY, version, byteorder."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2023, 1, 1, 0, 0, 0))
            info.compress_type = compress.get(name, zipfile.ZIP_STORED) if compress else zipfile.ZIP_STORED
            z.writestr(info, data)
    return bio.getvalue()


def torch_zip(pkl, storages, compress=None):
    entries = [("archive/data.pkl", pkl), ("archive/byteorder", b"little")]
    entries += [("archive/data/" + s.key, s.data) for s in storages]
    entries.append(("archive/version", b"3\n"))
    return zip_bytes(entries, compress)


def pth_from_sd(sd, override=None):
    """The state dict as a torch.save-style archive, one storage per tensor.
    override(key, tensor, storage_key) may return (pickled value, [storages]) to replace an entry."""
    items, storages = [], []
    for i, (k, t) in enumerate(sd.items()):
        r = override(k, t, str(i)) if override else None
        if r is None:
            st = Storage(str(i), f32_bytes(t))
            storages.append(st)
            items.append((k, p_tensor(st, 0, list(t.shape), contiguous_stride(list(t.shape)))))
        elif r == "drop":
            continue
        else:
            items.append((k, r[0]))
            storages += r[1]
    return torch_zip(p_state_dict(items), storages), items, storages


# ---------------------------------------------------------------- safetensors


def safetensors_bytes(entries, header_override=None):
    """entries: list of (name, dtype, shape, bytes) in order; duplicates allowed (written
    by hand so the JSON can repeat a key)."""
    parts, data, off = [], b"", 0
    for name, dt, shape, b in entries:
        parts.append('"%s":{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}' % (name, dt, json.dumps(shape), off, off + len(b)))
        data += b
        off += len(b)
    header = ("{" + ",".join(parts) + "}").encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    hlen = len(header) if header_override is None else header_override
    return struct.pack("<Q", hlen) + header + data


def st_entries(sd):
    return [(k, "F32", list(t.shape), f32_bytes(t)) for k, t in sd.items()]


# ---------------------------------------------------------------- main


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def check_torch_load(data, sd):
    """The emitter is only trusted if real torch reads back exactly sd."""
    got = torch.load(io.BytesIO(data), weights_only=True)
    assert list(got.keys()) == list(sd.keys()), (list(got.keys()), list(sd.keys()))
    for k in sd:
        assert torch.equal(got[k], sd[k]), k


def main():
    sd = tiny_state_dict()
    os.makedirs(os.path.join(BAD, "tiny"), exist_ok=True)
    with open(os.path.join(BAD, "tiny", "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
        f.write("\n")

    tiny, items, storages = pth_from_sd(sd)
    check_torch_load(tiny, sd)
    write(os.path.join(BAD, "tiny", "model_final.pth"), tiny)
    st = safetensors_bytes(st_entries(sd))
    write(os.path.join(BAD, "tiny_st.safetensors"), st)

    # Non-contiguous views that must load to the same values.
    def noncontig(k, t, key):
        if k == "embed.W_E":  # stored as W_E^T contiguous, viewed transposed
            s = Storage(key, f32_bytes(t.t()))
            return p_tensor(s, 0, list(t.shape), [1, t.shape[0]]), [s]
        if k == "unembed.W_U":  # a view at offset 5 in a larger storage, row stride 13
            D, V = t.shape
            big = torch.full((5 + D * 13,), 99.0)
            for d in range(D):
                big[5 + d * 13 : 5 + d * 13 + V] = t[d]
            s = Storage(key, f32_bytes(big))
            return p_tensor(s, 5, [D, V], [13, 1]), [s]
        if k == "blocks.0.attn.W_Q":  # [H,D,dh] stored as [dh,D,H]
            s = Storage(key, f32_bytes(t.permute(2, 1, 0)))
            H, D, dh = t.shape
            return p_tensor(s, 0, [H, D, dh], [1, H, D * H]), [s]
        return None

    nc, _, _ = pth_from_sd(sd, noncontig)
    check_torch_load(nc, sd)
    write(os.path.join(BAD, "noncontig.pth"), nc)

    # Duplicates: the first embed.W_E has a wrong shape, the last is right.
    wrong = torch.zeros(3, 3)
    st_dup = [("embed.W_E", "F32", [3, 3], f32_bytes(wrong))] + st_entries(sd)
    write(os.path.join(BAD, "dup_last_wins.safetensors"), safetensors_bytes(st_dup))
    s_wrong = Storage("dup", f32_bytes(wrong))
    items_dup = [("embed.W_E", p_tensor(s_wrong, 0, [3, 3], [3, 1]))] + items
    dup = torch_zip(p_state_dict(items_dup), [s_wrong] + storages)
    check_torch_load(dup, sd)  # Python dict semantics: the last value wins, first position kept
    write(os.path.join(BAD, "dup_last_wins.pth"), dup)

    # Pickles that name globals outside the whitelist. The MARKER file name is
    # checked by the test: it must never be created.
    marker = "/tmp/cleanup_pwned_marker"
    call = p_global("os", "system") + p_tuple([p_str("touch " + marker)]) + b"R"
    write(os.path.join(BAD, "evil_os_system.pth"), torch_zip(p_state_dict([("embed.W_E", call)]), []))
    call = p_global("posix", "system") + p_tuple([p_str("touch " + marker)]) + b"R"
    write(os.path.join(BAD, "evil_posix.pth"), torch_zip(p_state_dict([("embed.W_E", call)]), []))
    ev = b"\x8c\x08builtins\x8c\x04eval\x93" + p_tuple([p_str("__import__('os').system('touch %s')" % marker)]) + b"R"
    pkl = b"\x80\x04" + p_global("collections", "OrderedDict") + b")R(" + p_str("embed.W_E") + ev + b"u."
    write(os.path.join(BAD, "evil_eval.pth"), torch_zip(pkl, []))

    def replace(name, fn):
        return lambda k, t, key: fn(t, key) if k == name else None

    def variant(fname, name, fn):
        data, _, _ = pth_from_sd(sd, replace(name, fn))
        write(os.path.join(BAD, fname), data)

    def w_e(offset, size, stride, stype="FloatStorage", numel=None, data=None):
        def fn(t, key):
            s = Storage(key, f32_bytes(t) if data is None else data(t), stype, numel)
            return p_tensor(s, offset, size, stride), [s]

        return fn

    variant("stride_oob.pth", "embed.W_E", w_e(0, [12, 4], [5, 1]))
    variant("offset_oob.pth", "embed.W_E", w_e(48, [12, 4], [4, 1]))
    variant("neg_stride.pth", "embed.W_E", w_e(44, [12, 4], [-4, 1]))
    variant("shape_overflow.pth", "embed.W_E", w_e(0, [2**40, 2**40, 2**40], [0, 0, 0]))
    variant("numel_huge.pth", "embed.W_E", w_e(0, [12, 4], [4, 1], numel=2**62))
    variant("int_dtype.pth", "embed.W_E", w_e(0, [12, 4], [4, 1], "LongStorage", 48, lambda t: t.to(torch.int64).numpy().astype("<i8").tobytes()))
    variant("complex_dtype.pth", "embed.W_E", w_e(0, [12, 4], [4, 1], "ComplexFloatStorage", 48, lambda t: f32_bytes(t) * 2))
    variant("wrong_shape.pth", "pos_embed.W_pos", w_e(0, [9, 4], [4, 1], data=lambda t: f32_bytes(torch.zeros(9, 4))))

    def nan_fn(t, key):
        t = t.clone()
        t[2, 5] = float("nan")
        s = Storage(key, f32_bytes(t))
        return p_tensor(s, 0, list(t.shape), contiguous_stride(list(t.shape))), [s]

    data, _, _ = pth_from_sd(sd, replace("blocks.0.mlp.W_in", nan_fn))
    write(os.path.join(BAD, "nan_weights.pth"), data)
    data, _, _ = pth_from_sd(sd, lambda k, t, key: "drop" if k == "blocks.0.attn.W_K" else None)
    write(os.path.join(BAD, "missing_key.pth"), data)
    s_extra = Storage("extra", f32_bytes(sd["blocks.0.attn.W_Q"]))
    extra = torch_zip(p_state_dict(items + [("blocks.7.attn.W_Q", p_tensor(s_extra, 0, [2, 4, 2], [8, 2, 1]))]), storages + [s_extra])
    write(os.path.join(BAD, "extra_key.pth"), extra)

    # Absurd sizes in the pickle itself.
    big_str = b"\x8d" + struct.pack("<Q", 2**62) + b"abc"
    write(os.path.join(BAD, "string_huge.pth"), torch_zip(b"\x80\x04" + big_str + b".", []))
    write(os.path.join(BAD, "memo_huge.pth"), torch_zip(b"\x80\x02}r\xff\xff\xff\xff.", []))
    write(os.path.join(BAD, "not_a_dict.pth"), torch_zip(b"\x80\x02]q\x00.", []))
    write(os.path.join(BAD, "no_stop.pth"), torch_zip(p_state_dict(items)[:-1], storages))
    write(os.path.join(BAD, "zip_deflate.pth"), torch_zip(p_state_dict(items), storages, {"archive/data.pkl": zipfile.ZIP_DEFLATED}))
    z = bytearray(tiny)
    eocd = z.rfind(b"PK\x05\x06")
    z[eocd + 8 : eocd + 12] = b"\xff\xff\xff\xff"
    write(os.path.join(BAD, "zip_count_huge.pth"), bytes(z))

    # safetensors variants.
    e = st_entries(sd)
    inf = sd["unembed.W_U"].clone()
    inf[1, 3] = float("inf")
    write(os.path.join(BAD, "inf_weights.safetensors"), safetensors_bytes([x if x[0] != "unembed.W_U" else (x[0], "F32", [4, 12], f32_bytes(inf)) for x in e]))
    write(os.path.join(BAD, "unknown_dtype.safetensors"), safetensors_bytes([x if x[0] != "embed.W_E" else (x[0], "F8_E4M3", [12, 4], x[3][:48]) for x in e]))
    write(os.path.join(BAD, "shape_overflow.safetensors"), safetensors_bytes([("embed.W_E", "F32", [2**40, 2**40, 2**40], b"")] + e[1:]))
    write(os.path.join(BAD, "header_huge.safetensors"), safetensors_bytes(e, header_override=2**63))
    write(os.path.join(BAD, "header_past_end.safetensors"), safetensors_bytes(e, header_override=len(st)))
    oob = bytearray(st)
    # The last tensor's end offset, rewritten with the same number of digits but 9s.
    hdr = oob[8 : 8 + struct.unpack("<Q", oob[:8])[0]].decode()
    last = hdr.rstrip().rstrip("}").rstrip("]").rsplit(",", 1)[1]
    pos = 8 + hdr.rindex(last)
    oob[pos : pos + len(last)] = b"9" * len(last)
    write(os.path.join(BAD, "offsets_oob.safetensors"), bytes(oob))

    # Fuzzer seeds: the small valid files and a few of the bad ones.
    write(os.path.join(CORPUS, "fuzz_zip", "tiny.pth"), tiny)
    write(os.path.join(CORPUS, "fuzz_zip", "noncontig.pth"), nc)
    write(os.path.join(CORPUS, "fuzz_pickle", "tiny.pkl"), p_state_dict(items))
    write(os.path.join(CORPUS, "fuzz_pickle", "evil_eval.pkl"), pkl)
    with zipfile.ZipFile(io.BytesIO(nc)) as zz:
        write(os.path.join(CORPUS, "fuzz_pickle", "noncontig.pkl"), zz.read("archive/data.pkl"))
    with zipfile.ZipFile(io.BytesIO(torch_save_bytes(sd))) as zz:
        name = [n for n in zz.namelist() if n.endswith("data.pkl")][0]
        write(os.path.join(CORPUS, "fuzz_pickle", "torch_save.pkl"), zz.read(name))
    write(os.path.join(CORPUS, "fuzz_safetensors", "tiny.safetensors"), st)
    write(os.path.join(CORPUS, "fuzz_safetensors", "dup.safetensors"), safetensors_bytes(st_dup[:3]))
    print("wrote", BAD, "and", CORPUS)


def torch_save_bytes(sd):
    bio = io.BytesIO()
    torch.save(sd, bio)
    return bio.getvalue()


# ---------------------------------------------------------------- tokenizer and data seeds (no torch needed)


def mini_tokenizer(pre, normalizer, post, extra_added=()):
    b2u = bytes_to_unicode()
    added = [("<|endoftext|>", 0), ("<|BOS|>", 1), ("<|PAD|>", 2)] + list(extra_added)
    vocab = OrderedDict()
    for b in range(256):
        vocab[b2u[b]] = 3 + b
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("1", "2"), ("e", "r")]:
        merges.append(a + " " + b)
        vocab[a + b] = len(vocab) + 3
    return json.dumps(
        OrderedDict(
            [
                ("version", "1.0"),
                ("truncation", None),
                ("padding", None),
                ("added_tokens", [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for c, i in added]),
                ("normalizer", normalizer),
                ("pre_tokenizer", pre),
                ("post_processor", post),
                ("decoder", {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}),
                ("model", OrderedDict([("type", "BPE"), ("dropout", None), ("unk_token", None), ("continuing_subword_prefix", None), ("end_of_word_suffix", None), ("fuse_unk", False), ("vocab", vocab), ("merges", merges)])),
            ]
        ),
        ensure_ascii=False,
    ).encode("utf-8")


def tokenizer_and_data_seeds():
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tp = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|BOS|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|BOS|>": {"id": "<|BOS|>", "ids": [1], "tokens": ["<|BOS|>"]}},
    }
    seq = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False},
        ],
    }
    d = os.path.join(CORPUS, "fuzz_tokenizer_load")
    write(os.path.join(d, "mini_bytelevel.json"), mini_tokenizer(bl, {"type": "NFC"}, tp))
    write(os.path.join(d, "mini_sequence.json"), mini_tokenizer(seq, {"type": "Sequence", "normalizers": [{"type": "NFKC"}]}, {"type": "Sequence", "processors": [bl, {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<|BOS|>", 1]}]}, [("  ", 300)]))
    write(os.path.join(d, "mini_split_regex.json"), mini_tokenizer({"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}, "behavior": "Removed", "invert": True}, None, None))
    d = os.path.join(CORPUS, "fuzz_tokenizer_encode")
    for name, text in [("ascii.txt", "Hello world, the 123 numbers and   spaces\n\tend"), ("unicode.txt", "café e\u0301 Ａ 😀 ﬁ \u212b <|endoftext|>x"), ("code.txt", "def f(x):\n    return x ** 2  # ok\n")]:
        write(os.path.join(d, name), text.encode("utf-8"))
    d = os.path.join(CORPUS, "fuzz_data")
    toks = lambda n, s: ",".join(str((s * 7 + i * 13) % 600 + 3) for i in range(n))  # noqa: E731
    write(os.path.join(d, "tokens.jsonl"), b"\x02\x07" + "".join('{"tokens":[1,%s]}\n' % toks(9, s) for s in range(3)).encode())
    write(os.path.join(d, "rows.json"), b"\x01\x05" + ('{"rows":[{"row_idx":0,"row":{"tokens":[1,%s]},"truncated_cells":[]},{"row_idx":1,"row":{"tokens":[1,%s]},"truncated_cells":[]}]}' % (toks(6, 1), toks(6, 2))).encode())
    write(os.path.join(d, "text.jsonl"), b"\x01\x0f" + "".join(json.dumps({"text": t}) + "\n" for t in ["the cat sat on the mat " * 3, "numbers 123 456", "café"]).encode())
    write(os.path.join(d, "plain.txt"), b"\x00\x03" + b"a plain text document\nanother line of text here\n\n")


if __name__ == "__main__":
    tokenizer_and_data_seeds()
    sys.exit(main())
