/* test_formats.c - torch.save / safetensors readers against files written by
 * torch 1.13 and by hand-made writers (tools/make_format_fixtures.py), with the
 * expected shapes, strides, offsets and values computed by torch/numpy
 * (tests/fixtures/formats/expected.txt); malicious and malformed files must be
 * refused with a message naming the file; truncated and corrupted variants of
 * good files must never crash (run this under ASan/UBSan too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats.h"

#define FIX "tests/fixtures/formats/"
#define TMP "test_formats_tmp.bin"

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int write_bytes(const char *path, const unsigned char *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    if (n && fwrite(d, 1, n, f) != n) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Element i (row-major) of an integer/bool tensor, decoded here independently. */
static long long int_elem(const TensorEntry *t, int64_t i) {
    int64_t pos = t->offset, rem = i;
    int d;
    size_t esz = dtype_size(t->dtype), b;
    uint64_t u = 0;
    const unsigned char *p;
    for (d = t->ndim - 1; d >= 0; d--) {
        pos += (rem % t->shape[d]) * t->stride[d];
        rem /= t->shape[d];
    }
    p = t->storage + (size_t)pos * esz;
    for (b = 0; b < esz; b++) u |= (uint64_t)p[b] << (8 * b);
    if (t->dtype == DT_U8 || t->dtype == DT_BOOL) return (long long)u;
    if (esz < 8 && (u >> (8 * esz - 1)) & 1) return (long long)u - (long long)(UINT64_C(1) << (8 * esz));
    if (esz == 8 && (u >> 63)) return -(long long)(~u) - 1;
    return (long long)u;
}

