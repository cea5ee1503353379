#!/usr/bin/env python3
"""Token ids of the texts in tests/tokenizer/deepseek_cases.json, as the
reference for tests/tokenizer_deepseek.rs: DeepSeek-R1-Distill-Qwen-7B's
tokenizer rebuilt with Hugging Face's `tokenizers` from the GGUF header
alone, read with the `gguf` package (not tabllm's reader):

- model: byte-level BPE over `tokenizer.ggml.tokens` (id = position) and
  `tokenizer.ggml.merges` (rank = position), no unknown token, no byte
  fallback, merges always applied (llama.cpp's `qwen2` family does not set
  `ignore_merges`);
- no normalizer: llama.cpp applies none (the Hugging Face original has NFC;
  the GGUF does not carry it and llama.cpp does not apply it);
- pre-tokenizer: the regex llama.cpp's llama-vocab.cpp gives
  LLAMA_VOCAB_PRE_TYPE_QWEN2 (which `deepseek-r1-qwen` maps to), matches
  isolated, then ByteLevel without prefix space and without its own regex;
- special tokens as llama.cpp splits them out of text before the model
  (`tokenizer_st_partition`): with parse_special, every CONTROL (3),
  USER_DEFINED (4) and UNKNOWN (2) token of `tokenizer.ggml.token_type`;
  without it, only USER_DEFINED ones (llama.cpp tokenizes a control token's
  text as plain text then). Here that is two tokenizers: one with all of
  them added, one with the user-defined ones only. llama.cpp splits them out
  longest first, `tokenizers` leftmost-longest; the two agree when no
  special text contains another, which is checked. (llama.cpp also retypes
  end-of-generation and fill-in-the-middle tokens it finds by text as
  CONTROL; in this header they already are.)

Ids are without BOS (llama_tokenize with add_special = false); the header's
BOS/EOS ids and add_bos flag are written beside them.

`chat`: the prompt ids of every conversation in tests/templates/conversations
with the header's chat template, as llama-server makes them: rendered by
jinja2 as scripts/render_templates_jinja2.py renders it (BOS/EOS texts the
header's), a leading BOS text removed when the model adds BOS
(`common_chat_templates_apply` in llama.cpp's common/chat.cpp), then the BOS
id and the text tokenized with parse_special.

Usage: scripts/tokenizer_reference_deepseek.py OUT.json
"""
import glob
import importlib.metadata
import json
import os
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

import render_templates_jinja2
from gguf_header import HeaderOnlyReader, metadata_value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf")
CASES = os.path.join(ROOT, "tests", "tokenizer", "deepseek_cases.json")
CONVERSATIONS = os.path.join(ROOT, "tests", "templates", "conversations")

# llama.cpp, src/llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_QWEN2: Qwen2's
# tokenizer.json pattern with the case-insensitive contractions spelled out.
QWEN2_PATTERN = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
    r"|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)

UNKNOWN, CONTROL, USER_DEFINED = 2, 3, 4


