#!/usr/bin/env python3
"""Write tiny random-weight F32 GGUF models for the architectures qwen35, gemma4,
phi3, smollm3 and lfm2, and five embedding models (gemma_embedding: a `gemma-embedding`
GGUF shaped as EmbeddingGemma's conversion with its dense projections; qwen3emb: a `qwen3` GGUF marked as
Qwen3-Embedding's is, last-token pooling; llamaemb_mean: a `llama` GGUF with mean
pooling; bert: a `bert` GGUF shaped as all-MiniLM-L6-v2's conversion, with bge's WordPiece
vocabulary; nomic_bert: a `nomic-bert` GGUF shaped as nomic-embed-text-v1.5's, the same
vocabulary), with the metadata keys and tensor names that llama.cpp's
converter (convert_hf_to_gguf.py / conversion/*.py) writes and its loader
(src/models/<arch>.cpp) reads, in the llama.cpp vendored by llama-cpp-python 0.3.36.

Run with the vendored gguf-py first on PYTHONPATH (PyPI gguf 0.19 lacks some keys):
  PYTHONPATH=target/llama-cpp-python-0.3.36/vendor/llama.cpp/gguf-py \
    python3 scripts/reference/make_tiny_arch.py --out-dir target/tiny-arch [ARCH ...]

For each ARCH it writes OUT/tiny-ARCH-f32.gguf and OUT/tiny-ARCH.meta.json
({"hparams": {metadata key: value, tokenizer.* excluded}, "layer_kinds": [...],
"tokenizer_overrides": {tokenizer.* key: value written instead of the copied one}}).
ARCH is a name here; the GGUF architecture is the same except for the embedding models
(GGUF_ARCH below).
The tokenizer (1024-token BPE cut from SmolLM2's) is copied from
/work/shared/reference/tiny/tiny-qwen3-q4_k_m.gguf (or --vocab-from); bert's and nomic_bert's (WordPiece,
30522 tokens) from llama.cpp's models/ggml-vocab-bert-bge.gguf (BERT_VOCAB_FROM).
Sizes: dim 256, FFN 768, 4 heads / 2 KV heads, like the existing tiny models.
Everything is seeded: the same command gives byte-identical files.
The whole pipeline: scripts/reference/make_all.sh.
"""
import argparse
import json
import math
import os
import sys

from enum import IntEnum

import numpy as np
import gguf

VOCAB_FROM = "/work/shared/reference/tiny/tiny-qwen3-q4_k_m.gguf"
N_VOCAB = 1024
N_EMBD = 256
N_FF = 768
N_HEAD = 4
N_HEAD_KV = 2
N_CTX = 512
OUT_GAIN = 4.5  # logits std ~4.5, range ~ +-15


class Builder:
    """Collects metadata (recorded for the JSON) and tensors, then writes a GGUF."""

    def __init__(self, arch: str, seed: int, wscale: float, name: str, vocab_from: str):
        self.arch = arch
        self.name = name
        self.vocab_from = vocab_from
        self.rng = np.random.default_rng(seed)
        self.wscale = wscale
        self.w = gguf.GGUFWriter(path=None, arch=arch)
        self.hparams = {}
        self.tensors = []  # (name, ndarray)
        self.tok_overrides = {}  # tokenizer.* key -> (value, GGUFValueType)

    # --- metadata: go through GGUFWriter's typed helpers, as the converter does
    def kv(self, method: str, key_tmpl: str, value):
        getattr(self.w, method)(value)
        key = key_tmpl.format(arch=self.arch)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, IntEnum):
            value = int(value)
        if isinstance(value, (list, tuple)):
            value = [bool(v) if isinstance(v, (bool, np.bool_)) else v for v in value]
        self.hparams[key] = value

    # --- tensors; shape given in GGUF order (ne0 = contiguous/input dim first)
    def add(self, name: str, arr: np.ndarray):
        self.tensors.append((name, np.ascontiguousarray(arr.astype(np.float32))))

    def mat(self, name: str, ne0: int, ne1: int, gain: float = 1.0):
        std = gain * self.wscale / math.sqrt(ne0)
        self.add(name, self.rng.normal(0.0, std, size=(ne1, ne0)))

    def norm(self, name: str, n: int, center: float = 1.0, spread: float = 0.1):
        self.add(name, center + spread * self.rng.normal(size=(n,)))

    def write(self, path: str):
        copy_tokenizer(self.w, self.vocab_from, self.tok_overrides)
        for name, arr in self.tensors:
            self.w.add_tensor(name, arr)
        self.w.write_header_to_file(path=path)
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def copy_tokenizer(w: gguf.GGUFWriter, src: str, overrides: dict):
    r = gguf.GGUFReader(src)
    for key, (value, vtype) in overrides.items():
        w.add_key_value(key, value, vtype)
    for key, f in r.fields.items():
        if not key.startswith("tokenizer.") or key in overrides:
            continue
        t = f.types[0]
        v = f.contents()
        if t == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, v, t, sub_type=f.types[1])
        else:
            w.add_key_value(key, v, t)


