#!/usr/bin/python3
"""gen_unicode.py - writes unicode_data.c from the Unicode Character Database.

Dev tool (CI and users never run it). Reads the UCD shipped by Debian's
`unicode-data` package (default /usr/share/unicode, UCD 15.0.0) and writes the
compact tables tokenizer.c needs:

  - per code point flags: letter (\\p{L}), number (\\p{N}), White_Space (what
    Oniguruma's \\s and Rust's char::is_whitespace match), word (Rust regex \\w:
    Alphabetic | M | Nd | Pc | Join_Control), and "may change under NFC / NFD /
    NFKC / NFKD" (quick check not Yes, or a non-zero combining class);
  - canonical combining classes;
  - full (recursive) canonical and compatibility decompositions (Hangul
    syllables excluded: they are algorithmic, done in code);
  - canonical composition pairs, minus Full_Composition_Exclusion.

Two-level tables (128 code points per block, identical blocks shared) keep the
generated C well under 1 MB.

usage: /usr/bin/python3 tools/gen_unicode.py [UCD_DIR] > unicode_data.c
"""
import os
import re
import sys

UCD = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
MAXCP = 0x110000
BLOCK = 128

F_L, F_N, F_WS, F_WORD, F_NFC, F_NFD, F_NFKC, F_NFKD = 1, 2, 4, 8, 16, 32, 64, 128

# HF tokenizers 0.22 (the library whose ids we reproduce) mixes Unicode versions:
#  - its regex engine (Oniguruma 6.9.10) classifies \p{L} / \p{N} with Unicode 16.0 and
#    Rust's char::is_numeric (Digits pre-tokenizer) with Unicode 16/17;
#  - its normalizer (unicode-normalization-alignments) has Unicode 9.0 tables: characters
#    assigned after 9.0 have no decomposition and combining class 0 there.
# The UCD here is 15.0, so letters/numbers assigned later are added from this list
# (found by probing HF for every code point with tools/unicode_parity.js; checked by
# tools/check_unicode.c), and normalization data is limited to characters of Age <= 9.0.
NORMALIZATION_AGE = 9.0
# (first, last, L, N (regex \p{N} and is_numeric), numeric (is_numeric only))
LATER_CLASSES = [
    (0x1C89, 0x1C8A, 1, 0, 0), (0xA7CB, 0xA7CD, 1, 0, 0), (0xA7DA, 0xA7DC, 1, 0, 0),
    (0x105C0, 0x105F3, 1, 0, 0), (0x10D40, 0x10D49, 0, 1, 0), (0x10D4A, 0x10D65, 1, 0, 0),
    (0x10D6F, 0x10D85, 1, 0, 0), (0x10EC2, 0x10EC4, 1, 0, 0), (0x11380, 0x11389, 1, 0, 0),
    (0x1138B, 0x1138B, 1, 0, 0), (0x1138E, 0x1138E, 1, 0, 0), (0x11390, 0x113B5, 1, 0, 0),
    (0x113B7, 0x113B7, 1, 0, 0), (0x113D1, 0x113D1, 1, 0, 0), (0x113D3, 0x113D3, 1, 0, 0),
    (0x116D0, 0x116E3, 0, 1, 0), (0x11BC0, 0x11BE0, 1, 0, 0), (0x11BF0, 0x11BF9, 0, 1, 0),
    (0x11DE0, 0x11DE9, 0, 0, 1), (0x13460, 0x143FA, 1, 0, 0), (0x16100, 0x1611D, 1, 0, 0),
    (0x16130, 0x16139, 0, 1, 0), (0x16D40, 0x16D6C, 1, 0, 0), (0x16D70, 0x16D79, 0, 1, 0),
    (0x16FF4, 0x16FF6, 0, 0, 1), (0x18CFF, 0x18CFF, 1, 0, 0), (0x1CCF0, 0x1CCF9, 0, 1, 0),
    (0x1E5D0, 0x1E5ED, 1, 0, 0), (0x1E5F0, 0x1E5F0, 1, 0, 0), (0x1E5F1, 0x1E5FA, 0, 1, 0),
    (0x2EBF0, 0x2EE5D, 1, 0, 0),  # CJK Extension I (Unicode 15.1)
]
# Marks assigned after 15.0 that Rust's regex \w (single_word added tokens) counts as word characters.
LATER_WORD = [(0x897, 0x897), (0x10D69, 0x10D6D), (0x10EFC, 0x10EFC), (0x113B8, 0x113C0), (0x113C2, 0x113C2),
              (0x113C5, 0x113C5), (0x113C7, 0x113CA), (0x113CC, 0x113D0), (0x113D2, 0x113D2), (0x113E1, 0x113E2),
              (0x11F5A, 0x11F5A), (0x1611E, 0x1612F), (0x1E5EE, 0x1E5EF)]


