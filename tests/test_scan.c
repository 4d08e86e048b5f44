/* test_scan.c - the scan unit (exp_scan.c) on the exp_model fixture (40 rows x 48):
 *   - scan.L0H{h}.{location}.* equal Fig 1's fig1.L0H{h}.* bit for bit (the same samples);
 *   - the binned node x node quantiles agree with the exact ones within 1e-3 (their bound
 *     is one bin, 2^-11); with binned pairs the cleaners' summed PR and every other metric
 *     equal the exact run's bit for bit;
 *   - the results do not depend on the thread count;
 *   - binned, the cleaners' summed PR is the exact run's bit for bit whether it comes from
 *     the candidate cleaners' stores, the second pass, or both (the pass over the first rows
 *     only; stores started at the pilot or at a review on the way), and the run's counts
 *     (ExpMemory, run.txt) say which (a budget with room for every candidate: no pass);
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

/* The scan (and which) with pairs (SCAN_PAIRS_*), the candidates knob (ExpInputs.scan_candidates) and
 * budget max_memory (0: the default); mem (may be NULL) gets how the run used it. */
static int run_with(const Model *m, const Dataset *ds, unsigned which, int pairs, int candidates, size_t max_memory,
                    Results *res, ExpMemory *mem) {
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
    in.scan_candidates = candidates;
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
    return run_with(m, ds, which, pairs, 0, 0, res, NULL);
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
    Results exact, binned, two;
    char **paths;
    int n_paths, i, n_pairs = 0, n_sums = 0, n_equal = 0;
    double worst = 0;
    if (model_load(MODEL_DIR, NULL, 1, &m, &err) || data_find_files(MODEL_DIR, &paths, &n_paths, &err) ||
        data_load_files(paths, n_paths, 40, 48, m.cfg.n_ctx, m.cfg.d_vocab, NULL, &ds, &err)) {
        CHECK(0, "loading %s: %s", MODEL_DIR, err.msg);
        return;
    }
    set_thread_count(1);
    CHECK(run(&m, &ds, EXP_SCAN | EXP_FIG1, SCAN_PAIRS_EXACT, &exact) == 0, "exact run");
    CHECK(run(&m, &ds, EXP_SCAN, SCAN_PAIRS_BINNED, &binned) == 0, "binned run");
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
        if (!results_get(&binned, name, &b)) {
            CHECK(0, "%s missing from the binned run", name);
            continue;
        }
        if (is_pair_metric(name)) {
            if (fabs(b - v) > worst) worst = fabs(b - v);
            CHECK(fabs(b - v) <= 1e-3, "%s: binned %.9g, exact %.9g", name, b, v);
            n_pairs++;
        } else {
            /* everything else, the cleaners' summed PR included (binned: from candidates or a second
             * pass), bit for bit */
            CHECK(b == v || (isnan(b) && isnan(v)), "%s: binned run %.9g, exact run %.9g (not a pair metric)", name, b, v);
            if (strstr(name, "cleaners_sum.")) n_sums++;
        }
    }
    printf("  %d fig1 metrics equal to scan's; %d pair quantiles binned vs exact: largest difference %.3g; %d summed-PR "
           "quantiles of the binned run equal to the exact run's\n",
           n_equal, n_pairs, worst, n_sums);
    CHECK(n_equal == 8 * 9 * 5, "fig1 metrics compared: %d", n_equal);
    CHECK(n_pairs > 1000, "pair metrics compared: %d", n_pairs);
    CHECK(n_sums >= 3 * 20, "summed-PR metrics compared: %d (the fixture has over 20 writers with cleaners)", n_sums);
    CHECK(results_get(&binned, "scan.pairs_exact", &worst) && worst == 0, "the binned run says it is binned");
    results_free(&exact);
    results_free(&binned);
    results_free(&two);
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    data_free(&ds);
    model_free(&m);
}

/* The number of scan.{w}.cleaners_sum.* metrics of want, each checked equal in got bit for bit. */
static int same_sums(const Results *want, const Results *got, const char *what) {
    int i, n = 0;
    for (i = 0; i < want->count; i++) {
        const char *name = want->items[i].name;
        double v = want->items[i].value, b;
        if (strncmp(name, "scan.", 5) != 0 || !strstr(name, ".cleaners_sum.")) continue;
        CHECK(results_get(got, name, &b) && (b == v || (isnan(b) && isnan(v))), "%s: %s %.9g, exact run %.9g", name,
              what, b, v);
        n++;
    }
    return n;
}

