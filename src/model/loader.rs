//! Streams a GGUF file into GPU buffers: the header is parsed and checked
//! first (architecture, tensor types and shapes, device limits), then each
//! tensor's bytes are written to its buffer as they arrive. Host memory stays
//! at the size of a chunk plus the header, whatever the model size.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{forward::GpuForward, Model, ModelConfig, ModelError, PrefillPath};
use crate::cpu::{CpuForward, CpuTensor, CpuThreads};
use crate::gguf::{Event, Header, StreamParser};
use crate::gpu::{GpuContext, GpuTensor, PackedTensors};
use crate::quant::GgmlType;

/// Where the weights go.
#[derive(Clone)]
pub enum Device {
    Gpu(Arc<GpuContext>),
    /// Host memory, for the CPU backend.
    Cpu,
}

impl From<Arc<GpuContext>> for Device {
    fn from(ctx: Arc<GpuContext>) -> Self {
        Device::Gpu(ctx)
    }
}

/// A tensor being streamed into its place.
enum Slot {
    Gpu(GpuTensor),
    Cpu(CpuTensor),
    /// A fused tensor of the file ([`super::TensorView`]): its rows stream
    /// into the parts in order, (first byte in the fused tensor, part name, slot).
    Views(Vec<(u64, String, Slot)>),
}

impl Slot {
    fn is_complete(&self) -> bool {
        match self {
            Slot::Gpu(t) => t.is_complete(),
            Slot::Cpu(t) => t.is_complete(),
            Slot::Views(parts) => parts.iter().all(|(_, _, s)| s.is_complete()),
        }
    }

    /// Tensors this slot holds once complete, by name (`name` is the file's).
    fn into_named(self, name: &str) -> Vec<(String, Slot)> {
        match self {
            Slot::Views(parts) => parts.into_iter().map(|(_, n, s)| (n, s)).collect(),
            s => vec![(name.to_string(), s)],
        }
    }
}

/// Most bytes of weights, KV cache and activations the CPU backend takes in
/// 32-bit wasm: the 4 GiB address space less room for the engine, the
/// tokenizer and the allocator.
pub const CPU_WASM32_MAX_BYTES: u64 = (4 << 30) - (384 << 20);

/// Bytes per KV cache element on the CPU backend: f16, as on a GPU with
/// shader-f16 and in llama.cpp (`crate::cpu::attention`).
pub const CPU_KV_BYTES_PER_ELEMENT: u32 = 2;

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Context length to allocate (default: the model's, capped at 4096).
    pub n_ctx: Option<u32>,
    /// Most tokens processed in one prefill step (at most [`MAX_BATCH`];
    /// lowered at load so each activation buffer fits one binding).
    pub max_batch: u32,
    /// Pack q|k|v and gate|up and run the fused kernels (default). Off: every
    /// projection, norm and RoPE runs as its own op (diagnostics, and tests
    /// of the fallback a device with small bindings takes).
    pub fuse: bool,
    /// Which op list prefill steps run (default: tiled GEMMs for steps of
    /// at least `GEMM_MIN_TOKENS`).
    pub prefill: PrefillPath,
    /// The CPU backend's matmuls on several threads, their weights in the
    /// threads' memory (`crate::cpu::threads`); None: one thread, host
    /// memory. Ignored on a GPU.
    pub cpu_threads: Option<Arc<dyn CpuThreads>>,
}

/// Largest prefill step: llama.cpp's default ubatch. Sliding-window layers
/// keep window + max_batch positions, so this also bounds their ring.
pub const MAX_BATCH: u32 = 512;

