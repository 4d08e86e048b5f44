/* cli.h - the commands of the cleanup program. Each is cmd_NAME(argc, argv) with
 * argv[0] the command name; it parses its options, calls the library, prints, and
 * returns an exit code (util.h's EXIT_*). Only the CLI files (cleanup.c, cli_*.c)
 * print to stdout or exit; they are not part of the library the tests link. */
#ifndef CLEANUP_CLI_H
#define CLEANUP_CLI_H

/* `cleanup all` and one experiment unit by name (`cleanup fig2`): cli_experiment.c. */
int cmd_experiment(int argc, char **argv);

/* cli_tools.c */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif
