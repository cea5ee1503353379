//! An [`Op`] is one compute dispatch with everything bound at load time:
//! pipeline, bind group (step uniform, op parameters, storage buffers) and a
//! rule for its workgroup counts given the number of tokens in the step.
//! The forward pass is a `Vec<Op>` replayed every step; nothing is created
//! per token.

use std::sync::Arc;

use super::context::{GpuContext, GpuError};
use super::pipelines::{Defines, PipelineKey};

/// Per-step values every kernel sees at `@binding(0)` (see `shaders/common/step.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Step {
    /// Position of the first token of this step in the sequence.
    pub pos0: u32,
    /// Tokens processed in this step (1 when decoding).
    pub n_tokens: u32,
    /// pos0 + n_tokens: KV entries valid after this step.
    pub kv_len: u32,
    pub _pad: u32,
}

pub const STEP_BYTES: u64 = std::mem::size_of::<Step>() as u64;

impl Step {
    /// A step of `n_tokens` from position 0 (dispatch counts of a short context).
    pub fn first(n_tokens: u32) -> Self {
        Self { pos0: 0, n_tokens, kv_len: n_tokens, _pad: 0 }
    }
}

/// How decode attention splits a long span of positions across workgroups
/// (`SplitRule` in shaders/attention.wgsl, injected from here): a span of at
/// most `min_span` positions is one split; a longer one takes
/// ceil(span / per_split) splits, combined by a second op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitRule {
    pub per_split: u32,
    pub min_span: u32,
    /// 0, or the sliding window that bounds the span.
    pub window: u32,
}

impl SplitRule {
    /// Splits of a decode step (1 for a step of several tokens).
    pub fn splits(&self, s: &Step) -> u32 {
        if s.n_tokens != 1 {
            return 1;
        }
        let span = if self.window > 0 { s.kv_len.min(self.window) } else { s.kv_len };
        if span <= self.min_span {
            1
        } else {
            span.div_ceil(self.per_split.max(1))
        }
    }
}

/// Workgroup count along one axis.
#[derive(Clone, Copy, Debug)]
pub enum Extent {
    Fixed(u32),
    /// ceil(n_tokens / per_group).
    Tokens { per_group: u32 },
    /// n_tokens for a step of several tokens, the decode splits for one.
    TokensOrSplits(SplitRule),
    /// n when a decode step has several splits to combine, else nothing.
    IfSplit(u32, SplitRule),
}

impl Extent {
    fn count(self, s: &Step) -> u32 {
        match self {
            Extent::Fixed(n) => n,
            Extent::Tokens { per_group } => s.n_tokens.div_ceil(per_group.max(1)),
            Extent::TokensOrSplits(rule) if s.n_tokens == 1 => rule.splits(s),
            Extent::TokensOrSplits(_) => s.n_tokens,
            Extent::IfSplit(n, rule) => if rule.splits(s) > 1 { n } else { 0 },
        }
    }
}

/// Largest workgroup count WebGPU guarantees per dimension.
const MAX_GROUPS_PER_DIM: u32 = 65535;

/// A compiled pipeline and its bind group.
struct Kernel {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
}

pub struct Op {
    pub name: String,
    kernel: Kernel,
    /// The same kernels as JS objects for one-call replay (browser).
    #[cfg(target_arch = "wasm32")]
    web: Option<(super::web_replay::WebKernel, Option<super::web_replay::WebKernel>)>,
    /// The single-token variant (decode), when the op has one: same bindings
    /// and grid, compiled for one token (no token loop).
    decode: Option<Kernel>,
    dispatch: [Extent; 3],
}

impl Op {
    /// Whether `encode` records a dispatch for step `s` (an empty grid
    /// records nothing).
    pub fn dispatches(&self, s: &Step) -> bool {
        self.dispatch.iter().all(|e| e.count(s) > 0)
    }