impl Default for LoadOptions {
    fn default() -> Self {
        Self { n_ctx: None, max_batch: MAX_BATCH, fuse: true, prefill: PrefillPath::Auto, cpu_threads: None }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadProgress {
    pub bytes_read: u64,
    /// Known once the header is parsed: header + tensor data.
    pub bytes_total: Option<u64>,
    pub tensors_done: usize,
    pub tensors_total: usize,
}

/// Queue writes are staged in host memory until a submit; flush this often
/// so staging never grows with the model. Each staged write also costs wgpu
/// about 1 KB of bookkeeping whatever its size (measured: 4 KiB chunks held
/// 5 MB of it per 16 MiB), so small chunks flush by count too.
const FLUSH_EVERY_BYTES: u64 = 16 << 20;
const FLUSH_EVERY_WRITES: u32 = 256;

/// The file being streamed (one part of a split model, or the whole model).
#[derive(Default)]
struct Part {
    parser: StreamParser,
    /// By this part's header tensor index; `None` for tensors not kept.
    tensors: Vec<Option<Slot>>,
    /// Its `split.no` (0 for a whole file), once its header is in.
    no: Option<u32>,
    /// Its file name or URL, when the caller gave it ([`ModelLoader::name_part`]).
    name: Option<String>,
}

struct Loading {
    /// Known at the first header for a single file; for a split model only
    /// once every part's header is in (`finish`), because any part may hold
    /// the tensors the configuration looks at.
    config: Option<ModelConfig>,
    /// `split.count` (1 for a single file).
    parts: u32,
    /// By `split.no`: whether that part's header arrived, and the name of
    /// the file it came in when the caller gave one.
    seen: Vec<Option<Option<String>>>,
    /// Tensors of the parts already finished, by name.
    done_tensors: HashMap<String, Slot>,
    /// Headers of the parts already finished, with their `split.no`, in the
    /// order they came.
    done_headers: Vec<(u32, Header)>,
    unflushed: u64,
    unflushed_writes: u32,
    /// The previous flush's submission: the next flush waits for it (natively).
    flushed: Option<wgpu::SubmissionIndex>,
    done: usize,
    total: usize,
}

pub struct ModelLoader {
    device: Device,
    opts: LoadOptions,
    part: Part,
    loading: Option<Loading>,
    bytes_read: u64,
    /// Bytes of the parts already finished.
    bytes_done_parts: u64,
}

impl ModelLoader {
    /// A loader onto the GPU of `ctx`.
    pub fn new(ctx: Arc<GpuContext>, opts: LoadOptions) -> Self {
        Self::on(Device::Gpu(ctx), opts)
    }

    /// A loader onto `device`.
    pub fn on(device: Device, opts: LoadOptions) -> Self {
        Self { device, opts, part: Part::default(), loading: None, bytes_read: 0, bytes_done_parts: 0 }
    }

    /// The GPU the weights go to (None for the CPU backend).
    pub fn context(&self) -> Option<&Arc<GpuContext>> {
        match &self.device {
            Device::Gpu(ctx) => Some(ctx),
            Device::Cpu => None,
        }
    }

    /// The header holding the model's metadata (tokenizer, chat template):
    /// the whole file's, or a split model's first part's (`split.no` 0,
    /// whenever it arrives), once parsed.
    pub fn header(&self) -> Option<&Header> {
        let done = self.loading.as_ref().and_then(|l| l.done_headers.iter().find(|(no, _)| *no == 0)).map(|(_, h)| h);
        done.or_else(|| if self.part.no == Some(0) { self.part.parser.header() } else { None })
    }

    /// `split.no` of the file being read (0-based; 0 for a whole file), once
    /// its header is parsed.
    pub fn part_no(&self) -> Option<u32> {
        self.part.no
    }

    pub fn config(&self) -> Option<&ModelConfig> {
        self.loading.as_ref().and_then(|l| l.config.as_ref())
    }

    /// How many files the model comes in (`split.count`), once the first
    /// header is parsed (1 before).
    pub fn parts(&self) -> u32 {
        self.loading.as_ref().map_or(1, |l| l.parts)
    }

    pub fn progress(&self) -> LoadProgress {
        let h = self.part.parser.header();
        LoadProgress {
            bytes_read: self.bytes_read,
            bytes_total: h.map(|h| self.bytes_done_parts + h.data_offset + h.total_tensor_bytes()),
            tensors_done: self.loading.as_ref().map_or(0, |l| l.done),
            tensors_total: self.loading.as_ref().map_or(0, |l| l.total),
        }
    }

    /// Most bytes the parser held at once (the header), for memory reports.
    pub fn peak_buffered_bytes(&self) -> u64 {
        self.part.parser.peak_buffered_bytes()
    }

    /// Feeds the next chunk of the file. The parts of a split model may come
    /// in any order, [`ModelLoader::next_part`] between them; which part a
    /// file is comes from its `split.no`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ModelError> {
        let r = self.push_part(chunk);
        r.map_err(|e| self.in_part(self.part.name.as_deref(), e))
    }

    fn push_part(&mut self, chunk: &[u8]) -> Result<(), ModelError> {
        self.bytes_read += chunk.len() as u64;
        let device = &self.device;
        let n_ctx = self.opts.n_ctx;
        let fuse = self.opts.fuse;
        let threads = self.opts.cpu_threads.clone();
        let max_batch = self.opts.max_batch.clamp(1, MAX_BATCH);
        let loading = &mut self.loading;
        let tensors = &mut self.part.tensors;
        let part_no = &mut self.part.no;
        let part_name = &self.part.name;
        self.part.parser.push(chunk, &mut |ev: Event<'_>| -> Result<(), ModelError> {
            match ev {
                Event::Header(h) => {
                    *part_no = Some(begin_part(loading, h, part_name.as_deref())?);
                    let l = loading.as_mut().ok_or(ModelError::Incomplete)?;
                    if let (Device::Cpu, Some(c)) = (device, l.config.as_ref()) {
                        check_cpu_memory(c, h, n_ctx, max_batch)?;
                    }
                    *tensors = allocate(device, h, l.config.as_ref(), fuse, threads.as_ref())?;
                    l.total += tensors.iter().flatten().count();
                }
                Event::TensorBytes { index, offset, bytes } => {
                    let l = loading.as_mut().ok_or(ModelError::Incomplete)?;
                    if let Some(Some(slot)) = tensors.get_mut(index) {
                        write_slot(slot, device, l, offset, bytes)?;
                    }
                }
                Event::TensorDone { index } => {
                    let l = loading.as_mut().ok_or(ModelError::Incomplete)?;
                    if matches!(tensors.get(index), Some(Some(_))) {
                        l.done += 1;
                    }
                }
            }
            Ok(())
        })
    }

