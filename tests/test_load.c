/* test_load.c - model_load reads, hashes and builds the same model whichever
 * way it runs: one or two threads, the portable SHA-256 or the CPU's SHA
 * instructions (model_load then overlaps the hash with different work).
 *
 * References: the weights' SHA-256 must equal sha256_file_hex of the file (a
 * separate streaming path, itself checked against NIST vectors in
 * test_sha256); the weights must be bit-identical across all four ways. Uses
 * the planted model written by synth_write (1.2 MB: several read chunks) and
 * the .pth fixtures, a variant whose b_Q and b_K share their bytes (which
 * must not be decoded in place: processing changes them differently), plus a
 * .pth with one flipped data byte and the planted model with one NaN weight,
 * which must be refused with the same message every way. Run from the repo
 * root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats.h"
#include "model.h"
#include "sha256.h"
#include "synth.h"
#include "util.h"

/* SHA-256 over every weight array of m (those processing kept) and the packed
 * W_Q, in state-dict order: equal digests mean bit-identical weights. */
static void weights_digest(const Model *m, char hex[65]) {
    const ModelConfig *c = &m->cfg;
    size_t k, n = model_state_dict(c, NULL);
    TensorRef *refs = calloc(n, sizeof *refs);
    Sha256 s;
    unsigned char d[32];
    int l, i;
    sha256_init(&s);
    model_state_dict(c, refs);
    for (k = 0; k < n; k++) {
        const float *data = *model_tensor_field((Model *)m, refs[k].spec, refs[k].layer);
        int dims[3], nd = model_tensor_shape(refs[k].spec, c, dims);
        size_t count = 1;
        if (!data) continue; /* a folded LayerNorm */
        for (i = 0; i < nd; i++) count *= (size_t)dims[i];
        sha256_update(&s, data, count * sizeof(float));
    }
    for (l = 0; l < c->n_layers; l++)
        sha256_update(&s, m->layers[l].W_Q_packed, (size_t)c->n_heads * c->d_model * c->d_head * sizeof(float));
    free(refs);
    sha256_final(&s, d);
    for (i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

/* Loads dir (processed) every way; checks the file digest and that the
 * weights agree across ways. */
static void check_model(const char *dir, const char *weights_file) {
    char want[65], first[65] = "", got[65];
    Error err = {"", 0};
    int accel, threads;
    if (sha256_file_hex(weights_file, want, &err) != 0) {
        CHECK(0, "cannot hash %s: %s", weights_file, err.msg);
        return;
    }
    for (accel = 0; accel < 2; accel++) {
        if (accel && !sha256_use_accel(1)) continue;
        sha256_use_accel(accel);
        for (threads = 1; threads <= 2; threads++) {
            Model m;
            set_thread_count(threads);
            if (model_load(dir, NULL, 1, &m, &err) != 0) {
                CHECK(0, "%s (accel %d, %d threads): %s", dir, accel, threads, err.msg);
                continue;
            }
            CHECK(strcmp(m.weights_sha256, want) == 0, "%s (accel %d, %d threads): weights sha256 %s, file has %s", dir,
                  accel, threads, m.weights_sha256, want);
            weights_digest(&m, got);
            if (!first[0]) strcpy(first, got);
            CHECK(strcmp(got, first) == 0, "%s (accel %d, %d threads): weights differ from the first way", dir, accel,
                  threads);
            model_free(&m);
        }
    }
    sha256_use_accel(1);
}

/* Loading the model in dir fails every way (1 and 2 threads, portable and
 * accelerated SHA-256) with a message containing want1 and want2. */
static void check_refused_every_way(const char *dir, const char *want1, const char *want2, const char *what) {
    int accel, threads;
    for (accel = 0; accel < 2; accel++) {
        sha256_use_accel(accel);
        for (threads = 1; threads <= 2; threads++) {
            Model m;
            Error err = {"", 0};
            set_thread_count(threads);
            CHECK(model_load(dir, NULL, 1, &m, &err) == -1 && strstr(err.msg, want1) && strstr(err.msg, want2),
                  "%s (accel %d, %d threads) refused with a message containing '%s' and '%s': got '%s'", what, accel,
                  threads, want1, want2, err.msg);
        }
    }
    sha256_use_accel(1);
}

/* A copy of the gelu_pth fixture with one byte of its largest stored tensor
 * flipped must be refused with a CRC-32 message naming the file, every way. */
static void check_corrupt(const char *tmp) {
    const char *src_dir = "tests/fixtures/models/gelu_pth";
    char *src = path_join(src_dir, "model_final.pth"), *cfg = path_join(src_dir, "config.json");
    char *dst = path_join(tmp, "model_final.pth"), *dst_cfg = path_join(tmp, "config.json");
    unsigned char *data = NULL, *text = NULL;
    size_t len = 0, tlen = 0;
    Error err = {"", 0};
    FILE *f;
    if (read_file(src, 1 << 26, &data, &len, &err) != 0 || read_file(cfg, 1 << 20, &text, &tlen, &err) != 0) {
        CHECK(0, "cannot read the gelu_pth fixture: %s", err.msg);
        goto done;
    }
    data[len / 2] ^= 0x40; /* inside the stored tensors (the pickle and directory are small) */
    f = fopen(dst, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    f = fopen(dst_cfg, "wb");
    if (f) {
        fwrite(text, 1, tlen, f);
        fclose(f);
    }
    check_refused_every_way(tmp, "CRC-32", dst, "corrupt .pth");
    remove(dst);
    remove(dst_cfg);
done:
    free(data);
    free(text);
    free(src);
    free(cfg);
    free(dst);
    free(dst_cfg);
}

/* Writes len bytes to dir/name; 0 on success. */
static int write_bytes(const char *dir, const char *name, const unsigned char *data, size_t len) {
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(p);
    return ok ? 0 : -1;
}

/* The planted model with a NaN at element 5 of the last layer's W_out (decoded in
 * place, or copied, depending on the way) must be refused naming the tensor
 * and the element, the same every way. */
static void check_nan(const char *src_dir, const char *tmp) {
    char *w = path_join(src_dir, "model.safetensors"), *cfg = path_join(src_dir, "config.json");
    unsigned char *text = NULL, *copy = NULL;
    size_t tlen = 0;
    TensorFile tf;
    const TensorEntry *t;
    Error err = {"", 0};
    char want[256];
    if (tensorfile_open(w, &tf, &err) != 0 || read_file(cfg, 1 << 20, &text, &tlen, &err) != 0) {
        CHECK(0, "cannot read the planted model: %s", err.msg);
        free(w);
        free(cfg);
        return;
    }
    t = tensorfile_find(&tf, "blocks.1.mlp.W_out");
    copy = malloc(tf.file_len);
    if (t && copy && t->dtype == DT_F32 && t->numel > 5) {
        size_t at = (size_t)(t->storage - tf.file_data) + ((size_t)t->offset + 5) * 4;
        memcpy(copy, tf.file_data, tf.file_len);
        copy[at] = 0x00, copy[at + 1] = 0x00, copy[at + 2] = 0xC0, copy[at + 3] = 0x7F; /* quiet NaN, little-endian */
        CHECK(write_bytes(tmp, "model.safetensors", copy, tf.file_len) == 0 && write_bytes(tmp, "config.json", text, tlen) == 0,
              "cannot write the NaN model to %s", tmp);
        snprintf(want, sizeof want, "tensor 'blocks.1.mlp.W_out' contains NaN at element 5");
        check_refused_every_way(tmp, want, "", "NaN weight");
    } else {
        CHECK(0, "planted model has no F32 blocks.1.mlp.W_out");
    }
    tensorfile_close(&tf);
    free(copy);
    free(text);
    free(w);
    free(cfg);
}

/* The planted model with blocks.0.attn.b_K pointing at the same bytes as
 * blocks.0.attn.b_Q (safetensors data_offsets may overlap): the two must stay
 * separate buffers (processing folds different matrices into each), so
 * neither may be decoded in place. Written to dir; 0 on success. */
static int write_shared_bias(const char *src_dir, const char *dir) {
    char *w = path_join(src_dir, "model.safetensors"), *cfg = path_join(src_dir, "config.json");
    unsigned char *d = NULL, *text = NULL, *out = NULL;
    size_t len = 0, tlen = 0, hlen, q0, q1, k, nlen, o = 0;
    uint64_t hlen64;
    const char *key = "\"blocks.0.attn.b_K\"", *qkey = "\"blocks.0.attn.b_Q\"", *offs = "\"data_offsets\":[";
    char *h = NULL, *kpos, *qpos, *ko, *qo, *kend, *qend;
    Error err = {"", 0};
    int rc = -1;
    if (read_file(w, 1 << 26, &d, &len, &err) != 0 || read_file(cfg, 1 << 20, &text, &tlen, &err) != 0 || len < 8)
        goto done;
    /* The 8-byte length in 64 bits: shifting a 32-bit size_t by 32 or more is undefined. */
    for (hlen64 = 0, k = 0; k < 8; k++) hlen64 |= (uint64_t)d[k] << (8 * k);
    if (hlen64 > len - 8) goto done;
    hlen = (size_t)hlen64;
    if (!(h = malloc(hlen + 1))) goto done;
    memcpy(h, d + 8, hlen);
    h[hlen] = '\0';
    kpos = strstr(h, key);
    qpos = strstr(h, qkey);
    if (!kpos || !qpos || !(ko = strstr(kpos, offs)) || !(qo = strstr(qpos, offs))) goto done;
    ko += strlen(offs);
    qo += strlen(offs);
    if (!(kend = strchr(ko, ']')) || !(qend = strchr(qo, ']'))) goto done;
    q0 = (size_t)(ko - h);
    q1 = (size_t)(kend - h);
    nlen = hlen - (q1 - q0) + (size_t)(qend - qo);
    if (!(out = malloc(8 + nlen + (len - 8 - hlen)))) goto done;
    for (k = 0; k < 8; k++) out[o++] = (unsigned char)((uint64_t)nlen >> (8 * k));
    memcpy(out + o, h, q0), o += q0;
    memcpy(out + o, qo, (size_t)(qend - qo)), o += (size_t)(qend - qo);
    memcpy(out + o, h + q1, hlen - q1), o += hlen - q1;
    memcpy(out + o, d + 8 + hlen, len - 8 - hlen), o += len - 8 - hlen;
    if (write_bytes(dir, "model.safetensors", out, o) == 0 && write_bytes(dir, "config.json", text, tlen) == 0) rc = 0;
done:
    free(d);
    free(text);
    free(out);
    free(h);
    free(w);
    free(cfg);
    return rc;
}

int main(void) {
    const char *tmp = "build/load_model.tmp", *bad = "build/load_corrupt.tmp", *nan = "build/load_nan.tmp",
               *shared = "build/load_shared.tmp";
    static const char *const fixtures[] = {"gelu_pth", "attn_only", "gelu_new_st"};
    SynthOptions opt;
    Error err = {"", 0};
    size_t i;
    int threads0 = thread_count();
    memset(&opt, 0, sizeof opt);
    opt.shape = SYNTH_PLANTED;
    opt.rows = 2;
    if (synth_write(tmp, &opt, &err) != 0) {
        printf("cannot write the planted model to %s: %s\n", tmp, err.msg);
        return 1;
    }
    {
        char *w = path_join(tmp, "model.safetensors");
        check_model(tmp, w);
        free(w);
    }
    for (i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char *dir = path_join("tests/fixtures/models", fixtures[i]);
        char *w = model_find_weights(dir, &err);
        if (!w) {
            CHECK(0, "fixture %s: %s", dir, err.msg);
        } else {
            check_model(dir, w);
        }
        free(w);
        free(dir);
    }
    if (make_dirs(shared, &err) == 0 && write_shared_bias(tmp, shared) == 0) {
        char *w = path_join(shared, "model.safetensors");
        Model m;
        check_model(shared, w);
        /* raw: b_Q and b_K read the same bytes, so they hold the same values */
        if (model_load(shared, NULL, 0, &m, &err) == 0) {
            CHECK(memcmp(m.layers[0].b_Q, m.layers[0].b_K, (size_t)m.cfg.n_heads * m.cfg.d_head * sizeof(float)) == 0 &&
                      m.layers[0].b_Q != m.layers[0].b_K,
                  "shared-bytes b_Q/b_K: equal values in separate buffers");
            model_free(&m);
        } else {
            CHECK(0, "shared-bytes model: %s", err.msg);
        }
        free(w);
    } else {
        CHECK(0, "cannot write the shared-bytes model to %s", shared);
    }
    if (make_dirs(nan, &err) == 0) check_nan(tmp, nan);
    else CHECK(0, "cannot create %s: %s", nan, err.msg);
    if (make_dirs(bad, &err) == 0) check_corrupt(bad);
    else CHECK(0, "cannot create %s: %s", bad, err.msg);
    set_thread_count(threads0);
    printf("  load: SHA-NI path %s\n", sha256_use_accel(1) ? "included" : "not available (portable only)");
    return check_done("load");
}
