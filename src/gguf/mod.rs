//! GGUF: a streaming parser that never holds the whole file.
//!
//! Feed [`StreamParser::push`] chunks of any size (a chunk may end anywhere,
//! inside a string or a tensor). It reports the header (metadata and tensor
//! infos) once that is complete, then each tensor's bytes as they arrive, as
//! slices borrowed from the chunk you passed (no copy). Every count and length
//! read from the file is bounded by [`Limits`]; a hostile or truncated file
//! gets a [`GgufError`], never a panic or an allocation sized by the file.

mod value;
pub use value::{Metadata, Value, ValueType};

// The parser itself (stream.rs), the limits, the header types and the error
// enum are filled in below / in submodules.

/// Everything that can be wrong with a GGUF file. Helpers extend this enum.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("metadata key `{key}` should be a {expected}, found {found}")]
    MetadataType { key: String, expected: &'static str, found: &'static str },
    #[error("metadata key `{0}` is missing")]
    MissingKey(String),
}