/* Checks every file listed in expected.txt. */
static void check_expected(void) {
    FILE *f = fopen(FIX "expected.txt", "r");
    char line[8192], path[512];
    TensorFile tf;
    int open_ok = 0, files = 0, tensors = 0;
    const TensorEntry *cur = NULL;
    Error err;
    if (!f) {
        CHECK(0, "cannot open " FIX "expected.txt");
        return;
    }
    memset(&tf, 0, sizeof tf);
    while (fgets(line, sizeof line, f)) {
        char *tok, *save = line;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'F') {
            char name[256], kind[256];
            if (open_ok) tensorfile_close(&tf);
            open_ok = 0;
            cur = NULL;
            if (sscanf(line, "F %255s %255[^\n]", name, kind) != 2) continue;
            snprintf(path, sizeof path, FIX "%s", name);
            files++;
            err.msg[0] = '\0';
            if (strcmp(kind, "ok") == 0) {
                int rc = tensorfile_open(path, &tf, &err);
                CHECK(rc == 0, "%s opens (got: %s)", path, err.msg);
                open_ok = rc == 0;
                if (open_ok) CHECK(tensorfile_find(&tf, "no.such.tensor") == NULL, "%s: find of a missing name", path);
            } else {
                const char *want = kind + 5;
                int rc = tensorfile_open(path, &tf, &err);
                CHECK(rc == -1 && strstr(err.msg, path) && strstr(err.msg, want),
                      "%s is refused with a message naming it and containing \"%s\" (rc %d, got: %s)", path, want, rc,
                      err.msg);
                CHECK(tf.tensors == NULL && tf.file_data == NULL, "%s: nothing left allocated after failure", path);
                if (rc == 0) tensorfile_close(&tf);
            }
        } else if (line[0] == 'T' && open_ok) {
            char name[256], dt[16];
            int ndim, d, n;
            long long v, offset, numel;
            char *p = line + 2;
            if (sscanf(p, "%255s %15s %d%n", name, dt, &ndim, &n) != 3) continue;
            p += n;
            tensors++;
            cur = tensorfile_find(&tf, name);
            CHECK(cur != NULL, "%s: tensor '%s' present", path, name);
            if (!cur) continue;
            CHECK(strcmp(dtype_name(cur->dtype), dt) == 0, "%s: %s dtype %s, got %s", path, name, dt,
                  dtype_name(cur->dtype));
            CHECK(cur->ndim == ndim, "%s: %s ndim %d, got %d", path, name, ndim, cur->ndim);
            for (d = 0; d < ndim && d < TENSOR_MAX_DIMS; d++) {
                v = strtoll(p, &p, 10);
                CHECK(cur->shape[d] == v, "%s: %s shape[%d] %lld, got %lld", path, name, d, v, (long long)cur->shape[d]);
            }
            for (d = 0; d < ndim && d < TENSOR_MAX_DIMS; d++) {
                v = strtoll(p, &p, 10);
                CHECK(cur->stride[d] == v, "%s: %s stride[%d] %lld, got %lld", path, name, d, v,
                      (long long)cur->stride[d]);
            }
            offset = strtoll(p, &p, 10);
            numel = strtoll(p, &p, 10);
            CHECK(cur->offset == offset, "%s: %s offset %lld, got %lld", path, name, offset, (long long)cur->offset);
            CHECK(cur->numel == numel, "%s: %s numel %lld, got %lld", path, name, numel, (long long)cur->numel);
        } else if (line[0] == 'V' && open_ok && cur) {
            float *out = malloc(sizeof(float) * (size_t)(cur->numel + 1));
            int64_t i = 0;
            int rc = tensor_to_f32(&tf, cur, out, &err);
            CHECK(rc == 0, "%s: %s converts to f32 (%s)", path, cur->name, err.msg);
            strtok(save, " ");
            for (tok = strtok(NULL, " "); tok && rc == 0; tok = strtok(NULL, " "), i++) {
                uint32_t want = (uint32_t)strtoul(tok, NULL, 16);
                if (i >= cur->numel) break;
                CHECK(float_bits(out[i]) == want, "%s: %s[%lld] = %08x (%.9g), expected %08x (%.9g)", path, cur->name,
                      (long long)i, (unsigned)float_bits(out[i]), out[i], (unsigned)want, bits_float(want));
            }
            CHECK(i == cur->numel, "%s: %s has %lld expected values for numel %lld", path, cur->name, (long long)i,
                  (long long)cur->numel);
            free(out);
        } else if (line[0] == 'I' && open_ok && cur) {
            int64_t i = 0;
            float dummy[1];
            strtok(save, " ");
            for (tok = strtok(NULL, " "); tok && i < cur->numel; tok = strtok(NULL, " "), i++) {
                long long want = strtoll(tok, NULL, 10);
                CHECK(int_elem(cur, i) == want, "%s: %s[%lld] = %lld, expected %lld", path, cur->name, (long long)i,
                      int_elem(cur, i), want);
            }
            CHECK(i == cur->numel, "%s: %s element count", path, cur->name);
            err.msg[0] = '\0';
            CHECK(tensor_to_f32(&tf, cur, dummy, &err) == -1 && strstr(err.msg, path) && strstr(err.msg, cur->name),
                  "%s: converting integer tensor %s to f32 is refused naming file and tensor (%s)", path, cur->name,
                  err.msg);
        } else if (line[0] == 'N' && open_ok) {
            CHECK(tf.count == atoi(line + 2), "%s: %d tensors expected, got %d", path, atoi(line + 2), tf.count);
        }
    }
    if (open_ok) tensorfile_close(&tf);
    fclose(f);
    CHECK(files >= 40 && tensors >= 100, "expected.txt lists %d files and %d tensors", files, tensors);
}

/* Opens d[0..n) (from a file TMP, or in memory under that name): returns 1 if refused with the file named in the
 * message, 0 if it opened (then every float tensor must convert), -1 on a
 * bad outcome (a refusal without the file name, or a conversion failure). */
static int try_variant(const unsigned char *d, size_t n, int via_file) {
    TensorFile tf;
    Error err;
    int i, rc;
    err.msg[0] = '\0';
    if (via_file) {
        if (write_bytes(TMP, d, n) != 0) return -1;
        rc = tensorfile_open(TMP, &tf, &err);
    } else {
        /* An exact-size copy, so ASan sees any read past the end. */
        unsigned char *copy = malloc(n ? n : 1);
        if (!copy) return -1;
        memcpy(copy, d, n);
        rc = tensorfile_open_buffer(TMP, copy, n, &tf, &err);
    }
    if (rc != 0) return (rc == -1 && strstr(err.msg, TMP) != NULL) ? 1 : -1;
    rc = 0;
    for (i = 0; i < tf.count; i++) {
        const TensorEntry *t = &tf.tensors[i];
        float *out;
        if (t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16 && t->dtype != DT_F64) continue;
        if (t->numel > 1000000) continue; /* a flipped shape with stride 0 can be valid and huge */
        out = malloc(sizeof(float) * (size_t)(t->numel + 1));
        if (tensor_to_f32(&tf, t, out, &err) != 0) rc = -1;
        free(out);
    }
    tensorfile_close(&tf);
    return rc;
}

