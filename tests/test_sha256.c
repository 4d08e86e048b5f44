/* test_sha256.c - SHA-256 against the published NIST test vectors (FIPS 180-2
 * appendix B / CSRC "SHA256.pdf" examples), which are independent of this code. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static const char *MSG448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char *MSG896 =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define H_896 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define H_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void digest_hex(const unsigned char d[32], char hex[65]) {
    int i;
    for (i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

/* Hashes msg fed in pieces of `piece` bytes through the streaming API. */
static void hash_pieces(const char *msg, size_t len, size_t piece, char hex[65]) {
    Sha256 s;
    unsigned char d[32];
    size_t i;
    sha256_init(&s);
    for (i = 0; i < len; i += piece) sha256_update(&s, msg + i, len - i < piece ? len - i : piece);
    sha256_final(&s, d);
    digest_hex(d, hex);
}

/* Every vector through the current path (portable or SHA-NI, see main). */
static void run_vectors(void) {
    char hex[65];
    size_t piece;
    static char million[1000000];
    Sha256 s;
    unsigned char d[32];
    Error err;
    const char *tmp = "build_sha256_test.tmp";
    FILE *f;
    int i;

    sha256_hex("", 0, hex);
    CHECK(strcmp(hex, H_EMPTY) == 0, "empty: got %s", hex);
    sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, H_ABC) == 0, "abc: got %s", hex);
    sha256_hex(MSG448, strlen(MSG448), hex);
    CHECK(strcmp(hex, H_448) == 0, "448-bit message: got %s", hex);
    sha256_hex(MSG896, strlen(MSG896), hex);
    CHECK(strcmp(hex, H_896) == 0, "896-bit message: got %s", hex);
    memset(million, 'a', sizeof million);
    sha256_hex(million, sizeof million, hex);
    CHECK(strcmp(hex, H_MILLION_A) == 0, "one million 'a': got %s", hex);

    /* The streaming API must give the published digests for every split. */
    for (piece = 1; piece <= 130; piece++) {
        hash_pieces(MSG896, strlen(MSG896), piece, hex);
        CHECK(strcmp(hex, H_896) == 0, "896-bit message in pieces of %lu: got %s", (unsigned long)piece, hex);
        hash_pieces(MSG448, strlen(MSG448), piece, hex);
        CHECK(strcmp(hex, H_448) == 0, "448-bit message in pieces of %lu: got %s", (unsigned long)piece, hex);
    }
    /* One million 'a' as 1000 updates of 1000 bytes (crosses block boundaries unevenly). */
    sha256_init(&s);
    for (i = 0; i < 1000; i++) sha256_update(&s, million, 1000);
    sha256_final(&s, d);
    digest_hex(d, hex);
    CHECK(strcmp(hex, H_MILLION_A) == 0, "one million 'a' in 1000-byte updates: got %s", hex);

    /* Non-repeating bytes, and the lengths where padding needs one block or two
     * (55/56, 119/120) or the message fills whole blocks (63/64). Digests from
     * Python's hashlib (an independent implementation). */
    {
        static const struct {
            size_t len;
            const char *hex;
        } V[] = {{55, "31e363ef2d9df344612d6ee21a5d04cc4f158dda4832dfb4f1ab718540c94b1b"},
                 {56, "ca3fe73e3a2cdb7bde767e5c758a85f11655f8a159bc495a95d9dbb7e0598b05"},
                 {63, "e9658bfe1d1a5e3e0a96d97059243e60f48a68b3ba755580229ebd5dfb39f581"},
                 {64, "da8dbc5f685fb953b14df051eeebd89f27cfbce88f5385c4bae44d8947791566"},
                 {119, "1c043002acaa1f4df89151654fe4799a82218ccd152f28f7118afe4dd520e2f7"},
                 {120, "99aeace5762937e0703629bd8a2d498f28baf779e22b92cddada667263018888"},
                 {100003, "e1133e4e6940c1e84fad67f27a397ac88e795aea1ce247a1674bf91b9a78a7ce"}};
        static unsigned char varied[100003];
        size_t k, n;
        for (n = 0; n < sizeof varied; n++) varied[n] = (unsigned char)((n * n * 7 + 3 * n + (n >> 8)) & 255);
        for (k = 0; k < sizeof V / sizeof V[0]; k++) {
            sha256_hex(varied, V[k].len, hex);
            CHECK(strcmp(hex, V[k].hex) == 0, "%lu varied bytes: got %s", (unsigned long)V[k].len, hex);
            hash_pieces((const char *)varied, V[k].len, 37, hex);
            CHECK(strcmp(hex, V[k].hex) == 0, "%lu varied bytes in pieces of 37: got %s", (unsigned long)V[k].len, hex);
        }
    }

    /* File hashing: a file holding the 896-bit message and one holding a million 'a'. */
    f = fopen(tmp, "wb");
    if (!f) {
        printf("cannot write %s in the current directory\n", tmp);
        check_failed++;
        return;
    }
    fwrite(MSG896, 1, strlen(MSG896), f);
    fclose(f);
    CHECK(sha256_file_hex(tmp, hex, &err) == 0 && strcmp(hex, H_896) == 0, "file with 896-bit message: got %s", hex);
    f = fopen(tmp, "wb");
    fwrite(million, 1, sizeof million, f);
    fclose(f);
    CHECK(sha256_file_hex(tmp, hex, &err) == 0 && strcmp(hex, H_MILLION_A) == 0, "file of a million 'a': got %s", hex);
    f = fopen(tmp, "wb");
    fclose(f);
    CHECK(sha256_file_hex(tmp, hex, &err) == 0 && strcmp(hex, H_EMPTY) == 0, "empty file: got %s", hex);
    remove(tmp);
    err.msg[0] = '\0';
    CHECK(sha256_file_hex("no/such/file.bin", hex, &err) == -1 && strstr(err.msg, "no/such/file.bin") != NULL,
          "missing file is an error naming it: '%s'", err.msg);
}

int main(void) {
    int accel;
    /* The portable code always; the CPU's SHA instructions too where present. */
    CHECK(sha256_use_accel(0) == 0, "sha256_use_accel(0) must select the portable code");
    run_vectors();
    accel = sha256_use_accel(1);
    if (accel) run_vectors();
    printf("  sha256: portable path tested; SHA-NI path %s\n", accel ? "tested" : "not available on this CPU/compiler");
    return check_done("sha256");
}
