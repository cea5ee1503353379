//! Several weight tensors in one buffer, for fused kernels that read them in
//! one dispatch (q|k|v, gate|up): fewer bindings than one buffer each (WebGPU
//! guarantees 8 storage buffers per shader), and one decoder table.
//!
//! Normally the loader streams each tensor of a group straight into its
//! segment of the group's buffer ([`PackedTensors::from_segments`]). Where the
//! groups were not known when the buffers were allocated (a split GGUF,
//! whose configuration is read only once every part's header arrived) they
//! are packed at the end by GPU copies ([`PackedTensors::pack`]).

use super::context::{GpuContext, GpuError};
use super::tensor::GpuTensor;
use crate::quant::GgmlType;

/// One tensor inside a [`PackedTensors`] buffer.
#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    pub ty: GgmlType,
    /// First byte of the tensor in the packed buffer (a multiple of 4).
    pub offset: u64,
    pub row_bytes: u64,
    /// ggml order: dims[0] is the row length.
    pub dims: Vec<u64>,
    pub n_bytes: u64,
}

impl Segment {
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product::<u64>().max(1)
    }

    pub fn cols(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
}

pub struct PackedTensors {
    pub buffer: wgpu::Buffer, // the segments' raw GGUF bytes, back to back, each padded to 4
    pub segments: Vec<Segment>,
    /// True when made by [`PackedTensors::pack`]'s copies, false when the
    /// tensors were streamed into place ([`PackedTensors::from_segments`]).
    pub copied: bool,
}

impl PackedTensors {
    /// Where tensors of `n_bytes` each go when packed in order: their byte
    /// offsets (each padded to 4) and the total, if that fits in `limit`
    /// (one buffer, bound whole).
    pub fn layout(n_bytes: &[u64], limit: u64) -> Option<(Vec<u64>, u64)> {
        let mut offsets = Vec::with_capacity(n_bytes.len());
        let mut total = 0u64;
        for n in n_bytes {
            offsets.push(total);
            total = total.checked_add(n.checked_next_multiple_of(4)?)?;
        }
        (total <= limit).then_some((offsets, total))
    }

    /// Bytes `tensors` take packed, if they can be: each in a single buffer
    /// (not split across bindings) and all together within `limit`.
    pub fn packed_size(tensors: &[&GpuTensor], limit: u64) -> Option<u64> {
        if tensors.iter().any(|t| t.parts.len() != 1) {
            return None;
        }
        Self::layout(&tensors.iter().map(|t| t.n_bytes).collect::<Vec<_>>(), limit).map(|(_, total)| total)
    }

    /// The group as it was streamed: `tensors` already are the segments of
    /// one buffer at the offsets [`Self::layout`] gives (the loader allocated
    /// them with `GpuTensor::segment_of`), so nothing is copied. `Err` gives
    /// them back when they are not.
    pub fn from_segments(tensors: Vec<GpuTensor>) -> Result<Self, Vec<GpuTensor>> {
        let Some(buffer) = tensors.first().and_then(|t| t.parts.first()).map(|p| p.buffer.clone()) else {
            return Err(tensors);
        };
        let Some((offsets, total)) = Self::layout(&tensors.iter().map(|t| t.n_bytes).collect::<Vec<_>>(), u64::MAX) else {
            return Err(tensors);
        };
        let in_place = total <= buffer.size()
            && tensors.iter().zip(&offsets).all(|(t, &o)| matches!(t.parts.as_slice(), [p] if p.buffer == buffer && p.offset == o));
        if !in_place {
            return Err(tensors);
        }
        let segments = tensors.iter().zip(offsets).map(|(t, offset)| Segment { name: t.name.clone(), ty: t.ty, offset, row_bytes: t.row_bytes, dims: t.dims.clone(), n_bytes: t.n_bytes }).collect();
        Ok(Self { buffer, segments, copied: false })
    }

    /// Copies `tensors` into one new buffer, in order, and submits the
    /// copies; the sources can be dropped at once (the GPU keeps them alive
    /// until the copies ran). `None` when [`Self::packed_size`] says they
    /// cannot be packed on this device.
    pub fn pack(ctx: &GpuContext, label: &str, tensors: Vec<GpuTensor>) -> Result<Result<Self, Vec<GpuTensor>>, GpuError> {
        let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
        let Some(total) = Self::packed_size(&tensors.iter().collect::<Vec<_>>(), limit) else {
            return Ok(Err(tensors));
        };
        let buffer = super::buffers::storage_buffer(ctx, label, total);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let mut segments = Vec::with_capacity(tensors.len());
        let mut offset = 0;
        for t in &tensors {
            let size = t.n_bytes.next_multiple_of(4);
            enc.copy_buffer_to_buffer(&t.parts[0].buffer, t.parts[0].offset, &buffer, offset, size);
            segments.push(Segment { name: t.name.clone(), ty: t.ty, offset, row_bytes: t.row_bytes, dims: t.dims.clone(), n_bytes: t.n_bytes });
            offset += size;
        }
        let submitted = ctx.queue.submit([enc.finish()]);
        // Free the sources as soon as their copies ran rather than when the
        // pass is dropped. `destroy` on a buffer that submitted work still
        // reads takes effect once that work is done (WebGPU
        // `GPUBuffer.destroy`; wgpu defers it likewise). Even so, lavapipe
        // kept the memory: an 8B Q4_K_M packed this way peaked at 7.7 GB RSS
        // for 4.9 GB of weights, which is why the loader streams groups into
        // place and this path is left to split GGUFs.
        for t in &tensors {
            t.parts.iter().for_each(|p| p.buffer.destroy());
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = ctx.device.poll(wgpu::PollType::Wait { submission_index: Some(submitted), timeout: None });
        #[cfg(target_arch = "wasm32")]
        let _ = submitted;
        ctx.check()?;
        Ok(Ok(Self { buffer, segments, copied: true }))
    }
}

/// F32 vectors (norm weights, biases, RoPE factors) in one buffer, each
/// starting at a multiple of 4 floats so kernels can read it as vec4s.
pub struct PackedVectors {
    pub buffer: wgpu::Buffer, // f32, the vectors back to back
    /// (name, first f32 index) of each vector.
    pub index: Vec<(String, u32)>,
}

impl PackedVectors {
    /// Copies the single-buffer F32 `tensors` into one buffer, in order.
    pub fn pack(ctx: &GpuContext, label: &str, tensors: &[&GpuTensor]) -> Result<Self, GpuError> {
        let total: u64 = tensors.iter().map(|t| t.n_bytes.next_multiple_of(16)).sum();
        let buffer = super::buffers::storage_buffer(ctx, label, total);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let mut index = Vec::with_capacity(tensors.len());
        let mut offset = 0;
        for t in tensors {
            debug_assert_eq!(t.ty, GgmlType::F32);
            enc.copy_buffer_to_buffer(&t.parts[0].buffer, t.parts[0].offset, &buffer, offset, t.n_bytes.next_multiple_of(4));
            index.push((t.name.clone(), (offset / 4) as u32));
            offset += t.n_bytes.next_multiple_of(16);
        }
        ctx.queue.submit([enc.finish()]);
        ctx.check()?;
        Ok(Self { buffer, index })
    }

    /// The first f32 index of vector `name`, if packed.
    pub fn offset(&self, name: &str) -> Option<u32> {
        self.index.iter().find(|(n, _)| n == name).map(|&(_, o)| o)
    }
}