/* Truncations at every length, single-byte flips at every position (two
 * patterns) and random multi-byte corruptions of one good file. */
static void fuzz_file(const char *name, int expect_all_truncations_fail) {
    char path[512];
    size_t n, i;
    unsigned char *orig, *buf;
    int bad = 0, refused = 0, opened = 0, trunc_ok = 0, r;
    uint32_t rng = 12345u;
    snprintf(path, sizeof path, FIX "%s", name);
    orig = slurp(path, &n);
    CHECK(orig != NULL, "read %s", path);
    if (!orig) return;
    buf = malloc(n + 1);
    for (i = 0; i < n; i++) {
        r = try_variant(orig, i, i % 64 == 0);
        if (r < 0) bad++;
        if (r == 0) trunc_ok++;
    }
    CHECK(bad == 0, "%s: %d truncations gave a bad outcome", name, bad);
    if (expect_all_truncations_fail) CHECK(trunc_ok == 0, "%s: %d truncations were accepted", name, trunc_ok);
    bad = 0;
    for (i = 0; i < n; i++) {
        static const unsigned char pats[2] = {0xFF, 0x01};
        int k;
        for (k = 0; k < 2; k++) {
            memcpy(buf, orig, n);
            buf[i] ^= pats[k];
            r = try_variant(buf, n, 0);
            if (r < 0) bad++;
            if (r == 1) refused++;
            if (r == 0) opened++;
        }
    }
    for (i = 0; i < 1500; i++) {
        int k, m;
        memcpy(buf, orig, n);
        rng = rng * 1103515245u + 12345u;
        m = 1 + (int)((rng >> 16) % 8);
        for (k = 0; k < m; k++) {
            rng = rng * 1103515245u + 12345u;
            buf[(rng >> 8) % n] = (unsigned char)(rng >> 24);
        }
        r = try_variant(buf, n, 0);
        if (r < 0) bad++;
        if (r == 1) refused++;
        if (r == 0) opened++;
    }
    CHECK(bad == 0, "%s: %d corrupted variants gave a bad outcome", name, bad);
    printf("  %s: %lu truncations (%d accepted), %lu flips + 1500 random corruptions: %d refused, %d still valid\n",
           name, (unsigned long)n, trunc_ok, (unsigned long)(2 * n), refused, opened);
    free(buf);
    free(orig);
}

/* ---- a minimal independent ZIP writer, to fuzz the pickle past the CRC check */

static uint32_t test_crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put16(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *b, uint32_t v) {
    put16(b, v & 0xFFFF);
    put16(b + 2, v >> 16);
}

#define NSTORAGE 32
#define STORAGE_BYTES 128 /* >= the largest storage in the fixture pickles (96 bytes) */

/* A stored ZIP (APPNOTE 4.3) holding t/data.pkl = pkl[0..pn) and storages
 * t/data/0 .. t/data/31 of STORAGE_BYTES zero bytes each. */
