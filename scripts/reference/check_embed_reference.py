#!/usr/bin/env python3
"""Independent check of the embedding references: a float64 numpy forward of the two tiny
embedding models (llama: NORM RoPE; qwen3: q/k RMS norms, NEOX RoPE) on the dequantized F32
files, pooled as llama.cpp documents it (causal attention, output_norm before pooling, LAST =
the final token = the appended EOS, MEAN = every token incl. BOS), against the JSON's
pooled_f32_activations. Prints the worst per-component difference of the L2-normalized vectors
for that reading and for the wrong readings (bidirectional attention, no output_norm, token
before EOS, mean without BOS): the first should be ~1e-4 (llama.cpp's f16 KV cache), the others
~1e-2 or more. Run after make_embed_reference.py, from the repo root:

  PYTHONPATH=target/llama-cpp-python-0.3.36/vendor/llama.cpp/gguf-py \
    python3 scripts/reference/check_embed_reference.py
"""
import json
import os

import numpy as np
import gguf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

def load(path):
    r = gguf.GGUFReader(path)
    W = {t.name: np.array(t.data, dtype=np.float64).reshape(tuple(int(x) for x in reversed(t.shape))) for t in r.tensors}
    F = {k: f.contents() for k, f in r.fields.items() if not k.startswith('tokenizer.ggml.t') and k != 'tokenizer.ggml.merges'}
    return W, F

def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

def rope(x, pos, base, neox):  # x: (T, H, D)
    D = x.shape[-1]
    inv = base ** (-np.arange(0, D, 2) / D)
    ang = pos[:, None] * inv[None, :]  # T, D/2
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., :D // 2], x[..., D // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], -1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x); out[..., 0::2] = a * c - b * s; out[..., 1::2] = a * s + b * c
    return out

def forward(W, F, ids, arch, causal=True, final_norm=True):
    p = lambda k: F[f'{arch}.{k}']
    E, H, KV = p('embedding_length'), p('attention.head_count'), p('attention.head_count_kv')
    D = F.get(f'{arch}.attention.key_length', E // H)
    eps, base = p('attention.layer_norm_rms_epsilon'), p('rope.freq_base')
    x = W['token_embd.weight'][ids]
    T = len(ids); pos = np.arange(T, dtype=np.float64)
    for i in range(p('block_count')):
        g = lambda n: W[f'blk.{i}.{n}.weight']
        h = rms(x, g('attn_norm'), eps)
        q = (h @ g('attn_q').T).reshape(T, H, D); k = (h @ g('attn_k').T).reshape(T, KV, D); v = (h @ g('attn_v').T).reshape(T, KV, D)
        if arch == 'qwen3':
            q = rms(q, g('attn_q_norm'), eps); k = rms(k, g('attn_k_norm'), eps)
        neox = arch == 'qwen3'
        q = rope(q, pos, base, neox); k = rope(k, pos, base, neox)
        out = np.zeros((T, H, D))
        for hh in range(H):
            kh = hh // (H // KV)
            s = q[:, hh] @ k[:, kh].T / np.sqrt(D)
            if causal: s = s + np.triu(np.full((T, T), -np.inf), 1)
            s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
            out[:, hh] = s @ v[:, kh]
        x = x + out.reshape(T, H * D) @ g('attn_output').T
        h = rms(x, g('ffn_norm'), eps)
        gt = h @ g('ffn_gate').T
        x = x + ((gt / (1 + np.exp(-gt))) * (h @ g('ffn_up').T)) @ g('ffn_down').T
    return rms(x, W['output_norm.weight'], eps) if final_norm else x


for name, arch, pool in [('qwen3emb', 'qwen3', 'last'), ('llamaemb_mean', 'llama', 'mean')]:
    W, F = load(f'{ROOT}/target/tiny-arch/tiny-{name}-q8_0-dequant-f32.gguf')
    ref = json.load(open(f'{ROOT}/tests/reference/tiny/tiny-{name}-q8_0.json'))
    worst = {}
    for t in ref['texts']:
        ids = t['ids']; want = np.array(t['pooled_f32_activations'])
        variants = {
            'as documented': (True, True, ids),
            'bidirectional': (False, True, ids),
            'no output_norm': (True, False, ids),
        }
        if pool == 'mean': variants['mean without BOS'] = (True, True, ids)
        if pool == 'last': variants['token before EOS'] = (True, True, ids)
        for vname, (causal, fn, ii) in variants.items():
            y = forward(W, F, ii, arch, causal, fn)
            if pool == 'last':
                got = y[-2] if vname == 'token before EOS' else y[-1]
            else:
                got = y[1:].mean(0) if vname == 'mean without BOS' else y.mean(0)
            d = np.abs(got / np.linalg.norm(got) - want / np.linalg.norm(want)).max()
            worst[vname] = max(worst.get(vname, 0), d)
    print(name, {k: f'{v:.1e}' for k, v in worst.items()})
