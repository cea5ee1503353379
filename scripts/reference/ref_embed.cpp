// ref_embed: llama.cpp (CPU) embedding-mode reference for one GGUF file and a list of texts.
// Usage: ref_embed MODEL.gguf TEXTS_FILE
//   TEXTS_FILE holds a JSON array of strings (escapes incl. \uXXXX surrogate pairs accepted).
// Prints on stdout:
//   {"pooling": "none"|"mean"|"cls"|"last"|"rank", "n_embd": N, "add_bos": b, "add_eos": b,
//    "texts": [{"text": ..., "ids": [...], "pooled": [...], "embedding": [...]}, ...]}
// What it reproduces (llama.cpp's examples/embedding/embedding.cpp, llama-embedding):
// - context with embeddings = true and pooling_type LLAMA_POOLING_TYPE_UNSPECIFIED, so the
//   pooling is the GGUF's {arch}.pooling_type (absent: NONE); attention type unspecified, so
//   causal unless the GGUF's {arch}.attention.causal is false;
// - tokenization as common_tokenize(ctx, text, add_special = true, parse_special = true):
//   BOS if tokenizer.ggml.add_bos_token, EOS appended by the tokenizer if
//   tokenizer.ggml.add_eos_token (llama-embedding itself appends nothing, it only warns);
// - pooled = llama_get_embeddings_seq (unnormalized); embedding = pooled divided by its
//   Euclidean norm, as common_embd_normalize(..., embd_norm = 2) (llama-embedding's default
//   --embd-normalize 2): sum of squares accumulated in double, then out = in * (float)(1/norm).
// Differences from llama-embedding (documented, not tokenization or math): each text is decoded
// alone, in sequence 0, with the memory cleared before it (llama-embedding packs several texts
// as separate sequences of one batch); flash attention disabled (llama-embedding: auto);
// n_ctx = n_batch = n_ubatch = 1024, so a text is always one ubatch (pooling is per ubatch);
// 2 threads; KV cache f16 (the default; REF_KV_F32=1 keeps it f32, diagnostic only).
// For pooling NONE, "pooled" and "embedding" are those of the last token (llama_get_embeddings_ith).
// Exit 1 with a message on stderr on any failure (load, tokenize, empty or too long text, decode).
#include "llama.h"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static const int N_CTX = 1024;

static void quiet(enum ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static void die(const std::string & msg) {
    fprintf(stderr, "ref_embed: %s\n", msg.c_str());
    exit(1);
}

// --- minimal JSON: an array of strings ---------------------------------------------------
static void put_utf8(std::string & out, uint32_t cp) {
    if (cp < 0x80) {
        out += (char) cp;
    } else if (cp < 0x800) {
        out += (char) (0xC0 | (cp >> 6));
        out += (char) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char) (0xE0 | (cp >> 12));
        out += (char) (0x80 | ((cp >> 6) & 0x3F));
        out += (char) (0x80 | (cp & 0x3F));
    } else {
        out += (char) (0xF0 | (cp >> 18));
        out += (char) (0x80 | ((cp >> 12) & 0x3F));
        out += (char) (0x80 | ((cp >> 6) & 0x3F));
        out += (char) (0x80 | (cp & 0x3F));
    }
}

struct Parser {
    const std::string & s;
    size_t i = 0;
    void ws() { while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++; }
    char peek() { if (i >= s.size()) die("texts JSON: unexpected end"); return s[i]; }
    void expect(char c) { if (peek() != c) die(std::string("texts JSON: expected '") + c + "' at byte " + std::to_string(i)); i++; }
    uint32_t hex4() {
        if (i + 4 > s.size()) die("texts JSON: short \\u escape");
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else die("texts JSON: bad hex digit in \\u escape");
        }
        return v;
    }
    std::string str() {
        expect('"');
        std::string out;
        for (;;) {
            char c = peek(); i++;
            if (c == '"') return out;
            if ((unsigned char) c < 0x20) die("texts JSON: raw control character in string");
            if (c != '\\') { out += c; continue; }
            char e = peek(); i++;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') die("texts JSON: lone high surrogate");
                        i += 2;
                        uint32_t lo = hex4();
                        if (lo < 0xDC00 || lo >= 0xE000) die("texts JSON: bad low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        die("texts JSON: lone low surrogate");
                    }
                    put_utf8(out, cp);
                } break;
                default: die("texts JSON: bad escape");
            }
        }
    }
    std::vector<std::string> array_of_strings() {
        std::vector<std::string> v;
        ws(); expect('[');
        ws();
        if (peek() == ']') { i++; return v; }
        for (;;) {
            ws(); v.push_back(str()); ws();
            char c = peek(); i++;
            if (c == ']') break;
            if (c != ',') die("texts JSON: expected ',' or ']'");
        }
        ws();
        if (i != s.size()) die("texts JSON: trailing data after the array");
        return v;
    }
};

