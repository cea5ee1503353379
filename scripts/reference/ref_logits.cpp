// ref_logits: llama.cpp (CPU) reference for one GGUF file and one prompt.
// Usage: ref_logits MODEL.gguf PROMPT_FILE N_GREEDY
// Tokenizes the prompt with llama.cpp (special tokens parsed; BOS only if the
// file's tokenizer.ggml.add_bos_token says so), decodes it in one batch, prints
// JSON {"prompt_ids":[...],"logits":[every logit at the last prompt position],
// "greedy_ids":[N greedy ids]} on stdout. Greedy: argmax of the current logits,
// fed back one token at a time, N steps, no EOS stop. KV cache f16 (default),
// flash attention disabled, n_ctx 256 (one sequence), 2 threads.
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static void quiet(enum ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static int argmax(const float * v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

int main(int argc, char ** argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s MODEL PROMPT_FILE N_GREEDY\n", argv[0]); return 2; }
    std::ifstream f(argv[2], std::ios::binary);
    std::stringstream ss; ss << f.rdbuf();
    const std::string prompt = ss.str();
    const int n_greedy = atoi(argv[3]);

    llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "failed to load %s\n", argv[1]); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    std::vector<llama_token> ids(prompt.size() + 16);
    int n = llama_tokenize(vocab, prompt.data(), (int) prompt.size(), ids.data(), (int) ids.size(),
                           llama_vocab_get_add_bos(vocab), /*parse_special*/ true);
    if (n < 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    ids.resize(n);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_ubatch = 256;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    // Flash attention off: this reproduces /work/shared/reference/tiny/*.json to 1e-5
    // (with it on, the quantized-file logits move by up to ~0.3).
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    // Diagnostic only (not used for the committed references): REF_KV_F32=1 keeps
    // the KV cache in f32, to see how far f16 K/V rounding alone moves the logits.
    if (getenv("REF_KV_F32")) { cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; }
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "failed to create context\n"); return 1; }

    std::vector<llama_token> cur = ids;
    if (llama_decode(ctx, llama_batch_get_one(cur.data(), (int) cur.size()))) { fprintf(stderr, "decode failed\n"); return 1; }
    std::vector<float> logits(llama_get_logits_ith(ctx, -1), llama_get_logits_ith(ctx, -1) + n_vocab);
    std::vector<int> greedy;
    for (int s = 0; s < n_greedy; s++) {
        llama_token t = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
        greedy.push_back(t);
        if (s + 1 == n_greedy) break;
        if (llama_decode(ctx, llama_batch_get_one(&t, 1))) { fprintf(stderr, "decode failed\n"); return 1; }
    }

    printf("{\"prompt_ids\": [");
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    printf("], \"logits\": [");
    for (int i = 0; i < n_vocab; i++) printf(i ? ", %.9g" : "%.9g", logits[i]);
    printf("], \"greedy_ids\": [");
    for (size_t i = 0; i < greedy.size(); i++) printf(i ? ", %d" : "%d", greedy[i]);
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
