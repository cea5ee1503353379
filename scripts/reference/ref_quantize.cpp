// ref_quantize: llama.cpp's own quantizer (llama_model_quantize with the default
// parameters, as the llama-quantize tool uses them without options).
// Usage: ref_quantize IN.gguf OUT.gguf TYPE   (TYPE: Q4_K_M, Q8_0, Q4_0, Q6_K, Q5_K_M, F16)
#include "llama.h"
#include <cstdio>
#include <cstring>

int main(int argc, char ** argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s IN OUT TYPE\n", argv[0]); return 2; }
    struct { const char * name; llama_ftype ftype; } types[] = {
        {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
        {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
        {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"F16", LLAMA_FTYPE_MOSTLY_F16},
    };
    llama_model_quantize_params p = llama_model_quantize_default_params();
    bool found = false;
    for (auto & t : types) if (!strcmp(t.name, argv[3])) { p.ftype = t.ftype; found = true; }
    if (!found) { fprintf(stderr, "unknown type %s\n", argv[3]); return 2; }
    p.nthread = 2;
    llama_backend_init();
    uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    if (rc) { fprintf(stderr, "llama_model_quantize failed (%u)\n", rc); return 1; }
    return 0;
}
