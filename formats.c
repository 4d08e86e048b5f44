/* formats.c - torch.save (ZIP + data-only pickle) and safetensors readers,
 * float32 conversion, and a safetensors writer. See formats.h.
 *
 * Everything read from a file is untrusted: every offset and size is checked
 * against the bytes that exist before it is used, and nothing is allocated
 * from a size that has not been bounded by the file length or a fixed limit.
 * All multi-byte values are decoded byte by byte (ZIP and safetensors are
 * little-endian; the pickle BINFLOAT opcode is big-endian).
 */
#include "formats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Limits for the pickle interpreter. A torch.save state dict of a large model
 * needs a few thousand objects, a stack of a few dozen and a memo of a few
 * thousand entries; these bounds are far above that yet keep memory bounded. */
#define PKL_MAX_OBJECTS (1u << 20)
#define PKL_MAX_STACK (1u << 20)
#define PKL_MAX_MARKS (1u << 16)
#define PKL_MAX_MEMO (1u << 24)
#define PKL_MAX_STRING (1u << 24)
#define PKL_MAX_GLOBAL_NAME 256
#define PKL_MAX_NAME 4096        /* bytes in a (flattened) tensor name */
#define PKL_MAX_NEST 32          /* nested dicts flattened into "outer.inner" names */
#define SAFETENSORS_MAX_HEADER (100u << 20) /* the reference implementation's limit */

/* ---------------------------------------------------------------- helpers */

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

size_t dtype_size(DType dt) {
    switch (dt) {
    case DT_F64: case DT_I64: return 8;
    case DT_F32: case DT_I32: return 4;
    case DT_F16: case DT_BF16: case DT_I16: return 2;
    case DT_I8: case DT_U8: case DT_BOOL: return 1;
    }
    return 1;
}

const char *dtype_name(DType dt) {
    switch (dt) {
    case DT_F32: return "F32";
    case DT_F16: return "F16";
    case DT_BF16: return "BF16";
    case DT_F64: return "F64";
    case DT_I64: return "I64";
    case DT_I32: return "I32";
    case DT_I16: return "I16";
    case DT_I8: return "I8";
    case DT_U8: return "U8";
    case DT_BOOL: return "BOOL";
    }
    return "?";
}

/* Checks shape/stride/offset of t against its storage: numel fits int64, no
 * negative sizes or strides, and every reachable element lies inside
 * storage_bytes. Sets t->numel. Overflow-safe. Writes "problem" into msg. */
static int check_extent(TensorEntry *t, char *msg, size_t msgsize) {
    int64_t numel = 1, maxpos;
    uint64_t esz = dtype_size(t->dtype), elems;
    int d;
    if (t->ndim < 0 || t->ndim > TENSOR_MAX_DIMS) {
        snprintf(msg, msgsize, "%d dimensions (at most %d supported)", t->ndim, TENSOR_MAX_DIMS);
        return -1;
    }
    for (d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || t->stride[d] < 0) {
            snprintf(msg, msgsize, "negative size or stride in dimension %d", d);
            return -1;
        }
        if (t->shape[d] != 0 && numel > INT64_MAX / t->shape[d]) {
            snprintf(msg, msgsize, "shape product overflows 64 bits");
            return -1;
        }
        numel *= t->shape[d];
    }
    if (t->offset < 0) {
        snprintf(msg, msgsize, "negative storage offset");
        return -1;
    }
    t->numel = numel;
    elems = (uint64_t)t->storage_bytes / esz;
    if (numel == 0) {
        if ((uint64_t)t->offset > elems) {
            snprintf(msg, msgsize, "storage offset %lld beyond storage of %llu elements", (long long)t->offset,
                     (unsigned long long)elems);
            return -1;
        }
        return 0;
    }
    /* Highest reachable element: offset + sum (shape-1)*stride, each step checked. */
    maxpos = t->offset;
    for (d = 0; d < t->ndim; d++) {
        int64_t span;
        if (t->stride[d] != 0 && t->shape[d] - 1 > INT64_MAX / t->stride[d]) goto overflow;
        span = (t->shape[d] - 1) * t->stride[d];
        if (maxpos > INT64_MAX - span) goto overflow;
        maxpos += span;
    }
    if ((uint64_t)maxpos >= elems) {
        snprintf(msg, msgsize, "elements up to index %lld lie outside the storage of %llu elements", (long long)maxpos,
                 (unsigned long long)elems);
        return -1;
    }
    return 0;
overflow:
    snprintf(msg, msgsize, "stride extent overflows 64 bits");
    return -1;
}

/* Appends a copy of e (name taken over) to the TensorFile's list. */
static int tf_add(TensorFile *tf, size_t *cap, const TensorEntry *e, Error *err) {
    if ((size_t)tf->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        TensorEntry *nt;
        if (ncap > (size_t)INT32_MAX || ncap > ((size_t)-1) / sizeof(TensorEntry))
            return error_set(err, "%s: too many tensors", tf->path);
        nt = realloc(tf->tensors, ncap * sizeof(TensorEntry));
        if (!nt) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tf->path);
        tf->tensors = nt;
        *cap = ncap;
    }
    tf->tensors[tf->count++] = *e;
    return 0;
}

/* ------------------------------------------------------------------- ZIP */

typedef struct {
    const unsigned char *name;
    size_t name_len;
    size_t data_off; /* offset of the entry's bytes in the file */
    size_t size;
    uint32_t crc;
} ZipEntry;

typedef struct {
    ZipEntry *e;
    size_t count;
} Zip;

/* CRC-32 (ISO-HDLC, as ZIP uses), slice-by-16 (1.3x slice-by-8 here) with
 * tables built on the stack (16 KiB, cheap next to checking a model's
 * storages; no shared mutable state, so entries can be checked in parallel). */
