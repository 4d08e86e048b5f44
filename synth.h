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

typedef enum { SYNTH_PLANTED, SYNTH_GELU4L } SynthShape;

typedef struct {
    SynthShape shape;
    uint64_t seed;   /* 0 is the default seed of the bundled model */
    int rows;        /* data.jsonl rows (each n_ctx tokens, starting with BOS) */
} SynthOptions;

/* Writes the model described by opt into out_dir (created if needed). Every
 * file is written atomically. Returns 0, or -1 with err. */
int synth_write(const char *out_dir, const SynthOptions *opt, Error *err);

/* 1 if a config's model_name identifies the bundled planted model. */
int synth_is_planted(const char *model_name);

#endif
