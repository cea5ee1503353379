//! Browser only: a decode step encoded by one call into JavaScript.
//!
//! Through wgpu every dispatch is three wasm→JS calls (pipeline, bind group,
//! dispatch), so a 153-dispatch token costs ~460 crossings to encode. Here
//! each [`Op`](super::Op) also gets a raw `GPUComputePipeline` and
//! `GPUBindGroup` made at load on the same `GPUDevice` (wgpu hands out the
//! JS device and buffers), kept in a JS-side table; a step is then a packed
//! `Uint32Array` of (kernel, x, y, z) that `tabllm_replay` turns into one
//! compute pass and one submit. The approach follows sonos/tract's WebGPU
//! replay (one JS call per recorded pass); the code is ours.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::context::{GpuContext, GpuError};

#[wasm_bindgen(inline_js = r#"
const kernels = [];
const free = [];
const pipelines = new Map();

// Compiles (once per source and entry) and binds a kernel; returns its index.
export function tabllm_kernel(device, wgsl, entry, bindings, buffers, ranges) {
  const key = entry + '\u0000' + wgsl;
  let pipeline = pipelines.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({ code: wgsl });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: entry } });
    pipelines.set(key, pipeline);
  }
  const entries = [];
  for (let i = 0; i < bindings.length; i++) {
    const size = ranges[2 * i + 1];
    entries.push({ binding: bindings[i], resource: size > 0 ? { buffer: buffers[i], offset: ranges[2 * i], size } : { buffer: buffers[i], offset: ranges[2 * i] } });
  }
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const k = [pipeline, bindGroup];
  if (free.length) { const i = free.pop(); kernels[i] = k; return i; }
  kernels.push(k);
  return kernels.length - 1;
}

export function tabllm_kernel_free(i) {
  kernels[i] = undefined;
  free.push(i);
}

// Forgets compiled pipelines (a new device or unload).
export function tabllm_kernels_reset() {
  pipelines.clear();
}

// plan: (kernel, x, y, z) per dispatch. copies: [src, srcOffset, dst, dstOffset, size] before (pre) and after (post) the pass.
export function tabllm_replay(device, queue, plan, pre, post) {
  const enc = device.createCommandEncoder();
  for (const c of pre) enc.copyBufferToBuffer(c[0], c[1], c[2], c[3], c[4]);
  const pass = enc.beginComputePass();
  for (let i = 0; i < plan.length; i += 4) {
    const k = kernels[plan[i]];
    pass.setPipeline(k[0]);
    pass.setBindGroup(0, k[1]);
    pass.dispatchWorkgroups(plan[i + 1], plan[i + 2], plan[i + 3]);
  }
  pass.end();
  for (const c of post) enc.copyBufferToBuffer(c[0], c[1], c[2], c[3], c[4]);
  queue.submit([enc.finish()]);
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn tabllm_kernel(device: &JsValue, wgsl: &str, entry: &str, bindings: &[u32], buffers: &js_sys::Array, ranges: &[f64]) -> Result<u32, JsValue>;
    fn tabllm_kernel_free(i: u32);
    #[wasm_bindgen(catch)]
    fn tabllm_replay(device: &JsValue, queue: &JsValue, plan: &[u32], pre: &js_sys::Array, post: &js_sys::Array) -> Result<(), JsValue>;
}

/// A kernel in the JS table, released when dropped.
#[derive(Debug)]
pub struct WebKernel(u32);

impl WebKernel {
    pub fn index(&self) -> u32 {
        self.0
    }
}

impl Drop for WebKernel {
    fn drop(&mut self) {
        tabllm_kernel_free(self.0);
    }
}

fn device(ctx: &GpuContext) -> Result<JsValue, GpuError> {
    let d = ctx.device.as_webgpu().ok_or_else(|| GpuError::Validation("not a WebGPU device".into()))?;
    Ok(d.clone().unchecked_into())
}

fn raw(buf: &wgpu::Buffer) -> Result<JsValue, GpuError> {
    let b = buf.as_webgpu().ok_or_else(|| GpuError::Validation("not a WebGPU buffer".into()))?;
    Ok(b.clone().unchecked_into())
}

fn js_err(e: JsValue) -> GpuError {
    GpuError::Validation(e.as_string().or_else(|| js_sys::Error::try_from(e).ok().map(|e| String::from(e.message()))).unwrap_or_else(|| "JavaScript error".into()))
}

/// Makes the JS twin of a kernel: `wgsl` (already preprocessed) at `entry`,
/// with (binding, buffer, offset, size or None for the rest) entries.
pub fn make_kernel(ctx: &GpuContext, wgsl: &str, entry: &str, entries: &[(u32, &wgpu::Buffer, u64, Option<u64>)]) -> Result<WebKernel, GpuError> {
    let bindings: Vec<u32> = entries.iter().map(|e| e.0).collect();
    let buffers = js_sys::Array::new();
    let mut ranges = Vec::with_capacity(2 * entries.len());
    for &(_, buf, offset, size) in entries {
        buffers.push(&raw(buf)?);
        ranges.push(offset as f64);
        ranges.push(size.map_or(0.0, |s| s as f64));
    }
    tabllm_kernel(&device(ctx)?, wgsl, entry, &bindings, &buffers, &ranges).map(WebKernel).map_err(js_err)
}

/// A buffer-to-buffer copy recorded around the pass: (src, src offset, dst, dst offset, bytes).
pub type Copy<'a> = (&'a wgpu::Buffer, u64, &'a wgpu::Buffer, u64, u64);

fn copies(list: &[Copy<'_>]) -> Result<js_sys::Array, GpuError> {
    let out = js_sys::Array::new();
    for &(src, so, dst, d_o, n) in list {
        let c = js_sys::Array::of5(&raw(src)?, &JsValue::from_f64(so as f64), &raw(dst)?, &JsValue::from_f64(d_o as f64), &JsValue::from_f64(n as f64));
        out.push(&c);
    }
    Ok(out)
}

/// Encodes `pre` copies, one compute pass running `plan` ((kernel, x, y, z)
/// per dispatch), `post` copies, and submits: one call into JavaScript.
pub fn replay(ctx: &GpuContext, plan: &[u32], pre: &[Copy<'_>], post: &[Copy<'_>]) -> Result<(), GpuError> {
    let q = ctx.queue.as_webgpu().ok_or_else(|| GpuError::Validation("not a WebGPU queue".into()))?;
    let q: JsValue = q.clone().unchecked_into();
    tabllm_replay(&device(ctx)?, &q, plan, &copies(pre)?, &copies(post)?).map_err(js_err)
}