def common(b: Builder, n_layer: int, ff=N_FF, head_count_kv=N_HEAD_KV, ctx=N_CTX):
    # general.name matters to llama.cpp: a name containing "phi3"/"phi-3" switches on
    # special-token attribute fix-ups that need "</s>" (absent from this vocabulary).
    b.w.add_name({"phi3": "tiny-phi-4-mini"}.get(b.name, f"tiny-{b.name}"))
    b.hparams["general.architecture"] = b.arch
    b.kv("add_block_count", "{arch}.block_count", n_layer)
    b.kv("add_context_length", "{arch}.context_length", ctx)
    b.kv("add_embedding_length", "{arch}.embedding_length", N_EMBD)
    b.kv("add_feed_forward_length", "{arch}.feed_forward_length", ff)
    b.kv("add_head_count", "{arch}.attention.head_count", N_HEAD)
    b.kv("add_head_count_kv", "{arch}.attention.head_count_kv", head_count_kv)


def embeddings(b: Builder, embd_std: float, out_norm="output_norm.weight"):
    # Untied output.weight (the real models of these families mostly tie it; llama.cpp
    # then uses token_embd as output). With random weights a tied head makes every
    # model repeat the last prompt token, so the head is a separate matrix here.
    b.add("token_embd.weight", b.rng.normal(0.0, embd_std, size=(N_VOCAB, N_EMBD)))
    b.norm(out_norm, N_EMBD)
    b.mat("output.weight", N_EMBD, N_VOCAB, gain=OUT_GAIN)


def ffn_swiglu(b: Builder, i: int, ff=N_FF):
    b.norm(f"blk.{i}.ffn_norm.weight", N_EMBD)
    b.mat(f"blk.{i}.ffn_gate.weight", N_EMBD, ff)
    b.mat(f"blk.{i}.ffn_up.weight", N_EMBD, ff)
    b.mat(f"blk.{i}.ffn_down.weight", ff, N_EMBD)


# ---------------------------------------------------------------------------
# Qwen3.5 (dense): 3 Gated DeltaNet layers + 1 full-attention layer (interval 4)
# conversion/qwen.py Qwen3NextModel + _LinearAttentionVReorderBase + _Qwen35MRopeMixin;
# src/models/qwen35.cpp. MTP block omitted (as with --no-mtp).
def make_qwen35(b: Builder):
    n_layer, interval = 4, 4
    head_dim = 64
    d_state, n_k_heads, n_v_heads = 64, 2, 4       # linear_key_head_dim, linear_num_key_heads, linear_num_value_heads
    d_inner = d_state * n_v_heads                  # linear_value_head_dim * linear_num_value_heads
    d_conv = 4
    common(b, n_layer)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 10000000.0)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    b.kv("add_key_length", "{arch}.attention.key_length", head_dim)
    b.kv("add_value_length", "{arch}.attention.value_length", head_dim)
    b.kv("add_rope_dimension_sections", "{arch}.rope.dimension_sections", [3, 3, 2, 0])
    b.kv("add_ssm_conv_kernel", "{arch}.ssm.conv_kernel", d_conv)
    b.kv("add_ssm_state_size", "{arch}.ssm.state_size", d_state)
    b.kv("add_ssm_group_count", "{arch}.ssm.group_count", n_k_heads)
    b.kv("add_ssm_time_step_rank", "{arch}.ssm.time_step_rank", n_v_heads)
    b.kv("add_ssm_inner_size", "{arch}.ssm.inner_size", d_inner)
    recurrent = [(i + 1) % interval != 0 for i in range(n_layer)]
    b.kv("add_recurrent_layers", "{arch}.attention.recurrent_layers", recurrent)
    b.kv("add_full_attention_interval", "{arch}.full_attention_interval", interval)
    b.kv("add_rope_dimension_count", "{arch}.rope.dimension_count", int(head_dim * 0.25))
    b.kv("add_file_type", "general.file_type", 0)

    embeddings(b, embd_std=0.25)
    kinds = []
    key_dim = d_state * n_k_heads
    for i in range(n_layer):
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.norm(f"blk.{i}.post_attention_norm.weight", N_EMBD)
        if recurrent[i]:
            kinds.append("deltanet")
            b.mat(f"blk.{i}.attn_qkv.weight", N_EMBD, 2 * key_dim + d_inner)
            b.mat(f"blk.{i}.attn_gate.weight", N_EMBD, d_inner)
            b.add(f"blk.{i}.ssm_conv1d.weight", b.rng.normal(0.0, 0.5, size=(2 * key_dim + d_inner, d_conv)))
            b.add(f"blk.{i}.ssm_dt.bias", b.rng.uniform(-3.0, -1.0, size=(n_v_heads,)))
            b.add(f"blk.{i}.ssm_a", -b.rng.uniform(0.5, 4.0, size=(n_v_heads,)))  # = -exp(A_log)
            b.mat(f"blk.{i}.ssm_beta.weight", N_EMBD, n_v_heads)
            b.mat(f"blk.{i}.ssm_alpha.weight", N_EMBD, n_v_heads)
            b.norm(f"blk.{i}.ssm_norm.weight", d_state)
            b.mat(f"blk.{i}.ssm_out.weight", d_inner, N_EMBD)
        else:
            kinds.append("attention")
            b.mat(f"blk.{i}.attn_q.weight", N_EMBD, 2 * head_dim * N_HEAD)  # per head: [q(64) | gate(64)]
            b.mat(f"blk.{i}.attn_k.weight", N_EMBD, head_dim * N_HEAD_KV)
            b.mat(f"blk.{i}.attn_v.weight", N_EMBD, head_dim * N_HEAD_KV)
            b.mat(f"blk.{i}.attn_output.weight", head_dim * N_HEAD, N_EMBD)
            b.norm(f"blk.{i}.attn_q_norm.weight", head_dim)
            b.norm(f"blk.{i}.attn_k_norm.weight", head_dim)
        b.mat(f"blk.{i}.ffn_gate.weight", N_EMBD, N_FF)
        b.mat(f"blk.{i}.ffn_up.weight", N_EMBD, N_FF)
        b.mat(f"blk.{i}.ffn_down.weight", N_FF, N_EMBD)
    return kinds