static unsigned char *build_zip(const unsigned char *pkl, size_t pn, size_t *out_len) {
    static unsigned char zeros[STORAGE_BYTES];
    size_t cap = 2 * (NSTORAGE + 1) * (100 + 64) + pn + NSTORAGE * STORAGE_BYTES + 64, len = 0, cd_start;
    unsigned char *z = malloc(cap), *cd = malloc((NSTORAGE + 1) * 100);
    size_t cdlen = 0;
    int e;
    for (e = 0; e <= NSTORAGE; e++) {
        char name[32];
        const unsigned char *data = e == 0 ? pkl : zeros;
        size_t dn = e == 0 ? pn : STORAGE_BYTES, nl;
        static uint32_t zeros_crc;
        uint32_t crc;
        if (!zeros_crc) zeros_crc = test_crc32(zeros, STORAGE_BYTES);
        crc = e == 0 ? test_crc32(data, dn) : zeros_crc;
        if (e == 0) strcpy(name, "t/data.pkl");
        else sprintf(name, "t/data/%d", e - 1);
        nl = strlen(name);
        memset(cd + cdlen, 0, 46);
        put32(cd + cdlen, 0x02014b50u);
        put16(cd + cdlen + 4, 20);
        put16(cd + cdlen + 6, 20);
        put32(cd + cdlen + 16, crc);
        put32(cd + cdlen + 20, (uint32_t)dn);
        put32(cd + cdlen + 24, (uint32_t)dn);
        put16(cd + cdlen + 28, (uint32_t)nl);
        put32(cd + cdlen + 42, (uint32_t)len);
        memcpy(cd + cdlen + 46, name, nl);
        cdlen += 46 + nl;
        memset(z + len, 0, 30);
        put32(z + len, 0x04034b50u);
        put16(z + len + 4, 20);
        put32(z + len + 14, crc);
        put32(z + len + 18, (uint32_t)dn);
        put32(z + len + 22, (uint32_t)dn);
        put16(z + len + 26, (uint32_t)nl);
        memcpy(z + len + 30, name, nl);
        len += 30 + nl;
        if (dn) memcpy(z + len, data, dn);
        len += dn;
    }
    cd_start = len;
    memcpy(z + len, cd, cdlen);
    len += cdlen;
    memset(z + len, 0, 22);
    put32(z + len, 0x06054b50u);
    put16(z + len + 8, NSTORAGE + 1);
    put16(z + len + 10, NSTORAGE + 1);
    put32(z + len + 12, (uint32_t)cdlen);
    put32(z + len + 16, (uint32_t)cd_start);
    len += 22;
    free(cd);
    *out_len = len;
    return z;
}

/* Fuzzes a torch.save pickle itself: truncations, flips and random
 * corruptions are re-zipped with valid CRCs, so the interpreter sees them. */
static void fuzz_pickle(const char *name, int want_tensors) {
    char path[512];
    size_t n, zn, i;
    unsigned char *orig, *buf, *z;
    int bad = 0, refused = 0, opened = 0, trunc_ok = 0, r, k;
    uint32_t rng = 777u;
    TensorFile tf;
    Error err;
    snprintf(path, sizeof path, FIX "%s", name);
    orig = slurp(path, &n);
    CHECK(orig != NULL && n > 0, "read %s", path);
    if (!orig) return;
    /* The unmodified pickle in this test's own ZIP must load: checks the harness. */
    z = build_zip(orig, n, &zn);
    r = tensorfile_open_buffer(TMP, z, zn, &tf, &err);
    CHECK(r == 0 && tf.count == want_tensors, "%s re-zipped loads with %d tensors (rc %d, %d, %s)", name, want_tensors,
          r, tf.count, r ? err.msg : "");
    if (r == 0) tensorfile_close(&tf);
    buf = malloc(n);
    for (i = 0; i < n; i++) {
        z = build_zip(orig, i, &zn);
        r = try_variant(z, zn, 0);
        free(z);
        if (r < 0) bad++;
        if (r == 0) trunc_ok++;
    }
    CHECK(bad == 0 && trunc_ok == 0, "%s: truncated pickles: %d bad outcomes, %d accepted", name, bad, trunc_ok);
    bad = 0;
    for (i = 0; i < n; i++) {
        static const unsigned char pats[3] = {0xFF, 0x01, 0x80};
        for (k = 0; k < 3; k++) {
            memcpy(buf, orig, n);
            buf[i] ^= pats[k];
            z = build_zip(buf, n, &zn);
            r = try_variant(z, zn, 0);
            free(z);
            if (r < 0) bad++;
            if (r == 1) refused++;
            if (r == 0) opened++;
        }
    }
    for (i = 0; i < 3000; i++) {
        int m;
        memcpy(buf, orig, n);
        rng = rng * 1103515245u + 12345u;
        m = 1 + (int)((rng >> 16) % 6);
        for (k = 0; k < m; k++) {
            rng = rng * 1103515245u + 12345u;
            buf[(rng >> 8) % n] = (unsigned char)(rng >> 24);
        }
        z = build_zip(buf, n, &zn);
        r = try_variant(z, zn, 0);
        free(z);
        if (r < 0) bad++;
        if (r == 1) refused++;
        if (r == 0) opened++;
    }
    CHECK(bad == 0, "%s: %d corrupted pickles gave a bad outcome", name, bad);
    printf("  %s: %lu truncations, %lu flips + 3000 random corruptions of the pickle: %d refused, %d still valid\n",
           name, (unsigned long)n, (unsigned long)(3 * n), refused, opened);
    free(buf);
    free(orig);
}