    /// Names the file being read (its path or URL), so that an error in a
    /// part of a split model says which file: [`ModelError::InPart`]. Call
    /// it before the part's first push.
    pub fn name_part(&mut self, name: impl Into<String>) {
        self.part.name = Some(name.into());
    }

    /// `e` with the current part's file name, for a split model whose
    /// caller named its parts ([`name_part`](Self::name_part)).
    fn in_part(&self, name: Option<&str>, e: ModelError) -> ModelError {
        match name {
            Some(file) if self.loading.as_ref().is_some_and(|l| l.parts > 1) => ModelError::InPart { file: file.to_string(), source: Box::new(e) },
            _ => e,
        }
    }

    /// Ends the current part of a split model; the next push starts the next part.
    pub fn next_part(&mut self) -> Result<(), ModelError> {
        let name = self.part.name.clone();
        self.end_part().map_err(|e| self.in_part(name.as_deref(), e))?;
        let l = self.loading.as_ref().ok_or(ModelError::Incomplete)?;
        if l.done_headers.len() as u32 >= l.parts {
            return Err(ModelError::Config(format!("the model has {} parts; no more were expected", l.parts)));
        }
        self.bytes_done_parts = self.bytes_read;
        Ok(())
    }

    /// Checks the part that just ended and moves its tensors and header aside.
    fn end_part(&mut self) -> Result<(), ModelError> {
        let part = std::mem::take(&mut self.part);
        part.parser.finish()?;
        let no = part.no.ok_or(ModelError::Incomplete)?;
        let header = part.parser.into_header().ok_or(ModelError::Incomplete)?;
        let l = self.loading.as_mut().ok_or(ModelError::Incomplete)?;
        if let Device::Gpu(ctx) = &self.device {
            l.flushed = Some(flush(ctx, l.flushed.take())?);
        }
        l.unflushed = 0;
        for (info, t) in header.tensors.iter().zip(part.tensors) {
            if let Some(t) = t {
                if !t.is_complete() {
                    return Err(ModelError::Incomplete);
                }
                for (name, t) in t.into_named(&info.name) {
                    if l.done_tensors.insert(name.clone(), t).is_some() {
                        return Err(ModelError::Config(format!("tensor `{name}` appears in two parts")));
                    }
                }
            }
        }
        l.done_headers.push((no, header));
        Ok(())
    }