# ---------------------------------------------------------------------------
# Gemma 4 (E2B style): per-layer embeddings, sliding + full layers with different
# head sizes, double-wide MLP on KV-shared layers, last 2 layers share KV.
# conversion/gemma.py Gemma4Model (+ Gemma3Model, TextModel); src/models/gemma4.cpp.
def make_gemma4(b: Builder):
    swa = [True, False, True, False]
    n_layer = len(swa)
    n_shared = 2  # layer 2 (sliding) reuses layer 0's KV, layer 3 (full) reuses layer 1's
    first_shared = n_layer - n_shared
    hd_full, hd_swa = 128, 64
    n_pl = 64  # hidden_size_per_layer_input
    # use_double_wide_mlp: KV-shared layers have twice the FFN width. Base width 512
    # (not 768) keeps the quantized file under 3 MB.
    ff = [512 if i < first_shared else 2 * 512 for i in range(n_layer)]
    common(b, n_layer, ff=ff)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 1000000.0)
    b.kv("add_rope_freq_base_swa", "{arch}.rope.freq_base_swa", 10000.0)
    b.kv("add_final_logit_softcapping", "{arch}.final_logit_softcapping", 30.0)
    b.kv("add_sliding_window", "{arch}.attention.sliding_window", 8)
    b.kv("add_shared_kv_layers", "{arch}.attention.shared_kv_layers", n_shared)
    b.kv("add_embedding_length_per_layer_input", "{arch}.embedding_length_per_layer_input", n_pl)
    b.kv("add_sliding_window_pattern", "{arch}.attention.sliding_window_pattern", swa)
    b.kv("add_key_length", "{arch}.attention.key_length", hd_full)
    b.kv("add_value_length", "{arch}.attention.value_length", hd_full)
    b.kv("add_key_length_swa", "{arch}.attention.key_length_swa", hd_swa)
    b.kv("add_value_length_swa", "{arch}.attention.value_length_swa", hd_swa)
    b.kv("add_rope_dimension_count", "{arch}.rope.dimension_count", hd_full)
    b.kv("add_rope_dimension_count_swa", "{arch}.rope.dimension_count_swa", hd_swa)
    b.kv("add_file_type", "general.file_type", 0)

    # proportional rope for full layers: partial_rotary_factor 0.25 -> 16 rotated pairs of 64
    n_rot_pairs = int(hd_full * 0.25 / 2)
    rope_freqs = np.array([1.0] * n_rot_pairs + [1e30] * (hd_full // 2 - n_rot_pairs), dtype=np.float32)

    embeddings(b, embd_std=0.1)  # the graph scales it by sqrt(n_embd) = 16
    b.add("rope_freqs.weight", rope_freqs)
    b.add("per_layer_token_embd.weight", b.rng.normal(0.0, 0.15, size=(N_VOCAB, n_pl * n_layer)))
    b.mat("per_layer_model_proj.weight", N_EMBD, n_pl * n_layer, gain=4.0)
    b.norm("per_layer_proj_norm.weight", n_pl)
    kinds = []
    for i in range(n_layer):
        hd = hd_swa if swa[i] else hd_full
        has_kv = i < first_shared
        kind = "sliding" if swa[i] else "full"
        kinds.append(kind if has_kv else kind + "_shared_kv")
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.attn_q.weight", N_EMBD, hd * N_HEAD)
        if has_kv:
            b.mat(f"blk.{i}.attn_k.weight", N_EMBD, hd * N_HEAD_KV)
            b.mat(f"blk.{i}.attn_v.weight", N_EMBD, hd * N_HEAD_KV)
            b.norm(f"blk.{i}.attn_k_norm.weight", hd)
        # Gemma 4 attends with scale 1.0 on RMS-normed q and k: a q_norm weight near
        # 1/sqrt(head_dim) keeps the scores near unit variance (else softmax is one-hot).
        b.norm(f"blk.{i}.attn_q_norm.weight", hd, center=1.0 / math.sqrt(hd), spread=0.1 / math.sqrt(hd))
        b.mat(f"blk.{i}.attn_output.weight", hd * N_HEAD, N_EMBD)
        b.norm(f"blk.{i}.post_attention_norm.weight", N_EMBD, center=2.0, spread=0.2)
        b.add(f"blk.{i}.layer_output_scale.weight", b.rng.uniform(0.5, 1.0, size=(1,)))
        b.norm(f"blk.{i}.ffn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.ffn_gate.weight", N_EMBD, ff[i])
        b.mat(f"blk.{i}.ffn_up.weight", N_EMBD, ff[i])
        b.mat(f"blk.{i}.ffn_down.weight", ff[i], N_EMBD)
        b.norm(f"blk.{i}.post_ffw_norm.weight", N_EMBD, center=2.0, spread=0.2)
        b.mat(f"blk.{i}.inp_gate.weight", N_EMBD, n_pl)
        b.mat(f"blk.{i}.proj.weight", n_pl, N_EMBD)
        b.norm(f"blk.{i}.post_norm.weight", N_EMBD, center=2.0, spread=0.2)
    return kinds


# ---------------------------------------------------------------------------
# Phi-3.5 / Phi-4-mini: fused attn_qkv and ffn_up (gate|up), LongRoPE factors,
# partial rotary 0.75 (Phi-4-mini), tied embeddings (Phi-4-mini).
# conversion/phi.py Phi3MiniModel; src/models/phi3.cpp.
def make_phi3(b: Builder):
    n_layer = 2
    head_dim = N_EMBD // N_HEAD
    n_rot = int(0.75 * N_EMBD) // N_HEAD  # 48
    orig_ctx = 128
    common(b, n_layer)
    b.kv("add_rope_scaling_orig_ctx_len", "{arch}.rope.scaling.original_context_length", orig_ctx)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    b.kv("add_rope_dimension_count", "{arch}.rope.dimension_count", n_rot)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 10000.0)
    b.kv("add_file_type", "general.file_type", 0)
    b.kv("add_sliding_window", "{arch}.attention.sliding_window", 0)
    scale = N_CTX / orig_ctx
    attn_factor = math.sqrt(1 + math.log(scale) / math.log(orig_ctx))
    b.kv("add_rope_scaling_attn_factors", "{arch}.rope.scaling.attn_factor", attn_factor)

    embeddings(b, embd_std=0.25)
    long_f = np.linspace(1.0, 12.0, n_rot // 2) * b.rng.uniform(0.9, 1.1, size=n_rot // 2)
    short_f = 1.0 + 0.2 * b.rng.uniform(0.0, 1.0, size=n_rot // 2)
    b.add("rope_factors_long.weight", long_f)
    b.add("rope_factors_short.weight", short_f)
    for i in range(n_layer):
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.attn_qkv.weight", N_EMBD, N_EMBD + 2 * head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_output.weight", N_EMBD, N_EMBD)
        b.norm(f"blk.{i}.ffn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.ffn_up.weight", N_EMBD, 2 * N_FF)  # rows [0,768) gate, [768,1536) up
        b.mat(f"blk.{i}.ffn_down.weight", N_FF, N_EMBD)
    return ["attention"] * n_layer


# ---------------------------------------------------------------------------
# SmolLM3: llama layout; llama.cpp skips RoPE on layers with (il+1) % 4 == 0 (hard-coded).
# conversion/llama.py SmolLM3Model(LlamaModel); src/models/smollm3.cpp.
def make_smollm3(b: Builder):
    n_layer = 4
    head_dim = N_EMBD // N_HEAD
    common(b, n_layer)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 5000000.0)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    b.kv("add_file_type", "general.file_type", 0)
    b.kv("add_vocab_size", "{arch}.vocab_size", N_VOCAB)
    b.kv("add_rope_dimension_count", "{arch}.rope.dimension_count", head_dim)

    embeddings(b, embd_std=0.25)
    kinds = []
    for i in range(n_layer):
        kinds.append("nope" if (i + 1) % 4 == 0 else "attention")
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.attn_q.weight", N_EMBD, N_EMBD)
        b.mat(f"blk.{i}.attn_k.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_v.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_output.weight", N_EMBD, N_EMBD)
        ffn_swiglu(b, i)
    return kinds


# ---------------------------------------------------------------------------
# LFM2: gated short-conv layers + attention layers with QK norm.
# conversion/lfm2.py LFM2Model; src/models/lfm2.cpp.
def make_lfm2(b: Builder):
    types = ["conv", "attn", "conv", "attn"]
    n_layer = len(types)
    head_dim = N_EMBD // N_HEAD
    l_cache = 3
    common(b, n_layer, head_count_kv=[N_HEAD_KV if t == "attn" else 0 for t in types])
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 1000000.0)
    b.kv("add_file_type", "general.file_type", 0)
    b.kv("add_vocab_size", "{arch}.vocab_size", N_VOCAB)
    b.kv("add_shortconv_l_cache", "{arch}.shortconv.l_cache", l_cache)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-5)

    embeddings(b, embd_std=0.25, out_norm="token_embd_norm.weight")  # LFM2's final norm is named token_embd_norm
    kinds = []
    for i, t in enumerate(types):
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)  # operator_norm
        if t == "conv":
            kinds.append("shortconv")
            b.add(f"blk.{i}.shortconv.conv.weight", b.rng.normal(0.0, 0.6, size=(N_EMBD, l_cache)))
            b.mat(f"blk.{i}.shortconv.in_proj.weight", N_EMBD, 3 * N_EMBD, gain=1.5)  # rows: B | C | x
            b.mat(f"blk.{i}.shortconv.out_proj.weight", N_EMBD, N_EMBD)
        else:
            kinds.append("attention")
            b.mat(f"blk.{i}.attn_q.weight", N_EMBD, N_EMBD)
            b.mat(f"blk.{i}.attn_k.weight", N_EMBD, head_dim * N_HEAD_KV)
            b.mat(f"blk.{i}.attn_v.weight", N_EMBD, head_dim * N_HEAD_KV)
            b.norm(f"blk.{i}.attn_q_norm.weight", head_dim)
            b.norm(f"blk.{i}.attn_k_norm.weight", head_dim)
            b.mat(f"blk.{i}.attn_output.weight", N_EMBD, N_EMBD)
        ffn_swiglu(b, i)
    return kinds


