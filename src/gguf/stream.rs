//! The push parser: a state machine over the header, then a cursor over the
//! tensor data that hands out sub-slices of the caller's chunks.
//!
//! The header is read one item at a time (a scalar, a string length, a
//! string's bytes). An item that straddles two chunks is gathered in a small
//! `pending` buffer; an item that lies inside one chunk is read in place.
//! Nothing after the header is ever copied.

use std::borrow::Cow;
use std::collections::HashSet;

use super::header::{alignment_of, check_layout, Header, TensorInfo};
use super::{GgufError, Limits, Metadata, Value, ValueType, MAX_ARRAY_DEPTH};
use crate::quant::GgmlType;

/// What the parser reports, in file order. A tensor of 0 bytes (a dimension
/// of 0) gets no `TensorBytes` nor `TensorDone`.
#[derive(Debug)]
pub enum Event<'a> {
    /// The header is complete (reported once, before any tensor bytes).
    Header(&'a Header),
    /// The next bytes of tensor `index` (into `header.tensors`), starting at
    /// byte `offset` within the tensor. Borrowed from the pushed chunk.
    TensorBytes {
        index: usize,
        offset: u64,
        bytes: &'a [u8],
    },
    /// All bytes of tensor `index` have been reported.
    TensorDone { index: usize },
}

/// Where the parser is in the file. Each header state names the next item.
#[derive(Clone, Copy, Debug)]
enum State {
    Magic,
    Version,
    TensorCount,
    KvCount,
    KeyLen,
    Key(u64),
    KvType,
    /// A value of this type starts here (an array element or a kv value).
    Value(ValueType),
    StrBytes(u64),
    ArrayType,
    ArrayLen(ValueType),
    NameLen,
    Name(u64),
    NDims,
    Dim(u32),
    TensorType,
    TensorOffset,
    /// Header reported; delivering tensor `spans[next]`.
    Data,
    Done,
}

/// An array being filled.
struct Frame {
    elem: ValueType,
    remaining: u64,
    items: Vec<Value>,
}

/// The tensor info being read.
#[derive(Default)]
struct PartialTensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: Option<GgmlType>,
}

/// Pulls header items out of the input, gathering one that straddles chunks.
struct ItemReader {
    pending: Vec<u8>,
    /// File offset of the next byte to take.
    pos: u64,
    /// Bytes still missing for the item in progress (for `Truncated`).
    missing: u64,
    max_header_bytes: u64,
    peak_pending: u64,
}

impl ItemReader {
    /// The next `n` bytes as one item, or `None` when the input ran out first
    /// (the part that was there is kept for the next chunk).
    fn take<'c>(
        &mut self,
        input: &mut &'c [u8],
        n: usize,
    ) -> Result<Option<Cow<'c, [u8]>>, GgufError> {
        let start = self.pos - self.pending.len() as u64;
        let end = start.saturating_add(n as u64);
        if end > self.max_header_bytes {
            return Err(GgufError::TooLarge {
                what: "header bytes",
                value: end,
                limit: self.max_header_bytes,
            });
        }
        if self.pending.is_empty() && input.len() >= n {
            let (item, rest) = input.split_at(n);
            *input = rest;
            self.pos += n as u64;
            return Ok(Some(Cow::Borrowed(item)));
        }
        let k = (n - self.pending.len()).min(input.len());
        // Growth follows the bytes that actually arrived, never `n` itself.
        self.pending.extend_from_slice(&input[..k]);
        *input = &input[k..];
        self.pos += k as u64;
        self.peak_pending = self.peak_pending.max(self.pending.capacity() as u64);
        if self.pending.len() == n {
            Ok(Some(Cow::Owned(std::mem::take(&mut self.pending))))
        } else {
            self.missing = (n - self.pending.len()) as u64;
            Ok(None)
        }
    }

    fn take_array<const N: usize>(
        &mut self,
        input: &mut &[u8],
    ) -> Result<Option<[u8; N]>, GgufError> {
        Ok(self.take(input, N)?.map(|b| {
            let mut a = [0u8; N];
            a.copy_from_slice(&b);
            a
        }))
    }

    fn take_u32(&mut self, input: &mut &[u8]) -> Result<Option<u32>, GgufError> {
        Ok(self.take_array(input)?.map(u32::from_le_bytes))
    }

    fn take_u64(&mut self, input: &mut &[u8]) -> Result<Option<u64>, GgufError> {
        Ok(self.take_array(input)?.map(u64::from_le_bytes))
    }

    /// Bytes of header budget left after the current position.
    fn budget_left(&self) -> u64 {
        self.max_header_bytes.saturating_sub(self.pos)
    }
}