    /// Completes the load (after the last part) and builds the model.
    pub fn finish(mut self) -> Result<Model, ModelError> {
        let name = self.part.name.clone();
        self.end_part().map_err(|e| self.in_part(name.as_deref(), e))?;
        let mut l = self.loading.take().ok_or(ModelError::Incomplete)?;
        if l.done_headers.len() as u32 != l.parts {
            let missing: Vec<String> = (0..l.parts).filter(|&no| l.seen[no as usize].is_none()).take(8).map(|no| (no + 1).to_string()).collect();
            let first = if l.seen[0].is_some() { "" } else { "; part 1 holds the model's metadata" };
            return Err(ModelError::Config(format!(
                "the model has {} parts but {} arrived (missing part {}{}{first})",
                l.parts,
                l.done_headers.len(),
                missing.join(", "),
                if l.parts as usize - l.done_headers.len() > missing.len() { ", …" } else { "" }
            )));
        }
        let mut config = match l.config.take() {
            Some(c) => c,
            None => ModelConfig::from_header(&merge_parts(&l.done_headers)?)?,
        };
        if let Some(v) = config.views.iter().find(|v| !l.done_tensors.contains_key(&v.parts[0].0)) {
            // Parts were not known when a split model's tensors were allocated.
            return Err(ModelError::Config(format!("`{}` holds several tensors (a fused form) in a split GGUF, which tabllm does not load yet: merge the parts with llama.cpp's gguf-split --merge", v.source)));
        }
        let needed: HashSet<String> = config.tensor_plan().into_iter().map(|(n, _, _)| n).collect();
        l.done_tensors.retain(|name, _| needed.contains(name));
        let n_ctx = self.opts.n_ctx.unwrap_or(config.default_n_ctx());
        if n_ctx == 0 {
            return Err(ModelError::Config("the context (n_ctx) must hold at least 1 position".into()));
        }
        config.check_n_ctx(n_ctx)?;
        config.select_rope_factors(n_ctx);
        let max_batch = self.opts.max_batch.clamp(1, MAX_BATCH);
        let mut dense = Vec::with_capacity(config.dense_out.len());
        for p in &config.dense_out {
            match l.done_tensors.remove(p.tensor) {
                Some(Slot::Cpu(t)) => dense.push(t),
                _ => return Err(ModelError::Config(format!("`{}` did not arrive in host memory (a split GGUF holding it is not loaded yet: merge the parts with llama.cpp's gguf-split --merge)", p.tensor))),
            }
        }
        let model = match self.device {
            Device::Gpu(ctx) => {
                check_kv_fits(&ctx, &config, n_ctx)?;
                let max_batch = max_batch.min(batch_limit(&ctx, &config));
                let tensors = l.done_tensors.into_iter().filter_map(|(n, t)| match t {
                    Slot::Gpu(t) => Some((n, t)),
                    Slot::Cpu(_) | Slot::Views(_) => None,
                });
                Model::gpu(GpuForward::new(ctx, config, tensors.collect(), max_batch, n_ctx, self.opts.fuse, self.opts.prefill)?)
            }
            Device::Cpu => {
                let tensors = l.done_tensors.into_iter().filter_map(|(n, t)| match t {
                    Slot::Cpu(t) => Some((n, t)),
                    Slot::Gpu(_) | Slot::Views(_) => None,
                });
                let forward = CpuForward::new(&config, tensors.collect(), max_batch, n_ctx)?;
                Model::cpu(config, forward)
            }
        };
        Ok(model.with_dense(dense))
    }
}