# ---------------------------------------------------------------------------
# Embedding models. Both have no output.weight (as Qwen3-Embedding-0.6B's GGUF: its HF model
# is Qwen3Model without lm_head; llama.cpp then duplicates token_embd as the unused head).
def embedding_model_common(b: Builder, n_layer: int, head_dim: int):
    common(b, n_layer, ctx=1024)  # ref_embed.cpp runs with n_ctx 1024
    if head_dim * N_HEAD != N_EMBD:
        b.kv("add_key_length", "{arch}.attention.key_length", head_dim)
        b.kv("add_value_length", "{arch}.attention.value_length", head_dim)
    b.kv("add_rope_dimension_count", "{arch}.rope.dimension_count", head_dim)
    b.kv("add_vocab_size", "{arch}.vocab_size", N_VOCAB)
    b.kv("add_file_type", "general.file_type", 0)
    b.add("token_embd.weight", b.rng.normal(0.0, 0.25, size=(N_VOCAB, N_EMBD)))
    b.norm("output_norm.weight", N_EMBD)


# Qwen3-Embedding: conversion/qwen.py Qwen3Model(Qwen2Model) writes {arch}.pooling_type from
# sentence-transformers' 1_Pooling/config.json (pooling_mode_lasttoken -> LAST = 3) via
# conversion/base.py _try_set_pooling_type; no attention.causal key (is_causal absent), so
# attention stays causal. gguf-py vocab.py SpecialVocab reads tokenizer.json's
# TemplateProcessing "$A <|endoftext|>": add_eos_token true and EOS = <|endoftext|> (the
# tokenizer_config's <|im_end|> moves to EOT). Head dim 128 with 4 heads (q width 512 != n_embd
# 256), as Qwen3-0.6B (16 x 128 = 2048 != 1024). src/models/qwen3.cpp: q/k RMS norms.
def make_qwen3emb(b: Builder):
    n_layer, head_dim = 2, 128
    embedding_model_common(b, n_layer, head_dim)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 1000000.0)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    b.kv("add_pooling_type", "{arch}.pooling_type", gguf.PoolingType.LAST)
    vocab = gguf.GGUFReader(b.vocab_from).fields["tokenizer.ggml.tokens"].contents()
    endoftext, im_end = vocab.index("<|endoftext|>"), vocab.index("<|im_end|>")
    u32, boolean = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.BOOL
    b.tok_overrides = {
        "tokenizer.ggml.eos_token_id": (endoftext, u32),
        "tokenizer.ggml.eot_token_id": (im_end, u32),
        "tokenizer.ggml.padding_token_id": (endoftext, u32),
        "tokenizer.ggml.add_eos_token": (True, boolean),
        "tokenizer.ggml.add_bos_token": (False, boolean),
    }
    for i in range(n_layer):
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.attn_q.weight", N_EMBD, head_dim * N_HEAD)
        b.mat(f"blk.{i}.attn_k.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_v.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_output.weight", head_dim * N_HEAD, N_EMBD)
        b.norm(f"blk.{i}.attn_q_norm.weight", head_dim)
        b.norm(f"blk.{i}.attn_k_norm.weight", head_dim)
        ffn_swiglu(b, i)
    return ["attention"] * n_layer