/// Outcome of one header step.
enum Step {
    Progress,
    NeedInput,
    HeaderDone,
}

/// Streaming GGUF parser; see the module docs.
pub struct StreamParser {
    limits: Limits,
    state: State,
    reader: ItemReader,
    failed: bool,

    version: u32,
    n_tensors: u64,
    n_kv: u64,
    metadata: Metadata,
    key: String,
    frames: Vec<Frame>,
    alignment: u64,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    tensor: PartialTensor,

    header: Option<Header>,
    /// Memory the decoded header takes so far (see `decoded_bytes`).
    decoded: u64,
    /// (index into header.tensors, absolute start, absolute end), by start.
    spans: Vec<(usize, u64, u64)>,
    next: usize,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Smallest encoding of a value of this type (for budget checks on counts).
fn min_encoded_size(t: ValueType) -> u64 {
    use ValueType::*;
    match t {
        U8 | I8 | Bool => 1,
        U16 | I16 => 2,
        U32 | I32 | F32 => 4,
        U64 | I64 | F64 | String => 8,
        Array => 12,
    }
}

/// Smallest encodings: a kv pair (empty key, type, 1-byte value) and a tensor
/// info (empty name, n_dims, one dim, type, offset).
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;
/// Vec capacity reserved up front, whatever a count says.
const PREALLOC_CAP: u64 = 1024;

impl StreamParser {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        StreamParser {
            reader: ItemReader {
                pending: Vec::new(),
                pos: 0,
                missing: 4,
                max_header_bytes: limits.max_header_bytes,
                peak_pending: 0,
            },
            limits,
            state: State::Magic,
            failed: false,
            version: 0,
            n_tensors: 0,
            n_kv: 0,
            metadata: Metadata::default(),
            key: String::new(),
            frames: Vec::new(),
            alignment: super::DEFAULT_ALIGNMENT,
            tensors: Vec::new(),
            names: HashSet::new(),
            tensor: PartialTensor::default(),
            header: None,
            decoded: 0,
            spans: Vec::new(),
            next: 0,
        }
    }

