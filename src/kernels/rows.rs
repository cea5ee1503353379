//! Where a kernel reads a per-token input: rows of a wider activation buffer.

/// Element (t, i) of a (n_tokens, width) f32 input is f32 number
/// `offset + t * stride + i` of `buffer`: a dense input has offset 0 and
/// stride = width; an input packed beside another projection's output (one
/// matvec writing both, or two writing at their `y_offset`s) has the packed
/// row's stride and its own offset.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub buffer: &'a wgpu::Buffer,
    /// f32 from a row's start to the input's first element.
    pub offset: u32,
    /// f32 between consecutive tokens' rows.
    pub stride: u32,
}

impl<'a> Rows<'a> {
    /// A buffer holding just this input: (n_tokens, width).
    pub fn dense(buffer: &'a wgpu::Buffer, width: u32) -> Self {
        Self { buffer, offset: 0, stride: width }
    }

    /// Whether a row of `width` elements fits in the stride and one token's
    /// row in the buffer.
    pub(crate) fn holds(&self, width: u64) -> bool {
        let end = self.offset as u64 + width;
        end <= self.stride as u64 && end * 4 <= self.buffer.size()
    }
}