def path(name):
    return os.path.join(UCD, name)


def version():
    with open(path("ReadMe.txt"), encoding="utf-8") as f:
        m = re.search(r"Version (\d+\.\d+\.\d+)", f.read())
    return m.group(1) if m else "unknown"


def read_unicode_data():
    cat = {}
    ccc = {}
    decomp = {}  # cp -> (is_compat, [cps])
    first = None
    with open(path("UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fl = line.rstrip("\n").split(";")
            cp = int(fl[0], 16)
            name, gc, cc, dm = fl[1], fl[2], int(fl[3]), fl[5]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    cat[c] = gc
                    if cc:
                        ccc[c] = cc
                continue
            cat[cp] = gc
            if cc:
                ccc[cp] = cc
            if dm:
                parts = dm.split()
                compat = parts[0].startswith("<")
                if compat:
                    parts = parts[1:]
                decomp[cp] = (compat, [int(p, 16) for p in parts])
    return cat, ccc, decomp


def read_prop_file(name, wanted):
    """Returns {property: set(cps)} for properties in `wanted` (value-less or 'Prop; Value' pairs)."""
    out = {w: set() for w in wanted}
    with open(path(name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fl = [x.strip() for x in line.split(";")]
            key = fl[1] if len(fl) == 2 else fl[1] + "=" + fl[2]
            if key not in out:
                continue
            r = fl[0].split("..")
            lo = int(r[0], 16)
            hi = int(r[-1], 16)
            out[key].update(range(lo, hi + 1))
    return out


def read_ages():
    ages = {}
    with open(path("DerivedAge.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            r, a = [x.strip() for x in line.split(";")]
            r = r.split("..")
            for c in range(int(r[0], 16), int(r[-1], 16) + 1):
                ages[c] = float(a)
    return ages


def full_decomp(cp, decomp, compat, memo):
    key = (cp, compat)
    if key in memo:
        return memo[key]
    if 0xAC00 <= cp <= 0xD7A3:
        res = [cp]  # Hangul: algorithmic, handled in code
    elif cp in decomp and (compat or not decomp[cp][0]):
        res = []
        for c in decomp[cp][1]:
            res.extend(full_decomp(c, decomp, compat, memo))
    else:
        res = [cp]
    memo[key] = res
    return res


def two_level(values, name, ctype):
    """Emits stage1 (block index per BLOCK code points) and stage2 (shared blocks)."""
    blocks = {}
    order = []
    stage1 = []
    for b in range(MAXCP // BLOCK):
        blk = tuple(values[b * BLOCK:(b + 1) * BLOCK])
        if blk not in blocks:
            blocks[blk] = len(order)
            order.append(blk)
        stage1.append(blocks[blk])
    out = []
    out.append("static const unsigned short %s_stage1[%d] = {" % (name, len(stage1)))
    out.append(wrap(stage1))
    out.append("};")
    out.append("static const %s %s_stage2[%d] = {" % (ctype, name, len(order) * BLOCK))
    flat = [v for blk in order for v in blk]
    out.append(wrap(flat))
    out.append("};")
    return "\n".join(out)


def wrap(nums, per=24):
    lines = []
    for i in range(0, len(nums), per):
        lines.append(",".join(str(n) for n in nums[i:i + per]) + ",")
    return "\n".join(lines)


def main():
    ver = version()
    cat, ccc, decomp = read_unicode_data()
    ages = read_ages()
    old = lambda c: ages.get(c, 99.0) <= NORMALIZATION_AGE
    ccc = {c: v for c, v in ccc.items() if old(c)}
    decomp = {c: v for c, v in decomp.items() if old(c)}
    props = read_prop_file("PropList.txt", ["White_Space", "Join_Control"])
    core = read_prop_file("DerivedCoreProperties.txt", ["Alphabetic"])
    norm = read_prop_file("DerivedNormalizationProps.txt", [
        "Full_Composition_Exclusion", "NFC_QC=N", "NFC_QC=M", "NFD_QC=N", "NFKC_QC=N", "NFKC_QC=M", "NFKD_QC=N"])

    flags = [0] * MAXCP
    cccs = [0] * MAXCP
    for cp in range(MAXCP):
        gc = cat.get(cp, "Cn")
        f = 0
        if gc[0] == "L":
            f |= F_L
        if gc[0] == "N":
            f |= F_N
        if cp in props["White_Space"]:
            f |= F_WS
        if cp in core["Alphabetic"] or gc[0] == "M" or gc == "Nd" or gc == "Pc" or cp in props["Join_Control"]:
            f |= F_WORD
        c = ccc.get(cp, 0)
        cccs[cp] = c
        if old(cp):
            if c or cp in norm["NFC_QC=N"] or cp in norm["NFC_QC=M"]:
                f |= F_NFC
            if c or cp in norm["NFD_QC=N"]:
                f |= F_NFD
            if c or cp in norm["NFKC_QC=N"] or cp in norm["NFKC_QC=M"]:
                f |= F_NFKC
            if c or cp in norm["NFKD_QC=N"]:
                f |= F_NFKD
        flags[cp] = f
    extra_numeric = []
    for lo, hi, is_l, is_n, is_num in LATER_CLASSES:
        assert all(cat.get(cp, "Cn") == "Cn" for cp in range(lo, hi + 1))
        for cp in range(lo, hi + 1):
            if is_l:
                flags[cp] |= F_L | F_WORD
            if is_n:
                flags[cp] |= F_N | F_WORD
        if is_num:
            extra_numeric.append((lo, hi))
    for lo, hi in LATER_WORD:
        for cp in range(lo, hi + 1):
            assert cat.get(cp, "Cn") == "Cn"
            flags[cp] |= F_WORD

    memo = {}
    canon = []   # (cp, list)
    compat = []
    for cp in sorted(decomp):
        if 0xAC00 <= cp <= 0xD7A3:
            continue
        d = full_decomp(cp, decomp, False, memo)
        if d != [cp]:
            canon.append((cp, d))
        k = full_decomp(cp, decomp, True, memo)
        if k != [cp]:
            compat.append((cp, k))

    # Composition pairs: primary composites (canonical, two code points, not excluded).
    pairs = []
    for cp in sorted(decomp):
        is_compat, parts = decomp[cp]
        if is_compat or len(parts) != 2 or cp in norm["Full_Composition_Exclusion"]:
            continue
        pairs.append((parts[0], parts[1], cp))
    pairs.sort()

    pool = []
    def emit_decomp(name, entries):
        rows = []
        for cp, d in entries:
            off = len(pool)
            pool.extend(d)
            assert len(d) < 32 and off < (1 << 26)
            rows.append((cp, (off << 5) | len(d)))
        s = "static const unsigned int %s_cp[%d] = {\n%s\n};\n" % (name, len(rows), wrap([r[0] for r in rows]))
        s += "static const unsigned int %s_info[%d] = {\n%s\n};\n" % (name, len(rows), wrap([r[1] for r in rows]))
        return s, len(rows)

    canon_src, n_canon = emit_decomp("canon", canon)
    compat_src, n_compat = emit_decomp("compat", compat)

    print("/* unicode_data.c - GENERATED by tools/gen_unicode.py from the Unicode Character")
    print(" * Database version %s (Debian unicode-data). Do not edit; regenerate with" % ver)
    print(" *   /usr/bin/python3 tools/gen_unicode.py > unicode_data.c")
    print(" * To match HF tokenizers 0.22 exactly: letters and numbers assigned after 15.0 that")
    print(" * its regex engine knows are added (LATER_CLASSES), and normalization data (combining")
    print(" * classes, decompositions, compositions) covers only characters of Unicode <= %.1f," % NORMALIZATION_AGE)
    print(" * the version of its normalization tables. */")
    print('#include "unicode_data.h"')
    print()
    print('const char unicode_data_version[] = "UCD %s (normalization: Unicode <= %.1f characters)";' % (ver, NORMALIZATION_AGE))
    print()
    print("/* Numbers for Rust's char::is_numeric that the regex \\p{N} does not know yet. */")
    print("static const unsigned int extra_numeric[%d][2] = {" % max(1, len(extra_numeric)))
    print("\n".join("{%d,%d}," % r for r in extra_numeric) if extra_numeric else "{0,0},")
    print("};")
    print()
    print(two_level(flags, "flags", "unsigned char"))
    print()
    print(two_level(cccs, "ccc", "unsigned char"))
    print()
    print(canon_src)
    print(compat_src)
    print("static const unsigned int decomp_pool[%d] = {\n%s\n};\n" % (len(pool), wrap(pool)))
    print("static const unsigned int comp_pairs[%d][3] = {" % len(pairs))
    print("\n".join("{%d,%d,%d}," % p for p in pairs))
    print("};")
    print("""
unsigned uni_flags(unsigned long cp) {
    if (cp >= 0x110000UL) return 0;
    return flags_stage2[(unsigned long)flags_stage1[cp >> 7] * 128 + (cp & 127)];
}

int uni_is_numeric(unsigned long cp) {
    unsigned i;
    if (uni_flags(cp) & UNI_N) return 1;
    for (i = 0; i < (unsigned)(sizeof extra_numeric / sizeof extra_numeric[0]); i++)
        if (cp >= extra_numeric[i][0] && cp <= extra_numeric[i][1] && extra_numeric[i][1] > 0) return 1;
    return 0;
}

unsigned uni_ccc(unsigned long cp) {
    if (cp >= 0x110000UL) return 0;
    return ccc_stage2[(unsigned long)ccc_stage1[cp >> 7] * 128 + (cp & 127)];
}

/* Binary search of a sorted code point column. */
static long find_cp(const unsigned int *cps, long n, unsigned long cp) {
    long lo = 0, hi = n - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (cps[mid] == cp) return mid;
        if (cps[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int uni_decompose(unsigned long cp, int compat, const unsigned int **out) {
    long i;
    unsigned int info;
    if (compat) {
        i = find_cp(compat_cp, %d, cp);
        if (i < 0) return 0;
        info = compat_info[i];
    } else {
        i = find_cp(canon_cp, %d, cp);
        if (i < 0) return 0;
        info = canon_info[i];
    }
    *out = decomp_pool + (info >> 5);
    return (int)(info & 31);
}

unsigned long uni_compose_pair(unsigned long a, unsigned long b) {
    long lo = 0, hi = %d - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        const unsigned int *p = comp_pairs[mid];
        if (p[0] == a && p[1] == b) return p[2];
        if (p[0] < a || (p[0] == a && p[1] < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}""" % (n_compat, n_canon, len(pairs)))


if __name__ == "__main__":
    main()
