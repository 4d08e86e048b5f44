/* cleanup.c - the command line: `cleanup COMMAND [options]`.
 *
 * Each command is a function cmd_NAME(argc, argv) that returns an exit code;
 * argv[0] is the command name (cli.h). This file only dispatches and prints help;
 * the commands live in cli_experiment.c and cli_tools.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "experiments.h"
#include "kernels.h"
#include "util.h"
#include "version.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

/* Besides these, every experiment unit is a command of its own name (cmd_experiment). */
static const Command commands[] = {
    {"all", cmd_experiment, "run every experiment: results.tsv, figures, report.md"},
    {"run", cmd_run, "run a model on tokens or text and write hook activations"},
    {"info", cmd_info, "describe a model directory: config, parameters, checksums, processing"},
    {"tokenize", cmd_tokenize, "text -> token ids with an HF tokenizer.json (byte-level BPE)"},
    {"detokenize", cmd_detokenize, "token ids -> text, byte-exact"},
    {"synth", cmd_synth, "write the bundled planted model (or random gelu-4l-shaped weights)"},
    {"verify", cmd_verify, "re-check an output directory (default out/) against its SHA256SUMS"},
    {"compare", cmd_compare, "check a run's results.tsv against another run or a reference file"},
};

static void print_help(FILE *f) {
    size_t i;
    const Experiment *const *units;
    int k, n_units;
    fprintf(f,
            "cleanup - reproduce \"An adversarial example for Direct Logit Attribution:\n"
            "memory management in gelu-4l\" (Dao, Lau, Rager, Janiak, 2023) in portable C.\n"
            "\n"
            "usage: cleanup COMMAND [options]      cleanup COMMAND --help for details\n"
            "       cleanup --version\n"
            "\n"
            "commands:\n");
    fprintf(f, "  %-12s %s\n", commands[0].name, commands[0].summary);
    units = experiment_list(&n_units);
    for (k = 0; k < n_units; k++) fprintf(f, "  %-12s %s\n", units[k]->name, units[k]->summary);
    for (i = 1; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "environment:\n"
            "  CLEANUP_SIMD  auto (default): the widest kernels the CPU and OS run - avx512, else avx2\n"
            "                (AVX2+FMA), else baseline; baseline, avx2 or avx512 to choose (refused if the\n"
            "                machine lacks it; results may differ in the last bits; run.txt says which)\n"
            "  CLEANUP_BF16  auto (default): Section 3.2's top-2 logits screened in bfloat16 where the\n"
            "                CPU has AVX512_BF16 (the same results); off: every logit in float;\n"
            "                portable: the screening in plain C (slow; for tests)\n"
            "\n"
            "exit codes:\n"
            "  0 success   1 bad command line   2 bad or missing input file\n"
            "  3 cannot write output   4 verify found a mismatch   5 out of memory / internal limit\n"
            "  6 a check against the reference values failed or is missing (the outputs are complete)\n");
}

/* The command named name, or NULL. */
static int (*find_command(const char *name))(int, char **) {
    size_t i;
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run;
    if (experiment_find(name, NULL)) return cmd_experiment;
    return NULL;
}

int main(int argc, char **argv) {
    int (*run)(int, char **);
    const char *why;
    int rc;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("cleanup %s\n", cleanup_version());
        return EXIT_OK;
    }
    run = find_command(argv[1]);
    if (!run) {
        fprintf(stderr, "cleanup: unknown command '%s' (try cleanup --help)\n", argv[1]);
        return EXIT_USAGE;
    }
    rc = kernels_init(&why);
    if (rc) {
        const char *var = rc == -2 ? "CLEANUP_BF16" : "CLEANUP_SIMD";
        fprintf(stderr, "cleanup: %s=%s: %s\n", var, getenv(var), why);
        return EXIT_USAGE;
    }
    rc = run(argc - 1, argv + 1);
    /* Output that could not be written (disk full, /dev/full) must not look like success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cleanup: standard output: write error\n");
        return rc != EXIT_OK ? rc : EXIT_IO;
    }
    return rc;
}
