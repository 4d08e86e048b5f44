/* synth.h - models `cleanup` builds itself: the bundled planted model (the
 * default model of `cleanup all` when gelu-4l is absent) and random weights of
 * gelu-4l's exact shapes (for benchmarks and scale tests).
 *
 * Both are written in the published formats the loader reads (Neel-style
 * config.json, model.safetensors, data.jsonl rows; the planted model also gets
 * its own HF tokenizer.json, tokenizer_config.json and special_tokens_map.json).
 * Output is a pure function of (shape, seed, rows): the weights come from
 * integer PRNG streams and IEEE + - * / sqrt only, so the bytes are the same on
 * every IEEE-754 platform.
 */
#ifndef CLEANUP_SYNTH_H
#define CLEANUP_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* config.json "model_name" of the planted model. */
#define SYNTH_PLANTED_NAME "cleanup-planted"
/* config.json "model_name" of the random gelu-4l-shaped weights (deliberately
 * not gelu-4l's name: the paper's reference values must not be checked on it). */
#define SYNTH_RANDOM_NAME "cleanup-random-gelu-4l-shape"

/* config.json "model_name" of a planted model with the circuit elsewhere (SynthPlant):
 * not the bundled model, so its expectations are not checked on it. */
#define SYNTH_VARIANT_NAME "cleanup-planted-variant"

typedef enum { SYNTH_PLANTED, SYNTH_GELU4L } SynthShape;

/* Where a planted variant puts the circuit: the writer head, the cleaner heads (all in
 * clean_layer > writer_layer, equal shares of the same total gain as the bundled
 * model's), and whether the model is attention-only (no MLPs, no ln2). */
#define SYNTH_MAX_CLEANERS 8
typedef struct {
    int writer_layer, writer_head;
    int clean_layer, n_cleaners;
    int cleaners[SYNTH_MAX_CLEANERS];
    int attn_only;
} SynthPlant;

/* The planted model's shape, for checking a SynthPlant's heads. */
#define SYNTH_PLANTED_LAYERS 4
#define SYNTH_PLANTED_HEADS 8

/* Data rows of a synthesized model by default (`cleanup synth`, the bundled model). */
#define SYNTH_DEFAULT_ROWS 300

typedef struct {
    SynthShape shape;
    uint64_t seed;   /* 0 is the default seed of the bundled model */
    int rows;        /* data.jsonl rows (each n_ctx tokens, starting with BOS) */
    const SynthPlant *plant; /* SYNTH_PLANTED: NULL for the bundled model's circuit (L0H2 ->
                                L2H2..L2H7), else a variant (model_name SYNTH_VARIANT_NAME) */
} SynthOptions;

/* One file of a synthesized model, in memory. */
#define SYNTH_MAX_FILES 8
typedef struct {
    char name[32];        /* "config.json", "model.safetensors", ... */
    unsigned char *data;  /* malloc'ed */
    size_t len;
} SynthFile;

/* The files of a model (config.json last), as synth_write writes them. */
typedef struct {
    SynthFile files[SYNTH_MAX_FILES];
    int count;
} SynthFiles;

/* Builds the files of the model described by opt in memory: byte for byte what
 * synth_write writes. Returns 0, or -1 with err (files is then empty). */
int synth_build(const SynthOptions *opt, SynthFiles *files, Error *err);
void synth_files_free(SynthFiles *files);

/* Writes the model described by opt into out_dir (created if needed): synth_build,
 * then every file atomically, config.json last. Returns 0, or -1 with err. */
int synth_write(const char *out_dir, const SynthOptions *opt, Error *err);

/* Checks a variant's heads fit the planted model (one line in err, EXIT_USAGE). */
int synth_plant_check(const SynthPlant *p, Error *err);

/* 1 if a config's model_name identifies the bundled planted model. */
int synth_is_planted(const char *model_name);

#endif
