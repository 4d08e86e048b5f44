/* bench.c - `make bench`: the performance numbers of issue 6 on this machine.
 *
 * Prints: the machine's measured multiply-add peak (1 and 2 threads), GFLOP/s
 * of matmul on each of gelu-4l's matmul shapes (and % of that peak), forward
 * tokens/s on gelu-4l's shape (batch 4 x 1024, random weights in memory) with
 * and without the unembedding and the time share outside the big matmuls
 * (attention and glue), tokenizer MB/s on generated English-like text (when
 * ../shared/data/20B_tokenizer.json is there), model load time and `cleanup all`
 * wall time on synthetic gelu-4l-shaped weights (with --all), and peak RSS.
 *
 * usage: build/bench [--quick] [--all] [--rows N] [--only peak|matmul|forward|tokenizer]
 * Wall-clock timings take the best of several runs: the machine is shared.
 * Not part of `make test`. */
#if defined(__unix__) || defined(__APPLE__)
#define _POSIX_C_SOURCE 200809L
#include <sys/resource.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "model.h"
#include "sha256.h"
#include "tokenizer.h"
#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int quick;
static const char *only = ""; /* --only peak|matmul|forward|tokenizer: one section */

/* CPU seconds of this process (all threads): unlike wall time, not inflated
 * when other programs share the cores. */
static double cpu_seconds(void) {
    return (double)clock() / CLOCKS_PER_SEC;
}

/* ---- machine peak --------------------------------------------------------- */

/* Peak GFLOP/s with nt threads: best of 3 runs of the active kernels' peak
 * loop (kernels_peak_loop: same instruction set as the matmul) on every thread.
 * *cpu_based gets nt x flops / CPU seconds (see cpu_seconds). */
static double peak_gflops(int nt, double *cpu_based) {
    double best = 0, best_cpu = 0;
    const long iters = quick ? 20000000L : 60000000L;
    int r;
    set_thread_count(nt);
    for (r = 0; r < 3; r++) {
        double total = 0, t = now_seconds(), c = cpu_seconds();
        int k;
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : total) schedule(static, 1)
#endif
        for (k = 0; k < nt; k++) total += kernels_peak_loop(iters);
        t = now_seconds() - t;
        c = cpu_seconds() - c;
        if (total / t > best) best = total / t;
        if (total * nt / c > best_cpu) best_cpu = total * nt / c;
    }
    *cpu_based = best_cpu / 1e9;
    return best / 1e9;
}

/* ---- matmul --------------------------------------------------------------- */

static float *rand_floats(size_t n, float scale, unsigned seed) {
    float *p = xalloc_array(n, sizeof(float), "benchmark data");
    size_t i;
    unsigned s = seed * 2654435761u + 1u;
    for (i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        p[i] = scale * (float)((double)(s >> 8) / 8388608.0 - 1.0);
    }
    return p;
}

/* Best GFLOP/s of out = a @ w (+ bias) over repeated runs (about `budget`
 * seconds), by wall time and (*cpu_based) by threads x flops / CPU seconds. */
static double time_matmul(int M, int K, int N, int nt, double budget, double *cpu_based) {
    float *a = rand_floats((size_t)M * K, 1.0f, 1), *w = rand_floats((size_t)K * N, 0.05f, 2);
    float *bias = rand_floats((size_t)N, 0.1f, 3), *out = xalloc_array((size_t)M * N, sizeof(float), "out");
    double best = 1e30, best_cpu = 1e30, start;
    int reps = 0;
    set_thread_count(nt);
    matmul(out, a, w, bias, M, K, N); /* warm up: page in, spin up threads */
    start = now_seconds();
    while (reps < 3 || now_seconds() - start < budget) {
        double t = now_seconds(), c = cpu_seconds();
        matmul(out, a, w, bias, M, K, N);
        t = now_seconds() - t;
        c = cpu_seconds() - c;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
        if (++reps >= 200) break;
    }
    free(a), free(w), free(bias), free(out);
    /* clock() ticks coarsely: trust the CPU figure only for runs of some length */
    *cpu_based = best_cpu > 0.002 ? nt * 2.0 * M * K * N / best_cpu / 1e9 : 0.0;
    return 2.0 * M * K * N / best / 1e9;
}