/// Most tokens a step can hold when each activation buffer (max_batch,
/// width) f32 is bound whole: the widest is the FFN's (or Gemma 4's per-layer inputs).
fn batch_limit(ctx: &GpuContext, c: &ModelConfig) -> u32 {
    let widest = super::Act::ALL.iter().map(|a| a.width(c)).max().unwrap_or(1).max(1) as u64;
    let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
    (limit / (widest * 4)).clamp(1, MAX_BATCH as u64) as u32
}

/// One layer's K (or V) cache is one buffer bound whole: refuse a context it
/// cannot hold on this device, saying how many positions fit.
fn check_kv_fits(ctx: &GpuContext, c: &ModelConfig, n_ctx: u32) -> Result<(), ModelError> {
    let elem: u64 = match ctx.precision {
        crate::gpu::Precision::F16 => 2,
        crate::gpu::Precision::F32 => 4,
    };
    let per_position = c.kv_dim() as u64 * elem;
    let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
    let bytes = n_ctx as u64 * per_position;
    if bytes > limit {
        return Err(ModelError::ContextTooLarge { n_ctx, bytes, limit, max_n_ctx: (limit / per_position.max(1)).min(u32::MAX as u64) as u32 });
    }
    Ok(())
}

/// A file's header is in: reads which part it is (`gguf::split::split_of`),
/// starts the load at the first file, and checks the part against the others
/// (same `split.count`, a `split.no` not seen before). A whole file gets its
/// configuration at once (the architecture, tensor types and shapes are
/// checked before any weight byte); a split model's first part, its
/// architecture. Returns the part's `split.no`.
fn begin_part(loading: &mut Option<Loading>, h: &Header, name: Option<&str>) -> Result<u32, ModelError> {
    let (no, count) = crate::gguf::split::split_of(h)?;
    let l = loading.get_or_insert_with(|| Loading {
        config: None,
        parts: count,
        seen: vec![None; count as usize],
        done_tensors: HashMap::new(),
        done_headers: Vec::new(),
        unflushed: 0,
        unflushed_writes: 0,
        flushed: None,
        done: 0,
        total: 0,
    });
    if count != l.parts {
        return Err(ModelError::Config(format!("this file is part {} of {count}, but the model's first file given was one of {} parts", no + 1, l.parts)));
    }
    if let Some(before) = std::mem::replace(&mut l.seen[no as usize], Some(name.map(str::to_string))) {
        let files = match (before, name) {
            (Some(a), Some(b)) if a != b => format!(": {a} and {b} both say they are it"),
            (Some(a), _) => format!(": {a} came twice"),
            _ => String::new(),
        };
        return Err(ModelError::Config(format!("part {} of {count} arrived twice{files}", no + 1)));
    }
    if count == 1 {
        l.config = Some(ModelConfig::from_header(h)?);
    } else if no == 0 {
        super::Arch::from_name(h.architecture()?)?;
    }
    Ok(no)
}

/// The CPU backend in 32-bit wasm: refuses, before any weight byte, a model
/// whose weights and KV cache (see [`cpu_memory_needed`]) do not fit the
/// address space, with the sizes.
fn check_cpu_memory(c: &ModelConfig, h: &Header, n_ctx: Option<u32>, max_batch: u32) -> Result<(), ModelError> {
    let (weights, kv) = cpu_memory_needed(c, h, n_ctx, max_batch);
    let limit = if cfg!(target_arch = "wasm32") { CPU_WASM32_MAX_BYTES } else { u64::MAX };
    if weights.saturating_add(kv) > limit {
        return Err(ModelError::TooLargeForCpu { weights, kv, limit });
    }
    Ok(())
}