    /// The workgroup grid for step `s`, or None when it is empty. An x count
    /// above 65535 is folded into y; kernels that can get such counts
    /// rebuild the linear id (see `linear_group` in `common/step.wgsl`) and
    /// skip the excess.
    fn grid(&self, s: &Step) -> Option<[u32; 3]> {
        if !self.dispatches(s) {
            return None;
        }
        let [x, y, z] = self.dispatch.map(|e| e.count(s));
        let (x, y) = if x > MAX_GROUPS_PER_DIM {
            debug_assert_eq!(y, 1, "{}: x folding needs y == 1", self.name);
            (MAX_GROUPS_PER_DIM, x.div_ceil(MAX_GROUPS_PER_DIM))
        } else {
            (x, y)
        };
        Some([x, y, z])
    }

    /// Records this op's dispatch for step `s`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, s: &Step) {
        let Some([x, y, z]) = self.grid(s) else { return };
        let k = match &self.decode {
            Some(d) if s.n_tokens == 1 => d,
            _ => &self.kernel,
        };
        pass.set_pipeline(&k.pipeline);
        pass.set_bind_group(0, &k.bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
    }

    /// Appends this op's dispatch for step `s` to a replay plan as (kernel,
    /// x, y, z); false when the op has no JS twin (then the caller encodes
    /// through wgpu).
    #[cfg(target_arch = "wasm32")]
    pub fn plan(&self, s: &Step, plan: &mut Vec<u32>) -> bool {
        let Some((general, decode)) = &self.web else { return false };
        if let Some([x, y, z]) = self.grid(s) {
            let k = match decode {
                Some(d) if s.n_tokens == 1 => d,
                _ => general,
            };
            plan.extend([k.index(), x, y, z]);
        }
        true
    }
}

/// Builds an [`Op`]: binding 0 is the shared step uniform, binding 1 the op's
/// own parameter block, bindings 2.. the storage buffers in the order given.
pub struct OpBuilder<'a> {
    ctx: &'a GpuContext,
    name: String,
    key: PipelineKey,
    decode_defines: Option<Defines>,
    /// (binding, bytes): the decode variant binds only the first bytes of
    /// these buffers (uniform windows; see `decode_uniform`).
    decode_windows: Vec<(u32, u64)>,
    params: Vec<u8>,
    storage: Vec<(u32, wgpu::BufferBinding<'a>)>,
    dispatch: [Extent; 3],
}

impl<'a> OpBuilder<'a> {
    pub fn new(ctx: &'a GpuContext, name: impl Into<String>, shader: &'static str, entry: &'static str, defines: Defines) -> Self {
        let defines = defines.flag_if("F16", ctx.has_f16());
        Self {
            ctx,
            name: name.into(),
            key: PipelineKey { shader, entry, defines },
            decode_defines: None,
            decode_windows: Vec::new(),
            params: Vec::new(),
            storage: Vec::new(),
            dispatch: [Extent::Fixed(1); 3],
        }
    }

    /// The op's parameter block (a `#[repr(C)]` Pod struct matching the WGSL one).
    pub fn params<T: bytemuck::Pod>(mut self, p: &T) -> Self {
        self.params = bytemuck::bytes_of(p).to_vec();
        self
    }

    /// The binding after the last one given.
    fn next_binding(&self) -> u32 {
        self.storage.last().map_or(2, |(b, _)| b + 1)
    }

    /// Binds a whole buffer at the next binding.
    pub fn buffer(self, buf: &'a wgpu::Buffer) -> Self {
        let b = self.next_binding();
        self.buffer_at(b, buf)
    }

    /// Binds a whole buffer at `binding` (a shader whose bindings depend on
    /// its defines, e.g. the extra parts of a split weight tensor).
    pub fn buffer_at(mut self, binding: u32, buf: &'a wgpu::Buffer) -> Self {
        self.storage.push((binding, buf.as_entire_buffer_binding()));
        self
    }

    /// Binds a byte range of a buffer (offset must honour the storage offset alignment).
    pub fn range(mut self, buf: &'a wgpu::Buffer, offset: u64, size: u64) -> Self {
        let b = self.next_binding();
        self.storage.push((b, wgpu::BufferBinding { buffer: buf, offset, size: wgpu::BufferSize::new(size) }));
        self
    }

