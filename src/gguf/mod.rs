//! GGUF: a streaming parser that never holds the whole file.
//!
//! Feed [`StreamParser::push`] chunks of any size (a chunk may end anywhere,
//! inside a string or a tensor). It reports the header (metadata and tensor
//! infos) once that is complete, then each tensor's bytes as they arrive, as
//! slices borrowed from the chunk you passed (no copy). Every count and length
//! read from the file is bounded by [`Limits`]; a hostile or truncated file
//! gets a [`GgufError`], never a panic or an allocation sized by the file.
//!
//! File layout (little-endian, versions 2 and 3):
//! ```text
//! "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count × (key: string, value_type u32, value)
//! tensor_count × (name: string, n_dims u32, dims u64[n_dims], ggml_type u32, offset u64)
//! padding to `general.alignment` (default 32)
//! tensor data; each tensor at data_offset + offset (offsets are aligned)
//! ```
//! A string is a u64 byte length then UTF-8 bytes (no terminator); an array
//! is an element type u32, a u64 count, then the elements.

mod header;
mod read;
pub mod split;
mod stream;
mod value;

pub use header::{Header, TensorInfo};
pub use read::{read_header, read_header_from_path, read_tensor_bytes, split_part_paths, split_part_paths_of};
pub use stream::{Event, StreamParser};
pub use value::{Metadata, Value, ValueType};

use crate::quant::GgmlType;

/// The alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The largest `general.alignment` accepted.
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// How deeply arrays may nest inside arrays (a plain array is depth 1).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Hard bounds on everything a file can ask the parser to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest string (key, value or tensor name), in bytes.
    pub max_string_len: u64,
    /// Most elements in one metadata array.
    pub max_array_len: u64,
    /// Most metadata key/value pairs.
    pub max_kv_count: u64,
    /// Most tensors.
    pub max_tensor_count: u64,
    /// Most dimensions of one tensor (ggml has 4).
    pub max_dims: usize,
    /// Largest header (magic to the end of the tensor infos), in bytes.
    pub max_header_bytes: u64,
    /// Most memory the decoded header may take, in bytes (see
    /// [`StreamParser::decoded_bytes`]). A value decodes larger than it is
    /// stored (a 1-byte array element is a whole `Value`), so the header
    /// bound alone does not bound memory.
    pub max_decoded_bytes: u64,
    /// Largest single tensor, in bytes.
    pub max_tensor_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 16 << 20,
            max_array_len: 16 << 20,
            max_kv_count: 1 << 20,
            max_tensor_count: 1 << 16,
            max_dims: 4,
            max_header_bytes: 256 << 20,
            // Real headers decode to a few tens of MB (Gemma 3's 262,144-token
            // vocabulary included); a 32-bit wasm must keep room for the rest.
            max_decoded_bytes: 256 << 20,
            max_tensor_bytes: 64 << 30,
        }
    }
}

/// Everything that can be wrong with a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("metadata key `{key}` should be a {expected}, found {found}")]
    MetadataType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("metadata key `{0}` is missing")]
    MissingKey(String),

    #[error("not a GGUF file: magic is {0:02x?}, expected \"GGUF\"")]
    BadMagic([u8; 4]),
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error("file ends early: {needed} more bytes needed at offset {offset}")]
    Truncated { offset: u64, needed: u64 },
    #[error("{what} is {value}, above the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("metadata key `{key}` has unknown value type {id}")]
    UnknownValueType { key: String, id: u32 },
    #[error("metadata key `{key}`: bool byte is {value}, expected 0 or 1")]
    BadBool { key: String, value: u8 },
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str, offset: u64 },
    #[error("metadata key `{0}` appears twice")]
    DuplicateKey(String),
    #[error("general.alignment is {0}: it must be a power of two between 1 and {MAX_ALIGNMENT}")]
    BadAlignment(u64),

    #[error("tensor `{tensor}` has unknown ggml type id {id}")]
    UnknownTensorType { tensor: String, id: u32 },
    #[error("tensor `{tensor}` has {n_dims} dimensions (1 to {max} allowed)")]
    BadDimCount {
        tensor: String,
        n_dims: u32,
        max: usize,
    },
    #[error("tensor `{tensor}`: element count or byte size of shape {dims:?} overflows")]
    ShapeOverflow { tensor: String, dims: Vec<u64> },
    #[error(
        "tensor `{tensor}`: row length {dim0} is not a multiple of {ggml_type}'s block of {block}"
    )]
    NotBlockMultiple {
        tensor: String,
        ggml_type: GgmlType,
        dim0: u64,
        block: u64,
    },
    #[error("tensor `{tensor}`: offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor `{tensor}`: offset {offset} + {n_bytes} bytes lies beyond any possible file")]
    OffsetOverflow {
        tensor: String,
        offset: u64,
        n_bytes: u64,
    },
    #[error("tensors `{first}` and `{second}` overlap")]
    OverlappingTensors { first: String, second: String },
    #[error("tensor name `{0}` appears twice")]
    DuplicateTensor(String),
    #[error("no tensor named `{0}`")]
    TensorNotFound(String),

    #[error("split.no {no} / split.count {count}: a split model has 1 to {} parts, numbered from 0", split::MAX_SPLIT_COUNT)]
    BadSplit { no: u32, count: u32 },
    /// A part other than the first was given alone (llama.cpp: "model must
    /// be loaded with the first split").
    #[error("{file} is part {part} of {count} of a split model: load its first part{}, which holds the model's metadata (the others are found from it)", first.as_ref().map(|f| format!(" ({f})")).unwrap_or_default())]
    NotFirstSplit { file: String, part: u32, count: u32, first: Option<String> },
    #[error("{file} is the first of {count} parts of a split model, but its name does not follow gguf-split's `NAME-00001-of-{count:05}.gguf`, so the other parts cannot be found from it: rename the parts `NAME-0000N-of-{count:05}.gguf` (the npm package and the page also take every part as a list, in any order)")]
    SplitUnnamed { file: String, count: u32 },
    #[error("part {part} of {count} of the split model was not found; looked for {}", tried.join(", "))]
    SplitPartNotFound { part: u32, count: u32, tried: Vec<String> },

    #[error("the parser already reported an error; start a new one")]
    AlreadyFailed,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