static void bench_matmul(double peak1, double peak2) {
    static const struct {
        const char *name;
        int M, K, N;
    } shapes[] = {
        {"qkv  (1024x512 @ 512x1536)", 1024, 512, 1536},
        {"W_in (1024x512 @ 512x2048)", 1024, 512, 2048},
        {"W_out (1024x2048 @ 2048x512)", 1024, 2048, 512},
        {"W_O head (1024x64 @ 64x512)", 1024, 64, 512},
        {"unembed (256x512 @ 512x48262)", 256, 512, 48262},
    };
    size_t s;
    printf("\nmatmul GFLOP/s: wall = best wall time; cpu = threads x flops / CPU s; %% of the cpu-based peak\n");
    printf("  %-32s %22s %22s\n", "shape", "1 thread: wall  cpu", "2 threads: wall  cpu");
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double c1, c2;
        double g1 = time_matmul(shapes[s].M, shapes[s].K, shapes[s].N, 1, quick ? 0.2 : 0.6, &c1);
        double g2 = time_matmul(shapes[s].M, shapes[s].K, shapes[s].N, 2, quick ? 0.2 : 0.6, &c2);
        printf("  %-32s %8.1f %6.1f (%3.0f%%) %8.1f %6.1f (%3.0f%%)\n", shapes[s].name, g1, c1, 100 * c1 / peak1, g2, c2,
               100 * c2 / peak2);
        fflush(stdout);
    }
}

/* ---- forward pass ---------------------------------------------------------- */

/* gelu-4l's shape (PROTOCOL section 1), processed (LNPre), random weights. */
static int build_model(Model *m, Error *err) {
    ModelConfig c;
    int l;
    memset(&c, 0, sizeof c);
    c.n_layers = 4, c.d_model = 512, c.n_heads = 8, c.d_head = 64, c.d_mlp = 2048, c.n_ctx = 1024;
    c.d_vocab = 48262, c.act_fn = ACT_GELU, c.normalization = NORM_LNPRE, c.eps = 1e-5f;
    strcpy(c.act_fn_name, "gelu");
    strcpy(c.model_name, "bench-random-gelu-4l-shape");
    if (model_alloc_weights(m, &c, err) != 0) return -1;
    for (l = 0; l < 4; l++) {
        LayerWeights *w = &m->layers[l];
        float *src;
        size_t i, n;
        struct {
            float *p;
            size_t n;
            float scale;
        } parts[12];
        int np = 0, k;
        parts[np].p = w->W_Q, parts[np].n = 8 * 512 * 64, parts[np++].scale = 0.08f;
        parts[np].p = w->W_K, parts[np].n = 8 * 512 * 64, parts[np++].scale = 0.08f;
        parts[np].p = w->W_V, parts[np].n = 8 * 512 * 64, parts[np++].scale = 0.08f;
        parts[np].p = w->W_O, parts[np].n = 8 * 64 * 512, parts[np++].scale = 0.08f;
        parts[np].p = w->b_Q, parts[np].n = 8 * 64, parts[np++].scale = 0.1f;
        parts[np].p = w->b_K, parts[np].n = 8 * 64, parts[np++].scale = 0.1f;
        parts[np].p = w->b_O, parts[np].n = 512, parts[np++].scale = 0.1f;
        parts[np].p = w->W_in, parts[np].n = 512 * 2048, parts[np++].scale = 0.08f;
        parts[np].p = w->b_in, parts[np].n = 2048, parts[np++].scale = 0.1f;
        parts[np].p = w->W_out, parts[np].n = 2048 * 512, parts[np++].scale = 0.04f;
        parts[np].p = w->b_out, parts[np].n = 512, parts[np++].scale = 0.1f;
        for (k = 0; k < np; k++) {
            n = parts[k].n;
            src = rand_floats(n, parts[k].scale, (unsigned)(100 * l + k + 7));
            for (i = 0; i < n; i++) parts[k].p[i] = src[i];
            free(src);
        }
    }
    {
        float *src;
        src = rand_floats((size_t)48262 * 512, 0.5f, 901), memcpy(m->W_E, src, sizeof(float) * 48262 * 512), free(src);
        src = rand_floats((size_t)1024 * 512, 0.2f, 902), memcpy(m->W_pos, src, sizeof(float) * 1024 * 512), free(src);
        src = rand_floats((size_t)512 * 48262, 0.08f, 903), memcpy(m->W_U, src, sizeof(float) * 512 * 48262), free(src);
        src = rand_floats((size_t)48262, 0.1f, 904), memcpy(m->b_U, src, sizeof(float) * 48262), free(src);
    }
    m->processed = 1;
    model_prepare(m);
    return 0;
}