# A llama with mean pooling: llama.cpp reads {arch}.pooling_type for every architecture
# (src/llama-model.cpp llama_model_base::load_hparams) and adds the pooling to every graph
# (llama_model::build_graph -> llm_graph_context::build_pooling), so `llama` honours it.
# add_bos_token true, so the mean includes the BOS token (<|im_start|> in this vocabulary).
# Causal attention (no attention.causal key). src/models/llama.cpp graph<false>.
def make_llamaemb_mean(b: Builder):
    n_layer, head_dim = 2, N_EMBD // N_HEAD
    embedding_model_common(b, n_layer, head_dim)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 10000.0)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    b.kv("add_pooling_type", "{arch}.pooling_type", gguf.PoolingType.MEAN)
    boolean = gguf.GGUFValueType.BOOL
    b.tok_overrides = {
        "tokenizer.ggml.add_bos_token": (True, boolean),
        "tokenizer.ggml.add_eos_token": (False, boolean),
    }
    for i in range(n_layer):
        b.norm(f"blk.{i}.attn_norm.weight", N_EMBD)
        b.mat(f"blk.{i}.attn_q.weight", N_EMBD, N_EMBD)
        b.mat(f"blk.{i}.attn_k.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_v.weight", N_EMBD, head_dim * N_HEAD_KV)
        b.mat(f"blk.{i}.attn_output.weight", N_EMBD, N_EMBD)
        ffn_swiglu(b, i)
    return ["attention"] * n_layer