/* Binned pairs: the cleaners' summed PR from the candidate cleaners' stores, from the second pass, or
 * from both (the pass over the first rows, the stores for the others) equals the exact run's bit for
 * bit, and the run says which way it went. */
static void test_candidates(void) {
    static const struct {
        int candidates;
        size_t max_memory;
        const char *what;
    } cases[] = {
        {0, (size_t)1 << 30, "1 GB budget, candidates"},
        {0, 0, "default budget (several passes), candidates"},
        {-1, (size_t)1 << 30, "no candidates (second pass)"},
        {1, (size_t)110 << 20, "candidates without the pilot's rows (110 MB budget)"},
        /* smaller batches: candidates reviewed on the way, stores started after row 0 */
        {0, (size_t)76 << 20, "76 MB budget, candidates"},
        {0, (size_t)96 << 20, "96 MB budget, candidates"},
    };
    Model m;
    Dataset ds;
    Error err;
    Results exact, got;
    ExpMemory mem;
    char **paths;
    int n_paths, i, c, n_writers = 0;
    if (model_load(MODEL_DIR, NULL, 1, &m, &err) || data_find_files(MODEL_DIR, &paths, &n_paths, &err) ||
        data_load_files(paths, n_paths, 40, 48, m.cfg.n_ctx, m.cfg.d_vocab, NULL, &ds, &err)) {
        CHECK(0, "loading %s: %s", MODEL_DIR, err.msg);
        return;
    }
    set_thread_count(2);
    CHECK(run(&m, &ds, EXP_SCAN, SCAN_PAIRS_EXACT, &exact) == 0, "exact run");
    for (i = 0; i < exact.count; i++)
        n_writers += ends_with(exact.items[i].name, ".n_cleaners") && exact.items[i].value > 0;
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        int n;
        memset(&mem, 0, sizeof mem);
        if (run_with(&m, &ds, EXP_SCAN, SCAN_PAIRS_BINNED, cases[c].candidates, cases[c].max_memory, &got, &mem)) {
            CHECK(0, "%s: binned run", cases[c].what);
            continue;
        }
        n = same_sums(&exact, &got, cases[c].what);
        printf("  %s: %d summed-PR quantiles equal to the exact run's; %d passes, %d candidates kept, %d writers "
               "summed from them, %d by a second pass over %d rows\n",
               cases[c].what, n, mem.passes, mem.scan_candidates, mem.scan_sums_from_candidates,
               mem.scan_sums_second_pass, mem.scan_second_pass_rows);
        CHECK(n == 3 * n_writers && n >= 60, "%s: %d summed-PR quantiles for %d writers with cleaners", cases[c].what,
              n, n_writers);
        CHECK(mem.scan_sums_from_candidates + mem.scan_sums_second_pass == n_writers, "%s: %d + %d writers, want %d",
              cases[c].what, mem.scan_sums_from_candidates, mem.scan_sums_second_pass, n_writers);
        switch (c) {
        case 0: /* room for every listed candidate, the whole run as pilot: no second pass */
            CHECK(mem.passes == 1 && mem.scan_sums_second_pass == 0 && mem.scan_second_pass_rows == 0,
                  "%s: a second pass (%d writers over %d rows)", cases[c].what, mem.scan_sums_second_pass,
                  mem.scan_second_pass_rows);
            break;
        case 1:
            CHECK(mem.passes > 1 && mem.scan_candidates > 0 && mem.scan_sums_from_candidates > n_writers / 2,
                  "%s: %d passes, %d writers from the candidates", cases[c].what, mem.passes,
                  mem.scan_sums_from_candidates);
            break;
        case 2:
            CHECK(mem.scan_candidates == 0 && mem.scan_sums_second_pass == n_writers && mem.scan_second_pass_rows == 40,
                  "%s: %d candidates, %d writers by the pass over %d rows", cases[c].what, mem.scan_candidates,
                  mem.scan_sums_second_pass, mem.scan_second_pass_rows);
            break;
        case 3: /* the pass over the pilot's rows, the stores for the rest */
            CHECK(mem.scan_sums_second_pass > 0 && mem.scan_second_pass_rows > 0 && mem.scan_second_pass_rows < 40,
                  "%s: %d writers by a pass over %d rows", cases[c].what, mem.scan_sums_second_pass,
                  mem.scan_second_pass_rows);
            break;
        default: /* whichever way: the values above */
            break;
        }
        results_free(&got);
    }
    results_free(&exact);
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
        printf("  CLEANUP_SIMD: %s\n", why);
        return 1;
    }
    test_paper_table();
    test_fixture();
    test_candidates();
    return check_done("test_scan");
}
