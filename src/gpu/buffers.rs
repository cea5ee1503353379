//! Buffer creation and read-back (works on native and on wasm).

use wgpu::util::DeviceExt;

use super::context::{GpuContext, GpuError};

/// A storage buffer of `bytes` (rounded up to 4), zero-initialised.
pub fn storage_buffer(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.allocating(label, || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    })
}

/// A storage buffer of `bytes` that decode kernels may also read as a uniform
/// window (`OpBuilder::decode_uniform`): the activations matvecs multiply,
/// and F32 tensors (the norm weights folded into them). Rounded up to 16
/// bytes, the size of a uniform vec4, so that a one-value tensor (Gemma 4's
/// layer output scale) binds as one (`kernels::PendingNorm`).
pub fn activation_buffer(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.allocating(label, || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    })
}

/// An immutable uniform buffer holding `data`.
pub fn uniform_buffer(ctx: &GpuContext, label: &str, data: &[u8]) -> wgpu::Buffer {
    ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: data,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// A staging buffer allocated once and reused for every read-back of up to
/// `capacity` bytes (the sampled token each step, or the logits row).
pub struct ReadbackSlot {
    staging: wgpu::Buffer,
    capacity: u64,
}

impl ReadbackSlot {
    pub fn new(ctx: &GpuContext, label: &str, capacity: u64) -> Self {
        let capacity = capacity.max(4).next_multiple_of(4);
        let staging = ctx.allocating(label, || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: capacity,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        Self { staging, capacity }
    }

    /// The staging buffer copies land in (for encoders outside wgpu).
    pub fn staging(&self) -> &wgpu::Buffer {
        &self.staging
    }

    /// Records a copy of `src[offset..offset+bytes]` into the slot.
    pub fn record_copy(&self, enc: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, offset: u64, bytes: u64) {
        debug_assert!(bytes <= self.capacity);
        enc.copy_buffer_to_buffer(src, offset, &self.staging, 0, bytes.min(self.capacity));
    }

    /// Waits for the submitted copy and returns the first `bytes` bytes. The
    /// staging buffer is unmapped on every path, and a failed map on a lost
    /// device is reported as [`GpuError::DeviceLost`].
    pub async fn read(&self, ctx: &GpuContext, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let bytes = bytes.min(self.capacity);
        let slice = self.staging.slice(..bytes);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        let polled = ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()));
        #[cfg(target_arch = "wasm32")]
        let polled: Result<(), GpuError> = Ok(());
        let mapped = match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(GpuError::Readback(e.to_string())),
            Err(_) => Err(GpuError::Readback("map callback dropped".into())),
        };
        let out = match mapped {
            Ok(()) => {
                let out = slice.get_mapped_range().map(|view| view.to_vec()).map_err(|e| GpuError::Readback(e.to_string()));
                self.staging.unmap();
                out
            }
            Err(e) => {
                // A loss makes the map fail, and the browser says why (`device.lost`) only later.
                ctx.wait_for_loss().await;
                Err(e)
            }
        };
        ctx.check()?;
        polled?;
        out
    }
}

/// One-off read-back of a whole buffer (tests, tools).
pub async fn read_buffer(ctx: &GpuContext, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
    let slot = ReadbackSlot::new(ctx, "readback", bytes);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    slot.record_copy(&mut enc, src, 0, bytes.next_multiple_of(4));
    ctx.queue.submit([enc.finish()]);
    let mut v = slot.read(ctx, bytes.next_multiple_of(4)).await?;
    v.truncate(bytes as usize);
    Ok(v)
}