    /// Feeds the next chunk (any size). Calls `on_event` for each event, in
    /// file order. After an error (the parser's or the callback's) the parser
    /// is spent: later calls return [`GgufError::AlreadyFailed`].
    pub fn push<E: From<GgufError>>(
        &mut self,
        chunk: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.failed {
            return Err(GgufError::AlreadyFailed.into());
        }
        let result = self.run(chunk, on_event);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// `Ok` once every tensor was delivered; `Truncated` before that.
    pub fn finish(&self) -> Result<(), GgufError> {
        if self.failed {
            return Err(GgufError::AlreadyFailed);
        }
        let offset = self.reader.pos;
        let needed = match self.state {
            State::Done => return Ok(()),
            State::Data => self.spans.last().map_or(0, |&(_, _, end)| end - offset),
            _ => self.reader.missing.max(1),
        };
        Err(GgufError::Truncated { offset, needed })
    }

    /// The header, once it has been parsed.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Takes the header out of the parser (which then delivers no more events).
    pub fn into_header(self) -> Option<Header> {
        self.header
    }

    /// Bytes taken from the pushed chunks so far (trailing bytes after the
    /// last tensor included).
    pub fn bytes_consumed(&self) -> u64 {
        self.reader.pos
    }

    /// Every tensor has been delivered.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The most memory the parser held for the file at once, in bytes: the
    /// decoded header ([`Self::decoded_bytes`]) plus the buffer for an item
    /// split across chunks. Tensor bytes are never held, so after the header
    /// this stops growing.
    pub fn peak_buffered_bytes(&self) -> u64 {
        self.decoded + self.reader.peak_pending
    }

    /// Memory taken by the header decoded so far, as charged against
    /// `Limits::max_decoded_bytes` before it is allocated: every `Value` slot
    /// of an array, each string's bytes (at least 16, malloc's least), each
    /// metadata entry and tensor info with its index entry and its share of
    /// the containers' growth.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    fn run<E: From<GgufError>>(
        &mut self,
        chunk: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut input = chunk;
        loop {
            match self.state {
                State::Data => return self.deliver(input, on_event),
                State::Done => {
                    self.reader.pos += input.len() as u64;
                    return Ok(());
                }
                _ => match self.step(&mut input)? {
                    Step::Progress => {}
                    Step::NeedInput => return Ok(()),
                    Step::HeaderDone => {
                        if let Some(header) = &self.header {
                            on_event(Event::Header(header))?;
                        }
                    }
                },
            }
        }
    }

    /// Hands out the tensor bytes in `input`, skipping padding between tensors.
    fn deliver<E: From<GgufError>>(
        &mut self,
        mut input: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let pos = &mut self.reader.pos;
        while let Some(&(index, start, end)) = self.spans.get(self.next) {
            if *pos < start {
                let skip = (start - *pos).min(input.len() as u64);
                input = &input[skip as usize..];
                *pos += skip;
                if *pos < start {
                    return Ok(());
                }
            }
            let n = (end - *pos).min(input.len() as u64) as usize;
            if n > 0 {
                let (bytes, rest) = input.split_at(n);
                input = rest;
                let offset = *pos - start;
                *pos += n as u64;
                on_event(Event::TensorBytes {
                    index,
                    offset,
                    bytes,
                })?;
            }
            if *pos < end {
                return Ok(());
            }
            self.next += 1;
            on_event(Event::TensorDone { index })?;
        }
        // Bytes after the last tensor are ignored.
        *pos += input.len() as u64;
        self.state = State::Done;
        Ok(())
    }

