//! Streams a GGUF file into GPU buffers: the header is parsed and checked
//! first (architecture, tensor types and shapes, device limits), then each
//! tensor's bytes are written to its buffer as they arrive. Host memory stays
//! at the size of a chunk plus the header, whatever the model size.

use std::collections::HashMap;
use std::sync::Arc;

use super::{forward::Model, ModelConfig, ModelError};
use crate::gguf::{Event, Header, StreamParser};
use crate::gpu::{GpuContext, GpuTensor};

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Context length to allocate (default: the model's, capped at 4096).
    pub n_ctx: Option<u32>,
    /// Most tokens processed in one prefill step.
    pub max_batch: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { n_ctx: None, max_batch: 64 }
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
/// so staging never grows with the model.
const FLUSH_EVERY_BYTES: u64 = 16 << 20;

struct Loading {
    config: ModelConfig,
    /// By header tensor index; `None` for tensors the forward pass does not read.
    tensors: Vec<Option<GpuTensor>>,
    unflushed: u64,
    done: usize,
}

pub struct ModelLoader {
    ctx: Arc<GpuContext>,
    opts: LoadOptions,
    parser: StreamParser,
    loading: Option<Loading>,
    bytes_read: u64,
}

impl ModelLoader {
    pub fn new(ctx: Arc<GpuContext>, opts: LoadOptions) -> Self {
        Self { ctx, opts, parser: StreamParser::new(), loading: None, bytes_read: 0 }
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn header(&self) -> Option<&Header> {
        self.parser.header()
    }

    pub fn config(&self) -> Option<&ModelConfig> {
        self.loading.as_ref().map(|l| &l.config)
    }

    pub fn progress(&self) -> LoadProgress {
        let h = self.parser.header();
        LoadProgress {
            bytes_read: self.bytes_read,
            bytes_total: h.map(|h| h.data_offset + h.total_tensor_bytes()),
            tensors_done: self.loading.as_ref().map_or(0, |l| l.done),
            tensors_total: self.loading.as_ref().map_or(0, |l| l.tensors.iter().flatten().count()),
        }
    }

    /// Most bytes the parser held at once (the header), for memory reports.
    pub fn peak_buffered_bytes(&self) -> u64 {
        self.parser.peak_buffered_bytes()
    }

    /// Feeds the next chunk of the file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ModelError> {
        self.bytes_read += chunk.len() as u64;
        let ctx = &self.ctx;
        let loading = &mut self.loading;
        self.parser.push(chunk, &mut |ev: Event<'_>| -> Result<(), ModelError> {
            match ev {
                Event::Header(h) => *loading = Some(start(ctx, h)?),
                Event::TensorBytes { index, bytes, .. } => {
                    let l = loading.as_mut().ok_or(ModelError::Incomplete)?;
                    if let Some(Some(t)) = l.tensors.get_mut(index) {
                        t.write_next(&ctx.queue, bytes);
                        l.unflushed += bytes.len() as u64;
                        if l.unflushed >= FLUSH_EVERY_BYTES {
                            flush(ctx)?;
                            l.unflushed = 0;
                        }
                    }
                }
                Event::TensorDone { index } => {
                    let l = loading.as_mut().ok_or(ModelError::Incomplete)?;
                    if matches!(l.tensors.get(index), Some(Some(_))) {
                        l.done += 1;
                    }
                }
            }
            Ok(())
        })
    }

    /// Completes the load and builds the model.
    pub fn finish(mut self) -> Result<Model, ModelError> {
        self.parser.finish()?;
        let loading = self.loading.take().ok_or(ModelError::Incomplete)?;
        flush(&self.ctx)?;
        let header = self.parser.into_header().ok_or(ModelError::Incomplete)?;
        let mut by_name = HashMap::new();
        for (info, t) in header.tensors.iter().zip(loading.tensors) {
            if let Some(t) = t {
                if !t.is_complete() {
                    return Err(ModelError::Incomplete);
                }
                by_name.insert(info.name.clone(), t);
            }
        }
        let n_ctx = self.opts.n_ctx.unwrap_or(loading.config.ctx_train.min(4096)).max(1);
        Model::new(self.ctx, loading.config, by_name, self.opts.max_batch.clamp(1, 512), n_ctx)
    }
}

fn start(ctx: &GpuContext, h: &Header) -> Result<Loading, ModelError> {
    let config = ModelConfig::from_header(h)?;
    let needed: std::collections::HashSet<String> = config.tensor_plan().into_iter().map(|(n, _, _)| n).collect();
    let mut tensors = Vec::with_capacity(h.tensors.len());
    for info in &h.tensors {
        tensors.push(if needed.contains(&info.name) {
            Some(GpuTensor::allocate(ctx, &info.name, info.ggml_type, &info.dims, info.n_bytes)?)
        } else {
            None
        });
    }
    ctx.check()?;
    Ok(Loading { config, tensors, unflushed: 0, done: 0 })
}

/// Submits staged writes so their host copies are released.
fn flush(ctx: &GpuContext) -> Result<(), ModelError> {
    ctx.queue.submit([]);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = ctx.device.poll(wgpu::PollType::Poll);
    ctx.check()?;
    Ok(())
}

/// Native convenience: stream a file from disk in `chunk` byte reads.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_path(ctx: Arc<GpuContext>, path: &std::path::Path, opts: LoadOptions, chunk: usize) -> Result<(Model, u64), ModelError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::Gguf(crate::gguf::GgufError::Io(e)))?;
    let mut loader = ModelLoader::new(ctx, opts);
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::Gguf(crate::gguf::GgufError::Io(e)))?;
        if n == 0 {
            break;
        }
        loader.push(&buf[..n])?;
    }
    let peak = loader.peak_buffered_bytes();
    Ok((loader.finish()?, peak))
}