    /// Also compile the op with `defines` and use that pipeline for steps of
    /// one token (the decode variant of a kernel).
    pub fn decode_variant(mut self, defines: Defines) -> Self {
        self.decode_defines = Some(defines.flag_if("F16", self.ctx.has_f16()));
        self
    }

    /// The decode variant reads the buffer at `binding` as a uniform array of
    /// `bytes` (at most the device's uniform binding size): bind only that
    /// much of it, from offset 0. The buffer needs `UNIFORM` usage
    /// ([`activation_buffer`](super::activation_buffer)).
    pub fn decode_uniform(mut self, binding: u32, bytes: u64) -> Self {
        self.decode_windows.push((binding, bytes));
        self
    }

    pub fn dispatch(mut self, x: Extent, y: Extent, z: Extent) -> Self {
        self.dispatch = [x, y, z];
        self
    }

    pub fn build(self, step: &wgpu::Buffer) -> Result<Op, GpuError> {
        let ctx = self.ctx;
        let mut params = self.params;
        params.resize(params.len().max(16).next_multiple_of(16), 0);
        let params_buf = super::buffers::uniform_buffer(ctx, &self.name, &params);
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: step.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: params_buf.as_entire_binding() },
        ];
        for (binding, b) in self.storage {
            entries.push(wgpu::BindGroupEntry { binding, resource: wgpu::BindingResource::Buffer(b) });
        }
        let mut decode_entries = entries.clone();
        for &(binding, bytes) in &self.decode_windows {
            for e in decode_entries.iter_mut().filter(|e| e.binding == binding) {
                if let wgpu::BindingResource::Buffer(b) = &e.resource {
                    // The window starts where the whole buffer does: a range would be read from the wrong bytes.
                    if b.offset != 0 || b.size.is_some() {
                        return Err(GpuError::Validation(format!("{}: a decode uniform window needs binding {binding} bound whole, not a range", self.name)));
                    }
                    e.resource = wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: b.buffer, offset: 0, size: wgpu::BufferSize::new(bytes) });
                }
            }
        }
        // Pipelines with derived layouts each need their own bind group.
        let kernel = |key: &PipelineKey, entries: &[wgpu::BindGroupEntry]| -> Result<Kernel, GpuError> {
            let pipeline = ctx.pipelines.get(&ctx.device, key.clone())?;
            let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&self.name),
                layout: &pipeline.get_bind_group_layout(0),
                entries,
            });
            Ok(Kernel { pipeline, bind_group })
        };
        let decode_key = self.decode_defines.map(|defines| PipelineKey { shader: self.key.shader, entry: self.key.entry, defines });
        let decode = decode_key.as_ref().map(|k| kernel(k, &decode_entries)).transpose()?;
        let general = kernel(&self.key, &entries)?;
        #[cfg(target_arch = "wasm32")]
        let web = if ctx.web_replay {
            let twin = |key: &PipelineKey, entries: &[wgpu::BindGroupEntry]| -> Result<super::web_replay::WebKernel, GpuError> {
                let wgsl = super::preprocess::preprocess(key.shader, &key.defines)?;
                let list: Vec<(u32, &wgpu::Buffer, u64, Option<u64>)> = entries
                    .iter()
                    .map(|e| match &e.resource {
                        wgpu::BindingResource::Buffer(b) => Ok((e.binding, b.buffer, b.offset, b.size.map(|s| s.get()))),
                        _ => Err(GpuError::Validation(format!("{}: only buffer bindings replay", self.name))),
                    })
                    .collect::<Result<_, _>>()?;
                super::web_replay::make_kernel(ctx, &wgsl, key.entry, &list)
            };
            Some((twin(&self.key, &entries)?, decode_key.as_ref().map(|k| twin(k, &decode_entries)).transpose()?))
        } else {
            None
        };
        Ok(Op {
            name: self.name,
            kernel: general,
            #[cfg(target_arch = "wasm32")]
            web,
            decode,
            dispatch: self.dispatch,
        })
    }
}