    /// Reads one header item (or finishes a structure) and moves to the next state.
    fn step(&mut self, input: &mut &[u8]) -> Result<Step, GgufError> {
        macro_rules! need {
            ($e:expr) => {
                match $e? {
                    Some(v) => v,
                    None => return Ok(Step::NeedInput),
                }
            };
        }
        let r = &mut self.reader;
        match self.state {
            State::Magic => {
                let magic: [u8; 4] = need!(r.take_array(input));
                if &magic != b"GGUF" {
                    return Err(GgufError::BadMagic(magic));
                }
                self.state = State::Version;
            }
            State::Version => {
                let v = need!(r.take_u32(input));
                if !(2..=3).contains(&v) {
                    return Err(GgufError::UnsupportedVersion(v));
                }
                self.version = v;
                self.state = State::TensorCount;
            }
            State::TensorCount => {
                let n = need!(r.take_u64(input));
                if n > self.limits.max_tensor_count {
                    return Err(too_large("tensor count", n, self.limits.max_tensor_count));
                }
                self.n_tensors = n;
                self.state = State::KvCount;
            }
            State::KvCount => {
                let n = need!(r.take_u64(input));
                if n > self.limits.max_kv_count {
                    return Err(too_large("kv count", n, self.limits.max_kv_count));
                }
                self.n_kv = n;
                let least = n
                    .saturating_mul(MIN_KV_BYTES)
                    .saturating_add(self.n_tensors.saturating_mul(MIN_TENSOR_INFO_BYTES));
                if least > r.budget_left() {
                    let value = r.pos.saturating_add(least);
                    return Err(too_large("header bytes", value, r.max_header_bytes));
                }
                self.tensors
                    .reserve(self.n_tensors.min(PREALLOC_CAP) as usize);
                return self.after_kv();
            }
            State::KeyLen => {
                let len = need!(r.take_u64(input));
                let len = self.string_len(len)?;
                // The key is held twice (entry and index) in a Vec and a HashMap
                // that may have grown to twice what they hold.
                let entry = size_of::<(String, Value)>() + size_of::<(String, usize)>() + 8;
                charge(&mut self.decoded, &self.limits, 2 * (len + entry as u64))?;
                self.state = State::Key(len);
            }
            State::Key(len) => {
                let bytes = need!(r.take(input, len as usize));
                self.key = utf8(bytes, "metadata key", r.pos - len)?;
                if self.metadata.contains(&self.key) {
                    return Err(GgufError::DuplicateKey(std::mem::take(&mut self.key)));
                }
                self.state = State::KvType;
            }
            State::KvType => {
                let id = need!(r.take_u32(input));
                self.state = State::Value(self.value_type(id)?);
            }
            State::Value(t) => {
                use ValueType as T;
                let v = match t {
                    T::U8 => Value::U8(need!(r.take_array::<1>(input))[0]),
                    T::I8 => Value::I8(i8::from_le_bytes(need!(r.take_array(input)))),
                    T::U16 => Value::U16(u16::from_le_bytes(need!(r.take_array(input)))),
                    T::I16 => Value::I16(i16::from_le_bytes(need!(r.take_array(input)))),
                    T::U32 => Value::U32(u32::from_le_bytes(need!(r.take_array(input)))),
                    T::I32 => Value::I32(i32::from_le_bytes(need!(r.take_array(input)))),
                    T::F32 => Value::F32(f32::from_le_bytes(need!(r.take_array(input)))),
                    T::U64 => Value::U64(u64::from_le_bytes(need!(r.take_array(input)))),
                    T::I64 => Value::I64(i64::from_le_bytes(need!(r.take_array(input)))),
                    T::F64 => Value::F64(f64::from_le_bytes(need!(r.take_array(input)))),
                    T::Bool => match need!(r.take_array::<1>(input))[0] {
                        0 => Value::Bool(false),
                        1 => Value::Bool(true),
                        value => {
                            return Err(GgufError::BadBool {
                                key: self.key.clone(),
                                value,
                            })
                        }
                    },
                    T::String => {
                        let len = need!(r.take_u64(input));
                        let len = self.string_len(len)?;
                        charge(&mut self.decoded, &self.limits, heap_bytes(len))?;
                        self.state = State::StrBytes(len);
                        return Ok(Step::Progress);
                    }
                    T::Array => {
                        self.state = State::ArrayType;
                        return Ok(Step::Progress);
                    }
                };
                return self.complete_value(v);
            }
            State::StrBytes(len) => {
                let bytes = need!(r.take(input, len as usize));
                let s = utf8(bytes, "string value", r.pos - len)?;
                return self.complete_value(Value::String(s));
            }
            State::ArrayType => {
                let id = need!(r.take_u32(input));
                self.state = State::ArrayLen(self.value_type(id)?);
            }
            State::ArrayLen(elem) => {
                let n = need!(r.take_u64(input));
                if n > self.limits.max_array_len {
                    return Err(too_large("array length", n, self.limits.max_array_len));
                }
                let least = n.saturating_mul(min_encoded_size(elem));
                if least > r.budget_left() {
                    let value = r.pos.saturating_add(least);
                    return Err(too_large("header bytes", value, r.max_header_bytes));
                }
                if n == 0 {
                    return self.complete_value(Value::Array(elem, Vec::new()));
                }
                if self.frames.len() >= MAX_ARRAY_DEPTH {
                    let depth = self.frames.len() as u64 + 1;
                    return Err(too_large(
                        "array nesting depth",
                        depth,
                        MAX_ARRAY_DEPTH as u64,
                    ));
                }
                let first = n.min(PREALLOC_CAP);
                charge(&mut self.decoded, &self.limits, first * size_of::<Value>() as u64)?;
                let items = Vec::with_capacity(first as usize);
                self.frames.push(Frame {
                    elem,
                    remaining: n,
                    items,
                });
                self.state = State::Value(elem);
            }
            State::NameLen => {
                let len = need!(r.take_u64(input));
                let len = self.string_len(len)?;
                // The name twice (info and duplicate check), the info and the
                // set entry, with room for the containers' growth.
                let info = size_of::<TensorInfo>() + size_of::<String>() + 8;
                charge(&mut self.decoded, &self.limits, 2 * (len + info as u64))?;
                self.state = State::Name(len);
            }
            State::Name(len) => {
                let bytes = need!(r.take(input, len as usize));
                let name = utf8(bytes, "tensor name", r.pos - len)?;
                if self.names.contains(&name) {
                    return Err(GgufError::DuplicateTensor(name));
                }
                self.tensor = PartialTensor {
                    name,
                    dims: Vec::new(),
                    ggml_type: None,
                };
                self.state = State::NDims;
            }
            State::NDims => {
                let n_dims = need!(r.take_u32(input));
                if n_dims == 0 || n_dims as usize > self.limits.max_dims {
                    let tensor = std::mem::take(&mut self.tensor.name);
                    return Err(GgufError::BadDimCount {
                        tensor,
                        n_dims,
                        max: self.limits.max_dims,
                    });
                }
                let least = n_dims as u64 * 8 + 4 + 8;
                if least > r.budget_left() {
                    let value = r.pos.saturating_add(least);
                    return Err(too_large("header bytes", value, r.max_header_bytes));
                }
                charge(&mut self.decoded, &self.limits, n_dims as u64 * 8)?;
                self.tensor.dims.reserve_exact((n_dims as usize).min(16));
                self.state = State::Dim(n_dims);
            }
            State::Dim(n_dims) => {
                let d = need!(r.take_u64(input));
                self.tensor.dims.push(d);
                if self.tensor.dims.len() == n_dims as usize {
                    self.state = State::TensorType;
                }
            }
            State::TensorType => {
                let id = need!(r.take_u32(input));
                let Some(t) = GgmlType::from_id(id) else {
                    let tensor = std::mem::take(&mut self.tensor.name);
                    return Err(GgufError::UnknownTensorType { tensor, id });
                };
                self.tensor.ggml_type = Some(t);
                self.state = State::TensorOffset;
            }
            State::TensorOffset => {
                let offset = need!(r.take_u64(input));
                let PartialTensor {
                    name,
                    dims,
                    ggml_type,
                } = std::mem::take(&mut self.tensor);
                let Some(ggml_type) = ggml_type else {
                    // Unreachable: TensorType always sets it before this state.
                    return Err(GgufError::UnknownTensorType {
                        tensor: name,
                        id: u32::MAX,
                    });
                };
                let info = TensorInfo::new(name, dims, ggml_type, offset, &self.limits)?;
                self.names.insert(info.name.clone());
                self.tensors.push(info);
                if (self.tensors.len() as u64) < self.n_tensors {
                    self.state = State::NameLen;
                } else {
                    return self.finish_header();
                }
            }
            State::Data | State::Done => {}
        }
        Ok(Step::Progress)
    }