/// (weight bytes the forward pass reads, f16 KV cache bytes at the context
/// the load will allocate) on the CPU backend; a sliding-window layer's ring
/// counted as `cache_layout` sizes it, so as `inspect` counts it.
fn cpu_memory_needed(c: &ModelConfig, h: &Header, n_ctx: Option<u32>, max_batch: u32) -> (u64, u64) {
    let needed: HashSet<String> = c.tensor_plan().into_iter().map(|(n, _, _)| n).collect();
    let weights: u64 = h.tensors.iter().filter(|t| needed.contains(&t.name)).map(|t| t.n_bytes).sum();
    let n_ctx = n_ctx.unwrap_or(c.default_n_ctx());
    let (cache_len, _) = super::state::cache_layout(c, max_batch, n_ctx);
    let kv = (0..).zip(&cache_len).map(|(l, &n)| n as u64 * c.layer_kv_dim(l) as u64 * CPU_KV_BYTES_PER_ELEMENT as u64 * 2).sum();
    (weights, kv)
}

/// Buffers for the tensors of this part the forward pass reads. Without a
/// configuration yet (split models) every tensor of a type the kernels can
/// read is kept; `finish` drops those the model does not need. A tensor of
/// 0 bytes gets nothing (one the model needs was refused by the configuration).
fn allocate(device: &Device, h: &Header, config: Option<&ModelConfig>, fuse: bool, threads: Option<&Arc<dyn CpuThreads>>) -> Result<Vec<Option<Slot>>, ModelError> {
    let keep: Box<dyn Fn(&crate::gguf::TensorInfo) -> bool> = match config {
        Some(c) => {
            let needed: HashSet<String> = c.tensor_plan().into_iter().map(|(n, _, _)| n).collect();
            Box::new(move |t| t.n_bytes > 0 && needed.contains(&t.name))
        }
        None => Box::new(|t| t.n_bytes > 0 && (t.ggml_type == GgmlType::F32 || crate::kernels::gpu_supports(t.ggml_type))),
    };
    let mut segments = match (device, config) {
        (Device::Gpu(ctx), Some(c)) if fuse => plan_fused_groups(ctx, h, c),
        _ => HashMap::new(),
    };
    // Projections of a pooled vector stay on the host on every backend (`Model::project_pooled`).
    let host: HashSet<&str> = config.map(|c| c.dense_out.iter().map(|p| p.tensor).collect()).unwrap_or_default();
    let mut slot = |info: &crate::gguf::TensorInfo| -> Result<Slot, ModelError> {
        Ok(match device {
            _ if host.contains(info.name.as_str()) => Slot::Cpu(CpuTensor::allocate(&info.name, info.ggml_type, &info.dims, info.n_bytes)?),
            Device::Gpu(_) if segments.contains_key(&info.name) => {
                let (buffer, offset) = segments.remove(&info.name).ok_or(ModelError::Incomplete)?;
                Slot::Gpu(GpuTensor::segment_of(&buffer, offset, &info.name, info.ggml_type, &info.dims, info.n_bytes))
            }
            Device::Gpu(ctx) => Slot::Gpu(GpuTensor::allocate(ctx, &info.name, info.ggml_type, &info.dims, info.n_bytes)?),
            Device::Cpu => Slot::Cpu(CpuTensor::allocate_on(threads, &info.name, info.ggml_type, &info.dims, info.n_bytes)?),
        })
    };
    let views = config.map_or(&[][..], |c| &c.views[..]);
    let mut tensors = Vec::with_capacity(h.tensors.len());
    for info in &h.tensors {
        let view = views.iter().find(|v| v.source == info.name);
        tensors.push(match (view, config) {
            (Some(v), Some(c)) => {
                let mut parts = Vec::with_capacity(v.parts.len());
                for (name, _) in &v.parts {
                    let part = c.planned_info(h, name).ok_or_else(|| ModelError::MissingTensor(name.clone()))?;
                    parts.push((part.offset - info.offset, name.clone(), slot(&part)?));
                }
                Some(Slot::Views(parts))
            }
            _ if keep(info) => Some(slot(info)?),
            _ => None,
        });
    }
    if let Device::Gpu(ctx) = device {
        ctx.check()?;
    }
    Ok(tensors)
}

