/* cleanup.c - the command line: `cleanup COMMAND [options]`.
 *
 * Each command is a function cmd_NAME(argc, argv) that returns an exit code;
 * argv[0] is the command name. This file only dispatches and prints help.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "report.h"
#include "util.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"run", cmd_run, "run a model on tokens or text and write hook activations"},
    {"info", cmd_info, "describe a model directory: config, parameters, checksums, processing"},
    {"verify", cmd_verify, "re-check an output directory (default out/) against its SHA256SUMS"},
};

static void print_help(FILE *f) {
    size_t i;
    fprintf(f,
            "cleanup - reproduce \"An adversarial example for Direct Logit Attribution:\n"
            "memory management in gelu-4l\" (Dao, Lau, Rager, Janiak, 2023) in portable C.\n"
            "\n"
            "usage: cleanup COMMAND [options]      cleanup COMMAND --help for details\n"
            "\n"
            "commands:\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "exit codes:\n"
            "  0 success   1 bad command line   2 bad or missing input file\n"
            "  3 cannot write output   4 verify found a mismatch   5 out of memory / internal limit\n");
}

int main(int argc, char **argv) {
    size_t i;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cleanup: unknown command '%s' (try cleanup --help)\n", argv[1]);
    return EXIT_USAGE;
}
