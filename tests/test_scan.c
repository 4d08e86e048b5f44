/* test_scan.c - the scan unit (exp_scan.c) on the exp_model fixture (40 rows x 48):
 *   - scan.L0H{h}.{location}.* equal Fig 1's fig1.L0H{h}.* bit for bit (the same samples);
 *   - compact pairs (16-bit codes): every node x node quantile within the codes' bound of
 *     the exact one (2^-13 below 4 in magnitude, stats.h), the cleaners' summed PR within n x 2^-13 for
 *     n cleaners, the same cleaners, and every other metric equal bit for bit;
 *   - the results do not depend on the thread count;
 *   - compact, the results do not depend on the memory budget either (one pass or the scan
 *     split over several, batches of any size);
 *   - the paper's table holds the 972 published scan values, one per gelu-4l node,
 *     location and quartile, and its L0H2 rows are Fig 1's published values.
 * The values themselves are checked against the float64 PyTorch reference by
 * tests/test_scan.sh (tools/reference_scan.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "experiments.h"
#include "kernels.h"
#include "references.h"

#define MODEL_DIR "tests/fixtures/models/exp_model"

/* The scan (and which) with pairs (SCAN_PAIRS_*) and budget max_memory (0: the default); mem (may
 * be NULL) gets how the run used it. */