/* safetensors_write round trip, with the byte layout checked against the spec. */
static void check_writer(void) {
    const char *names[3] = {"a.weight", "odd \"name\"\\\n", "scalar"};
    int ndims[3] = {2, 1, 0};
    int64_t shapes[3][TENSOR_MAX_DIMS] = {{2, 3}, {4}, {0}};
    float a[6] = {1.0f, -2.0f, 0.5f, 1e-45f, 3.4028235e38f, -0.0f};
    float b[4], s[1] = {42.0f};
    const float *data[3];
    const char *meta[] = {"format", "pt", "quote\"", "x", NULL};
    TensorFile tf;
    Error err;
    size_t n;
    unsigned char *raw;
    uint64_t hlen = 0;
    int i, k;
    b[0] = bits_float(0x7F800000u);
    b[1] = bits_float(0x7FC00000u);
    b[2] = bits_float(0x00000001u);
    b[3] = -1.5f;
    data[0] = a;
    data[1] = b;
    data[2] = s;
    CHECK(safetensors_write(TMP, 3, names, ndims, (const int64_t(*)[TENSOR_MAX_DIMS])shapes, data, meta, &err) == 0,
          "safetensors_write succeeds (%s)", err.msg);
    raw = slurp(TMP, &n);
    CHECK(raw != NULL && n >= 8, "written file readable");
    if (!raw) return;
    for (k = 0; k < 8; k++) hlen |= (uint64_t)raw[k] << (8 * k);
    CHECK((8 + hlen) % 8 == 0, "data area starts 8-byte aligned (header %llu)", (unsigned long long)hlen);
    CHECK(8 + hlen + 4 * 11 == n, "file size 8 + header + 11 floats (got %lu)", (unsigned long)n);
    CHECK(raw[8] == '{', "header starts with '{'");
    /* 1.0f little-endian is 00 00 80 3f; the first tensor's data comes first. */
    CHECK(raw[8 + hlen] == 0 && raw[8 + hlen + 1] == 0 && raw[8 + hlen + 2] == 0x80 && raw[8 + hlen + 3] == 0x3f,
          "first float encoded little-endian");
    free(raw);
    CHECK(tensorfile_open(TMP, &tf, &err) == 0, "written file reads back (%s)", err.msg);
    if (tf.count != 3) {
        CHECK(0, "3 tensors read back, got %d", tf.count);
    } else {
        for (i = 0; i < 3; i++) {
            const TensorEntry *t = tensorfile_find(&tf, names[i]);
            float out[6];
            CHECK(t != NULL, "tensor %d found by name", i);
            if (!t) continue;
            CHECK(t->dtype == DT_F32 && t->ndim == ndims[i], "tensor %d dtype and ndim", i);
            CHECK(tensor_to_f32(&tf, t, out, &err) == 0, "tensor %d converts", i);
            for (k = 0; k < t->numel; k++)
                CHECK(float_bits(out[k]) == float_bits(data[i][k]), "tensor %d element %d round trip", i, k);
        }
        CHECK(tf.is_safetensors == 1, "detected as safetensors");
    }
    tensorfile_close(&tf);
    ndims[0] = 9;
    err.msg[0] = '\0';
    CHECK(safetensors_write(TMP, 1, names, ndims, (const int64_t(*)[TENSOR_MAX_DIMS])shapes, data, NULL, &err) == -1 &&
              strstr(err.msg, TMP),
          "writer refuses 9 dimensions naming the file (%s)", err.msg);
    remove(TMP);
}

/* Conversion edge cases on hand-made entries: every F16 bit pattern, BF16,
 * and the up-front extent check of tensor_to_f32 itself. */