    /// A string length from the file, checked against the limits.
    fn string_len(&self, len: u64) -> Result<u64, GgufError> {
        if len > self.limits.max_string_len {
            return Err(too_large("string length", len, self.limits.max_string_len));
        }
        if usize::try_from(len).is_err() {
            return Err(too_large("string length", len, usize::MAX as u64));
        }
        Ok(len)
    }

    fn value_type(&self, id: u32) -> Result<ValueType, GgufError> {
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            key: self.key.clone(),
            id,
        })
    }

    /// A value is complete: it goes into the enclosing array, or is the kv value.
    fn complete_value(&mut self, mut v: Value) -> Result<Step, GgufError> {
        while let Some(mut frame) = self.frames.pop() {
            if frame.items.len() == frame.items.capacity() {
                // Grow by hand, charging first: at most doubling, never past the count.
                let more = (frame.items.capacity() as u64).max(1).min(frame.remaining);
                charge(&mut self.decoded, &self.limits, more * size_of::<Value>() as u64)?;
                frame.items.reserve_exact(more as usize);
            }
            frame.items.push(v);
            frame.remaining -= 1;
            if frame.remaining > 0 {
                self.state = State::Value(frame.elem);
                self.frames.push(frame);
                return Ok(Step::Progress);
            }
            v = Value::Array(frame.elem, frame.items);
        }
        self.metadata.insert(std::mem::take(&mut self.key), v);
        self.after_kv()
    }

    /// Next kv pair, or on to the tensor infos.
    fn after_kv(&mut self) -> Result<Step, GgufError> {
        if (self.metadata.len() as u64) < self.n_kv {
            self.state = State::KeyLen;
            return Ok(Step::Progress);
        }
        self.alignment = alignment_of(&self.metadata)?;
        if self.n_tensors > 0 {
            self.state = State::NameLen;
            Ok(Step::Progress)
        } else {
            self.finish_header()
        }
    }

    /// All tensor infos read: check the layout and publish the header.
    fn finish_header(&mut self) -> Result<Step, GgufError> {
        let header_len = self.reader.pos;
        let Some(data_offset) = header_len.checked_next_multiple_of(self.alignment) else {
            return Err(too_large("data offset", header_len, u64::MAX));
        };
        let order = check_layout(&self.tensors, self.alignment, data_offset)?;
        self.spans = order
            .into_iter()
            .map(|i| {
                let start = data_offset + self.tensors[i].offset;
                (i, start, start + self.tensors[i].n_bytes)
            })
            .collect();
        self.header = Some(Header {
            version: self.version,
            metadata: std::mem::take(&mut self.metadata),
            tensors: std::mem::take(&mut self.tensors),
            alignment: self.alignment,
            data_offset,
        });
        self.names = HashSet::new();
        self.reader.pending = Vec::new();
        self.state = if self.spans.is_empty() {
            State::Done
        } else {
            State::Data
        };
        Ok(Step::HeaderDone)
    }
}

