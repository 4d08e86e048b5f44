/* formats.h - readers for the files models are published as, and a safetensors writer.
 *
 *   - torch.save archives (*.pth): a ZIP (stored entries, zip64 when present)
 *     holding ARCHIVE/data.pkl and ARCHIVE/data/N storages. The pickle is
 *     *interpreted as data only*: a whitelist of globals
 *     (collections.OrderedDict, torch._utils._rebuild_tensor_v2, the torch
 *     *Storage types, torch.float32 etc. dtypes) is recognised and anything
 *     else is refused; nothing is ever imported, called or executed.
 *   - safetensors (*.safetensors): 8-byte LE header length, JSON header, data.
 *
 * A TensorFile owns the file bytes; its entries point into them. Conversion to
 * host float32 is explicit (little-endian decode; F16/BF16 widened), and
 * handles any stride pattern whose every element lies inside its storage.
 */
#ifndef CLEANUP_FORMATS_H
#define CLEANUP_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define TENSOR_MAX_DIMS 8

typedef enum { DT_F32, DT_F16, DT_BF16, DT_F64, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL } DType;

typedef struct {
    char *name;                  /* state-dict key, e.g. "blocks.0.attn.W_Q" */
    DType dtype;
    int ndim;                    /* 0 for a scalar */
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t stride[TENSOR_MAX_DIMS]; /* in elements (safetensors: contiguous) */
    int64_t numel;               /* product of shape (checked for overflow) */
    const unsigned char *storage;/* first byte of the tensor's storage in the file buffer */
    size_t storage_bytes;        /* bytes available in that storage */
    int64_t offset;              /* storage offset of element [0,0,...], in elements */
} TensorEntry;

typedef struct {
    char *path;
    unsigned char *file_data;    /* the whole file */
    size_t file_len;
    TensorEntry *tensors;
    int count;
    int is_safetensors;          /* 1: safetensors, 0: torch.save zip */
    int borrowed;                /* 1: file_data belongs to the caller (tensorfile_open_view) */
} TensorFile;

/* Weights files are read whole: refuse anything over 16 GiB (gelu-4l is 250 MB) instead of
 * growing until memory runs out on an endless input such as /dev/zero. */
#define TENSORFILE_MAX_BYTES (SIZE_MAX > 0xFFFFFFFFu ? (size_t)0x400000000ULL : SIZE_MAX / 2)

/* Opens a .pth (torch.save zip) or .safetensors file, detected by content.
 * Every entry's extent is validated against its storage before returning. */
int tensorfile_open(const char *path, TensorFile *tf, Error *err);
/* The same for bytes already in memory: takes ownership of data (from malloc;
 * freed by tensorfile_close, or at once on failure); path names it in messages. */
int tensorfile_open_buffer(const char *path, unsigned char *data, size_t len, TensorFile *tf, Error *err);
/* The same without taking ownership: data must stay valid (and unchanged) until
 * tensorfile_close, which does not free it. For callers that read the file
 * themselves, e.g. while another thread hashes the same bytes. */
int tensorfile_open_view(const char *path, const unsigned char *data, size_t len, TensorFile *tf, Error *err);
/* 0 if the first n bytes of a file (n >= 9 to tell) rule out every format
 * tensorfile_open knows, 1 if it may be one: lets a reader refuse a large
 * wrong file before reading it whole. */
int tensorfile_sniff(const unsigned char *head, size_t n);
void tensorfile_close(TensorFile *tf);
/* The entry named `name`, or NULL. */
const TensorEntry *tensorfile_find(const TensorFile *tf, const char *name);
/* Size in bytes of one element of a dtype, and its name ("F32", "BF16", ...). */
size_t dtype_size(DType dt);
const char *dtype_name(DType dt);
/* Copies t into out[0..t->numel) as host float32, in row-major (C) order,
 * following the strides. Accepts F32, F16, BF16, F64; other dtypes are an error
 * naming tf path and tensor. For a contiguous F32 tensor, out may be the
 * tensor's own bytes (decoded in place: each element is read before it is
 * written); otherwise out must not overlap the file's bytes. */
int tensor_to_f32(const TensorFile *tf, const TensorEntry *t, float *out, Error *err);

/* Writes a safetensors file (F32 tensors, contiguous) atomically.
 * names[i] has shape shapes[i][0..ndims[i]) and data[i]. metadata may be NULL
 * or a NULL-terminated list of key, value, key, value, ... strings. */
int safetensors_write(const char *path, int count, const char *const *names, const int *ndims,
                      const int64_t (*shapes)[TENSOR_MAX_DIMS], const float *const *data,
                      const char *const *metadata, Error *err);
/* The bytes safetensors_write writes, in a malloc'ed buffer (*out, *out_len; free it);
 * path only names the file in messages. */
int safetensors_encode(const char *path, int count, const char *const *names, const int *ndims,
                       const int64_t (*shapes)[TENSOR_MAX_DIMS], const float *const *data,
                       const char *const *metadata, unsigned char **out, size_t *out_len, Error *err);

#endif