static uint32_t crc32_buf(const unsigned char *p, size_t n) {
    uint32_t t[16][256], c;
    unsigned i, k;
    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 16; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 255];
    c = 0xFFFFFFFFu;
    while (n >= 16) {
        uint32_t a = c ^ rd32(p), b = rd32(p + 4), d = rd32(p + 8), e = rd32(p + 12);
        c = t[15][a & 255] ^ t[14][(a >> 8) & 255] ^ t[13][(a >> 16) & 255] ^ t[12][a >> 24] ^
            t[11][b & 255] ^ t[10][(b >> 8) & 255] ^ t[9][(b >> 16) & 255] ^ t[8][b >> 24] ^
            t[7][d & 255] ^ t[6][(d >> 8) & 255] ^ t[5][(d >> 16) & 255] ^ t[4][d >> 24] ^
            t[3][e & 255] ^ t[2][(e >> 8) & 255] ^ t[1][(e >> 16) & 255] ^ t[0][e >> 24];
        p += 16;
        n -= 16;
    }
    while (n--) c = t[0][(c ^ *p++) & 255] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static int zip_entry_cmp(const void *a, const void *b) {
    const ZipEntry *x = (const ZipEntry *)a, *y = (const ZipEntry *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* The entry with exactly this name, or NULL (entries are sorted by name). */
static const ZipEntry *zip_find(const Zip *z, const char *name, size_t len) {
    ZipEntry key;
    key.name = (const unsigned char *)name;
    key.name_len = len;
    if (z->count == 0) return NULL;
    return (const ZipEntry *)bsearch(&key, z->e, z->count, sizeof(ZipEntry), zip_entry_cmp);
}

/* Prints an entry name for messages (truncated, non-printable bytes as '?'). */
static void zip_name_str(const ZipEntry *e, char *buf, size_t size) {
    size_t i, n = e->name_len < size - 1 ? e->name_len : size - 1;
    for (i = 0; i < n; i++) buf[i] = (e->name[i] >= 32 && e->name[i] < 127) ? (char)e->name[i] : '?';
    buf[n] = '\0';
}

/* Parses the central directory of d[0..n) (APPNOTE 6.3: end of central
 * directory record, zip64 locator and record when present, central headers,
 * zip64 extra fields, local headers). Only stored, unencrypted, single-disk
 * archives are accepted; every entry's data must lie before the central
 * directory, and its CRC-32 must match. */
static int zip_open(const char *path, const unsigned char *d, size_t n, Zip *z, Error *err) {
    size_t pos, lo, eocd = (size_t)-1, limit, q, i;
    uint64_t disk, cd_disk, n_disk, n_total, cd_size, cd_off;
    z->e = NULL;
    z->count = 0;
    if (n < 22) return error_set(err, "%s: too short to be a ZIP archive (%lu bytes)", path, (unsigned long)n);
    /* The EOCD record is the last 22 bytes plus a comment of up to 65535 bytes;
     * require the comment length to reach exactly the end of the file. */
    lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (pos = n - 22 + 1; pos-- > lo;) {
        if (rd32(d + pos) == 0x06054b50u && pos + 22 + rd16(d + pos + 20) == n) {
            eocd = pos;
            break;
        }
    }
    if (eocd == (size_t)-1)
        return error_set(err, "%s: no ZIP end-of-central-directory record (truncated or not a ZIP archive)", path);
    disk = rd16(d + eocd + 4);
    cd_disk = rd16(d + eocd + 6);
    n_disk = rd16(d + eocd + 8);
    n_total = rd16(d + eocd + 10);
    cd_size = rd32(d + eocd + 12);
    cd_off = rd32(d + eocd + 16);
    limit = eocd;
    if (eocd >= 20 && rd32(d + eocd - 20) == 0x07064b50u) {
        /* zip64 end of central directory locator, then the zip64 record it points to. */
        uint64_t r = rd64(d + eocd - 20 + 8);
        if (r > eocd - 20 || eocd - 20 - r < 56 || rd32(d + r) != 0x06064b50u)
            return error_set(err, "%s: ZIP zip64 end-of-central-directory record missing or out of range", path);
        disk = rd32(d + r + 16);
        cd_disk = rd32(d + r + 20);
        n_disk = rd64(d + r + 24);
        n_total = rd64(d + r + 32);
        cd_size = rd64(d + r + 40);
        cd_off = rd64(d + r + 48);
        limit = (size_t)r;
    } else if (n_total == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        return error_set(err, "%s: ZIP needs a zip64 end-of-central-directory record but has none", path);
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total)
        return error_set(err, "%s: multi-disk ZIP archives are not supported", path);
    if (cd_off > limit || cd_size > limit - cd_off)
        return error_set(err, "%s: ZIP central directory (offset %llu, size %llu) lies outside the file", path,
                         (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n_total > cd_size / 46)
        return error_set(err, "%s: ZIP claims %llu entries but its central directory has room for at most %llu", path,
                         (unsigned long long)n_total, (unsigned long long)(cd_size / 46));
    if (n_total == 0) return error_set(err, "%s: ZIP archive is empty", path);
    z->e = alloc_array((size_t)n_total, sizeof(ZipEntry));
    if (!z->e) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", path);
    q = (size_t)cd_off;
    limit = (size_t)(cd_off + cd_size);
    for (i = 0; i < (size_t)n_total; i++) {
        const unsigned char *h = d + q;
        ZipEntry *e = &z->e[i];
        uint32_t flags, method, nlen, xlen, clen, lnlen, lxlen;
        uint64_t csize, usize, lho;
        size_t x, xend;
        char nm[128];
        if (limit - q < 46 || rd32(h) != 0x02014b50u)
            return error_set(err, "%s: ZIP central directory entry %lu is truncated or has a bad signature", path,
                             (unsigned long)i);
        flags = rd16(h + 8);
        method = rd16(h + 10);
        e->crc = rd32(h + 16);
        csize = rd32(h + 20);
        usize = rd32(h + 24);
        nlen = rd16(h + 28);
        xlen = rd16(h + 30);
        clen = rd16(h + 32);
        lho = rd32(h + 42);
        if ((size_t)nlen + xlen + clen > limit - q - 46)
            return error_set(err, "%s: ZIP central directory entry %lu overruns the directory", path, (unsigned long)i);
        e->name = h + 46;
        e->name_len = nlen;
        zip_name_str(e, nm, sizeof nm);
        /* zip64 extended information: 8-byte fields present only for the
         * 32-bit fields that are saturated, in the order usize, csize, offset. */
        x = q + 46 + nlen;
        xend = x + xlen;
        while (xend - x >= 4) {
            uint32_t id = rd16(d + x), sz = rd16(d + x + 2);
            if (sz > xend - x - 4)
                return error_set(err, "%s: ZIP entry '%s' has a malformed extra field", path, nm);
            if (id == 0x0001) {
                size_t f = x + 4, fend = x + 4 + sz;
                if (usize == 0xFFFFFFFFu) {
                    if (fend - f < 8) goto bad_zip64;
                    usize = rd64(d + f);
                    f += 8;
                }
                if (csize == 0xFFFFFFFFu) {
                    if (fend - f < 8) goto bad_zip64;
                    csize = rd64(d + f);
                    f += 8;
                }
                if (lho == 0xFFFFFFFFu) {
                    if (fend - f < 8) goto bad_zip64;
                    lho = rd64(d + f);
                    f += 8;
                }
            }
            x += 4 + sz;
        }
        if (usize == 0xFFFFFFFFu || csize == 0xFFFFFFFFu || lho == 0xFFFFFFFFu) goto bad_zip64;
        if (flags & 1) return error_set(err, "%s: ZIP entry '%s' is encrypted", path, nm);
        if (method != 0)
            return error_set(err,
                             "%s: ZIP entry '%s' is compressed (method %u%s); only stored (uncompressed) entries, as "
                             "torch.save writes them, are supported",
                             path, nm, (unsigned)method, method == 8 ? " = deflate" : "");
        if (csize != usize)
            return error_set(err, "%s: ZIP entry '%s' is stored but its sizes differ (%llu vs %llu)", path, nm,
                             (unsigned long long)csize, (unsigned long long)usize);
        /* Local header: its name must match; its sizes may be zero (data descriptor). */
        if (lho > cd_off || cd_off - lho < 30 || rd32(d + lho) != 0x04034b50u)
            return error_set(err, "%s: ZIP entry '%s': local header missing or out of range", path, nm);
        lnlen = rd16(d + lho + 26);
        lxlen = rd16(d + lho + 28);
        if ((uint64_t)lnlen + lxlen > cd_off - lho - 30)
            return error_set(err, "%s: ZIP entry '%s': local header overruns the data area", path, nm);
        if (lnlen != nlen || memcmp(d + lho + 30, e->name, nlen) != 0)
            return error_set(err, "%s: ZIP entry '%s': local header names a different file", path, nm);
        /* Without a data descriptor (flag bit 3) the local header repeats the
         * CRC and sizes (saturated when zip64 moves them to the extra field). */
        if (!(rd16(d + lho + 6) & 8) &&
            (rd32(d + lho + 14) != e->crc ||
             (rd32(d + lho + 18) != 0xFFFFFFFFu && rd32(d + lho + 18) != csize) ||
             (rd32(d + lho + 22) != 0xFFFFFFFFu && rd32(d + lho + 22) != usize)))
            return error_set(err, "%s: ZIP entry '%s': local header disagrees with the central directory", path, nm);
        e->data_off = (size_t)(lho + 30 + lnlen + lxlen);
        if (csize > cd_off - e->data_off)
            return error_set(err, "%s: ZIP entry '%s': %llu bytes of data run past the end of the data area", path, nm,
                             (unsigned long long)csize);
        e->size = (size_t)csize; /* its CRC-32 is checked below, with the others' */
        q += 46 + nlen + xlen + clen;
        continue;
    bad_zip64:
        return error_set(err, "%s: ZIP entry '%s': zip64 extra field missing or too short", path, nm);
    }
    if (q != limit) return error_set(err, "%s: ZIP central directory size does not match its entries", path);
    {
        /* CRC-32 of every entry, spread over the threads (a 250 MB model is
         * ~0.1 s of CRC); the first bad entry in directory order is reported. */
        long k, first_bad = (long)n_total;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) reduction(min : first_bad) if (n > ((size_t)1 << 24))
#endif
        for (k = 0; k < (long)n_total; k++)
            if (crc32_buf(d + z->e[k].data_off, z->e[k].size) != z->e[k].crc && k < first_bad) first_bad = k;
        if (first_bad < (long)n_total) {
            char nm[128];
            zip_name_str(&z->e[first_bad], nm, sizeof nm);
            return error_set(err, "%s: ZIP entry '%s': CRC-32 mismatch (corrupt data)", path, nm);
        }
    }
    z->count = (size_t)n_total;
    qsort(z->e, z->count, sizeof(ZipEntry), zip_entry_cmp);
    for (i = 1; i < z->count; i++) {
        if (zip_entry_cmp(&z->e[i - 1], &z->e[i]) == 0) {
            char nm[128];
            zip_name_str(&z->e[i], nm, sizeof nm);
            return error_set(err, "%s: ZIP has two entries named '%s'", path, nm);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- pickle */

typedef enum { O_NONE, O_BOOL, O_INT, O_FLOAT, O_STR, O_TUPLE, O_LIST, O_DICT, O_GLOBAL, O_STORAGE, O_TENSOR } ObjKind;

/* The whitelisted globals; anything else is refused when it is named. */
typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE_TYPE, G_DTYPE } GlobalId;

typedef struct Obj {
    ObjKind kind;
    int64_t i;                  /* O_INT, O_BOOL value; O_GLOBAL: GlobalId; O_STORAGE: numel */
    const unsigned char *s;     /* O_STR bytes (inside the pickle); O_STORAGE first byte */
    size_t len;                 /* O_STR length; O_STORAGE bytes */
    struct Obj **items;         /* O_TUPLE / O_LIST items; O_DICT keys and values interleaved */
    size_t n, cap;              /* item count (O_DICT: 2 * pairs) and capacity */
    DType dt;                   /* O_GLOBAL storage type or dtype; O_STORAGE element type */
    TensorEntry *t;             /* O_TENSOR */
    int visited;                /* O_DICT: already flattened */
} Obj;

typedef struct {
    const char *path;
    char pkl_name[320];
    const unsigned char *p; /* the pickle bytes */
    size_t n, pos, op_pos;
    const Zip *zip;
    const unsigned char *file;
    const char *prefix;     /* "ARCHIVE/" */
    size_t prefix_len;
    Obj **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    Obj **memo;
    size_t memo_cap, memo_count;
    Obj **all; /* every allocated object, for freeing */
    size_t nall, all_cap;
    Error *err;
} Vm;

/* Shared immutable singletons. */
static Obj obj_none = {O_NONE, 0, NULL, 0, NULL, 0, 0, DT_F32, NULL, 0};
static Obj obj_true = {O_BOOL, 1, NULL, 0, NULL, 0, 0, DT_F32, NULL, 0};
static Obj obj_false = {O_BOOL, 0, NULL, 0, NULL, 0, 0, DT_F32, NULL, 0};

static int vm_fail(Vm *vm, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "PATH: ARCHIVE/data.pkl: byte N: problem" */
static int vm_fail(Vm *vm, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(vm->err, "%s: %s: byte %lu: %s", vm->path, vm->pkl_name, (unsigned long)vm->op_pos, msg);
}

/* Grows an Obj* array to hold at least `need` items (need bounded by callers' limits). */
static int grow_objs(Obj ***arr, size_t *cap, size_t need) {
    Obj **na;
    size_t ncap;
    if (need <= *cap) return 0;
    ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2 / sizeof(Obj *)) return -1;
        ncap *= 2;
    }
    na = realloc(*arr, ncap * sizeof(Obj *));
    if (!na) return -1;
    *arr = na;
    *cap = ncap;
    return 0;
}

static Obj *vm_new(Vm *vm, ObjKind kind) {
    Obj *o;
    if (vm->nall >= PKL_MAX_OBJECTS) {
        vm_fail(vm, "more than %u objects", PKL_MAX_OBJECTS);
        return NULL;
    }
    if (grow_objs(&vm->all, &vm->all_cap, vm->nall + 1) != 0) goto oom;
    o = calloc(1, sizeof(Obj));
    if (!o) goto oom;
    o->kind = kind;
    vm->all[vm->nall++] = o;
    return o;
oom:
    vm_fail(vm, "out of memory");
    vm->err->code = EXIT_INTERNAL;
    return NULL;
}

static int vm_push(Vm *vm, Obj *o) {
    if (!o) return -1;
    if (vm->sp >= PKL_MAX_STACK) return vm_fail(vm, "stack deeper than %u", PKL_MAX_STACK);
    if (grow_objs(&vm->stack, &vm->stack_cap, vm->sp + 1) != 0) return vm_fail(vm, "out of memory");
    vm->stack[vm->sp++] = o;
    return 0;
}

/* Pops into *o; fails on an empty stack or when a MARK would be crossed. */
static int vm_pop(Vm *vm, Obj **o) {
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (vm->sp <= floor) return vm_fail(vm, "stack underflow");
    *o = vm->stack[--vm->sp];
    return 0;
}

static int vm_top(Vm *vm, Obj **o) {
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (vm->sp <= floor) return vm_fail(vm, "stack underflow");
    *o = vm->stack[vm->sp - 1];
    return 0;
}

/* Pops the innermost MARK; its stack position goes into *k. */
static int vm_pop_mark(Vm *vm, size_t *k) {
    if (vm->nmarks == 0) return vm_fail(vm, "no MARK on the stack");
    *k = vm->marks[--vm->nmarks];
    return 0;
}

/* Appends items[0..n) to o's item list. */
static int obj_append(Vm *vm, Obj *o, Obj *const *items, size_t n) {
    if (n > ((size_t)-1) / 2 - o->n || grow_objs(&o->items, &o->cap, o->n + n) != 0)
        return vm_fail(vm, "out of memory");
    if (n) memcpy(o->items + o->n, items, n * sizeof(Obj *));
    o->n += n;
    return 0;
}

static Obj *vm_tuple(Vm *vm, Obj *const *items, size_t n) {
    Obj *t = vm_new(vm, O_TUPLE);
    if (!t || obj_append(vm, t, items, n) != 0) return NULL;
    return t;
}

/* Reads len bytes of operand, or fails if the pickle ends first. */
static int vm_take(Vm *vm, size_t len, const unsigned char **out) {
    if (len > vm->n - vm->pos) return vm_fail(vm, "pickle truncated (operand of %lu bytes)", (unsigned long)len);
    *out = vm->p + vm->pos;
    vm->pos += len;
    return 0;
}

static const char *const storage_names[] = {"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                                            "LongStorage",  "IntStorage",  "ShortStorage",    "CharStorage",
                                            "ByteStorage",  "BoolStorage", "UntypedStorage"};
static const DType storage_dtypes[] = {DT_F32, DT_F16, DT_BF16, DT_F64, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL, DT_U8};
static const char *const dtype_attr_names[] = {"float32", "float",  "float16", "half",  "bfloat16", "float64",
                                               "double",  "int64",  "long",    "int32", "int",      "int16",
                                               "short",   "int8",   "uint8",   "bool"};
static const DType dtype_attr_dtypes[] = {DT_F32, DT_F32, DT_F16, DT_F16, DT_BF16, DT_F64, DT_F64, DT_I64,
                                          DT_I64, DT_I32, DT_I32, DT_I16, DT_I16, DT_I8,   DT_U8,  DT_BOOL};

static int str_is(const unsigned char *s, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Resolves module.name against the whitelist and pushes the global; anything
 * else is refused, naming it. Nothing is imported or called. */
static int vm_global(Vm *vm, const unsigned char *mod, size_t mlen, const unsigned char *name, size_t nlen) {
    Obj *g;
    size_t k;
    int id = -1;
    DType dt = DT_F32;
    if (str_is(mod, mlen, "collections") && str_is(name, nlen, "OrderedDict")) id = G_ORDERED_DICT;
    else if (str_is(mod, mlen, "torch._utils") && str_is(name, nlen, "_rebuild_tensor_v2")) id = G_REBUILD_TENSOR_V2;
    else if (str_is(mod, mlen, "torch._utils") &&
             (str_is(name, nlen, "_rebuild_parameter") || str_is(name, nlen, "_rebuild_parameter_with_state")))
        id = G_REBUILD_PARAMETER;
    else if (str_is(mod, mlen, "torch") || str_is(mod, mlen, "torch.storage")) {
        for (k = 0; k < sizeof storage_dtypes / sizeof storage_dtypes[0]; k++)
            if (str_is(name, nlen, storage_names[k])) {
                id = G_STORAGE_TYPE;
                dt = storage_dtypes[k];
            }
        if (str_is(mod, mlen, "torch"))
            for (k = 0; k < sizeof dtype_attr_dtypes / sizeof dtype_attr_dtypes[0]; k++)
                if (str_is(name, nlen, dtype_attr_names[k])) {
                    id = G_DTYPE;
                    dt = dtype_attr_dtypes[k];
                }
    }
    if (id < 0) {
        char m[PKL_MAX_GLOBAL_NAME + 1], nm[PKL_MAX_GLOBAL_NAME + 1];
        size_t i;
        for (i = 0; i < mlen && i < PKL_MAX_GLOBAL_NAME; i++) m[i] = (mod[i] >= 32 && mod[i] < 127) ? (char)mod[i] : '?';
        m[i] = '\0';
        for (i = 0; i < nlen && i < PKL_MAX_GLOBAL_NAME; i++)
            nm[i] = (name[i] >= 32 && name[i] < 127) ? (char)name[i] : '?';
        nm[i] = '\0';
        return vm_fail(vm,
                       "refusing pickle global '%s.%s': only tensor data is read (allowed: collections.OrderedDict, "
                       "torch._utils._rebuild_tensor_v2, torch storage types and dtypes); nothing is executed",
                       m, nm);
    }
    g = vm_new(vm, O_GLOBAL);
    if (!g) return -1;
    g->i = id;
    g->dt = dt;
    return vm_push(vm, g);
}

/* BINPERSID: ('storage', StorageType, key, location, numel) -> the bytes of
 * ARCHIVE/data/KEY, checked to hold numel elements. */
static int vm_persistent(Vm *vm, Obj *pid) {
    Obj *st, *key, *numel, *o;
    char name[600];
    const ZipEntry *ze;
    uint64_t esz, need;
    if (pid->kind != O_TUPLE || pid->n != 5 || pid->items[0]->kind != O_STR ||
        !str_is(pid->items[0]->s, pid->items[0]->len, "storage"))
        return vm_fail(vm, "persistent id is not a ('storage', type, key, location, numel) tuple");
    st = pid->items[1];
    key = pid->items[2];
    numel = pid->items[4];
    if (st->kind != O_GLOBAL || (st->i != G_STORAGE_TYPE && st->i != G_DTYPE))
        return vm_fail(vm, "persistent id names no storage type");
    if (key->kind != O_STR || key->len == 0 || key->len > 256 || memchr(key->s, '/', key->len) ||
        memchr(key->s, '\0', key->len))
        return vm_fail(vm, "persistent id has an invalid storage key");
    if (pid->items[3]->kind != O_STR) return vm_fail(vm, "persistent id has no device location string");
    if (numel->kind != O_INT || numel->i < 0) return vm_fail(vm, "persistent id has an invalid element count");
    memcpy(name, vm->prefix, vm->prefix_len);
    memcpy(name + vm->prefix_len, "data/", 5);
    memcpy(name + vm->prefix_len + 5, key->s, key->len);
    name[vm->prefix_len + 5 + key->len] = '\0';
    ze = zip_find(vm->zip, name, vm->prefix_len + 5 + key->len);
    if (!ze) return vm_fail(vm, "storage '%s' is not in the archive", name);
    esz = dtype_size(st->dt);
    if ((uint64_t)numel->i > UINT64_MAX / esz || (need = (uint64_t)numel->i * esz) > ze->size)
        return vm_fail(vm, "storage '%s' holds %lu bytes, fewer than %lld elements of %s", name,
                       (unsigned long)ze->size, (long long)numel->i, dtype_name(st->dt));
    o = vm_new(vm, O_STORAGE);
    if (!o) return -1;
    o->dt = st->dt;
    o->i = numel->i;
    o->s = vm->file + ze->data_off;
    o->len = (size_t)need;
    return vm_push(vm, o);
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) -> a tensor view, checked against its storage. */
static int vm_rebuild_tensor(Vm *vm, Obj *args) {
    Obj *st, *size, *stride, *o;
    TensorEntry *t;
    char msg[200];
    size_t d;
    if (args->n != 6 && args->n != 7) return vm_fail(vm, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %lu", (unsigned long)args->n);
    st = args->items[0];
    size = args->items[2];
    stride = args->items[3];
    if (st->kind != O_STORAGE) return vm_fail(vm, "_rebuild_tensor_v2: first argument is not a storage");
    if (args->items[1]->kind != O_INT) return vm_fail(vm, "_rebuild_tensor_v2: storage offset is not an integer");
    if (size->kind != O_TUPLE || stride->kind != O_TUPLE || size->n != stride->n)
        return vm_fail(vm, "_rebuild_tensor_v2: size and stride are not tuples of equal length");
    if (size->n > TENSOR_MAX_DIMS) return vm_fail(vm, "tensor has %lu dimensions (at most %d supported)", (unsigned long)size->n, TENSOR_MAX_DIMS);
    o = vm_new(vm, O_TENSOR);
    if (!o) return -1;
    t = o->t = calloc(1, sizeof(TensorEntry));
    if (!t) return vm_fail(vm, "out of memory");
    t->dtype = st->dt;
    t->ndim = (int)size->n;
    for (d = 0; d < size->n; d++) {
        if (size->items[d]->kind != O_INT || stride->items[d]->kind != O_INT)
            return vm_fail(vm, "_rebuild_tensor_v2: size or stride entry is not an integer");
        t->shape[d] = size->items[d]->i;
        t->stride[d] = stride->items[d]->i;
    }
    t->storage = st->s;
    t->storage_bytes = st->len;
    t->offset = args->items[1]->i;
    if (check_extent(t, msg, sizeof msg) != 0) return vm_fail(vm, "tensor: %s", msg);
    return vm_push(vm, o);
}

/* REDUCE / NEWOBJ: only the whitelisted callables, and only with the argument
 * shapes torch.save produces. */
static int vm_call(Vm *vm, Obj *fn, Obj *args) {
    if (fn->kind != O_GLOBAL) return vm_fail(vm, "REDUCE on something that is not a whitelisted global");
    if (args->kind != O_TUPLE) return vm_fail(vm, "REDUCE arguments are not a tuple");
    switch ((GlobalId)fn->i) {
    case G_ORDERED_DICT:
        if (args->n != 0) return vm_fail(vm, "collections.OrderedDict called with arguments (only OrderedDict() is supported)");
        return vm_push(vm, vm_new(vm, O_DICT));
    case G_REBUILD_TENSOR_V2:
        return vm_rebuild_tensor(vm, args);
    case G_REBUILD_PARAMETER:
        if ((args->n != 3 && args->n != 4) || args->items[0]->kind != O_TENSOR)
            return vm_fail(vm, "_rebuild_parameter: unexpected arguments");
        return vm_push(vm, args->items[0]);
    case G_STORAGE_TYPE:
    case G_DTYPE:
        break;
    }
    return vm_fail(vm, "refusing to call a storage type or dtype (only OrderedDict and tensor rebuild functions are called)");
}

static int vm_memo_put(Vm *vm, uint64_t idx) {
    Obj *top = NULL;
    if (vm_top(vm, &top) != 0) return -1;
    /* Indices come from the file: bounded so the memo never outgrows the pickle. */
    if (idx >= PKL_MAX_MEMO || idx > vm->n) return vm_fail(vm, "memo index %llu too large", (unsigned long long)idx);
    if (idx >= vm->memo_cap) {
        size_t old = vm->memo_cap;
        if (grow_objs(&vm->memo, &vm->memo_cap, (size_t)idx + 1) != 0) return vm_fail(vm, "out of memory");
        memset(vm->memo + old, 0, (vm->memo_cap - old) * sizeof(Obj *));
    }
    if (!vm->memo[idx]) vm->memo_count++;
    vm->memo[idx] = top;
    return 0;
}

static int vm_memo_get(Vm *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo[idx]) return vm_fail(vm, "memo index %llu was never stored", (unsigned long long)idx);
    return vm_push(vm, vm->memo[idx]);
}

/* Reads a newline-terminated GLOBAL operand line. */
static int vm_line(Vm *vm, const unsigned char **s, size_t *len) {
    const unsigned char *start = vm->p + vm->pos, *nl;
    size_t avail = vm->n - vm->pos;
    if (avail > PKL_MAX_GLOBAL_NAME + 1) avail = PKL_MAX_GLOBAL_NAME + 1;
    nl = memchr(start, '\n', avail);
    if (!nl) return vm_fail(vm, "GLOBAL name unterminated or longer than %d bytes", PKL_MAX_GLOBAL_NAME);
    *s = start;
    *len = (size_t)(nl - start);
    vm->pos += *len + 1;
    return 0;
}

/* Runs the pickle to STOP. On success *result is the unpickled object. */
static int vm_run(Vm *vm, Obj **result) {
    for (;;) {
        const unsigned char *a = NULL;
        unsigned op;
        Obj *o = NULL, *x = NULL, *y = NULL;
        size_t k = 0;
        vm->op_pos = vm->pos;
        if (vm->pos >= vm->n) return vm_fail(vm, "pickle ends without STOP");
        op = vm->p[vm->pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if (vm_take(vm, 1, &a) != 0) return -1;
            if (a[0] < 2 || a[0] > 5) return vm_fail(vm, "pickle protocol %u not supported (2-5 are)", a[0]);
            break;
        case 0x95: /* FRAME: length is advisory; the whole pickle is in memory */
            if (vm_take(vm, 8, &a) != 0) return -1;
            if (rd64(a) > vm->n - vm->pos) return vm_fail(vm, "FRAME longer than the rest of the pickle");
            break;
        case '.': /* STOP */
            if (vm_pop(vm, result) != 0) return -1;
            return 0;
        case '(': /* MARK */
            if (vm->nmarks >= PKL_MAX_MARKS) return vm_fail(vm, "more than %u nested MARKs", PKL_MAX_MARKS);
            if (vm->nmarks == vm->marks_cap) {
                size_t nc = vm->marks_cap ? vm->marks_cap * 2 : 16;
                size_t *nm = realloc(vm->marks, nc * sizeof(size_t));
                if (!nm) return vm_fail(vm, "out of memory");
                vm->marks = nm;
                vm->marks_cap = nc;
            }
            vm->marks[vm->nmarks++] = vm->sp;
            break;
        case '}': /* EMPTY_DICT */
            if (vm_push(vm, vm_new(vm, O_DICT)) != 0) return -1;
            break;
        case ']': /* EMPTY_LIST */
            if (vm_push(vm, vm_new(vm, O_LIST)) != 0) return -1;
            break;
        case ')': /* EMPTY_TUPLE */
            if (vm_push(vm, vm_tuple(vm, NULL, 0)) != 0) return -1;
            break;
        case 'N':
            if (vm_push(vm, &obj_none) != 0) return -1;
            break;
        case 0x88:
            if (vm_push(vm, &obj_true) != 0) return -1;
            break;
        case 0x89:
            if (vm_push(vm, &obj_false) != 0) return -1;
            break;
        case 'X': case 0x8c: case 0x8d: { /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
            size_t w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            uint64_t len;
            if (vm_take(vm, w, &a) != 0) return -1;
            len = w == 4 ? rd32(a) : w == 1 ? a[0] : rd64(a);
            if (len > PKL_MAX_STRING) return vm_fail(vm, "string of %llu bytes is too long", (unsigned long long)len);
            if (vm_take(vm, (size_t)len, &a) != 0) return -1;
            if (!(o = vm_new(vm, O_STR))) return -1;
            o->s = a;
            o->len = (size_t)len;
            if (vm_push(vm, o) != 0) return -1;
            break;
        }
        case 'J': case 'K': case 'M': case 0x8a: { /* BININT, BININT1, BININT2, LONG1 */
            int64_t v;
            if (op == 'J') {
                if (vm_take(vm, 4, &a) != 0) return -1;
                v = (rd32(a) & 0x80000000u) ? (int64_t)rd32(a) - INT64_C(4294967296) : (int64_t)rd32(a);
            } else if (op == 'K') {
                if (vm_take(vm, 1, &a) != 0) return -1;
                v = a[0];
            } else if (op == 'M') {
                if (vm_take(vm, 2, &a) != 0) return -1;
                v = rd16(a);
            } else {
                uint64_t u = 0;
                size_t nb, b;
                if (vm_take(vm, 1, &a) != 0) return -1;
                nb = a[0];
                if (nb > 8) return vm_fail(vm, "LONG1 integer of %lu bytes is wider than 64 bits", (unsigned long)nb);
                if (vm_take(vm, nb, &a) != 0) return -1;
                for (b = 0; b < nb; b++) u |= (uint64_t)a[b] << (8 * b);
                /* two's complement, sign bit = top bit of the last byte */
                if (nb > 0 && nb < 8 && (a[nb - 1] & 0x80)) u |= ~UINT64_C(0) << (8 * nb);
                v = (u & (UINT64_C(1) << 63)) ? -(int64_t)(~u) - 1 : (int64_t)u;
            }
            if (!(o = vm_new(vm, O_INT))) return -1;
            o->i = v;
            if (vm_push(vm, o) != 0) return -1;
            break;
        }
        case 'G': /* BINFLOAT */
            if (vm_take(vm, 8, &a) != 0) return -1;
            if (!(o = vm_new(vm, O_FLOAT))) return -1; /* value unused: floats are skipped */
            if (vm_push(vm, o) != 0) return -1;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t cnt = op - 0x84, floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
            if (vm->sp - floor < cnt) return vm_fail(vm, "stack underflow");
            if (!(o = vm_tuple(vm, vm->stack + vm->sp - cnt, cnt))) return -1;
            vm->sp -= cnt;
            if (vm_push(vm, o) != 0) return -1;
            break;
        }
        case 't': /* TUPLE */
            if (vm_pop_mark(vm, &k) != 0) return -1;
            /* An empty tuple may come before anything was pushed (stack still NULL). */
            if (!(o = vm_tuple(vm, vm->sp > k ? vm->stack + k : NULL, vm->sp - k))) return -1;
            vm->sp = k;
            if (vm_push(vm, o) != 0) return -1;
            break;
        case 's': /* SETITEM */
            if (vm_pop(vm, &y) != 0 || vm_pop(vm, &x) != 0 || vm_top(vm, &o) != 0) return -1;
            if (o->kind != O_DICT) return vm_fail(vm, "SETITEM on something that is not a dict");
            {
                Obj *kv[2];
                kv[0] = x;
                kv[1] = y;
                if (obj_append(vm, o, kv, 2) != 0) return -1;
            }
            break;
        case 'u': /* SETITEMS */
            if (vm_pop_mark(vm, &k) != 0) return -1;
            if (k == 0 || (k <= (vm->nmarks ? vm->marks[vm->nmarks - 1] : 0)))
                return vm_fail(vm, "SETITEMS without a dict");
            o = vm->stack[k - 1];
            if (o->kind != O_DICT) return vm_fail(vm, "SETITEMS on something that is not a dict");
            if ((vm->sp - k) % 2) return vm_fail(vm, "SETITEMS with an odd number of items");
            if (obj_append(vm, o, vm->stack + k, vm->sp - k) != 0) return -1;
            vm->sp = k;
            break;
        case 'a': /* APPEND */
            if (vm_pop(vm, &x) != 0 || vm_top(vm, &o) != 0) return -1;
            if (o->kind != O_LIST) return vm_fail(vm, "APPEND on something that is not a list");
            if (obj_append(vm, o, &x, 1) != 0) return -1;
            break;
        case 'e': /* APPENDS */
            if (vm_pop_mark(vm, &k) != 0) return -1;
            if (k == 0 || (k <= (vm->nmarks ? vm->marks[vm->nmarks - 1] : 0)))
                return vm_fail(vm, "APPENDS without a list");
            o = vm->stack[k - 1];
            if (o->kind != O_LIST) return vm_fail(vm, "APPENDS on something that is not a list");
            if (obj_append(vm, o, vm->stack + k, vm->sp - k) != 0) return -1;
            vm->sp = k;
            break;
        case 'q': /* BINPUT */
            if (vm_take(vm, 1, &a) != 0 || vm_memo_put(vm, a[0]) != 0) return -1;
            break;
        case 'r': /* LONG_BINPUT */
            if (vm_take(vm, 4, &a) != 0 || vm_memo_put(vm, rd32(a)) != 0) return -1;
            break;
        case 0x94: /* MEMOIZE */
            if (vm_memo_put(vm, vm->memo_count) != 0) return -1;
            break;
        case 'h': /* BINGET */
            if (vm_take(vm, 1, &a) != 0 || vm_memo_get(vm, a[0]) != 0) return -1;
            break;
        case 'j': /* LONG_BINGET */
            if (vm_take(vm, 4, &a) != 0 || vm_memo_get(vm, rd32(a)) != 0) return -1;
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const unsigned char *m = NULL, *nm = NULL;
            size_t ml = 0, nl = 0;
            if (vm_line(vm, &m, &ml) != 0 || vm_line(vm, &nm, &nl) != 0) return -1;
            if (vm_global(vm, m, ml, nm, nl) != 0) return -1;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if (vm_pop(vm, &y) != 0 || vm_pop(vm, &x) != 0) return -1;
            if (x->kind != O_STR || y->kind != O_STR) return vm_fail(vm, "STACK_GLOBAL operands are not strings");
            if (vm_global(vm, x->s, x->len, y->s, y->len) != 0) return -1;
            break;
        case 'R': /* REDUCE */
            if (vm_pop(vm, &y) != 0 || vm_pop(vm, &x) != 0) return -1;
            if (vm_call(vm, x, y) != 0) return -1;
            break;
        case 0x81: /* NEWOBJ cls.__new__(cls, *args): only OrderedDict */
            if (vm_pop(vm, &y) != 0 || vm_pop(vm, &x) != 0) return -1;
            if (x->kind != O_GLOBAL || x->i != G_ORDERED_DICT)
                return vm_fail(vm, "NEWOBJ on something other than collections.OrderedDict");
            if (vm_call(vm, x, y) != 0) return -1;
            break;
        case 'b': /* BUILD: state of an OrderedDict (e.g. _metadata) or tensor is not needed */
            if (vm_pop(vm, &y) != 0 || vm_top(vm, &o) != 0) return -1;
            if (o->kind != O_DICT && o->kind != O_TENSOR)
                return vm_fail(vm, "BUILD on something that is not a dict or tensor");
            break;
        case 'Q': /* BINPERSID */
            if (vm_pop(vm, &x) != 0 || vm_persistent(vm, x) != 0) return -1;
            break;
        case '0': /* POP */
            if (vm_pop(vm, &x) != 0) return -1;
            break;
        case '1': /* POP_MARK */
            if (vm_pop_mark(vm, &k) != 0) return -1;
            vm->sp = k;
            break;
        case '2': /* DUP */
            if (vm_top(vm, &x) != 0 || vm_push(vm, x) != 0) return -1;
            break;
        default:
            return vm_fail(vm, "unsupported pickle opcode 0x%02x (not emitted by torch.save for state dicts)", op);
        }
    }
}

static void vm_free(Vm *vm) {
    size_t i;
    for (i = 0; i < vm->nall; i++) {
        free(vm->all[i]->items);
        free(vm->all[i]->t);
        free(vm->all[i]);
    }
    free(vm->all);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
}

/* Adds every tensor in dict d to tf, named prefix + key; nested dicts are
 * flattened as "outer.inner" (each dict visited once, so shared or cyclic
 * references cannot blow up). Other values and non-string keys are skipped. */
static int collect(Vm *vm, TensorFile *tf, size_t *cap, Obj *d, const char *prefix, size_t plen, int depth) {
    size_t i;
    d->visited = 1;
    for (i = 0; i + 1 < d->n; i += 2) {
        Obj *key = d->items[i], *val = d->items[i + 1];
        char *name;
        if (key->kind != O_STR) continue;
        if (val->kind != O_TENSOR && !(val->kind == O_DICT && !val->visited && depth < PKL_MAX_NEST)) continue;
        if (memchr(key->s, '\0', key->len)) return vm_fail(vm, "state-dict key contains a NUL byte");
        if (key->len > PKL_MAX_NAME || plen + key->len > PKL_MAX_NAME)
            return vm_fail(vm, "state-dict key longer than %d bytes", PKL_MAX_NAME);
        name = malloc(plen + key->len + 2);
        if (!name) return vm_fail(vm, "out of memory");
        memcpy(name, prefix, plen);
        memcpy(name + plen, key->s, key->len);
        name[plen + key->len] = '\0';
        if (val->kind == O_TENSOR) {
            TensorEntry e = *val->t;
            e.name = name;
            if (tf_add(tf, cap, &e, vm->err) != 0) {
                free(name);
                return -1;
            }
        } else {
            int rc;
            name[plen + key->len] = '.';
            name[plen + key->len + 1] = '\0';
            rc = collect(vm, tf, cap, val, name, plen + key->len + 1, depth + 1);
            free(name);
            if (rc != 0) return -1;
        }
    }
    return 0;
}

typedef struct {
    const char *name;
    int index;
} NameIndex;

static int name_index_cmp(const void *a, const void *b) {
    const NameIndex *x = (const NameIndex *)a, *y = (const NameIndex *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Python dict semantics for repeated keys: the first position keeps the last value. */
static int dedupe(TensorFile *tf, Error *err) {
    NameIndex *idx;
    int i, j, w;
    if (tf->count < 2) return 0;
    idx = alloc_array((size_t)tf->count, sizeof(NameIndex));
    if (!idx) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tf->path);
    for (i = 0; i < tf->count; i++) {
        idx[i].name = tf->tensors[i].name;
        idx[i].index = i;
    }
    qsort(idx, (size_t)tf->count, sizeof(NameIndex), name_index_cmp);
    for (i = 0; i < tf->count; i = j) {
        for (j = i + 1; j < tf->count && strcmp(idx[i].name, idx[j].name) == 0; j++) {
        }
        if (j - i > 1) {
            /* idx[i] is the first occurrence, idx[j-1] the last. */
            TensorEntry *first = &tf->tensors[idx[i].index], *last = &tf->tensors[idx[j - 1].index];
            char *keep = first->name;
            int k;
            *first = *last;
            first->name = keep;
            for (k = i + 1; k < j; k++) {
                free(tf->tensors[idx[k].index].name);
                tf->tensors[idx[k].index].name = NULL;
            }
        }
    }
    free(idx);
    for (i = 0, w = 0; i < tf->count; i++)
        if (tf->tensors[i].name) tf->tensors[w++] = tf->tensors[i];
    tf->count = w;
    return 0;
}

/* torch.save archive: finds ARCHIVE/data.pkl (ARCHIVE is any single folder
 * name), checks ARCHIVE/byteorder when present, and interprets the pickle. */
static int open_torch_zip(TensorFile *tf, Error *err) {
    Zip z;
    Vm vm;
    Obj *result = NULL;
    const ZipEntry *pkl = NULL, *bo;
    size_t i, cap = 0;
    int rc = -1;
    char prefix[300];
    if (zip_open(tf->path, tf->file_data, tf->file_len, &z, err) != 0) goto done_zip;
    for (i = 0; i < z.count; i++) {
        const ZipEntry *e = &z.e[i];
        const unsigned char *slash;
        if (e->name_len < 10 || memcmp(e->name + e->name_len - 9, "/data.pkl", 9) != 0) continue;
        slash = memchr(e->name, '/', e->name_len);
        if (slash != e->name + e->name_len - 9) continue;
        if (pkl) {
            error_set(err, "%s: archive holds more than one */data.pkl", tf->path);
            goto done_zip;
        }
        pkl = e;
    }
    if (!pkl) {
        error_set(err, "%s: ZIP archive has no ARCHIVE/data.pkl: not a torch.save file", tf->path);
        goto done_zip;
    }
    if (pkl->name_len - 8 > 256) {
        error_set(err, "%s: archive folder name is too long", tf->path);
        goto done_zip;
    }
    memcpy(prefix, pkl->name, pkl->name_len - 8);
    prefix[pkl->name_len - 8] = '\0';
    {
        char bname[320];
        snprintf(bname, sizeof bname, "%sbyteorder", prefix);
        bo = zip_find(&z, bname, strlen(bname));
        if (bo && !(bo->size == 6 && memcmp(tf->file_data + bo->data_off, "little", 6) == 0)) {
            error_set(err, "%s: %s is not 'little': big-endian torch.save files are not supported", tf->path, bname);
            goto done_zip;
        }
    }
    memset(&vm, 0, sizeof vm);
    vm.path = tf->path;
    snprintf(vm.pkl_name, sizeof vm.pkl_name, "%sdata.pkl", prefix);
    vm.p = tf->file_data + pkl->data_off;
    vm.n = pkl->size;
    vm.zip = &z;
    vm.file = tf->file_data;
    vm.prefix = prefix;
    vm.prefix_len = strlen(prefix);
    vm.err = err;
    if (vm_run(&vm, &result) == 0) {
        if (result->kind != O_DICT) {
            vm.op_pos = vm.n;
            vm_fail(&vm, "the pickled object is not a dict (a state dict of tensors is expected)");
        } else if (collect(&vm, tf, &cap, result, "", 0, 0) == 0 && dedupe(tf, err) == 0) {
            rc = 0;
        }
    }
    vm_free(&vm);
done_zip:
    free(z.e);
    return rc;
}

/* ----------------------------------------------------------- safetensors */

static int parse_st_dtype(const char *s, DType *dt) {
    static const char *const names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    static const DType dts[] = {DT_F32, DT_F16, DT_BF16, DT_F64, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL};
    size_t k;
    for (k = 0; k < sizeof dts / sizeof dts[0]; k++)
        if (strcmp(s, names[k]) == 0) {
            *dt = dts[k];
            return 0;
        }
    return -1;
}

/* safetensors: u64 LE header size N, N bytes of JSON, then the data area.
 * Every tensor's data_offsets must lie inside the data area and hold exactly
 * numel * dtype-size bytes. */
static int open_safetensors(TensorFile *tf, Error *err) {
    const unsigned char *d = tf->file_data;
    uint64_t hlen;
    const unsigned char *data;
    size_t data_len, i, cap = 0;
    JsonValue *root;
    const char *path = tf->path;
    int rc = -1;
    if (tf->file_len < 8) return error_set(err, "%s: too short for a safetensors file (%lu bytes)", path, (unsigned long)tf->file_len);
    hlen = rd64(d);
    if (hlen > tf->file_len - 8)
        return error_set(err, "%s: safetensors header size %llu exceeds the file (%lu bytes)", path,
                         (unsigned long long)hlen, (unsigned long)tf->file_len);
    if (hlen > SAFETENSORS_MAX_HEADER)
        return error_set(err, "%s: safetensors header size %llu exceeds the limit of %u", path,
                         (unsigned long long)hlen, SAFETENSORS_MAX_HEADER);
    if (hlen < 2 || d[8] != '{') return error_set(err, "%s: safetensors header does not start with '{'", path);
    data = d + 8 + hlen;
    data_len = tf->file_len - 8 - (size_t)hlen;
    root = json_parse((const char *)d + 8, (size_t)hlen, path, err);
    if (!root) return -1;
    if (root->type != JSON_OBJECT) {
        error_set(err, "%s: safetensors header is not a JSON object", path);
        goto out;
    }
    for (i = 0; i < root->count; i++) {
        const char *key = root->keys[i];
        const JsonValue *v = &root->items[i], *dtv, *shp, *offs;
        TensorEntry e;
        long long b, en;
        size_t k = 0;
        char msg[200];
        uint64_t nbytes;
        if (strcmp(key, "__metadata__") == 0) {
            if (v->type != JSON_OBJECT) {
                error_set(err, "%s: safetensors __metadata__ is not an object", path);
                goto out;
            }
            for (k = 0; k < v->count; k++)
                if (v->items[k].type != JSON_STRING) {
                    error_set(err, "%s: safetensors __metadata__ value '%.100s' is not a string", path, v->keys[k]);
                    goto out;
                }
            continue;
        }
        if (strlen(key) != root->key_lens[i]) {
            error_set(err, "%s: safetensors tensor name contains a NUL character", path);
            goto out;
        }
        memset(&e, 0, sizeof e);
        dtv = json_get(v, "dtype");
        shp = json_get(v, "shape");
        offs = json_get(v, "data_offsets");
        if (v->type != JSON_OBJECT || !json_as_string(dtv) || !shp || shp->type != JSON_ARRAY || !offs ||
            offs->type != JSON_ARRAY || offs->count != 2) {
            error_set(err, "%s: safetensors entry '%.200s' lacks dtype, shape or data_offsets", path, key);
            goto out;
        }
        if (parse_st_dtype(json_as_string(dtv), &e.dtype) != 0) {
            error_set(err, "%s: tensor '%.200s' has unsupported dtype '%.40s'", path, key, json_as_string(dtv));
            goto out;
        }
        if (shp->count > TENSOR_MAX_DIMS) {
            error_set(err, "%s: tensor '%.200s' has %lu dimensions (at most %d supported)", path, key,
                      (unsigned long)shp->count, TENSOR_MAX_DIMS);
            goto out;
        }
        e.ndim = (int)shp->count;
        for (k = 0; k < shp->count; k++) {
            long long s;
            if (!json_as_int(&shp->items[k], &s) || s < 0) {
                error_set(err, "%s: tensor '%.200s' has an invalid shape", path, key);
                goto out;
            }
            e.shape[k] = s;
        }
        if (!json_as_int(&offs->items[0], &b) || !json_as_int(&offs->items[1], &en) || b < 0 || en < b ||
            (unsigned long long)en > data_len) {
            error_set(err, "%s: tensor '%.200s' has data_offsets outside the data area of %lu bytes", path, key,
                      (unsigned long)data_len);
            goto out;
        }
        /* Contiguous row-major strides; the extent check also proves numel*size fits. */
        e.storage = data + b;
        e.storage_bytes = (size_t)(en - b);
        if (e.ndim > 0) {
            int dd;
            e.stride[e.ndim - 1] = 1;
            for (dd = e.ndim - 2; dd >= 0; dd--) {
                if (e.shape[dd + 1] != 0 && e.stride[dd + 1] > INT64_MAX / e.shape[dd + 1]) {
                    error_set(err, "%s: tensor '%.200s': shape product overflows 64 bits", path, key);
                    goto out;
                }
                e.stride[dd] = e.stride[dd + 1] * e.shape[dd + 1];
            }
        }
        if (check_extent(&e, msg, sizeof msg) != 0) {
            error_set(err, "%s: tensor '%.200s': %s", path, key, msg);
            goto out;
        }
        if ((uint64_t)e.numel > UINT64_MAX / dtype_size(e.dtype) ||
            (nbytes = (uint64_t)e.numel * dtype_size(e.dtype)) != e.storage_bytes) {
            error_set(err, "%s: tensor '%.200s': data_offsets span %lu bytes but shape and dtype need %lld x %lu",
                      path, key, (unsigned long)e.storage_bytes, (long long)e.numel, (unsigned long)dtype_size(e.dtype));
            goto out;
        }
        e.name = malloc(root->key_lens[i] + 1);
        if (!e.name) {
            error_set_code(err, EXIT_INTERNAL, "%s: out of memory", path);
            goto out;
        }
        memcpy(e.name, key, root->key_lens[i] + 1);
        if (tf_add(tf, &cap, &e, err) != 0) {
            free(e.name);
            goto out;
        }
    }
    rc = dedupe(tf, err);
out:
    json_free(root);
    return rc;
}

/* ------------------------------------------------------------ public API */

/* Detects the format from the first bytes and parses; tf->path and
 * tf->file_data are set; on failure everything is released. */
static int open_detected(TensorFile *tf, Error *err) {
    const unsigned char *d = tf->file_data;
    const char *path = tf->path;
    int rc;
    if (tf->file_len >= 4 && d[0] == 'P' && d[1] == 'K' && ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6))) {
        rc = open_torch_zip(tf, err);
    } else if (tf->file_len >= 9 && d[8] == '{') {
        tf->is_safetensors = 1;
        rc = open_safetensors(tf, err);
    } else if (tf->file_len >= 2 && d[0] == 0x80 && d[1] <= 5) {
        rc = error_set(err,
                       "%s: legacy (pre-1.6, non-ZIP) torch.save format is not supported; re-save it with "
                       "torch.save(obj, path) from torch >= 1.6",
                       path);
    } else if (ends_with(path, ".safetensors")) {
        tf->is_safetensors = 1;
        rc = open_safetensors(tf, err);
    } else {
        rc = error_set(err, "%s: not a torch.save ZIP archive or a safetensors file", path);
    }
    if (rc != 0) tensorfile_close(tf);
    return rc;
}

int tensorfile_sniff(const unsigned char *head, size_t n) {
    if (n < 9) return 1;
    return (head[0] == 'P' && head[1] == 'K') || head[8] == '{' || head[0] == 0x80;
}

/* 0 if the first bytes of the file match none of the formats open_detected
 * knows, so that a large or endless wrong input (/dev/zero) is refused before
 * it is read whole. 1 otherwise, including files that cannot be opened or are
 * too short to tell (read_file and open_detected then give the message). */
static int looks_like_tensorfile(const char *path) {
    unsigned char d[9];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    n = fread(d, 1, sizeof d, f);
    fclose(f);
    return tensorfile_sniff(d, n);
}

int tensorfile_open(const char *path, TensorFile *tf, Error *err) {
    memset(tf, 0, sizeof *tf);
    tf->path = malloc(strlen(path) + 1);
    if (!tf->path) return error_set_code(err, EXIT_INTERNAL, "out of memory");
    strcpy(tf->path, path);
    if (!looks_like_tensorfile(path)) {
        error_set(err, "%s: not a torch.save ZIP archive or a safetensors file", path);
        tensorfile_close(tf);
        return -1;
    }
    if (read_file(path, TENSORFILE_MAX_BYTES, &tf->file_data, &tf->file_len, err) != 0) {
        tensorfile_close(tf);
        return -1;
    }
    return open_detected(tf, err);
}

int tensorfile_open_buffer(const char *path, unsigned char *data, size_t len, TensorFile *tf, Error *err) {
    memset(tf, 0, sizeof *tf);
    tf->file_data = data;
    tf->file_len = len;
    tf->path = malloc(strlen(path) + 1);
    if (!tf->path) {
        free(data);
        tf->file_data = NULL;
        return error_set_code(err, EXIT_INTERNAL, "out of memory");
    }
    strcpy(tf->path, path);
    return open_detected(tf, err);
}

int tensorfile_open_view(const char *path, const unsigned char *data, size_t len, TensorFile *tf, Error *err) {
    memset(tf, 0, sizeof *tf);
    tf->file_data = (unsigned char *)data; /* never written or freed: borrowed is set */
    tf->file_len = len;
    tf->borrowed = 1;
    tf->path = malloc(strlen(path) + 1);
    if (!tf->path) {
        tf->file_data = NULL;
        return error_set_code(err, EXIT_INTERNAL, "out of memory");
    }
    strcpy(tf->path, path);
    return open_detected(tf, err);
}

void tensorfile_close(TensorFile *tf) {
    int i;
    for (i = 0; i < tf->count; i++) free(tf->tensors[i].name);
    free(tf->tensors);
    if (!tf->borrowed) free(tf->file_data);
    free(tf->path);
    memset(tf, 0, sizeof *tf);
}

const TensorEntry *tensorfile_find(const TensorFile *tf, const char *name) {
    int i;
    for (i = 0; i < tf->count; i++)
        if (strcmp(tf->tensors[i].name, name) == 0) return &tf->tensors[i];
    return NULL;
}

/* --------------------------------------------------- float32 conversion */

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f); /* host float is IEEE binary32 with the byte order of its ints */
    return f;
}