/// Adds `bytes` to the decoded total, or fails when that passes the limit.
/// Called before the allocation it stands for.
fn charge(decoded: &mut u64, limits: &Limits, bytes: u64) -> Result<(), GgufError> {
    let total = decoded.saturating_add(bytes);
    if total > limits.max_decoded_bytes {
        return Err(too_large("decoded header bytes", total, limits.max_decoded_bytes));
    }
    *decoded = total;
    Ok(())
}

/// Heap bytes of a string of `len` bytes: none when empty, else at least
/// the 16 bytes a small allocation takes.
fn heap_bytes(len: u64) -> u64 {
    if len == 0 {
        0
    } else {
        len.next_multiple_of(16)
    }
}

fn too_large(what: &'static str, value: u64, limit: u64) -> GgufError {
    GgufError::TooLarge { what, value, limit }
}

fn utf8(bytes: Cow<'_, [u8]>, what: &'static str, offset: u64) -> Result<String, GgufError> {
    let r = match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b).map(str::to_owned).map_err(|_| ()),
        // Gathered across chunks: drop the gathering buffer's spare capacity.
        Cow::Owned(v) => String::from_utf8(v).map(|mut s| {
            s.shrink_to_fit();
            s
        }).map_err(|_| ()),
    };
    r.map_err(|()| GgufError::InvalidUtf8 { what, offset })
}