# ---------------------------------------------------------------------------
# BERT (all-MiniLM-L6-v2 / bge-small shape, tiny): conversion/bert.py BertModel writes
# {arch}.attention.layer_norm_epsilon, attention.causal = false, pooling_type from
# sentence-transformers' 1_Pooling (MiniLM: mean), tokenizer.ggml.token_type_count
# (type_vocab_size 2); no head_count_kv. Separate q/k/v with biases, as HF's BertSelfAttention
# converts. src/models/bert.cpp: (token + token_types[0] + position) -> LayerNorm; per layer
# post-norm: LN(x + attn_output(attn(q, k, v)) + b), LN(x + down(gelu(up x + b)) + b); no
# output norm. Width 64 (2 heads of 32, MiniLM's head size) keeps the 30522-row Q8_0
# embedding under the 3 MB fixture budget.
BERT_VOCAB_FROM = "target/llama-cpp-python-0.3.36/vendor/llama.cpp/models/ggml-vocab-bert-bge.gguf"


def make_bert(b: Builder):
    n_layer, dim, n_head, ff, ctx, n_types = 2, 64, 2, 256, 512, 2
    n_vocab = len(gguf.GGUFReader(b.vocab_from).fields["tokenizer.ggml.tokens"].contents())
    b.w.add_name("tiny-bert")
    b.hparams["general.architecture"] = b.arch
    b.kv("add_context_length", "{arch}.context_length", ctx)
    b.kv("add_embedding_length", "{arch}.embedding_length", dim)
    b.kv("add_feed_forward_length", "{arch}.feed_forward_length", ff)
    b.kv("add_block_count", "{arch}.block_count", n_layer)
    b.kv("add_head_count", "{arch}.attention.head_count", n_head)
    b.kv("add_layer_norm_eps", "{arch}.attention.layer_norm_epsilon", 1e-12)
    b.kv("add_file_type", "general.file_type", 0)
    b.kv("add_causal_attention", "{arch}.attention.causal", False)
    b.kv("add_pooling_type", "{arch}.pooling_type", gguf.PoolingType.MEAN)

    def vec(name, n, std):
        b.add(name, b.rng.normal(0.0, std, size=(n,)))

    b.add("token_embd.weight", b.rng.normal(0.0, 0.25, size=(n_vocab, dim)))
    b.add("token_types.weight", b.rng.normal(0.0, 0.1, size=(n_types, dim)))
    b.add("position_embd.weight", b.rng.normal(0.0, 0.1, size=(ctx, dim)))
    b.norm("token_embd_norm.weight", dim)
    vec("token_embd_norm.bias", dim, 0.05)
    for i in range(n_layer):
        for t in ("q", "k", "v"):
            b.mat(f"blk.{i}.attn_{t}.weight", dim, dim)
            vec(f"blk.{i}.attn_{t}.bias", dim, 0.1)
        b.mat(f"blk.{i}.attn_output.weight", dim, dim)
        vec(f"blk.{i}.attn_output.bias", dim, 0.1)
        b.norm(f"blk.{i}.attn_output_norm.weight", dim)
        vec(f"blk.{i}.attn_output_norm.bias", dim, 0.05)
        b.mat(f"blk.{i}.ffn_up.weight", dim, ff, gain=2.0)
        vec(f"blk.{i}.ffn_up.bias", ff, 0.1)
        b.mat(f"blk.{i}.ffn_down.weight", ff, dim)
        vec(f"blk.{i}.ffn_down.bias", dim, 0.1)
        b.norm(f"blk.{i}.layer_output_norm.weight", dim)
        vec(f"blk.{i}.layer_output_norm.bias", dim, 0.05)
    return ["attention"] * n_layer