/// The buffers of the fused groups (`weights::fused_groups`) this header
/// holds whole and that fit one binding, allocated now so their tensors
/// stream straight into them: by tensor name, (the group's buffer, the
/// tensor's offset in it). Packing after the load instead would copy, and
/// hold every packed byte twice for a while (an 8B Q4_K_M: 7.7 GB peak RSS for
/// 4.9 GB of weights, measured on lavapipe).
fn plan_fused_groups(ctx: &GpuContext, h: &Header, c: &ModelConfig) -> HashMap<String, (wgpu::Buffer, u64)> {
    let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
    let mut out = HashMap::new();
    for l in 0..c.n_layers {
        for (label, names) in super::weights::fused_groups(c, l) {
            // A part of a fused tensor of the file counts as its own tensor here.
            let Some(infos) = names.iter().map(|n| c.planned_info(h, n)).collect::<Option<Vec<_>>>() else {
                continue; // not all in this file: assembly reports what is missing
            };
            // Only formats the GPU runs (an unsupported one fails later, by name).
            if infos.iter().any(|t| !crate::kernels::gpu_supports(t.ggml_type)) {
                continue;
            }
            let Some((offsets, total)) = PackedTensors::layout(&infos.iter().map(|t| t.n_bytes).collect::<Vec<_>>(), limit) else {
                continue; // over the binding limit: separate tensors, unfused ops
            };
            let buffer = crate::gpu::storage_buffer(ctx, &label, total);
            out.extend(names.into_iter().zip(offsets).map(|(n, o)| (n, (buffer.clone(), o))));
        }
    }
    out
}

/// One header for a split model: the first part's metadata with every
/// part's tensors in `split.no` order (their offsets are per part and not
/// used after loading).
fn merge_parts(headers: &[(u32, Header)]) -> Result<Header, ModelError> {
    let mut by_no: Vec<&(u32, Header)> = headers.iter().collect();
    by_no.sort_by_key(|(no, _)| *no);
    let mut merged = match by_no.first() {
        Some((0, h)) => h.clone(),
        _ => return Err(ModelError::Incomplete),
    };
    for (_, h) in &by_no[1..] {
        merged.tensors.extend(h.tensors.iter().cloned());
    }
    if let Some(n) = merged.metadata.get_u32("split.tensors.count")? {
        if n as usize != merged.tensors.len() {
            return Err(ModelError::Config(format!("split.tensors.count is {n} but the parts hold {} tensors", merged.tensors.len())));
        }
    }
    Ok(merged)
}

/// Submits staged writes so their host copies are released, and returns the
/// submission. Natively it first waits for `previous` (the last flush's):
/// wgpu frees a staged write only once the GPU ran its submission, and a
/// driver slower than the file (lavapipe copies on the CPU) let them pile up
/// to gigabytes on an 8B model; so at most two flushes' writes are ever held
/// on the host. In the browser the GPU process paces `writeBuffer` itself.
fn flush(ctx: &GpuContext, previous: Option<wgpu::SubmissionIndex>) -> Result<wgpu::SubmissionIndex, ModelError> {
    let submitted = ctx.queue.submit([]);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = ctx.device.poll(match previous {
        Some(index) => wgpu::PollType::Wait { submission_index: Some(index), timeout: None },
        None => wgpu::PollType::Poll,
    });
    #[cfg(target_arch = "wasm32")]
    let _ = previous;
    ctx.check()?;
    Ok(submitted)
}

