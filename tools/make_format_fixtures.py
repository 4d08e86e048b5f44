#!/usr/bin/python3
"""Writes the file-format fixtures for tests/test_formats.c into tests/fixtures/formats/.

Dev tool only (CI and users never run it). Needs Debian's /usr/bin/python3 with
torch (1.13 tested) and numpy. The safetensors files are written by hand from
the format's specification (no safetensors package), and one ZIP is written by
a hand-made zip64 writer, so the C reader is checked against independent
writers. Expected values come from torch/numpy (expected.txt):

  F <file> <kind>                      kind: ok | fail:<substring of the error>
  T <name> <dtype> <ndim> <shape...> <stride...> <offset> <numel>
  V <hex float32 bits ...>             float tensors: tensor_to_f32 result, row-major
  I <int ...>                          int/bool tensors: the elements, row-major
  N <count>                            number of tensors the file holds

Usage: /usr/bin/python3 tools/make_format_fixtures.py
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats")


def state_dict():
    """A small state dict covering the dtypes and layouts torch.save writes."""
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(2, 3, generator=g)
    sd["f16"] = torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24, -(2.0 ** -20), 6.1035156e-05, float("inf"),
                              float("-inf"), float("nan"), 0.0, -0.0, 0.333], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -3.140625, 1e38, 9.2e-41, float("inf"), float("nan"), -0.0, 0.1],
                              dtype=torch.bfloat16)
    sd["f64"] = torch.tensor([1.0 / 3.0, -1e-40, 1e-46, 3.5e38, -1e300, 1.0000000596046448, 2.0 ** -149 * 1.5,
                              float("nan")], dtype=torch.float64)
    sd["mask"] = torch.tril(torch.ones(3, 3, dtype=torch.bool))
    sd["ids"] = torch.tensor([-1, 0, 2 ** 40 + 3, -(2 ** 62)], dtype=torch.int64)
    sd["scalar"] = torch.tensor(-7.25)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1.0
    sd["base"] = base
    sd["base_t"] = base.t()              # non-contiguous view of the same storage
    sd["slice"] = base[1:, 1:3]          # offset 5, strides (4, 1)
    sd["expanded"] = torch.tensor([1.5, -2.0, 4.0]).expand(2, 3)  # stride 0
    sd["empty"] = torch.zeros(0, 3)
    sd["i32"] = torch.tensor([[1, -2], [3, 2 ** 31 - 1]], dtype=torch.int32)
    sd["nested"] = {"inner": torch.tensor([0.25, 0.5]), "skip": 3}
    sd["step"] = 7
    sd["lr"] = 0.5
    sd["nothing"] = None
    sd["label"] = "text"
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("f32", {"version": 2})])
    return sd


def flat_tensors(sd, prefix=""):
    out = []
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            out.append((prefix + k, v))
        elif isinstance(v, dict):
            out.extend(flat_tensors(v, prefix + k + "."))
    return out


DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}


def expect_lines(tensors, contiguous=False):
    lines = []
    for name, t in tensors:
        dt = DTYPES[t.dtype]
        shape = list(t.shape)
        if contiguous:
            stride, offset = [], 0
            acc = 1
            for s in reversed(shape):
                stride.insert(0, acc)
                acc *= s
        else:
            stride, offset = list(t.stride()), t.storage_offset()
        lines.append("T %s %s %d %s %d %d" % (name, dt, len(shape), " ".join(str(x) for x in shape + stride),
                                             offset, t.numel()))
        flat = t.contiguous().reshape(-1)
        if dt in ("F32", "F16", "BF16", "F64"):
            # numpy's float64 -> float32 conversion (round to nearest even, subnormals, inf) is the reference.
            with np.errstate(over="ignore"):
                vals = flat.double().numpy().astype(np.float32) if dt == "F64" else flat.float().numpy()
            lines.append("V" + "".join(" %08x" % b for b in vals.view(np.uint32)))
        else:
            lines.append("I" + "".join(" %d" % int(x) for x in flat.long().tolist()))
    lines.append("N %d" % len(tensors))
    return lines


def st_bytes(tensors, metadata=None, align=True):
    """safetensors from its specification: u64 LE header size, JSON header, data."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        data = t.contiguous().reshape(-1)
        if t.dtype == torch.bfloat16:
            raw = data.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = data.numpy().astype(data.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    if align:
        h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def zip64_rewrite(src):
    """Rewrites a ZIP with a hand-made writer that puts every size and offset in
    zip64 extra fields (32-bit fields saturated) and ends with the zip64 EOCD
    record and locator (APPNOTE 4.3.14-4.3.15, 4.5.3)."""
    zin = zipfile.ZipFile(io.BytesIO(src))
    out, central = bytearray(), bytearray()
    for info in zin.infolist():
        data = zin.read(info.filename)
        name = info.filename.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        off = len(out)
        lextra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(name), len(lextra)) + name + lextra + data
        cextra = struct.pack("<HHQQQ", 0x5455, 0, 0, 0, 0)[:4]  # an empty unrelated field first
        cextra += struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + name + cextra
    cd_off, n = len(out), len(zin.infolist())
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064b50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054b50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def zi(name):
    """A ZipInfo with a fixed timestamp, so the fixtures are reproducible."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def rezip(src, compression, rename=None):
    zin = zipfile.ZipFile(io.BytesIO(src))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zout:
        for info in zin.infolist():
            name = rename(info.filename) if rename else info.filename
            zout.writestr(zi(name), zin.read(info.filename), compress_type=compression)
    return buf.getvalue()


def evil_zip(pkl, folder="evil"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zi(folder + "/data.pkl"), pkl)
        z.writestr(zi(folder + "/version"), "3\n")
    return buf.getvalue()


def p_int(n):
    """LONG1 opcode: any 64-bit integer, little-endian two's complement."""
    return b"\x8a\x08" + n.to_bytes(8, "little", signed=True)


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