# ---------------------------------------------------------------------------
# nomic-bert (nomic-embed-text-v1 / v1.5 shape, tiny): conversion/bert.py NomicBertModel
# writes BertModel's keys (layer_norm_epsilon, attention.causal = false, pooling_type mean,
# tokenizer.ggml.token_type_count) and rope.freq_base (rotary_emb_base: 1000 in v1.5); no
# position_embd (RoPE instead), one fused attn_qkv without biases (Wqkv), no attn_output or
# FFN biases, SwiGLU FFN (fc11 -> ffn_up, fc12 -> ffn_gate, fc2 -> ffn_down).
# src/models/bert.cpp: (token + token_types[0]) -> LayerNorm; per layer post-norm:
# LN(x + attn_output(attn(rope(q), rope(k), v))), LN(x + down(silu(gate x) * up x)).
# Sizes and vocabulary as tiny bert.
def make_nomic_bert(b: Builder):
    n_layer, dim, n_head, ff, ctx, n_types = 2, 64, 2, 256, 2048, 2
    n_vocab = len(gguf.GGUFReader(b.vocab_from).fields["tokenizer.ggml.tokens"].contents())
    b.w.add_name("tiny-nomic-bert")
    b.hparams["general.architecture"] = b.arch
    b.kv("add_context_length", "{arch}.context_length", ctx)
    b.kv("add_embedding_length", "{arch}.embedding_length", dim)
    b.kv("add_feed_forward_length", "{arch}.feed_forward_length", ff)
    b.kv("add_block_count", "{arch}.block_count", n_layer)
    b.kv("add_head_count", "{arch}.attention.head_count", n_head)
    b.kv("add_layer_norm_eps", "{arch}.attention.layer_norm_epsilon", 1e-12)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 1000.0)
    b.kv("add_file_type", "general.file_type", 0)
    b.kv("add_causal_attention", "{arch}.attention.causal", False)
    b.kv("add_pooling_type", "{arch}.pooling_type", gguf.PoolingType.MEAN)

    def vec(name, n, std):
        b.add(name, b.rng.normal(0.0, std, size=(n,)))

    b.add("token_embd.weight", b.rng.normal(0.0, 0.25, size=(n_vocab, dim)))
    b.add("token_types.weight", b.rng.normal(0.0, 0.1, size=(n_types, dim)))
    b.norm("token_embd_norm.weight", dim)
    vec("token_embd_norm.bias", dim, 0.05)
    for i in range(n_layer):
        b.mat(f"blk.{i}.attn_qkv.weight", dim, 3 * dim)
        b.mat(f"blk.{i}.attn_output.weight", dim, dim)
        b.norm(f"blk.{i}.attn_output_norm.weight", dim)
        vec(f"blk.{i}.attn_output_norm.bias", dim, 0.05)
        b.mat(f"blk.{i}.ffn_up.weight", dim, ff, gain=2.0)
        b.mat(f"blk.{i}.ffn_gate.weight", dim, ff, gain=2.0)
        b.mat(f"blk.{i}.ffn_down.weight", ff, dim)
        b.norm(f"blk.{i}.layer_output_norm.weight", dim)
        vec(f"blk.{i}.layer_output_norm.bias", dim, 0.05)
    return ["attention"] * n_layer