static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE binary16 -> binary32 bits (exact: every half is a float). */
static uint32_t f16_to_f32_bits(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0x1F) return sign | 0x7F800000u | (m << 13); /* inf, nan (payload kept) */
    if (e == 0) {
        if (m == 0) return sign;
        /* subnormal m * 2^-24: normalise so the leading 1 is at bit 10 */
        e = 127 - 15 + 1;
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        return sign | (e << 23) | ((m & 0x3FF) << 13);
    }
    return sign | ((e + 127 - 15) << 23) | (m << 13);
}

/* IEEE binary64 bits -> binary32 bits, round to nearest even, with float
 * subnormals, overflow to inf, and nan kept quiet. Integer-only, so it does
 * not depend on the host's double format or on the C conversion (undefined
 * when out of range). */
static uint32_t f64_to_f32_bits(uint64_t b) {
    uint32_t sign = (uint32_t)(b >> 63) << 31;
    int e = (int)((b >> 52) & 0x7FF), lead, p, q, E, s;
    uint64_t m = b & ((UINT64_C(1) << 52) - 1), M;
    if (e == 0x7FF) return m ? (sign | 0x7FC00000u | (uint32_t)(m >> 29)) : (sign | 0x7F800000u);
    if (e == 0 && m == 0) return sign;
    if (e == 0) E = -1074;
    else {
        m |= UINT64_C(1) << 52;
        E = e - 1075;
    }
    for (lead = 52; !(m >> lead); lead--) {
    }
    p = lead + E; /* value in [2^p, 2^(p+1)) */
    if (p > 127) return sign | 0x7F800000u;
    q = p >= -126 ? p - 23 : -149; /* exponent of the float's unit in the last place */
    s = q - E;
    if (s <= 0) M = m << (-s);
    else if (s > 63) M = 0;
    else {
        uint64_t rem = m & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
        M = m >> s;
        if (rem > half || (rem == half && (M & 1))) M++;
    }
    if (M >= (UINT64_C(1) << 24)) {
        M >>= 1;
        q++;
    }
    if (M >= (UINT64_C(1) << 23)) {
        int biased = q + 23 + 127;
        if (biased >= 255) return sign | 0x7F800000u;
        return sign | ((uint32_t)biased << 23) | (uint32_t)(M - (UINT64_C(1) << 23));
    }
    return sign | (uint32_t)M; /* subnormal or zero */
}