static int run_with(const Model *m, const Dataset *ds, unsigned which, int pairs, size_t max_memory, Results *res,
                    ExpMemory *mem) {
    ExpInputs in;
    ExpHeads hd;
    Error err;
    int c;
    memset(&in, 0, sizeof in);
    memset(&hd, 0, sizeof hd);
    hd.writer_layer = 0;
    hd.writer_head = 2;
    hd.patched_layer = 2;
    hd.n_cleaners = 6;
    for (c = 0; c < 6; c++) hd.cleaners[c] = 2 + c;
    in.model = m;
    in.data = ds;
    in.heads = &hd;
    in.scan_pairs = pairs;
    in.max_memory = max_memory;
    in.memory = mem;
    results_init(res);
    if (experiments_run(&in, which, res, NULL, &err)) {
        printf("  experiments_run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int run(const Model *m, const Dataset *ds, unsigned which, int pairs, Results *res) {
    return run_with(m, ds, which, pairs, 0, res, NULL);
}

/* 1 if name is a node x node pair metric scan.{w}.{n}.{stat} (n a node, not a location). */
static int is_pair_metric(const char *name) {
    const char *p = strchr(name + 5, '.');
    return strncmp(name, "scan.", 5) == 0 && p && (p[1] == 'L' || p[1] == 'M') && strstr(name, "cleaners") == NULL;
}

static void test_fixture(void) {
    Model m;
    Dataset ds;
    Error err;
    Results exact, compact, two;
    char **paths;
    int n_paths, i, n_pairs = 0, n_sums = 0, n_equal = 0;
    double worst = 0, worst_sum = 0;
    if (model_load(MODEL_DIR, NULL, 1, &m, &err) || data_find_files(MODEL_DIR, &paths, &n_paths, &err) ||
        data_load_files(paths, n_paths, 40, 48, m.cfg.n_ctx, m.cfg.d_vocab, NULL, &ds, &err)) {
        CHECK(0, "loading %s: %s", MODEL_DIR, err.msg);
        return;
    }
    set_thread_count(1);
    CHECK(run(&m, &ds, EXP_SCAN | EXP_FIG1, SCAN_PAIRS_EXACT, &exact) == 0, "exact run");
    CHECK(run(&m, &ds, EXP_SCAN, SCAN_PAIRS_COMPACT, &compact) == 0, "compact run");
    set_thread_count(2);
    CHECK(run(&m, &ds, EXP_SCAN, SCAN_PAIRS_EXACT, &two) == 0, "2-thread run");
    for (i = 0; i < exact.count; i++) {
        const char *name = exact.items[i].name;
        double v = exact.items[i].value, b, t;
        if (strncmp(name, "fig1.", 5) == 0) {
            char key[256];
            snprintf(key, sizeof key, "scan.%s", name + 5);
            if (!ends_with(name, ".n_nan")) {
                CHECK(results_get(&exact, key, &b) && (b == v || (isnan(b) && isnan(v))), "%s = %g, %s = %g", key, b,
                      name, v);
                n_equal++;
            }
            continue;
        }
        if (strncmp(name, "scan.", 5) != 0) continue;
        CHECK(results_get(&two, name, &t) && (t == v || (isnan(t) && isnan(v))), "%s: 1 thread %.9g, 2 threads %.9g",
              name, v, t);
        if (strcmp(name, "scan.pairs_exact") == 0 || strcmp(name, "scan.n_nan") == 0) continue;
        if (!results_get(&compact, name, &b)) {
            CHECK(0, "%s missing from the compact run", name);
            continue;
        }
        if (is_pair_metric(name)) {
            /* each order statistic moves by at most half a code step: 2^-13 below 4, 2^-12 below 8, 2^-10
             * relative above */
            double bound = fabs(v) < 3.99 ? 0x1p-13 : fabs(v) < 7.99 ? 0x1p-12 : 0x1p-10 * (fabs(v) + 1);
            if (fabs(b - v) > worst) worst = fabs(b - v);
            CHECK(fabs(b - v) <= bound * (1 + 1e-6), "%s: compact %.9g, exact %.9g (bound %.3g)", name, b, v, bound);
            n_pairs++;
        } else if (strstr(name, ".cleaners_sum.")) {
            /* n cleaners' codes, each within 2^-13 (their values are below 4 here), and the sum's float rounding */
            char key[256];
            double n_c = 0;
            snprintf(key, sizeof key, "%.*s.n_cleaners", (int)(strstr(name, ".cleaners_sum.") - name), name);
            CHECK(results_get(&exact, key, &n_c) && n_c >= 1, "%s: %s", name, key);
            if (fabs(b - v) > worst_sum) worst_sum = fabs(b - v);
            CHECK(fabs(b - v) <= n_c * 0x1p-13 + 1e-6 * (1 + fabs(v)), "%s: compact %.9g, exact %.9g (%g cleaners)", name,
                  b, v, n_c);
            n_sums++;
        } else {
            /* everything else (the resid x node series, the cleaners chosen, the ranking) bit for bit */
            CHECK(b == v || (isnan(b) && isnan(v)), "%s: compact run %.9g, exact run %.9g (not a pair metric)", name, b,
                  v);
        }
    }
    printf("  %d fig1 metrics equal to scan's; %d pair quantiles compact vs exact: largest difference %.3g; %d summed-PR "
           "quantiles: largest difference %.3g\n",
           n_equal, n_pairs, worst, n_sums, worst_sum);
    CHECK(n_equal == 8 * 9 * 5, "fig1 metrics compared: %d", n_equal);
    CHECK(n_pairs > 1000, "pair metrics compared: %d", n_pairs);
    CHECK(n_sums >= 3 * 20, "summed-PR metrics compared: %d (the fixture has over 20 writers with cleaners)", n_sums);
    CHECK(worst > 0, "the compact run's pair quantiles differ from the exact ones somewhere (else nothing was coded)");
    CHECK(results_get(&compact, "scan.pairs_exact", &worst) && worst == 0, "the compact run says it is not exact");
    results_free(&exact);
    results_free(&compact);
    results_free(&two);
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    data_free(&ds);
    model_free(&m);
}

/* Compact pairs under budgets that split the scan over several passes over the rows and batch the
 * rows differently: every metric equals the one-pass run's bit for bit. */
static void test_budgets(void) {
    /* 19 MB and 21 MB: the scan split over several passes (7 and 2 today), one-row batches */
    static const size_t budgets[] = {(size_t)1 << 30, 0, (size_t)19 << 20, (size_t)21 << 20};
    Model m;
    Dataset ds;
    Error err;
    Results want, got;
    ExpMemory mem;
    char **paths;
    int n_paths, i, c, max_passes = 0;
    if (model_load(MODEL_DIR, NULL, 1, &m, &err) || data_find_files(MODEL_DIR, &paths, &n_paths, &err) ||
        data_load_files(paths, n_paths, 40, 48, m.cfg.n_ctx, m.cfg.d_vocab, NULL, &ds, &err)) {
        CHECK(0, "loading %s: %s", MODEL_DIR, err.msg);
        return;
    }
    set_thread_count(2);
    memset(&mem, 0, sizeof mem);
    CHECK(run_with(&m, &ds, EXP_SCAN, SCAN_PAIRS_COMPACT, budgets[0], &want, &mem) == 0 && mem.passes == 1,
          "compact run in 1 GB: %d passes", mem.passes);
    for (c = 1; c < (int)(sizeof budgets / sizeof budgets[0]); c++) {
        int n = 0, n_diff = 0;
        memset(&mem, 0, sizeof mem);
        if (run_with(&m, &ds, EXP_SCAN, SCAN_PAIRS_COMPACT, budgets[c], &got, &mem)) {
            CHECK(0, "compact run, budget %lu", (unsigned long)budgets[c]);
            continue;
        }
        for (i = 0; i < want.count; i++) {
            double b;
            n++;
            n_diff += !(results_get(&got, want.items[i].name, &b) &&
                        (b == want.items[i].value || (isnan(b) && isnan(want.items[i].value))));
        }
        printf("  compact, budget %lu MB (0: default): %d passes, batch %d rows: %d of %d metrics differ\n",
               (unsigned long)(budgets[c] >> 20), mem.passes, mem.batch_rows, n_diff, n);
        CHECK(n_diff == 0 && n == got.count, "budget %lu: %d of %d metrics differ (%d in the one-pass run)",
              (unsigned long)budgets[c], n_diff, got.count, n);
        if (mem.passes > max_passes) max_passes = mem.passes;
        results_free(&got);
    }
    CHECK(max_passes > 1, "some budget split the scan (at most %d passes)", max_passes);
    results_free(&want);
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    data_free(&ds);
    model_free(&m);
}

static void test_paper_table(void) {
    size_t n, i, n_scan = 0;
    const RefCheck *c = paper_checks_table(&n);
    int l, h, k, q, missing = 0, n_fig1 = 0;
    static const char *const locs[9] = {"resid_pre0", "resid_mid0", "resid_post0", "resid_mid1", "resid_post1",
                                        "resid_mid2", "resid_post2", "resid_mid3", "resid_post3"};
    static const char *const stats[3] = {"q25", "median", "q75"};
    for (i = 0; i < n; i++) n_scan += strncmp(c[i].metric, "scan.", 5) == 0;
    CHECK(n_scan == 972, "%lu scan checks in the paper's table, not 972", (unsigned long)n_scan);
    for (l = 0; l < 4; l++)
        for (h = 0; h <= 8; h++)
            for (k = 0; k < 9; k++)
                for (q = 0; q < 3; q++) {
                    char name[96], node[16];
                    size_t j;
                    int found = 0;
                    if (h < 8) snprintf(node, sizeof node, "L%dH%d", l, h);
                    else snprintf(node, sizeof node, "MLP%d", l);
                    snprintf(name, sizeof name, "scan.%s.%s.%s", node, locs[k], stats[q]);
                    for (j = 0; j < n; j++)
                        if (strcmp(c[j].metric, name) == 0) {
                            found++;
                            CHECK(c[j].tolerance == 0.03, "%s tolerance %g", name, c[j].tolerance);
                            CHECK(c[j].precision == 1e-7 && c[j].sigmas == REF_SIGMAS_SCAN,
                                  "%s: sampling-aware with the plot data's precision 1e-7 and %g SE (%g, %g)", name,
                                  REF_SIGMAS_SCAN, c[j].precision, c[j].sigmas);
                            if (l == 0 && h == 2) {
                                size_t f;
                                for (f = 0; f < n; f++)
                                    if (strcmp(c[f].metric + 4, name + 4) == 0 && strncmp(c[f].metric, "fig1", 4) == 0) {
                                        CHECK(fabs(c[f].expected - c[j].expected) < 1e-4, "%s %g vs %s %g", name,
                                              c[j].expected, c[f].metric, c[f].expected);
                                        n_fig1++;
                                    }
                            }
                        }
                    if (found != 1) missing++;
                }
    CHECK(missing == 0, "%d gelu-4l scan values missing or listed twice", missing);
    CHECK(n_fig1 == 27, "L0H2 scan values compared with Fig 1's: %d", n_fig1);
}

int main(void) {
    const char *why;
    if (kernels_init(&why)) {
        printf("  kernels_init (CLEANUP_SIMD, CLEANUP_BF16): %s\n", why);
        return 1;
    }
    test_paper_table();
    test_fixture();
    test_budgets();
    return check_done("test_scan");
}
