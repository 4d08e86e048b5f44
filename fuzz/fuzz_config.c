/* fuzz_config.c - libFuzzer target for model_load_config (config.json).
 *
 * The input is written to a private config.json. Oracles: no crash or
 * sanitizer report (signed overflow included), a failure names the file, and
 * an accepted config has positive dimensions whose products stay within the
 * limits model.c promises (so later allocations cannot overflow). */
#include "fuzz_common.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ModelConfig cfg;
    Error err = {"", 0};
    const char *path = fuzz_write_file("config.json", data, size);
    if (model_load_config(path, &cfg, &err) != 0) {
        fuzz_check_error(&err, path);
        return 0;
    }
    if (cfg.n_layers <= 0 || cfg.d_model <= 0 || cfg.n_heads <= 0 || cfg.d_head <= 0 || cfg.n_ctx <= 0 ||
        cfg.d_vocab <= 0 || (!cfg.attn_only && cfg.d_mlp <= 0) || !(cfg.eps > 0)) {
        fprintf(stderr, "fuzz_config: accepted a non-positive dimension\n");
        abort();
    }
    if ((double)cfg.d_model * cfg.d_vocab > 2e9 || (double)cfg.n_ctx * cfg.d_model > 2e9 ||
        (double)cfg.n_heads * cfg.d_head * cfg.d_model > 2e9 || (double)cfg.d_model * cfg.d_mlp > 2e9) {
        fprintf(stderr, "fuzz_config: accepted dimensions above the documented limit\n");
        abort();
    }
    if (memchr(cfg.model_name, 0, sizeof cfg.model_name) == NULL || memchr(cfg.act_fn_name, 0, sizeof cfg.act_fn_name) == NULL ||
        memchr(cfg.tokenizer_name, 0, sizeof cfg.tokenizer_name) == NULL) {
        fprintf(stderr, "fuzz_config: unterminated name\n");
        abort();
    }
    return 0;
}
