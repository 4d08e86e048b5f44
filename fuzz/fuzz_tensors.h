/* fuzz_tensors.h - the oracle shared by the weight-file fuzzers (zip, pickle,
 * safetensors): every tensor tensorfile_open accepts must be safe to read.
 *
 * Checked independently of formats.c: names are unique, non-empty C strings
 * that tensorfile_find returns; ndim and shape are in range and numel is their
 * product; the storage lies inside the file buffer; every element the strides
 * reach lies inside the storage; tensor_to_f32 succeeds exactly for the float
 * dtypes (and reads every element, so ASan sees any overrun) and otherwise
 * fails with a message naming the file. */
#ifndef CLEANUP_FUZZ_TENSORS_H
#define CLEANUP_FUZZ_TENSORS_H

#include "formats.h"
#include "fuzz_common.h"

static void tensors_fail(const char *what, const TensorEntry *t) {
    fprintf(stderr, "fuzz: %s (tensor '%s')\n", what, t && t->name ? t->name : "?");
    abort();
}

/* tensorfile_open_buffer on an exact-size heap copy of the input, so ASan sees
 * any read past its end (read_file's buffer has slack and a NUL after the data). */
static int fuzz_open_tensors(const char *name, const uint8_t *data, size_t size, TensorFile *tf, Error *err) {
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    return tensorfile_open_buffer(name, copy, size, tf, err);
}

static void fuzz_check_tensorfile(const TensorFile *tf) {
    int i, j, d;
    if (tf->count < 0) tensors_fail("negative count", NULL);
    for (i = 0; i < tf->count; i++) {
        const TensorEntry *t = &tf->tensors[i];
        size_t esz = dtype_size(t->dtype);
        double numel = 1, maxpos;
        const unsigned char *end = tf->file_data + tf->file_len;
        if (!t->name) tensors_fail("NULL name", t);
        /* Uniqueness: every name against its 16 predecessors, and tensorfile_find
         * (a linear search) for the first 64, to stay fast on inputs with many tensors. */
        for (j = i > 16 ? i - 16 : 0; j < i; j++)
            if (strcmp(tf->tensors[j].name, t->name) == 0) tensors_fail("duplicate name", t);
        if (i < 64 && tensorfile_find(tf, t->name) != t) tensors_fail("tensorfile_find", t);
        if (t->ndim < 0 || t->ndim > TENSOR_MAX_DIMS) tensors_fail("ndim out of range", t);
        if (esz == 0 || esz > 8) tensors_fail("bad dtype", t);
        for (d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) tensors_fail("negative shape", t);
            numel *= (double)t->shape[d];
        }
        if (numel != (double)t->numel) tensors_fail("numel is not the shape product", t);
        if (t->storage < tf->file_data || t->storage > end || t->storage_bytes > (size_t)(end - t->storage))
            tensors_fail("storage outside the file", t);
        if (t->numel == 0) continue;
        /* Reachable element positions, in doubles (no overflow; exact below 2^53). */
        maxpos = (double)t->offset;
        if (t->offset < 0) tensors_fail("negative offset", t);
        for (d = 0; d < t->ndim; d++) {
            if (t->stride[d] < 0) tensors_fail("negative stride", t);
            maxpos += (double)(t->shape[d] - 1) * (double)t->stride[d];
        }
        if ((maxpos + 1) * (double)esz > (double)t->storage_bytes) tensors_fail("elements outside the storage", t);
        if (t->numel <= 4096 && i < 256) {
            Error err = {"", 0};
            float *out = malloc((size_t)t->numel * sizeof(float));
            int rc, is_float = t->dtype == DT_F32 || t->dtype == DT_F16 || t->dtype == DT_BF16 || t->dtype == DT_F64;
            if (!out) abort();
            rc = tensor_to_f32(tf, t, out, &err);
            if (is_float && rc != 0) tensors_fail("tensor_to_f32 failed on a float tensor", t);
            if (!is_float) {
                if (rc == 0) tensors_fail("tensor_to_f32 accepted a non-float dtype", t);
                fuzz_check_error(&err, tf->path);
            }
            free(out);
        }
    }
}

#endif
