/* tokenizer.h - HF tokenizer.json byte-level BPE, id-exact with the HF tokenizers library
 * for the GPT-NeoX family (NFC normalizer, ByteLevel / Digits / Split pre-tokenizers,
 * added tokens). No library; Unicode tables are generated from the UCD (tools/). */
#ifndef CLEANUP_TOKENIZER_H
#define CLEANUP_TOKENIZER_H

#include <stddef.h>
#include "util.h"

typedef struct Tokenizer Tokenizer;

/* Loads tokenizer.json at `path`. Also reads tokenizer_config.json and
 * special_tokens_map.json from the same directory when present, for the BOS,
 * EOS and PAD tokens. Returns NULL and fills err on any problem. */
Tokenizer *tokenizer_load(const char *path, Error *err);
/* Same from tokenizer.json text already in memory (`name` is used in messages); no
 * config files are read, so BOS comes only from a TemplateProcessing post-processor. */
Tokenizer *tokenizer_load_json(const char *text, size_t len, const char *name, Error *err);
void tokenizer_free(Tokenizer *tok);

/* Encodes UTF-8 text (no BOS added). Invalid UTF-8 is an error naming the byte
 * offset. *ids is malloc'ed; free it. */
int tokenizer_encode(Tokenizer *tok, const char *text, size_t len, int **ids, size_t *n_ids, Error *err);
/* Decodes ids to text (byte-exact inverse of encode for valid UTF-8 input).
 * Ids outside the vocabulary are an error. *text is malloc'ed and NUL-terminated. */
int tokenizer_decode(const Tokenizer *tok, const int *ids, size_t n_ids, char **text, size_t *len, Error *err);

/* Number of ids (1 + the largest id in the vocabulary and added tokens). */
int tokenizer_vocab_size(const Tokenizer *tok);
/* Special token ids, or -1 when the tokenizer does not define one. */
int tokenizer_bos_id(const Tokenizer *tok);
int tokenizer_eos_id(const Tokenizer *tok);
int tokenizer_pad_id(const Tokenizer *tok);
/* Overrides the BOS id (--bos ID). */
void tokenizer_set_bos_id(Tokenizer *tok, int id);

/* CLI: `cleanup tokenize ...` and `cleanup detokenize ...` (see --help). Return an exit code. */
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);

#endif