static void check_conversions(void) {
    static unsigned char st[65536 * 2];
    static float out[65536];
    TensorFile tf;
    TensorEntry t;
    Error err;
    int i, bad = 0;
    memset(&tf, 0, sizeof tf);
    tf.path = "mem";
    for (i = 0; i < 65536; i++) {
        st[2 * i] = (unsigned char)i;
        st[2 * i + 1] = (unsigned char)(i >> 8);
    }
    memset(&t, 0, sizeof t);
    t.name = "all_f16";
    t.dtype = DT_F16;
    t.ndim = 1;
    t.shape[0] = 65536;
    t.stride[0] = 1;
    t.numel = 65536;
    t.storage = st;
    t.storage_bytes = sizeof st;
    CHECK(tensor_to_f32(&tf, &t, out, &err) == 0, "all F16 patterns convert");
    for (i = 0; i < 65536; i++) {
        /* Reference: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormal 2^-14 * m/1024. */
        int s = i >> 15, e = (i >> 10) & 31, m = i & 1023;
        double ref;
        if (e == 31) {
            if (m == 0 ? !isinf(out[i]) || (out[i] < 0) != s : !isnan(out[i])) bad++;
            continue;
        }
        ref = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
        if (s) ref = -ref;
        if ((double)out[i] != ref || (signbit(out[i]) != 0) != s) bad++;
    }
    CHECK(bad == 0, "%d of 65536 F16 patterns widened incorrectly", bad);
    t.dtype = DT_BF16;
    t.name = "all_bf16";
    CHECK(tensor_to_f32(&tf, &t, out, &err) == 0, "all BF16 patterns convert");
    for (i = 0, bad = 0; i < 65536; i++) {
        uint32_t want = (uint32_t)i << 16;
        if (float_bits(out[i]) != want) bad++;
    }
    CHECK(bad == 0, "%d of 65536 BF16 patterns widened incorrectly", bad);
    /* Out-of-storage views are refused before any element is read. */
    t.dtype = DT_F32;
    t.ndim = 2;
    t.shape[0] = 2;
    t.shape[1] = 3;
    t.stride[0] = 3;
    t.stride[1] = 1;
    t.numel = 6;
    t.storage_bytes = 20; /* 5 floats */
    err.msg[0] = '\0';
    CHECK(tensor_to_f32(&tf, &t, out, &err) == -1 && strstr(err.msg, "mem"), "extent beyond storage refused (%s)",
          err.msg);
    t.storage_bytes = 24;
    t.numel = 7;
    CHECK(tensor_to_f32(&tf, &t, out, &err) == -1, "numel inconsistent with shape refused");
    t.numel = 6;
    t.stride[0] = INT64_MAX / 2;
    CHECK(tensor_to_f32(&tf, &t, out, &err) == -1, "huge stride refused");
    t.stride[0] = 0;
    t.stride[1] = 2;
    t.offset = 1;
    /* Element [1][2] is storage element 1 + 2*2 = 5: bytes 20..23 hold the
     * 16-bit patterns 10 and 11, i.e. the LE word 0x000b000a. */
    CHECK(tensor_to_f32(&tf, &t, out, &err) == 0 && float_bits(out[5]) == 0x000b000au &&
              float_bits(out[0]) == 0x00030002u,
          "stride 0 with offset: elements gathered from the right storage positions");
}

