//! The parsed header: metadata, tensor infos, and where the data starts.

use super::{GgufError, Limits, Metadata};
use crate::quant::GgmlType;

/// Where one tensor lives and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Shape in ggml order: `dims[0]` is the contiguous (row) axis.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Checks a tensor's shape against its type and the limits and computes
    /// its element count and byte size. The offset is checked later, once the
    /// alignment is known.
    pub(crate) fn new(
        name: String,
        dims: Vec<u64>,
        ggml_type: GgmlType,
        offset: u64,
        limits: &Limits,
    ) -> Result<Self, GgufError> {
        if dims.is_empty() || dims.len() > limits.max_dims {
            let n_dims = u32::try_from(dims.len()).unwrap_or(u32::MAX);
            return Err(GgufError::BadDimCount {
                tensor: name,
                n_dims,
                max: limits.max_dims,
            });
        }
        // A dimension of 0 is allowed, as llama.cpp allows it (PR #25596):
        // the tensor holds no bytes; the model refuses it only if it needs it.
        let n_elements = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64);
        let Some(n_elements) = n_elements else {
            return Err(GgufError::ShapeOverflow { tensor: name, dims });
        };
        let (block, _) = ggml_type.block_geometry();
        if dims[0] % block != 0 {
            return Err(GgufError::NotBlockMultiple {
                tensor: name,
                ggml_type,
                dim0: dims[0],
                block,
            });
        }
        let Some(n_bytes) = ggml_type.bytes_for(n_elements) else {
            return Err(GgufError::ShapeOverflow { tensor: name, dims });
        };
        if n_bytes > limits.max_tensor_bytes {
            return Err(GgufError::TooLarge {
                what: "tensor bytes",
                value: n_bytes,
                limit: limits.max_tensor_bytes,
            });
        }
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_elements,
            n_bytes,
        })
    }
}

/// Everything before the tensor data.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u32,
    pub metadata: Metadata,
    /// In file order (not necessarily offset order).
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
}

impl Header {
    /// The tensor with this name and its index in `tensors`.
    pub fn tensor(&self, name: &str) -> Option<(usize, &TensorInfo)> {
        self.tensors
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == name)
    }

    /// `general.architecture` (e.g. "llama").
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.metadata.require_str("general.architecture")
    }

    /// Sum of all tensors' sizes (padding excluded).
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |s, t| s.saturating_add(t.n_bytes))
    }

    /// Absolute file range `[start, end)` of tensor `index`'s bytes.
    pub fn tensor_file_range(&self, index: usize) -> Option<(u64, u64)> {
        let t = self.tensors.get(index)?;
        let start = self.data_offset.checked_add(t.offset)?;
        Some((start, start.checked_add(t.n_bytes)?))
    }
}

/// `general.alignment`, checked: a power of two in `1..=MAX_ALIGNMENT`.
pub(crate) fn alignment_of(metadata: &Metadata) -> Result<u64, GgufError> {
    match metadata.get_u64("general.alignment")? {
        None => Ok(super::DEFAULT_ALIGNMENT),
        Some(a) if a.is_power_of_two() && a <= super::MAX_ALIGNMENT => Ok(a),
        Some(a) => Err(GgufError::BadAlignment(a)),
    }
}

/// Final checks once all infos are read: offsets aligned and representable,
/// no two tensors overlapping. Returns the indices of the tensors that hold
/// bytes, sorted by offset (a tensor of 0 bytes occupies nothing, so it
/// overlaps nothing and has no bytes to deliver).
pub(crate) fn check_layout(
    tensors: &[TensorInfo],
    alignment: u64,
    data_offset: u64,
) -> Result<Vec<usize>, GgufError> {
    for t in tensors {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        if end.is_none() {
            return Err(GgufError::OffsetOverflow {
                tensor: t.name.clone(),
                offset: t.offset,
                n_bytes: t.n_bytes,
            });
        }
    }
    let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].n_bytes > 0).collect();
    order.sort_by_key(|&i| (tensors[i].offset, i));
    for w in order.windows(2) {
        let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
        // Cannot overflow: checked above.
        if a.offset + a.n_bytes > b.offset {
            return Err(GgufError::OverlappingTensors {
                first: a.name.clone(),
                second: b.name.clone(),
            });
        }
    }
    Ok(order)
}