static float decode_elem(const unsigned char *p, DType dt) {
    switch (dt) {
    case DT_F32: return bits_to_f32(rd32(p));
    case DT_F16: return bits_to_f32(f16_to_f32_bits(rd16(p)));
    case DT_BF16: return bits_to_f32(rd16(p) << 16);
    case DT_F64: return bits_to_f32(f64_to_f32_bits(rd64(p)));
    default: return 0.0f;
    }
}

int tensor_to_f32(const TensorFile *tf, const TensorEntry *t, float *out, Error *err) {
    TensorEntry c = *t;
    char msg[200];
    size_t esz = dtype_size(t->dtype);
    int64_t idx[TENSOR_MAX_DIMS], i, pos, inner, istride;
    int d;
    const char *path = tf ? tf->path : "(tensor)";
    if (t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16 && t->dtype != DT_F64)
        return error_set(err, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 convert to float32", path,
                         t->name ? t->name : "?", dtype_name(t->dtype));
    /* Re-check the extent up front so the loop below needs no bounds checks. */
    if (check_extent(&c, msg, sizeof msg) != 0 || c.numel != t->numel)
        return error_set(err, "%s: tensor '%s': %s", path, t->name ? t->name : "?",
                         c.numel != t->numel ? "numel does not match its shape" : msg);
    if (t->numel == 0) return 0;
    if (!t->storage) return error_set(err, "%s: tensor '%s' has no storage", path, t->name ? t->name : "?");
    if (t->ndim == 0) {
        out[0] = decode_elem(t->storage + (size_t)t->offset * esz, t->dtype);
        return 0;
    }
    /* Outer dimensions via an index counter, the last one as a tight loop. */
    inner = t->shape[t->ndim - 1];
    istride = t->stride[t->ndim - 1];
    for (d = 0; d < t->ndim; d++) idx[d] = 0;
    pos = t->offset;
    for (i = 0; i < t->numel; i += inner) {
        const unsigned char *p = t->storage + (size_t)pos * esz;
        float *o = out + i;
        int64_t j;
        size_t step = (size_t)istride * esz;
        if (t->dtype == DT_F32)
            for (j = 0; j < inner; j++, p += step) o[j] = bits_to_f32(rd32(p));
        else
            for (j = 0; j < inner; j++, p += step) o[j] = decode_elem(p, t->dtype);
        for (d = t->ndim - 2; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) {
                pos += t->stride[d];
                break;
            }
            pos -= (idx[d] - 1) * t->stride[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ------------------------------------------------------ safetensors write */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t nc = b->cap ? b->cap : 256;
        char *ns;
        while (nc - b->len < n) {
            if (nc > ((size_t)-1) / 2) {
                b->oom = 1;
                return;
            }
            nc *= 2;
        }
        ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* Writes s as a JSON string literal (RFC 8259 escapes for " \ and controls). */
static void buf_json_string(Buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            buf_put(b, tmp, 2);
        } else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            buf_put(b, tmp, 6);
        } else {
            buf_put(b, (const char *)&c, 1);
        }
    }
    buf_put(b, "\"", 1);
}

int safetensors_write(const char *path, int count, const char *const *names, const int *ndims,
                      const int64_t (*shapes)[TENSOR_MAX_DIMS], const float *const *data,
                      const char *const *metadata, Error *err) {
    unsigned char *file;
    size_t flen;
    int rc;
    if (safetensors_encode(path, count, names, ndims, shapes, data, metadata, &file, &flen, err) != 0) return -1;
    rc = write_file_atomic(path, file, flen, err);
    free(file);
    return rc;
}

int safetensors_encode(const char *path, int count, const char *const *names, const int *ndims,
                       const int64_t (*shapes)[TENSOR_MAX_DIMS], const float *const *data,
                       const char *const *metadata, unsigned char **out, size_t *out_len, Error *err) {
    Buf h = {NULL, 0, 0, 0};
    unsigned char *file = NULL;
    uint64_t total = 0, off;
    size_t hlen, flen, i, k;
    int t, d;
    char num[64];
    if (count < 0) return error_set(err, "%s: negative tensor count", path);
    buf_str(&h, "{");
    if (metadata) {
        buf_str(&h, "\"__metadata__\":{");
        for (k = 0; metadata[k] && metadata[k + 1]; k += 2) {
            if (k) buf_str(&h, ",");
            buf_json_string(&h, metadata[k]);
            buf_str(&h, ":");
            buf_json_string(&h, metadata[k + 1]);
        }
        buf_str(&h, "}");
    }
    for (t = 0; t < count; t++) {
        uint64_t numel = 1;
        if (ndims[t] < 0 || ndims[t] > TENSOR_MAX_DIMS) {
            free(h.s);
            return error_set(err, "%s: tensor '%s' has %d dimensions", path, names[t], ndims[t]);
        }
        if (strcmp(names[t], "__metadata__") == 0) {
            free(h.s);
            return error_set(err, "%s: '__metadata__' cannot be a tensor name", path);
        }
        for (d = 0; d < ndims[t]; d++) {
            if (shapes[t][d] < 0 || (shapes[t][d] && numel > (UINT64_MAX / 8) / (uint64_t)shapes[t][d])) {
                free(h.s);
                return error_set(err, "%s: tensor '%s' has an invalid or too large shape", path, names[t]);
            }
            numel *= (uint64_t)shapes[t][d];
        }
        if (numel > UINT64_MAX / 32 || total > (UINT64_MAX / 8) - numel * 4) {
            free(h.s);
            return error_set(err, "%s: tensors too large", path);
        }
        if (metadata || t) buf_str(&h, ",");
        buf_json_string(&h, names[t]);
        buf_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (d = 0; d < ndims[t]; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)shapes[t][d]);
            buf_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)total,
                 (unsigned long long)(total + numel * 4));
        buf_str(&h, num);
        total += numel * 4;
    }
    buf_str(&h, "}");
    /* The spec allows trailing spaces in the header; pad so data starts 8-aligned. */
    while ((8 + h.len) % 8) buf_str(&h, " ");
    if (h.oom) {
        free(h.s);
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", path);
    }
    hlen = h.len;
    if (total > (uint64_t)(((size_t)-1) - 8 - hlen)) {
        free(h.s);
        return error_set(err, "%s: tensors too large", path);
    }
    flen = 8 + hlen + (size_t)total;
    file = malloc(flen);
    if (!file) {
        free(h.s);
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", path);
    }
    for (i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, h.s, hlen);
    free(h.s);
    off = 8 + hlen;
    for (t = 0; t < count; t++) {
        uint64_t numel = 1, j;
        for (d = 0; d < ndims[t]; d++) numel *= (uint64_t)shapes[t][d];
        for (j = 0; j < numel; j++) {
            uint32_t u = f32_to_bits(data[t][j]);
            file[off] = (unsigned char)u;
            file[off + 1] = (unsigned char)(u >> 8);
            file[off + 2] = (unsigned char)(u >> 16);
            file[off + 3] = (unsigned char)(u >> 24);
            off += 4;
        }
    }
    *out = file;
    *out_len = flen;
    return 0;
}
