/* fuzz_zip.c - libFuzzer target for the torch.save reader (ZIP container and
 * pickle together): the input is a whole .pth file. Seeds are small valid
 * archives (tools/make_bad_fixtures.py); fuzz_pickle.c reaches the pickle
 * interpreter more directly. Oracle: fuzz_tensors.h. */
#include "fuzz_tensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TensorFile tf;
    Error err = {"", 0};
    if (fuzz_open_tensors("fuzz/model.pth", data, size, &tf, &err) != 0) {
        fuzz_check_error(&err, "fuzz/model.pth: ");
        return 0;
    }
    fuzz_check_tensorfile(&tf);
    tensorfile_close(&tf);
    return 0;
}