def fake_torch_zip(size, stride, offset, numel, data, storage="FloatStorage", key="0", folder="fake"):
    """A torch.save-like archive with one tensor 'w', pickle assembled opcode by
    opcode (protocol 2), so sizes torch would never write can be tried."""
    pkl = (b"\x80\x02ccollections\nOrderedDict\n)R(" + p_str("w") + b"ctorch._utils\n_rebuild_tensor_v2\n(" +
           p_tuple([p_str("storage"), b"ctorch\n" + storage.encode() + b"\n", p_str(key), p_str("cpu"), p_int(numel)]) +
           b"Q" + p_int(offset) + p_tuple([p_int(x) for x in size]) + p_tuple([p_int(x) for x in stride]) +
           b"\x89}tRu.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zi(folder + "/data.pkl"), pkl)
        z.writestr(zi(folder + "/data/0"), data)
        z.writestr(zi(folder + "/version"), "3\n")
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    tensors = flat_tensors(sd)
    expected = []
    files = {}

    def save(name, **kw):
        path = os.path.join(OUT, name)
        torch.save(sd, path, **kw)
        back = torch.load(path)
        for k, t in tensors:  # sanity: torch reads back what we expect
            obj = back
            for part in k.split("."):
                obj = obj[part]
            assert torch.equal(obj, t) or (t.is_floating_point() and torch.allclose(obj, t, equal_nan=True))
        return path

    save("proto2.pth", pickle_protocol=2)
    save("proto4.pth", pickle_protocol=4)
    save("proto5.pth", pickle_protocol=5)
    save("default.pth", _use_new_zipfile_serialization=True)
    for name in ("proto2.pth", "proto4.pth", "proto5.pth", "default.pth"):
        expected.append("F %s ok" % name)
        expected += expect_lines(tensors)
    # Saved to a buffer: the archive folder is "archive" instead of the file stem.
    buf = io.BytesIO()
    torch.save(sd, buf)
    files["archive_folder.pth"] = buf.getvalue()
    assert zipfile.ZipFile(buf).namelist()[0].startswith("archive/")
    expected.append("F archive_folder.pth ok")
    expected += expect_lines(tensors)
    # zip64 extra fields everywhere (hand-made writer); Python's zipfile must read it.
    z64 = zip64_rewrite(open(os.path.join(OUT, "proto2.pth"), "rb").read())
    zcheck = zipfile.ZipFile(io.BytesIO(z64))
    assert zcheck.testzip() is None
    files["zip64.pth"] = z64
    expected.append("F zip64.pth ok")
    expected += expect_lines(tensors)

    # A ZIP comment after the end record (Python's zipfile as writer; sizes in the local headers).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zc:
        zsrc = zipfile.ZipFile(os.path.join(OUT, "proto4.pth"))
        for info in zsrc.infolist():
            zc.writestr(zi(info.filename.replace("proto4/", "renamed/")), zsrc.read(info.filename))
        zc.comment = b"a comment PK\x05\x06 that looks like a record"
    files["comment.pth"] = buf.getvalue()
    expected.append("F comment.pth ok")
    expected += expect_lines(tensors)

    # The extra records newer torch versions add (byteorder, .data/serialization_id,
    # .format_version, .storage_alignment) next to the usual ones.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zc:
        zsrc = zipfile.ZipFile(os.path.join(OUT, "proto2.pth"))
        for info in zsrc.infolist():
            zc.writestr(zi(info.filename.replace("proto2/", "archive/")), zsrc.read(info.filename))
        zc.writestr(zi("archive/byteorder"), b"little")
        zc.writestr(zi("archive/.data/serialization_id"), b"1234567890123456789012345678901234567890")
        zc.writestr(zi("archive/.format_version"), b"1")
        zc.writestr(zi("archive/.storage_alignment"), b"64")
    files["torch2_layout.pth"] = buf.getvalue()
    expected.append("F torch2_layout.pth ok")
    expected += expect_lines(tensors)

    # nn.Parameter values (state_dict(keep_vars=True)): torch._utils._rebuild_parameter.
    psd = collections.OrderedDict([("w", torch.nn.Parameter(torch.tensor([[1.5, -2.0], [0.25, 8.0]]))),
                                   ("frozen", torch.nn.Parameter(torch.tensor([3.0]), requires_grad=False))])
    torch.save(psd, os.path.join(OUT, "parameter.pth"))
    assert b"_rebuild_parameter" in open(os.path.join(OUT, "parameter.pth"), "rb").read()
    expected.append("F parameter.pth ok")
    expected += expect_lines([(k, v.detach()) for k, v in psd.items()])

    # A plain nn.Module state dict (as published checkpoints are).
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    msd = lin.state_dict()
    torch.save(msd, os.path.join(OUT, "module.pth"))
    expected.append("F module.pth ok")
    expected += expect_lines(list(msd.items()))

    # safetensors, written by hand from the spec (contiguous copies).
    st_tensors = [(k, t) for k, t in tensors if t.dtype in DTYPES]
    files["all.safetensors"] = st_bytes(st_tensors, metadata={"format": "pt", "note": "fixture"})
    expected.append("F all.safetensors ok")
    expected += expect_lines(st_tensors, contiguous=True)
    files["noalign.safetensors"] = st_bytes(st_tensors[:3], metadata=None, align=False)
    expected.append("F noalign.safetensors ok")
    expected += expect_lines(st_tensors[:3], contiguous=True)

    # The raw pickles, for the C test's own pickle fuzzing (it re-zips them).
    for proto in (2, 4):
        z = zipfile.ZipFile(os.path.join(OUT, "proto%d.pth" % proto))
        files["proto%d.pkl" % proto] = z.read("proto%d/data.pkl" % proto)

    # Refused inputs.
    proto2 = open(os.path.join(OUT, "proto2.pth"), "rb").read()
    files["deflate.pth"] = rezip(proto2, zipfile.ZIP_DEFLATED)
    expected.append("F deflate.pth fail:compressed")
    torch.save(sd, os.path.join(OUT, "legacy.pth"), _use_new_zipfile_serialization=False)
    expected.append("F legacy.pth fail:legacy")
    files["evil_global.pth"] = evil_zip(b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.")
    expected.append("F evil_global.pth fail:'os.system'")

    class Evil:  # pickled only, never loaded by Python here
        def __reduce__(self):
            return (eval, ("1+1",))
    files["evil_stack_global.pth"] = evil_zip(pickle.dumps(Evil(), protocol=4))
    assert b"\x93" in files["evil_stack_global.pth"]  # STACK_GLOBAL
    expected.append("F evil_stack_global.pth fail:'builtins.eval'")
    # A whitelisted global called in a way torch.save never does.
    files["evil_call_storage.pth"] = evil_zip(b"\x80\x02ctorch\nFloatStorage\n)R}.")
    expected.append("F evil_call_storage.pth fail:refusing to call")
    files["evil_subclass.pth"] = evil_zip(pickle.dumps(collections.OrderedDict(a=1), protocol=2)
                                          .replace(b"collections\nOrderedDict", b"collections\nnamedtuple_"))
    expected.append("F evil_subclass.pth fail:'collections.namedtuple_'")
    torch.save([torch.ones(2)], os.path.join(OUT, "list.pth"))
    expected.append("F list.pth fail:not a dict")
    files["bad_magic.safetensors"] = b"\x10\x00\x00\x00\x00\x00\x00\x00[\"not an object\"]"
    expected.append("F bad_magic.safetensors fail:safetensors")
    files["not_a_model.bin"] = b"hello world, this is not a model file\n"
    expected.append("F not_a_model.bin fail:not a torch.save")

    # safetensors with absurd sizes / shapes: header JSON built by hand.
    def st_raw(header, data=b""):
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data
    files["st_overflow.safetensors"] = st_raw(
        {"x": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32, 2 ** 32], "data_offsets": [0, 4]}}, b"\0" * 4)
    expected.append("F st_overflow.safetensors fail:overflow")
    files["st_size_mismatch.safetensors"] = st_raw(
        {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8)
    expected.append("F st_size_mismatch.safetensors fail:need")
    files["st_size_short.safetensors"] = st_raw(
        {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
    expected.append("F st_size_short.safetensors fail:outside")
    files["st_offsets_out.safetensors"] = st_raw(
        {"x": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 8)
    expected.append("F st_offsets_out.safetensors fail:outside")
    files["st_dtype.safetensors"] = st_raw(
        {"x": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2)
    expected.append("F st_dtype.safetensors fail:F8_E4M3")
    files["st_header_huge.safetensors"] = struct.pack("<Q", 2 ** 63) + b"{}"
    expected.append("F st_header_huge.safetensors fail:exceeds")

    # Hand-assembled pickles: one valid (checks the assembler), then bad sizes.
    six = struct.pack("<6f", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    files["fake_ok.pth"] = fake_torch_zip([3, 2], [1, 3], 0, 6, six)
    expected.append("F fake_ok.pth ok")
    expected.append("T w F32 2 3 2 1 3 0 6")
    expected.append("V" + "".join(" %08x" % struct.unpack("<I", struct.pack("<f", v))[0] for v in (1, 4, 2, 5, 3, 6)))
    expected.append("N 1")
    bad = [
        ("fake_overflow.pth", ([2 ** 32, 2 ** 32, 2 ** 32], [1, 1, 1], 0, 6, six), "overflow"),
        ("fake_extent.pth", ([3, 3], [3, 1], 0, 6, six), "outside the storage"),
        ("fake_stride_overflow.pth", ([2, 2], [2 ** 62, 1], 0, 6, six), "overflow"),
        ("fake_negative.pth", ([2], [-1], 0, 6, six), "negative"),
        ("fake_offset.pth", ([2], [1], 5, 6, six), "outside the storage"),
        ("fake_numel.pth", ([2], [1], 0, 7, six), "fewer than"),
        ("fake_numel_huge.pth", ([2], [1], 0, 2 ** 62, six), "fewer than"),
        ("fake_missing_storage.pth", ([2], [1], 0, 6, six, "FloatStorage", "9"), "not in the archive"),
        ("fake_bad_key.pth", ([2], [1], 0, 6, six, "FloatStorage", "../0"), "invalid storage key"),
        ("fake_ndim.pth", ([1] * 9, [1] * 9, 0, 6, six), "dimensions"),
    ]
    for name, args, msg in bad:
        files[name] = fake_torch_zip(*args)
        expected.append("F %s fail:%s" % (name, msg))
    # Malformed pickle streams.
    for name, pkl, msg in [
        ("pkl_memo_huge.pth", b"\x80\x02}r\xff\xff\xff\xff.", "memo index"),
        ("pkl_memo_unset.pth", b"\x80\x02}h\x05.", "never stored"),
        ("pkl_string_long.pth", b"\x80\x02X\xf0\xff\xff\x7f" + b"a" * 8 + b".", "too long"),
        ("pkl_string_trunc.pth", b"\x80\x02X\x00\x01\x00\x00" + b"a" * 8 + b".", "truncated"),
        ("pkl_global_unterminated.pth", b"\x80\x02ccollections\nOrderedDict", "unterminated"),
        ("pkl_long1_wide.pth", b"\x80\x02\x8a\x09" + b"\x01" * 9 + b".", "wider than 64 bits"),
        ("pkl_no_stop.pth", b"\x80\x02}", "without STOP"),
        ("pkl_underflow.pth", b"\x80\x02s.", "underflow"),
        ("pkl_setitems_nomark.pth", b"\x80\x02}u.", "no MARK"),
        ("pkl_proto1.pth", b"\x80\x01}.", "protocol"),
        ("pkl_opcode.pth", b"\x80\x02}I1\n.", "opcode"),
        ("pkl_frame.pth", b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00}.", "FRAME"),
        ("pkl_persid.pth", b"\x80\x02X\x01\x00\x00\x00xQ.", "persistent id"),
        ("pkl_reduce_tensor_args.pth", b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)R.", "6 or 7 arguments"),
    ]:
        files[name] = evil_zip(pkl, "p")
        expected.append("F %s fail:%s" % (name, msg))
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as z:
        z.writestr(zi("a/data.pkl"), b"\x80\x02}.")
        z.writestr(zi("b/data.pkl"), b"\x80\x02}.")
    files["two_pickles.pth"] = two.getvalue()
    expected.append("F two_pickles.pth fail:more than one")
    nopkl = io.BytesIO()
    with zipfile.ZipFile(nopkl, "w") as z:
        z.writestr(zi("a/readme.txt"), b"hi")
    files["no_pickle.pth"] = nopkl.getvalue()
    expected.append("F no_pickle.pth fail:no ARCHIVE/data.pkl")
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w") as z:
        z.writestr(zi("a/data.pkl"), b"\x80\x02}.")
        z.writestr(zi("a/byteorder"), b"big")
    files["big_endian.pth"] = big.getvalue()
    expected.append("F big_endian.pth fail:big-endian")
    files["empty_dict.pth"] = evil_zip(b"\x80\x02}.", "e")
    expected.append("F empty_dict.pth ok")
    expected.append("N 0")

    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("# Written by tools/make_format_fixtures.py (torch %s, numpy %s). See the script for the format.\n"
                % (torch.__version__, np.__version__))
        f.write("\n".join(expected) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, OUT))


if __name__ == "__main__":
    main()