/// Native convenience: stream a file from disk in `chunk` byte reads.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_path(ctx: Arc<GpuContext>, path: &std::path::Path, opts: LoadOptions, chunk: usize) -> Result<(Model, u64), ModelError> {
    load_path_on(Device::Gpu(ctx), path, opts, chunk)
}

/// Native convenience: stream a file from disk onto `device` in `chunk` byte
/// reads; a split model's first part brings the others (`gguf::split_part_paths`).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_path_on(device: Device, path: &std::path::Path, opts: LoadOptions, chunk: usize) -> Result<(Model, u64), ModelError> {
    use std::io::Read;
    let io = |e| ModelError::Gguf(crate::gguf::GgufError::Io(e));
    let mut loader = ModelLoader::on(device, opts);
    let mut buf = vec![0u8; chunk.max(1)];
    for (i, part) in crate::gguf::split_part_paths(path)?.iter().enumerate() {
        if i > 0 {
            loader.next_part()?;
        }
        let mut f = std::fs::File::open(part).map_err(io)?;
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            loader.push(&buf[..n])?;
        }
    }
    let peak = loader.peak_buffered_bytes();
    Ok((loader.finish()?, peak))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ModelPlan, QuantMix};
    use crate::inspect::{inspect, InspectOptions};

    /// The CPU loader refuses exactly what "will it run" sizes: the same
    /// uploaded weights and KV cache, sliding-window rings included.
    #[test]
    fn cpu_memory_check_counts_what_inspect_counts() {
        let max_batch = LoadOptions::default().max_batch.clamp(1, MAX_BATCH);
        for name in ["gemma-3-1b", "gemma-3-4b", "llama-3.2-1b", "qwen3-0.6b"] {
            let plan = ModelPlan::new(crate::catalog::shape(name).unwrap(), QuantMix::Q4KM).unwrap();
            let h = plan.header(plan.metadata());
            let c = ModelConfig::from_header(&h).unwrap();
            for context in [None, Some(300), Some(8192)] {
                let (weights, kv) = cpu_memory_needed(&c, &h, context, max_batch);
                let r = inspect(&h, &InspectOptions { context, kv_bytes_per_element: CPU_KV_BYTES_PER_ELEMENT, max_batch, ..Default::default() });
                assert_eq!((weights, kv), (r.loaded_weight_bytes, r.kv_bytes), "{name} at {context:?}");
            }
        }
    }
}

/// Writes the next `bytes` of a tensor, at byte `offset` within it, into its
/// slot; a fused tensor's bytes go to the parts whose rows they hold.
fn write_slot(slot: &mut Slot, device: &Device, l: &mut Loading, offset: u64, bytes: &[u8]) -> Result<(), ModelError> {
    match (slot, device) {
        (Slot::Gpu(t), Device::Gpu(ctx)) => {
            t.write_next(&ctx.queue, bytes);
            l.unflushed += bytes.len() as u64;
            l.unflushed_writes += 1;
            if l.unflushed >= FLUSH_EVERY_BYTES || l.unflushed_writes >= FLUSH_EVERY_WRITES {
                l.flushed = Some(flush(ctx, l.flushed.take())?);
                l.unflushed = 0;
                l.unflushed_writes = 0;
            }
        }
        (Slot::Cpu(t), _) => t.write_next(bytes)?,
        (Slot::Views(parts), _) => {
            let end = offset + bytes.len() as u64;
            let starts: Vec<u64> = parts.iter().map(|(s, _, _)| *s).chain([u64::MAX]).collect();
            for (i, (start, _, part)) in parts.iter_mut().enumerate() {
                let (from, to) = ((*start).max(offset), starts[i + 1].min(end));
                if from < to {
                    write_slot(part, device, l, from - *start, &bytes[(from - offset) as usize..(to - offset) as usize])?;
                }
            }
        }
        (Slot::Gpu(_), Device::Cpu) => {}
    }
    Ok(())
}