/* Specific corruptions with a known expected diagnosis. */
static void check_targeted(void) {
    size_t n, zn;
    unsigned char *orig = slurp(FIX "fake_ok.pth", &n), *z, *pk;
    TensorFile tf;
    Error err;
    int r;
    CHECK(orig != NULL, "read fake_ok.pth");
    if (!orig) return;
    /* fake_ok.pth stores the floats 1..6 in fake/data/0: corrupt 5.0f (00 00 a0 40). */
    z = malloc(n);
    memcpy(z, orig, n);
    for (pk = z; pk + 4 <= z + n; pk++)
        if (pk[0] == 0 && pk[1] == 0 && pk[2] == 0xa0 && pk[3] == 0x40) break;
    CHECK(pk + 4 <= z + n, "found 5.0f in fake_ok.pth");
    if (pk + 4 <= z + n) {
        pk[3] ^= 0x01;
        err.msg[0] = '\0';
        r = tensorfile_open_buffer(TMP, z, n, &tf, &err);
        CHECK(r == -1 && strstr(err.msg, "CRC-32") && strstr(err.msg, "fake/data/0"),
              "a flipped data byte is caught by the CRC-32 naming the entry (%s)", err.msg);
    } else {
        free(z);
    }
    /* The same archive with the local header's stored CRC changed. */
    z = malloc(n);
    memcpy(z, orig, n);
    z[14] ^= 0x55; /* first local header, CRC field (Python's zipfile writes no data descriptor) */
    r = tensorfile_open_buffer(TMP, z, n, &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "local header"), "local/central CRC disagreement refused (%s)", err.msg);
    /* The EOCD claiming more entries than the central directory can hold. */
    z = malloc(n);
    memcpy(z, orig, n);
    z[n - 22 + 10] = 0xFF;
    z[n - 22 + 8] = 0xFF;
    r = tensorfile_open_buffer(TMP, z, n, &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "entries"), "absurd entry count refused (%s)", err.msg);
    /* Central directory offset pointing past the file. */
    z = malloc(n);
    memcpy(z, orig, n);
    z[n - 22 + 19] = 0x7F;
    r = tensorfile_open_buffer(TMP, z, n, &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "outside the file"), "central directory offset past the end refused (%s)", err.msg);
    /* An empty pickle inside a valid ZIP, and a zero-length file. */
    z = build_zip((const unsigned char *)"", 0, &zn);
    r = tensorfile_open_buffer(TMP, z, zn, &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "without STOP"), "empty pickle refused (%s)", err.msg);
    z = malloc(1);
    r = tensorfile_open_buffer(TMP, z, 0, &tf, &err);
    CHECK(r == -1 && strstr(err.msg, TMP), "empty file refused (%s)", err.msg);
    /* Limits: nested MARKs, object count, and a dict that contains itself. */
    {
        size_t big = (1u << 20) + 16, k;
        unsigned char *p = malloc(big + 4);
        static const unsigned char cyc[] = "\x80\x02}q\x00X\x01\x00\x00\x00" "a" "h\x00s.";
        p[0] = 0x80;
        p[1] = 2;
        for (k = 2; k < 70002; k++) p[k] = '(';
        p[k++] = '.';
        z = build_zip(p, k, &zn);
        r = tensorfile_open_buffer(TMP, z, zn, &tf, &err);
        CHECK(r == -1 && strstr(err.msg, "MARK"), "70000 nested MARKs refused (%s)", err.msg);
        for (k = 2; k < big; k++) p[k] = '}';
        p[k++] = '.';
        z = build_zip(p, k, &zn);
        r = tensorfile_open_buffer(TMP, z, zn, &tf, &err);
        CHECK(r == -1 && strstr(err.msg, "objects"), "a million empty dicts hit the object limit (%s)", err.msg);
        free(p);
        z = build_zip(cyc, sizeof cyc - 1, &zn);
        r = tensorfile_open_buffer(TMP, z, zn, &tf, &err);
        CHECK(r == 0 && tf.count == 0, "a dict containing itself loads with no tensors (rc %d, %s)", r, r ? err.msg : "");
        if (r == 0) tensorfile_close(&tf);
    }
    err.msg[0] = '\0';
    r = tensorfile_open("tests/fixtures/formats/does_not_exist.pth", &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "does_not_exist.pth"), "missing file refused naming it (%s)", err.msg);
    r = tensorfile_open("tests/fixtures/formats", &tf, &err);
    CHECK(r == -1 && strstr(err.msg, "tests/fixtures/formats"), "directory refused (%s)", err.msg);
    free(orig);
}

int main(void) {
    FILE *f = fopen(FIX "expected.txt", "r");
    if (!f) {
        printf("skip: " FIX "expected.txt not found (run from the repository root)\n");
        return CHECK_SKIP;
    }
    fclose(f);
    check_expected();
    check_conversions();
    check_writer();
    check_targeted();
    fuzz_file("proto2.pth", 1);
    fuzz_file("proto4.pth", 1);
    fuzz_file("zip64.pth", 1);
    fuzz_file("module.pth", 1);
    fuzz_file("all.safetensors", 1);
    fuzz_file("fake_ok.pth", 1);
    fuzz_pickle("proto2.pkl", 14);
    fuzz_pickle("proto4.pkl", 14);
    remove(TMP);
    return check_done("formats");
}