# EmbeddingGemma (gemma-embedding), tiny: conversion/gemma.py EmbeddingGemma(Gemma3Model)
# writes Gemma 3's keys (rope.freq_base for the global layers, no freq_base_swa: llama.cpp's
# default 10000 for the sliding ones), the original sliding_window, pooling_type from
# 1_Pooling (mean), and with --sentence-transformers-dense-modules dense_2/dense_3 and their
# {arch}.dense_N_feat_in/out; no attention.causal key (src/models/gemma-embedding.cpp sets
# causal_attn = false and a symmetric window: |key - query| <= sliding_window / 2, swa
# pattern 6: layer 5 global). Window 8 so the long texts cross it; 6 layers for one global
# layer; width 128, 4 heads of 64 over 2 KV heads (q width 256 != 128, as the real model's
# 3 x 256 != 768); dense 128 -> 512 -> 128 (the real 768 -> 3072 -> 768). The 1024-token BPE
# vocabulary as the tiny gemma4, with BOS and EOS added (EmbeddingGemma's tokenizer adds both).
def make_gemma_embedding(b: Builder):
    n_layer, dim, n_head, n_kv, hd, ff, dense = 6, 128, 4, 2, 64, 256, 512
    b.w.add_name("tiny-gemma_embedding")
    b.hparams["general.architecture"] = b.arch
    b.kv("add_context_length", "{arch}.context_length", 2048)
    b.kv("add_embedding_length", "{arch}.embedding_length", dim)
    b.kv("add_block_count", "{arch}.block_count", n_layer)
    b.kv("add_feed_forward_length", "{arch}.feed_forward_length", ff)
    b.kv("add_head_count", "{arch}.attention.head_count", n_head)
    b.kv("add_layer_norm_rms_eps", "{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    b.kv("add_key_length", "{arch}.attention.key_length", hd)
    b.kv("add_value_length", "{arch}.attention.value_length", hd)
    b.kv("add_rope_freq_base", "{arch}.rope.freq_base", 1000000.0)
    b.kv("add_sliding_window", "{arch}.attention.sliding_window", 8)
    b.kv("add_head_count_kv", "{arch}.attention.head_count_kv", n_kv)
    b.w.add_dense_features_dims("dense_2", dim, dense)
    b.hparams["{}.dense_2_feat_in".format(b.arch)], b.hparams["{}.dense_2_feat_out".format(b.arch)] = dim, dense
    b.w.add_dense_features_dims("dense_3", dense, dim)
    b.hparams["{}.dense_3_feat_in".format(b.arch)], b.hparams["{}.dense_3_feat_out".format(b.arch)] = dense, dim
    b.kv("add_pooling_type", "{arch}.pooling_type", gguf.PoolingType.MEAN)
    b.kv("add_file_type", "general.file_type", 0)
    boolean = gguf.GGUFValueType.BOOL
    b.tok_overrides = {
        "tokenizer.ggml.add_bos_token": (True, boolean),
        "tokenizer.ggml.add_eos_token": (True, boolean),
    }
    b.add("token_embd.weight", b.rng.normal(0.0, 0.1, size=(N_VOCAB, dim)))  # scaled by sqrt(128)
    b.norm("output_norm.weight", dim)
    b.mat("dense_2.weight", dim, dense)
    b.mat("dense_3.weight", dense, dim)
    kinds = []
    for i in range(n_layer):
        kinds.append("full" if i % 6 == 5 else "sliding_symmetric")
        b.norm(f"blk.{i}.attn_norm.weight", dim)
        b.mat(f"blk.{i}.attn_q.weight", dim, hd * n_head)
        b.mat(f"blk.{i}.attn_k.weight", dim, hd * n_kv)
        b.mat(f"blk.{i}.attn_v.weight", dim, hd * n_kv)
        b.norm(f"blk.{i}.attn_q_norm.weight", hd)
        b.norm(f"blk.{i}.attn_k_norm.weight", hd)
        b.mat(f"blk.{i}.attn_output.weight", hd * n_head, dim)
        b.norm(f"blk.{i}.post_attention_norm.weight", dim)
        b.norm(f"blk.{i}.ffn_norm.weight", dim)
        b.mat(f"blk.{i}.ffn_gate.weight", dim, ff)
        b.mat(f"blk.{i}.ffn_up.weight", dim, ff)
        b.mat(f"blk.{i}.ffn_down.weight", ff, dim)
        b.norm(f"blk.{i}.post_ffw_norm.weight", dim)
    return kinds


GGUF_ARCH = {"qwen3emb": "qwen3", "llamaemb_mean": "llama", "nomic_bert": "nomic-bert", "gemma_embedding": "gemma-embedding"}
VOCAB_FROM_ARCH = {"bert": BERT_VOCAB_FROM, "nomic_bert": BERT_VOCAB_FROM}

ARCHS = {
    "qwen35": (make_qwen35, 3501, 1.0),
    "gemma4": (make_gemma4, 4001, 1.0),
    "phi3": (make_phi3, 3001, 1.0),
    "smollm3": (make_smollm3, 3304, 1.0),
    "lfm2": (make_lfm2, 2001, 1.0),
    "qwen3emb": (make_qwen3emb, 3601, 1.0),
    "llamaemb_mean": (make_llamaemb_mean, 1101, 1.0),
    "bert": (make_bert, 2201, 1.0),
    "nomic_bert": (make_nomic_bert, 2301, 1.0),
    "gemma_embedding": (make_gemma_embedding, 3701, 1.0),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--vocab-from", default=VOCAB_FROM)
    ap.add_argument("archs", nargs="*", default=list(ARCHS))
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    for arch in a.archs:
        fn, seed, wscale = ARCHS[arch]
        b = Builder(GGUF_ARCH.get(arch, arch), seed, wscale, arch, VOCAB_FROM_ARCH.get(arch, a.vocab_from))
        kinds = fn(b)
        path = os.path.join(a.out_dir, f"tiny-{arch}-f32.gguf")
        b.write(path)
        with open(os.path.join(a.out_dir, f"tiny-{arch}.meta.json"), "w") as f:
            overrides = {k: (bool(v) if t == gguf.GGUFValueType.BOOL else v) for k, (v, t) in b.tok_overrides.items()}
            json.dump({"hparams": b.hparams, "layer_kinds": kinds, "tokenizer_overrides": overrides}, f, indent=1)
        print(f"wrote {path} ({len(b.tensors)} tensors)", file=sys.stderr)


if __name__ == "__main__":
    main()