def build(tokens, merges, specials):
    vocab = {}
    for i, t in enumerate(tokens):
        if t in vocab:
            sys.exit(f"token text {t!r} repeats (ids {vocab[t]} and {i}); the reference assumes unique texts")
        vocab[t] = i
    pairs = []
    for m in merges:
        parts = m.split(" ")
        if len(parts) != 2:
            sys.exit(f"merge {m!r} is not two byte-level symbols")
        pairs.append((parts[0], parts[1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, byte_fallback=False, ignore_merges=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    # Special (skipped by decode(skip_special_tokens)) or not makes no
    # difference to encoding; normalized=False: matched on the raw text.
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in specials])
    for i in specials:
        got = tok.token_to_id(tokens[i])
        if got != i:
            sys.exit(f"special token {tokens[i]!r}: id {got}, expected {i}")
    return tok


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if not os.path.exists(MODEL):
        sys.exit(f"{MODEL} is missing: run scripts/fetch-models.sh")
    reader = HeaderOnlyReader(MODEL)
    pre = metadata_value(reader, MODEL, "tokenizer.ggml.pre")
    if pre != "deepseek-r1-qwen":
        sys.exit(f"tokenizer.ggml.pre is {pre!r}; this reference implements deepseek-r1-qwen (qwen2)")
    if metadata_value(reader, MODEL, "tokenizer.ggml.model") != "gpt2":
        sys.exit("tokenizer.ggml.model is not gpt2 (byte-level BPE)")
    tokens = metadata_value(reader, MODEL, "tokenizer.ggml.tokens")
    types = list(metadata_value(reader, MODEL, "tokenizer.ggml.token_type"))
    merges = metadata_value(reader, MODEL, "tokenizer.ggml.merges")
    assert len(types) == len(tokens)

    all_special = [i for i, ty in enumerate(types) if ty in (UNKNOWN, CONTROL, USER_DEFINED)]
    for i in all_special:
        for j in all_special:
            if i != j and tokens[i] in tokens[j]:
                sys.exit(f"special token {tokens[i]!r} is inside {tokens[j]!r}: llama.cpp's longest-first split "
                         "and tokenizers' leftmost-longest one may differ; the reference must model llama.cpp's")
    user_defined = [i for i, ty in enumerate(types) if ty == USER_DEFINED]
    parse_special = build(tokens, merges, all_special)
    plain = build(tokens, merges, user_defined)

    cases = json.load(open(CASES, encoding="utf-8"))["cases"]
    out_cases = []
    for case in cases:
        text = case["text"] * case.get("repeat", 1)
        ids = parse_special.encode(text, add_special_tokens=False).ids
        ids_plain = plain.encode(text, add_special_tokens=False).ids
        # Every byte-level token decodes back to the text: a check that the
        # rebuilt tokenizer lost nothing.
        for name, got in (("ids", ids), ("ids_no_special", ids_plain)):
            back = parse_special.decode(got, skip_special_tokens=False)
            if back != text:
                sys.exit(f"{case['name']}: {name} decode to {back!r}, not the text {text!r}")
        out_cases.append({"name": case["name"], "text": text, "ids": ids, "ids_no_special": ids_plain})

    bos_id = int(metadata_value(reader, MODEL, "tokenizer.ggml.bos_token_id"))
    eos_id = int(metadata_value(reader, MODEL, "tokenizer.ggml.eos_token_id"))
    add_bos = bool(metadata_value(reader, MODEL, "tokenizer.ggml.add_bos_token"))
    template = metadata_value(reader, MODEL, "tokenizer.chat_template")
    env = render_templates_jinja2.make_env()
    chat = []
    for path in sorted(glob.glob(os.path.join(CONVERSATIONS, "*.json"))):
        name = os.path.basename(path)[: -len(".json")]
        conv = json.load(open(path, encoding="utf-8"))
        result = render_templates_jinja2.render(env, template, conv, tokens[bos_id], tokens[eos_id])
        if "rendered" not in result:
            sys.exit(f"{name}: jinja2 could not render the header's template: {result['error']}")
        text = result["rendered"]
        ids = []
        if add_bos:
            ids.append(bos_id)
            if text.startswith(tokens[bos_id]):
                text = text[len(tokens[bos_id]):]
        ids += parse_special.encode(text, add_special_tokens=False).ids
        chat.append({"conversation": name, "rendered": result["rendered"], "prompt_ids": ids})

    out = {
        "generator": "scripts/tokenizer_reference_deepseek.py",
        "tokenizers": tokenizers.__version__,
        "gguf": importlib.metadata.version("gguf"),
        "model": os.path.basename(MODEL),
        "pattern": QWEN2_PATTERN,
        "vocab_size": len(tokens),
        "n_merges": len(merges),
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "add_bos_token": add_bos,
        "special_ids": all_special,
        "user_defined_ids": user_defined,
        "cases": out_cases,
        "chat": chat,
    }
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(
        f"{sys.argv[1]}: {len(out_cases)} cases, {len(chat)} chat prompts, "
        f"{len(all_special)} special tokens ({len(user_defined)} user-defined)"
    )


if __name__ == "__main__":
    main()