static void print_json_string(const std::string & s) {
    putchar('"');
    for (unsigned char c : s) {
        if (c == '"') fputs("\\\"", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_floats(const std::vector<float> & v) {
    putchar('[');
    for (size_t i = 0; i < v.size(); i++) printf(i ? ", %.9g" : "%.9g", v[i]);
    putchar(']');
}

static const char * pooling_name(enum llama_pooling_type p) {
    switch (p) {
        case LLAMA_POOLING_TYPE_NONE: return "none";
        case LLAMA_POOLING_TYPE_MEAN: return "mean";
        case LLAMA_POOLING_TYPE_CLS:  return "cls";
        case LLAMA_POOLING_TYPE_LAST: return "last";
        case LLAMA_POOLING_TYPE_RANK: return "rank";
        default: return "unspecified";
    }
}

int main(int argc, char ** argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODEL TEXTS_FILE (a JSON array of strings)\n", argv[0]); return 2; }
    std::ifstream f(argv[2], std::ios::binary);
    if (!f) die(std::string("cannot read ") + argv[2]);
    std::stringstream ss; ss << f.rdbuf();
    const std::string json = ss.str();
    Parser parser{json};
    const std::vector<std::string> texts = parser.array_of_strings();

    llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) die(std::string("failed to load ") + argv[1]);
    const llama_vocab * vocab = llama_model_get_vocab(model);

    llama_context_params cp = llama_context_default_params();
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_UNSPECIFIED;  // -> the GGUF's {arch}.pooling_type
    cp.n_ctx = N_CTX;
    cp.n_batch = N_CTX;
    cp.n_ubatch = N_CTX;
    cp.n_seq_max = 1;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;  // as ref_logits.cpp
    if (getenv("REF_KV_F32")) { cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; }
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("failed to create context");

    const enum llama_pooling_type pooling = llama_pooling_type(ctx);
    if (pooling == LLAMA_POOLING_TYPE_RANK) die("pooling RANK (reranker) is not an embedding; refused");
    const int n_embd = llama_model_n_embd_out(model);
    const bool add_bos = llama_vocab_get_add_bos(vocab);
    const bool add_eos = llama_vocab_get_add_eos(vocab);

    printf("{\"pooling\": \"%s\", \"n_embd\": %d, \"add_bos\": %s, \"add_eos\": %s, \"texts\": [",
           pooling_name(pooling), n_embd, add_bos ? "true" : "false", add_eos ? "true" : "false");

    llama_batch batch = llama_batch_init(N_CTX, 0, 1);
    for (size_t t = 0; t < texts.size(); t++) {
        const std::string & text = texts[t];
        // common_tokenize(ctx, text, /*add_special*/ true, /*parse_special*/ true)
        std::vector<llama_token> ids(text.size() + 2);
        int n = llama_tokenize(vocab, text.data(), (int) text.size(), ids.data(), (int) ids.size(), true, true);
        if (n < 0) {
            ids.resize(-n);
            n = llama_tokenize(vocab, text.data(), (int) text.size(), ids.data(), (int) ids.size(), true, true);
        }
        if (n < 0) die("tokenize failed for text " + std::to_string(t));
        ids.resize(n);
        if (n == 0) die("text " + std::to_string(t) + " has no tokens");
        if (n > N_CTX) die("text " + std::to_string(t) + " has " + std::to_string(n) + " tokens (> " + std::to_string(N_CTX) + ")");

        llama_memory_clear(llama_get_memory(ctx), true);
        batch.n_tokens = n;
        for (int i = 0; i < n; i++) {
            batch.token[i] = ids[i];
            batch.pos[i] = i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = true;  // every token is an output (required for pooled embeddings)
        }
        if (llama_decode(ctx, batch) != 0) die("decode failed for text " + std::to_string(t));

        const float * e = pooling == LLAMA_POOLING_TYPE_NONE ? llama_get_embeddings_ith(ctx, n - 1)
                                                             : llama_get_embeddings_seq(ctx, 0);
        if (!e) die("no embeddings for text " + std::to_string(t));
        std::vector<float> pooled(e, e + n_embd);
        double sum = 0.0;
        for (float x : pooled) sum += x * x;
        sum = std::sqrt(sum);
        const float inv = sum > 0.0 ? (float) (1.0 / sum) : 0.0f;
        std::vector<float> normed(n_embd);
        for (int i = 0; i < n_embd; i++) normed[i] = pooled[i] * inv;

        printf(t ? ", {\"text\": " : "{\"text\": ");
        print_json_string(text);
        printf(", \"ids\": [");
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("], \"pooled\": ");
        print_floats(pooled);
        printf(", \"embedding\": ");
        print_floats(normed);
        printf("}");
    }
    printf("]}\n");
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