/* Best seconds of one forward pass over `reps` runs. */
static double time_forward(const Model *m, Activations *a, const int *tokens, int B, int T, int logits, int nt, int reps,
                           double *cpu) {
    ForwardOptions o = forward_options_default();
    double best = 1e30, best_cpu = 1e30;
    int r;
    o.compute_logits = logits;
    set_thread_count(nt);
    for (r = 0; r < reps; r++) {
        double t = now_seconds(), c = cpu_seconds();
        model_forward(m, a, tokens, B, T, &o);
        t = now_seconds() - t;
        c = cpu_seconds() - c;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    if (cpu) *cpu = best_cpu;
    return best;
}

/* Seconds of the forward pass's big matmuls, layernorms and gelu run alone at
 * the same shapes (so forward - this = attention, residual adds and copies). */
static double time_dense_parts(int BT, int nt) {
    float *x = rand_floats((size_t)BT * 2048, 1.0f, 5), *y = xalloc_array((size_t)BT * 2048, sizeof(float), "y");
    float *w = rand_floats((size_t)2048 * 1536, 0.05f, 6), *bias = rand_floats(2048, 0.1f, 7);
    double total = 0, t;
    int l;
    set_thread_count(nt);
    matmul(y, x, w, bias, BT, 512, 1536); /* warm up */
    t = now_seconds();
    for (l = 0; l < 4; l++) {
        layernorm(y, NULL, x, NULL, NULL, BT, 512, 1e-5f);
        matmul(y, x, w, bias, BT, 512, 512); /* q */
        matmul(y, x, w, bias, BT, 512, 512); /* k */
        matmul(y, x, w, bias, BT, 512, 512); /* v */
        layernorm(y, NULL, x, NULL, NULL, BT, 512, 1e-5f);
        matmul(y, x, w, bias, BT, 512, 2048); /* W_in */
        gelu_erf(y, (size_t)BT * 2048);
        matmul(y, x, w, bias, BT, 2048, 512); /* W_out */
    }
    layernorm(y, NULL, x, NULL, NULL, BT, 512, 1e-5f);
    total = now_seconds() - t;
    free(x), free(y), free(w), free(bias);
    return total;
}

/* Multiply-adds x 2 per token of a forward pass of m over T positions: the
 * matmuls (q, k, v, W_O, MLP) and causal attention (q.k and pattern.v over
 * (T+1)/2 keys on average), plus the unembedding when with_unembed. */
static double forward_flops_per_token(const ModelConfig *c, int T, int with_unembed) {
    const double D = c->d_model, HD = (double)c->n_heads * c->d_head, M = c->d_mlp;
    const double per_layer = 2 * D * 3 * HD + 2 * HD * D + 2 * 2 * D * M + 2 * 2 * HD * (T + 1) / 2.0;
    return c->n_layers * per_layer + (with_unembed ? 2 * D * c->d_vocab : 0);
}

static void bench_forward(double peak2) {
    Model m;
    Activations a, every;
    HookRequest keep;
    size_t every_row;
    Error err;
    const int B = 4, T = 1024;
    int *tokens, i, nt;
    double t0;
    memset(&m, 0, sizeof m);
    memset(&a, 0, sizeof a);
    printf("\nforward pass, gelu-4l shape (L=4 D=512 H=8 M=2048 V=48262), batch %d x %d, random weights\n", B, T);
    t0 = now_seconds();
    memset(&keep, 0, sizeof keep);
    keep.kinds = HOOK_BIT(HOOK_LOGITS); /* no hooks stored beyond those every run keeps */
    if (build_model(&m, &err) != 0 || activations_alloc(&every, &m, 1, T, 0, 0, &err) != 0) {
        printf("  skipped: %s\n", err.msg);
        return;
    }
    every_row = every.bytes;
    activations_free(&every);
    if (activations_alloc_hooks(&a, &m, B, T, &keep, &err) != 0) {
        printf("  skipped: %s\n", err.msg);
        return;
    }
    printf("  model + activations built in %.2f s (activations %.0f MB with the logits, no other hook\n"
           "  beyond those every run keeps; every hook but scores and logits would take %.0f MB per row)\n",
           now_seconds() - t0, a.bytes / 1048576.0, every_row / 1048576.0);
    tokens = xalloc_array((size_t)B * T, sizeof(int), "tokens");
    for (i = 0; i < B * T; i++) tokens[i] = (int)((i * 7919u + 13u) % 48262u);
    tokens[0] = 1;
    printf("  tok/s = tokens / best wall time; cpu-tok/s = threads x tokens / CPU seconds (what an idle\n"
           "  machine would give if the threads scaled; robust to other programs on the cores)\n");
    printf("  %-8s %15s %15s %15s %15s %10s %24s\n", "threads", "tok/s no unemb", "cpu-tok/s", "tok/s w/ unemb",
           "cpu-tok/s", "forward s", "outside dense kernels");
    for (nt = 1; nt <= 2; nt++) {
        const int reps = quick || nt == 1 ? 1 : 3;
        double tn, tu, td, cn, cu, fn, fu;
        time_forward(&m, &a, tokens, B, T, 0, nt, 1, NULL); /* warm up: page in the activations */
        tn = time_forward(&m, &a, tokens, B, T, 0, nt, reps, &cn);
        tu = time_forward(&m, &a, tokens, B, T, 1, nt, reps, &cu);
        td = time_dense_parts(B * T, nt);
        printf("  %-8d %15.0f %15.0f %15.0f %15.0f %10.3f %16.3f s (%2.0f%%)\n", nt, B * T / tn, nt * B * T / cn,
               B * T / tu, nt * B * T / cu, tn, tn - td, 100 * (tn - td) / tn);
        if (nt == 2) {
            /* issue 6: targets 6000 / 3600 tokens/s; PyTorch 1983 / 1209 tokens/s quoted there */
            fn = forward_flops_per_token(&m.cfg, T, 0) * B * T / tn / 1e9;
            fu = forward_flops_per_token(&m.cfg, T, 1) * B * T / tu / 1e9;
            printf("  2 threads: %.1f / %.1f MFLOP per token (no unembed / with): %.0f / %.0f GFLOP/s = %.0f%% / %.0f%% of\n"
                   "  the 2-thread peak; %.2fx / %.2fx issue 6's targets (6000 / 3600 tok/s), %.2fx / %.2fx the\n"
                   "  PyTorch figures it quotes (1983 / 1209 tok/s; tools/bench_torch.py measures them here)\n",
                   forward_flops_per_token(&m.cfg, T, 0) / 1e6, forward_flops_per_token(&m.cfg, T, 1) / 1e6, fn, fu,
                   100 * fn / peak2, 100 * fu / peak2, B * T / tn / 6000, B * T / tu / 3600, B * T / tn / 1983,
                   B * T / tu / 1209);
        }
        fflush(stdout);
    }
    free(tokens);
    activations_free(&a);
    model_free(&m);
}

/* ---- tokenizer ------------------------------------------------------------- */

static void bench_tokenizer(void) {
    static const char *words[] = {
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
        "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
        "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when",
        "will", "would", "who", "so", "no", "model", "attention", "residual", "stream", "memory", "management",
        "interpretability", "researchers", "Tuesday", "London", "government", "announced", "2023", "1,024",
        "don't", "it's", "network's", "performance", "approximately", "e.g.", "(see", "below)", "\"quoted\"",
    };
    const char *path = "../shared/data/20B_tokenizer.json";
    const size_t target = quick ? 1u << 20 : 4u << 20;
    size_t len = 0, n_ids = 0, nw = sizeof words / sizeof words[0];
    unsigned s = 7;
    char *text;
    int *ids = NULL;
    Tokenizer *tok;
    Error err;
    double t, best = 1e30;
    int r;
    printf("\ntokenizer (1 thread, generated English-like text)\n");
    if (!path_exists(path)) {
        printf("  skipped: %s not found\n", path);
        return;
    }
    tok = tokenizer_load(path, &err);
    if (!tok) {
        printf("  skipped: %s\n", err.msg);
        return;
    }
    text = xalloc_array(target + 64, 1, "text");
    while (len < target) {
        const char *w;
        size_t wl;
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        w = words[s % nw];
        wl = strlen(w);
        memcpy(text + len, w, wl);
        len += wl;
        text[len++] = (s >> 20) % 13 == 0 ? '.' : ' ';
        if ((s >> 12) % 61 == 0) text[len++] = '\n';
    }
    text[len] = 0;
    set_thread_count(1);
    for (r = 0; r < 3; r++) {
        t = now_seconds();
        if (tokenizer_encode(tok, text, len, &ids, &n_ids, &err) != 0) {
            printf("  failed: %s\n", err.msg);
            break;
        }
        t = now_seconds() - t;
        if (t < best) best = t;
        free(ids);
    }
    if (best < 1e30) printf("  %.1f MB in %.3f s: %.1f MB/s, %.2f M tokens/s (%zu tokens)\n", len / 1e6, best, len / 1e6 / best,
                            n_ids / 1e6 / best, n_ids);
    free(text);
    tokenizer_free(tok);
}

/* ---- load time and `cleanup all` ------------------------------------------- */

/* SHA-256 throughput on 64 MB, portable C and (where the CPU has them) the SHA
 * instructions: model load hashes the whole weights file once. */
static void bench_sha256(void) {
    size_t n = (size_t)64 << 20, i;
    unsigned char *b = malloc(n);
    char hex[65];
    int accel;
    if (!b) return;
    for (i = 0; i < n; i++) b[i] = (unsigned char)(i * 2654435761u >> 13);
    for (accel = 0; accel < 2; accel++) {
        double best = 1e30, t;
        int k;
        if (accel && !sha256_use_accel(1)) break;
        sha256_use_accel(accel);
        for (k = 0; k < 3; k++) {
            t = now_seconds();
            sha256_hex(b, n, hex);
            t = now_seconds() - t;
            if (t < best) best = t;
        }
        printf("  SHA-256 %s: %.0f MB/s\n", accel ? "SHA-NI  " : "portable", n / best / 1e6);
    }
    sha256_use_accel(1);
    free(b);
}

static void bench_all(int rows) {
    char cmd[512];
    Model m;
    Error err;
    double t;
    int rc;
    const char *dir = "build/bench-gelu4l";
    /* the binary to run: $CLEANUP (the Makefile passes its build's), else ./cleanup */
    const char *bin = getenv("CLEANUP") && *getenv("CLEANUP") ? getenv("CLEANUP") : "./cleanup";
    printf("\ncleanup all on synthetic gelu-4l-shaped weights (%d rows x 1024)\n", rows);
    snprintf(cmd, sizeof cmd, "%s synth --shape gelu-4l --out %s --rows %d > /dev/null", bin, dir, rows);
    if (system(cmd) != 0) {
        printf("  skipped: '%s' failed\n", cmd);
        return;
    }
    {
        /* Best of 3 (the machine is shared): read + parse + convert + processing
         * + the weights' SHA-256, as `cleanup info` does. */
        double best = 1e30;
        int k;
        for (k = 0; k < 3; k++) {
            memset(&m, 0, sizeof m);
            t = now_seconds();
            if (model_load(dir, NULL, 1, &m, &err) != 0) {
                printf("  load failed: %s\n", err.msg);
                return;
            }
            t = now_seconds() - t;
            if (t < best) best = t;
            model_free(&m);
        }
        printf("  model load (with processing, weights SHA-256%s): %.2f s (best of 3)\n",
               sha256_accelerated() ? " via SHA-NI" : "", best);
        bench_sha256();
    }
    snprintf(cmd, sizeof cmd, "%s all --model %s --n-prompts %d --out build/bench-out --threads 2 > /dev/null", bin, dir,
             rows);
    t = now_seconds();
    rc = system(cmd);
    printf("  cleanup all --n-prompts %d: %.1f s (exit %d)\n", rows, now_seconds() - t, rc);
}

int main(int argc, char **argv) {
    double p1 = 0, p2 = 0;
    int i, all = 0, rows = 8;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: bench [--quick] [--all] [--rows N] [--only peak|matmul|forward|tokenizer]\n");
            return 1;
        }
    }
    {
        const char *why;
        if (kernels_init(&why)) {
            fprintf(stderr, "bench: CLEANUP_SIMD=%s: %s\n", getenv("CLEANUP_SIMD"), why);
            return 1;
        }
    }
    printf("cleanup benchmark (%s, %d threads available; kernels %s, vector width %d floats; CLEANUP_SIMD picks)\n",
#ifdef _OPENMP
           "OpenMP",
#else
           "no OpenMP",
#endif
           thread_count(), kernels_name(), kernels_vector_floats());
    if (!*only || !strcmp(only, "peak") || !strcmp(only, "matmul") || !strcmp(only, "forward")) {
        /* the % of peak figures need it; the tokenizer alone does not */
        double w1 = peak_gflops(1, &p1), w2 = peak_gflops(2, &p2);
        printf("\nmeasured multiply-add peak (GFLOP/s): 1 thread %.1f wall, %.1f cpu; 2 threads %.1f wall, %.1f cpu\n", w1,
               p1, w2, p2);
    }
    fflush(stdout);
    if (!*only || !strcmp(only, "matmul")) bench_matmul(p1, p2);
    if (!*only || !strcmp(only, "forward")) bench_forward(p2);
    if (!*only || !strcmp(only, "tokenizer")) bench_tokenizer();
    if (all) bench_all(rows);
#if defined(__unix__) || defined(__APPLE__)
    {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            printf("\npeak RSS of this benchmark: %.0f MB\n", ru.ru_maxrss / 1024.0); /* KB on Linux */
    }
#endif
    return 0;
}
