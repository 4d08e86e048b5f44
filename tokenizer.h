/* tokenizer.h - HF tokenizer.json byte-level BPE, id-exact with the HF tokenizers library
 * for the GPT-NeoX family (NFC normalizer, ByteLevel / Digits / Split pre-tokenizers,
 * added tokens). No library; Unicode tables are generated from the UCD (tools/).
 *
 * Supported: model BPE (vocab; merges as "a b" or ["a","b"]; unk_token, fuse_unk,
 * continuing_subword_prefix, end_of_word_suffix, byte_fallback, ignore_merges);
 * added_tokens (special / normalized / lstrip / rstrip / single_word, matched as HF
 * does); normalizer NFC, NFD, NFKC, NFKD, Sequence; pre_tokenizer ByteLevel
 * (add_prefix_space, use_regex), Digits, Split (literal strings, or the GPT-2 regex),
 * Sequence; decoder ByteLevel or none. Anything else is a load error naming it.
 * Encoding equals HF's encode(text, add_special_tokens=False).
 * A Tokenizer keeps a word cache: do not encode with one Tokenizer from two threads
 * at once (use one Tokenizer per thread). */
#ifndef CLEANUP_TOKENIZER_H
#define CLEANUP_TOKENIZER_H

#include <stddef.h>
#include "util.h"

typedef struct Tokenizer Tokenizer;

/* Loads tokenizer.json at `path`. Also reads special_tokens_map.json and
 * tokenizer_config.json from the same directory when present, for the BOS, EOS and
 * PAD tokens (a string or {"content": ...}; precedence as in transformers:
 * special_tokens_map.json wins unless tokenizer_config.json has
 * "added_tokens_decoder"); without them BOS comes from a TemplateProcessing
 * post-processor. Returns NULL and fills err on any problem. */
Tokenizer *tokenizer_load(const char *path, Error *err);
/* Same from tokenizer.json text already in memory (`name` is used in messages); no
 * config files are read, so BOS comes only from a TemplateProcessing post-processor. */
Tokenizer *tokenizer_load_json(const char *text, size_t len, const char *name, Error *err);
void tokenizer_free(Tokenizer *tok);

/* Encodes UTF-8 text (no BOS added). Invalid UTF-8 is an error naming the byte
 * offset. *ids is malloc'ed; free it. */
int tokenizer_encode(Tokenizer *tok, const char *text, size_t len, int **ids, size_t *n_ids, Error *err);
/* Decodes ids to text (byte-exact inverse of encode for valid UTF-8 input that the
 * normalizer leaves unchanged, e.g. NFC text with an NFC normalizer). Special tokens
 * are included; the bytes are returned as they are (HF would turn an incomplete UTF-8
 * sequence into U+FFFD). Ids outside the vocabulary are an error. *text is malloc'ed
 * and NUL-terminated. */
int tokenizer_decode(const Tokenizer *tok, const int *ids, size_t n_ids, char **text, size_t *len, Error *err);

/* Number of ids (1 + the largest id in the vocabulary and added tokens). */
int tokenizer_vocab_size(const Tokenizer *tok);
/* Special token ids, or -1 when the tokenizer does not define one. */
int tokenizer_bos_id(const Tokenizer *tok);
int tokenizer_eos_id(const Tokenizer *tok);
int tokenizer_pad_id(const Tokenizer *tok);
/* Overrides the BOS id (--bos ID). */
void tokenizer_set_bos_id(Tokenizer *tok, int id);

/* Unicode normalization of UTF-8 text as the tokenizer's normalizers do it; form is
 * "NFC", "NFD", "NFKC" or "NFKD". Invalid UTF-8 is an error. *out is malloc'ed. */
int tokenizer_normalize(const char *form, const char *text, size_t len, char **out, size_t *out_len, Error *err);


#endif
