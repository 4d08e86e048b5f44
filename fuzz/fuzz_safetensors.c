/* fuzz_safetensors.c - libFuzzer target for the safetensors reader: the input
 * is a whole .safetensors file (8-byte header length, JSON header, data).
 * Oracle: fuzz_tensors.h. */
#include "fuzz_tensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TensorFile tf;
    Error err = {"", 0};
    if (fuzz_open_tensors("fuzz/model.safetensors", data, size, &tf, &err) != 0) {
        fuzz_check_error(&err, "fuzz/model.safetensors: ");
        return 0;
    }
    fuzz_check_tensorfile(&tf);
    tensorfile_close(&tf);
    return 0;
}
