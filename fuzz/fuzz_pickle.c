/* fuzz_pickle.c - libFuzzer target for the pickle interpreter of the torch.save
 * reader. The input is the pickle alone; this harness wraps it in a valid
 * stored ZIP (archive/data.pkl, archive/byteorder, and storages archive/data/0
 * .. archive/data/31 of 256 bytes each plus archive/data/dup and
 * archive/data/extra), so every mutation reaches the interpreter instead of
 * failing the ZIP checks. Oracle: fuzz_tensors.h. */
#include "fuzz_tensors.h"

#define N_STORAGES 34
#define STORAGE_BYTES 256

typedef struct {
    unsigned char *b;
    size_t n, cap;
} Bytes;

static void put(Bytes *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->b = realloc(o->b, o->cap);
        if (!o->b) abort();
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put16(Bytes *o, unsigned v) {
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(o, b, 2);
}

static void put32(Bytes *o, unsigned long v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(o, b, 4);
}

static unsigned long crc32(const unsigned char *p, size_t n) {
    unsigned long c = 0xFFFFFFFFul;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320ul ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFul;
}

/* A stored (method 0) ZIP with the given entries, as zipfile writes it. */
static void make_zip(Bytes *z, int n, const char *const *names, const unsigned char *const *datas, const size_t *lens,
                     const unsigned long *crcs) {
    Bytes cd = {NULL, 0, 0};
    size_t offs[N_STORAGES + 4];
    int i;
    for (i = 0; i < n; i++) {
        unsigned long crc = crcs[i];
        size_t nl = strlen(names[i]);
        offs[i] = z->n;
        put32(z, 0x04034b50ul); put16(z, 20); put16(z, 0); put16(z, 0); put16(z, 0); put16(z, 0x21);
        put32(z, crc); put32(z, lens[i]); put32(z, lens[i]); put16(z, (unsigned)nl); put16(z, 0);
        put(z, names[i], nl);
        put(z, datas[i], lens[i]);
        put32(&cd, 0x02014b50ul); put16(&cd, 20); put16(&cd, 20); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0);
        put16(&cd, 0x21); put32(&cd, crc); put32(&cd, lens[i]); put32(&cd, lens[i]); put16(&cd, (unsigned)nl);
        put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put32(&cd, 0); put32(&cd, offs[i]);
        put(&cd, names[i], nl);
    }
    {
        size_t cd_off = z->n;
        put(z, cd.b, cd.n);
        put32(z, 0x06054b50ul); put16(z, 0); put16(z, 0); put16(z, (unsigned)n); put16(z, (unsigned)n);
        put32(z, cd.n); put32(z, cd_off); put16(z, 0);
    }
    free(cd.b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char names[N_STORAGES + 2][40];
    static unsigned char storage[STORAGE_BYTES];
    const char *np[N_STORAGES + 2];
    const unsigned char *dp[N_STORAGES + 2];
    size_t lp[N_STORAGES + 2];
    unsigned long cp[N_STORAGES + 2];
    static unsigned long storage_crc;
    Bytes z = {NULL, 0, 0};
    TensorFile tf;
    Error err = {"", 0};
    int i, n = 0;
    if (size > 1 << 20) return 0;
    if (!names[0][0]) {
        for (i = 0; i < STORAGE_BYTES; i++) storage[i] = (unsigned char)(i * 37 + 11); /* finite, varied floats */
        for (i = 0; i < STORAGE_BYTES; i += 4) storage[i + 3] = 0x3F;
        storage_crc = crc32(storage, STORAGE_BYTES); /* once: the CRC loop is costly under coverage tracing */
    }
    strcpy(names[n], "archive/data.pkl"); np[n] = names[n]; dp[n] = data; lp[n] = size; cp[n] = crc32(data, size); n++;
    strcpy(names[n], "archive/byteorder"); np[n] = names[n]; dp[n] = (const unsigned char *)"little"; lp[n] = 6; cp[n] = crc32(dp[n], 6); n++;
    for (i = 0; i < N_STORAGES; i++) {
        if (i < 32) sprintf(names[n], "archive/data/%d", i);
        else strcpy(names[n], i == 32 ? "archive/data/dup" : "archive/data/extra");
        np[n] = names[n]; dp[n] = storage; lp[n] = STORAGE_BYTES; cp[n] = storage_crc; n++;
    }
    make_zip(&z, n, np, dp, lp, cp);
    if (tensorfile_open_buffer("fuzz/model.pth", z.b, z.n, &tf, &err) != 0) { /* takes z.b */
        fuzz_check_error(&err, "fuzz/model.pth: ");
        return 0;
    }
    fuzz_check_tensorfile(&tf);
    tensorfile_close(&tf);
    return 0;
}
