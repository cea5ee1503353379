//! A tiny WGSL preprocessor: `#include "file"`, `#ifdef` / `#ifndef` /
//! `#else` / `#endif` on flags, and typed constants from [`Defines`] emitted as
//! WGSL `const` declarations. `enable` directives are hoisted to the top, where
//! WGSL requires them.
//!
//! Shaders live in `shaders/` as real files (embedded at build time), so every
//! kernel can be read and edited as WGSL.

use super::pipelines::Defines;

#[derive(Debug, thiserror::Error)]
pub enum ShaderError {
    #[error("unknown shader `{0}`")]
    Unknown(String),
    #[error("{file}:{line}: {msg}")]
    Syntax { file: String, line: usize, msg: String },
}

/// Every shader file, by its path under `shaders/`.
pub fn shader_source(name: &str) -> Option<&'static str> {
    macro_rules! files {
        ($($path:literal),* $(,)?) => {
            match name {
                $($path => Some(include_str!(concat!("../../shaders/", $path))),)*
                _ => None,
            }
        };
    }
    files!(
        "common/act.wgsl",
        "common/attention_params.wgsl",
        "common/attention_splits.wgsl",
        "common/bytes.wgsl",
        "common/gemm_io.wgsl",
        "common/kv.wgsl",
        "common/kv_rows.wgsl",
        "common/matvec_core.wgsl",
        "common/matvec_x.wgsl",
        "common/quant.wgsl",
        "common/rope.wgsl",
        "common/step.wgsl",
        "common/weight_parts.wgsl",
        "matvec.wgsl",
        "gemm.wgsl",
        "gemm_token_lanes.wgsl",
        "attn_qkv.wgsl",
        "ffn_gate_up.wgsl",
        "norm_projections.wgsl",
        "per_layer.wgsl",
        "embed.wgsl",
        "rmsnorm.wgsl",
        "layernorm.wgsl",
        "rope.wgsl",
        "kv_store.wgsl",
        "attention.wgsl",
        "attention_position_lanes.wgsl",
        "flash_attention.wgsl",
        "flash_attention_token_lanes.wgsl",
        "elementwise.wgsl",
        "heads.wgsl",
        "ssm_conv.wgsl",
        "gated_delta_net.wgsl",
        "argmax.wgsl",
        "sample.wgsl",
        "bandwidth.wgsl",
    )
}

/// Expands `name` with `defines` into plain WGSL.
pub fn preprocess(name: &str, defines: &Defines) -> Result<String, ShaderError> {
    let mut body = String::new();
    let mut enables = String::new();
    expand(name, defines, &mut body, &mut enables, 0)?;
    let mut out = enables;
    out.push_str(&defines.wgsl_consts());
    out.push_str(&body);
    Ok(out)
}

fn expand(
    name: &str,
    defines: &Defines,
    body: &mut String,
    enables: &mut String,
    depth: usize,
) -> Result<(), ShaderError> {
    let src = shader_source(name).ok_or_else(|| ShaderError::Unknown(name.to_string()))?;
    let err = |line: usize, msg: &str| ShaderError::Syntax {
        file: name.to_string(),
        line: line + 1,
        msg: msg.to_string(),
    };
    if depth > 8 {
        return Err(err(0, "includes nested too deeply"));
    }
    // Each entry: (this branch active, some branch of this #if was taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|&(a, _)| a);
    for (i, line) in src.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#ifdef ") {
            let on = defines.has(rest.trim());
            stack.push((on, on));
        } else if let Some(rest) = t.strip_prefix("#ifndef ") {
            let on = !defines.has(rest.trim());
            stack.push((on, on));
        } else if t.starts_with("#else") {
            let top = stack.last_mut().ok_or_else(|| err(i, "#else without #ifdef"))?;
            *top = (!top.1, true);
        } else if t.starts_with("#endif") {
            stack.pop().ok_or_else(|| err(i, "#endif without #ifdef"))?;
        } else if !active(&stack) {
            continue;
        } else if let Some(rest) = t.strip_prefix("#include ") {
            let file = rest.trim().trim_matches('"');
            expand(file, defines, body, enables, depth + 1)?;
        } else if t.starts_with('#') {
            return Err(err(i, "unknown directive"));
        } else if t.starts_with("enable ") {
            if !enables.contains(t) {
                enables.push_str(t);
                enables.push('\n');
            }
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    if !stack.is_empty() {
        return Err(err(src.lines().count(), "missing #endif"));
    }
    Ok(())
}
