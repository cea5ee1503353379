//! Broken and hostile GGUF files: each gets its specific typed error, the same
//! whatever the chunking, and nothing panics. Files come from a tiny model
//! (patched or cut) and from a minimal writer below.

use std::path::PathBuf;

use tabllm::gguf::{self, Event, GgufError, Header, Limits, StreamParser, Value};

// ---------------------------------------------------------------- helpers

const SHARED_TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/tiny");
const SHARED_TINY_FROM_WORKTREE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/tiny");

fn tiny_model() -> Vec<u8> {
    let dir = [SHARED_TINY, SHARED_TINY_FROM_WORKTREE]
        .into_iter()
        .find(|d| std::path::Path::new(d).is_dir())
        .unwrap_or(SHARED_TINY);
    let p = PathBuf::from(dir).join("tiny-llama-q4_0.gguf");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Parses `data` pushed as `chunk`-byte pieces; the first error, or the header
/// and per-tensor bytes once `finish` says the file was complete.
fn parse_with(
    data: &[u8],
    chunk: usize,
    limits: Limits,
) -> Result<(Header, Vec<Vec<u8>>), GgufError> {
    let mut p = StreamParser::with_limits(limits);
    let mut tensors: Vec<Vec<u8>> = Vec::new();
    for c in data.chunks(chunk.max(1)) {
        p.push(c, &mut |ev: Event<'_>| -> Result<(), GgufError> {
            match ev {
                Event::Header(h) => tensors = vec![Vec::new(); h.tensors.len()],
                Event::TensorBytes { index, bytes, .. } => tensors[index].extend_from_slice(bytes),
                Event::TensorDone { .. } => {}
            }
            Ok(())
        })?;
    }
    p.finish()?;
    Ok((
        p.into_header().expect("complete parser without header"),
        tensors,
    ))
}

/// The error for `data` under `limits`, checked to be identical (Debug text)
/// for whole-file, 1-byte and 7-byte chunkings.
fn error_with(data: &[u8], limits: Limits) -> GgufError {
    let whole =
        parse_with(data, usize::MAX, limits.clone()).expect_err("parse unexpectedly succeeded");
    for chunk in [1, 7] {
        let e = parse_with(data, chunk, limits.clone()).expect_err("chunked parse succeeded");
        assert_eq!(
            format!("{e:?}"),
            format!("{whole:?}"),
            "error differs with {chunk}-byte chunks"
        );
    }
    whole
}

fn error(data: &[u8]) -> GgufError {
    error_with(data, Limits::default())
}

fn parse(data: &[u8]) -> (Header, Vec<Vec<u8>>) {
    parse_with(data, usize::MAX, Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- a minimal GGUF writer

const T_U8: u32 = 0;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_F64: u32 = 12;

const GGML_F32: u32 = 0;
const GGML_Q4_0: u32 = 2;
const GGML_Q8_0: u32 = 8;

fn s(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

/// An encoded array value: element type, count, then the encoded elements.
fn arr(elem: u32, count: u64, elems: &[Vec<u8>]) -> Vec<u8> {
    let mut v = elem.to_le_bytes().to_vec();
    v.extend_from_slice(&count.to_le_bytes());
    for e in elems {
        v.extend_from_slice(e);
    }
    v
}

fn kv(key: &[u8], ty: u32, value: &[u8]) -> Vec<u8> {
    let mut v = s(key);
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(value);
    v
}

#[derive(Clone)]
struct Tensor {
    name: Vec<u8>,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

fn tensor(name: &str, dims: &[u64], ty: u32, offset: u64) -> Tensor {
    Tensor {
        name: name.as_bytes().to_vec(),
        dims: dims.to_vec(),
        ty,
        offset,
    }
}

#[derive(Clone)]
struct Gguf {
    magic: [u8; 4],
    version: u32,
    /// Written instead of the real counts when set.
    tensor_count: Option<u64>,
    kv_count: Option<u64>,
    /// n_dims written instead of dims.len() when set.
    n_dims: Option<u32>,
    kvs: Vec<Vec<u8>>,
    tensors: Vec<Tensor>,
    /// Alignment used to place the data section (what the file claims is in kvs).
    align: u64,
    trailing: Vec<u8>,
}

impl Gguf {
    /// A valid file: two F32 tensors, arch "test".
    fn new() -> Self {
        Gguf {
            magic: *b"GGUF",
            version: 3,
            tensor_count: None,
            kv_count: None,
            n_dims: None,
            kvs: vec![kv(b"general.architecture", T_STRING, &s(b"test"))],
            tensors: vec![
                tensor("a", &[8], GGML_F32, 0),
                tensor("b", &[4, 2], GGML_F32, 32),
            ],
            align: 32,
            trailing: Vec::new(),
        }
    }

    fn with_kv(mut self, kv: Vec<u8>) -> Self {
        self.kvs.push(kv);
        self
    }

    fn with_tensors(mut self, t: Vec<Tensor>) -> Self {
        self.tensors = t;
        self
    }

    fn header_bytes(&self) -> Vec<u8> {
        let mut b = self.magic.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(
            &self
                .tensor_count
                .unwrap_or(self.tensors.len() as u64)
                .to_le_bytes(),
        );
        b.extend_from_slice(&self.kv_count.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for k in &self.kvs {
            b.extend_from_slice(k);
        }
        for t in &self.tensors {
            b.extend_from_slice(&s(&t.name));
            b.extend_from_slice(&self.n_dims.unwrap_or(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.ty.to_le_bytes());
            b.extend_from_slice(&t.offset.to_le_bytes());
        }
        b
    }

    /// Header, padding, then a data section big enough for the tensors
    /// (filled with a counter pattern), then `trailing`.
    fn build(&self) -> Vec<u8> {
        let mut b = self.header_bytes();
        while b.len() as u64 % self.align != 0 {
            b.push(0);
        }
        let data_len = self
            .tensors
            .iter()
            .filter_map(|t| {
                let ty = tabllm::quant::GgmlType::from_id(t.ty)?;
                let n = t.dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
                t.offset.checked_add(ty.bytes_for(n)?)
            })
            .max()
            .unwrap_or(0)
            .min(1 << 20);
        b.extend((0..data_len).map(|i| (i % 251) as u8));
        b.extend_from_slice(&self.trailing);
        b
    }
}

macro_rules! assert_err {
    ($e:expr, $pat:pat $(if $guard:expr)?) => {{
        let e = $e;
        let shown = format!("{e:?}");
        assert!(matches!(e, $pat $(if $guard)?), "got {shown}");
    }};
}

// ---------------------------------------------------------------- valid files from the writer

#[test]
fn writer_files_parse() {
    let (h, t) = parse(&Gguf::new().build());
    assert_eq!(h.version, 3);
    assert_eq!(h.tensors.len(), 2);
    assert_eq!(h.data_offset % 32, 0);
    assert_eq!(t[0], (0..32).map(|i| i as u8).collect::<Vec<_>>());
    assert_eq!(t[1], (32..64).map(|i| i as u8).collect::<Vec<_>>());

    // v2, no tensors, no kvs: a 24-byte file is complete.
    let mut g = Gguf::new().with_tensors(vec![]);
    g.version = 2;
    g.kvs.clear();
    let (h, t) = parse(&g.header_bytes());
    assert_eq!(
        (h.version, h.tensors.len(), h.metadata.len(), h.data_offset),
        (2, 0, 0, 32)
    );
    assert!(t.is_empty());
}

#[test]
fn every_value_type_and_nested_arrays_parse() {
    let elems_u32: Vec<Vec<u8>> = (0..3u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let inner = |n: u32| arr(T_U32, n as u64, &elems_u32[..n as usize]);
    let g = Gguf::new()
        .with_kv(kv(b"u8", 0, &[7]))
        .with_kv(kv(b"i8", 1, &[0xff]))
        .with_kv(kv(b"u16", 2, &0xbeefu16.to_le_bytes()))
        .with_kv(kv(b"i16", 3, &(-2i16).to_le_bytes()))
        .with_kv(kv(b"u32", T_U32, &7u32.to_le_bytes()))
        .with_kv(kv(b"i32", T_I32, &(-7i32).to_le_bytes()))
        .with_kv(kv(b"f32", T_F32, &1.5f32.to_le_bytes()))
        .with_kv(kv(b"bool", T_BOOL, &[1]))
        .with_kv(kv(b"str", T_STRING, &s("héllo".as_bytes())))
        .with_kv(kv(b"u64", T_U64, &u64::MAX.to_le_bytes()))
        .with_kv(kv(b"i64", 11, &i64::MIN.to_le_bytes()))
        .with_kv(kv(b"f64", T_F64, &2.25f64.to_le_bytes()))
        .with_kv(kv(b"empty", T_ARRAY, &arr(T_STRING, 0, &[])))
        .with_kv(kv(b"strs", T_ARRAY, &arr(T_STRING, 2, &[s(b"x"), s(b"")])))
        .with_kv(kv(
            b"nested",
            T_ARRAY,
            &arr(T_ARRAY, 3, &[inner(2), inner(0), inner(3)]),
        ))
        .with_kv(kv(b"", T_U8, &[1]));
    let (h, _) = parse(&g.build());
    let m = &h.metadata;
    assert_eq!(m.get("u8"), Some(&Value::U8(7)));
    assert_eq!(m.get("i8"), Some(&Value::I8(-1)));
    assert_eq!(m.get("u16"), Some(&Value::U16(0xbeef)));
    assert_eq!(m.get("i16"), Some(&Value::I16(-2)));
    assert_eq!(m.get("i32"), Some(&Value::I32(-7)));
    assert_eq!(m.get("f32"), Some(&Value::F32(1.5)));
    assert_eq!(m.get("bool"), Some(&Value::Bool(true)));
    assert_eq!(m.get_str("str").unwrap(), Some("héllo"));
    assert_eq!(m.get("u64"), Some(&Value::U64(u64::MAX)));
    assert_eq!(m.get("i64"), Some(&Value::I64(i64::MIN)));
    assert_eq!(m.get("f64"), Some(&Value::F64(2.25)));
    assert_eq!(
        m.get("empty"),
        Some(&Value::Array(gguf::ValueType::String, vec![]))
    );
    assert_eq!(m.get_str_array("strs").unwrap(), Some(vec!["x", ""]));
    let nested = m.get("nested").unwrap().as_array().unwrap();
    assert_eq!(nested.len(), 3);
    assert_eq!(nested[2].as_array().unwrap().len(), 3);
    assert_eq!(nested[1], Value::Array(gguf::ValueType::U32, vec![]));
    assert_eq!(m.get(""), Some(&Value::U8(1)));
    assert_eq!(h.architecture().unwrap(), "test");
}

#[test]
fn padding_between_tensors_and_trailing_bytes_are_skipped() {
    // Infos out of offset order, a gap between tensors, a bigger alignment.
    let mut g = Gguf::new()
        .with_kv(kv(b"general.alignment", T_U32, &64u32.to_le_bytes()))
        .with_tensors(vec![
            tensor("late", &[32], GGML_Q8_0, 192),
            tensor("early", &[3], GGML_F32, 0),
        ]);
    g.align = 64;
    g.trailing = vec![0xee; 100];
    let data = g.build();
    let (h, t) = parse(&data);
    assert_eq!((h.alignment, h.data_offset % 64), (64, 0));
    for (i, info) in h.tensors.iter().enumerate() {
        let s = (h.data_offset + info.offset) as usize;
        assert_eq!(t[i], &data[s..s + info.n_bytes as usize], "{}", info.name);
    }
    assert_eq!(h.tensors[0].n_bytes, 34);
    assert_eq!(h.tensors[1].n_bytes, 12);
}

/// A dimension of 0 is accepted, as llama.cpp accepts it (PR #25596): the
/// tensor holds no bytes, gets no events, and overlaps nothing, wherever its
/// offset lies (the model refuses it only if it needs it: tests/cli.rs).
#[test]
fn zero_sized_tensors_parse_and_hold_nothing() {
    let data = Gguf::new()
        .with_tensors(vec![
            tensor("whole", &[8], GGML_F32, 0),
            tensor("empty_inside", &[4, 0, 2], GGML_F32, 0),
            tensor("empty_q", &[0], GGML_Q4_0, 32),
            tensor("after", &[32], GGML_Q8_0, 32),
        ])
        .build();
    for chunk in [1, 7, usize::MAX] {
        let mut p = StreamParser::new();
        let mut events = Vec::new();
        for c in data.chunks(chunk) {
            p.push(c, &mut |ev: Event<'_>| -> Result<(), GgufError> {
                match ev {
                    Event::Header(_) => {}
                    Event::TensorBytes { index, .. } | Event::TensorDone { index } => events.push(index),
                }
                Ok(())
            })
            .unwrap();
        }
        p.finish().unwrap();
        let h = p.into_header().unwrap();
        let sizes: Vec<(u64, u64)> = h.tensors.iter().map(|t| (t.n_elements, t.n_bytes)).collect();
        assert_eq!(sizes, [(8, 32), (0, 0), (0, 0), (32, 34)]);
        assert!(!events.contains(&1) && !events.contains(&2), "{events:?}");
        assert!(events.contains(&0) && events.contains(&3), "{events:?}");
    }
}

// ---------------------------------------------------------------- cut files

#[test]
fn truncated_at_every_header_offset_and_sampled_data_offsets() {
    let data = tiny_model();
    let h = gguf::read_header(&data[..]).unwrap();
    let end_of_data = h
        .tensors
        .iter()
        .map(|t| h.data_offset + t.offset + t.n_bytes)
        .max()
        .unwrap();
    // Every cut inside the header (and the padding after it): one parser fed
    // a byte at a time must report exactly that cut as the truncation point.
    let mut p = StreamParser::new();
    for cut in 0..h.data_offset as usize {
        let e = p.finish();
        assert_err!(e, Err(GgufError::Truncated { offset, needed }) if offset == cut as u64 && needed >= 1);
        p.push(&data[cut..cut + 1], &mut |_| Ok::<(), GgufError>(()))
            .unwrap();
    }
    // And fresh parsers on the cut files themselves, whole: every offset of
    // the first 2 KiB, then every 7th.
    let cuts = (0..2048).chain((2048..h.data_offset as usize).step_by(7));
    for cut in cuts {
        let e = parse_with(&data[..cut], usize::MAX, Limits::default()).err();
        assert_err!(e, Some(GgufError::Truncated { offset, needed }) if offset == cut as u64 && needed >= 1);
    }
    // Some cuts inside the header also in small chunks, and via read_header.
    for cut in (0..h.data_offset as usize).step_by(997) {
        let e = parse_with(&data[..cut], 13, Limits::default()).err();
        assert_err!(e, Some(GgufError::Truncated { offset, .. }) if offset == cut as u64);
        assert_err!(gguf::read_header(&data[..cut]), Err(GgufError::Truncated { offset, .. }) if offset == cut as u64);
    }
    // Sampled through the data: `needed` is exactly what is missing.
    let step = (end_of_data - h.data_offset) / 211;
    for cut in (h.data_offset..end_of_data).step_by(step as usize) {
        let e = parse_with(&data[..cut as usize], 4096, Limits::default()).err();
        assert_err!(e, Some(GgufError::Truncated { offset, needed }) if offset == cut && needed == end_of_data - cut);
    }
    assert!(parse_with(&data[..end_of_data as usize], 4096, Limits::default()).is_ok());
}

// ---------------------------------------------------------------- patched tiny model

/// Offset of the first tensor info (its name's length prefix) in the tiny model.
fn first_info_offset(data: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    data.windows(needle.len())
        .position(|w| w == needle)
        .expect("tensor name in header")
}

#[test]
fn patched_tiny_model() {
    let data = tiny_model();
    let h = gguf::read_header(&data[..]).unwrap();
    let first = &h.tensors[0];
    let info = first_info_offset(&data, &first.name);
    let n_dims_at = info + 8 + first.name.len();
    let type_at = n_dims_at + 4 + 8 * first.dims.len();
    let offset_at = type_at + 4;
    let patch = |at: usize, bytes: &[u8]| {
        let mut d = data.clone();
        d[at..at + bytes.len()].copy_from_slice(bytes);
        d
    };

    assert_err!(error(&patch(0, b"GGML")), GgufError::BadMagic(m) if &m == b"GGML");
    assert_err!(
        error(&patch(4, &1u32.to_le_bytes())),
        GgufError::UnsupportedVersion(1)
    );
    assert_err!(
        error(&patch(4, &99u32.to_le_bytes())),
        GgufError::UnsupportedVersion(99)
    );
    assert_err!(
        error(&patch(8, &u64::MAX.to_le_bytes())),
        GgufError::TooLarge {
            what: "tensor count",
            ..
        }
    );
    assert_err!(
        error(&patch(16, &u64::MAX.to_le_bytes())),
        GgufError::TooLarge {
            what: "kv count",
            ..
        }
    );
    // More kvs than present: the tensor infos get read as kvs and fail somewhere, typed.
    let e = error(&patch(16, &26u64.to_le_bytes()));
    assert!(!matches!(e, GgufError::AlreadyFailed), "{e:?}");
    // First key's length absurd.
    assert_err!(
        error(&patch(24, &u64::MAX.to_le_bytes())),
        GgufError::TooLarge {
            what: "string length",
            ..
        }
    );
    assert_err!(
        error(&patch(type_at, &4u32.to_le_bytes())),
        GgufError::UnknownTensorType { tensor, id: 4 } if tensor == first.name
    );
    assert_err!(
        error(&patch(type_at, &1000u32.to_le_bytes())),
        GgufError::UnknownTensorType { id: 1000, .. }
    );
    assert_err!(
        error(&patch(n_dims_at, &0u32.to_le_bytes())),
        GgufError::BadDimCount { n_dims: 0, .. }
    );
    assert_err!(
        error(&patch(n_dims_at, &u32::MAX.to_le_bytes())),
        GgufError::BadDimCount {
            n_dims: u32::MAX,
            ..
        }
    );
    assert_err!(
        error(&patch(offset_at, &(first.offset + 1).to_le_bytes())),
        GgufError::MisalignedTensor { offset, alignment: 32, .. } if offset == first.offset + 1
    );
    // Point the first tensor at the second's offset.
    let second = h.tensors.iter().find(|t| t.offset > first.offset).unwrap();
    assert_err!(
        error(&patch(offset_at, &second.offset.to_le_bytes())),
        GgufError::OverlappingTensors { .. }
    );
    // Invalid UTF-8 in the first tensor name.
    assert_err!(
        error(&patch(info + 8, &[0xff])),
        GgufError::InvalidUtf8 {
            what: "tensor name",
            ..
        }
    );
    // Rename the first tensor to another of the same length: a duplicate.
    if let Some(twin) = h.tensors[1..]
        .iter()
        .find(|t| t.name.len() == first.name.len())
    {
        assert_err!(
            error(&patch(info + 8, twin.name.as_bytes())),
            GgufError::DuplicateTensor(n) if n == twin.name
        );
    }
}

// ---------------------------------------------------------------- writer-built hostile files

#[test]
fn header_fields() {
    let mut g = Gguf::new();
    g.magic = *b"\0\0\0\0";
    assert_err!(error(&g.build()), GgufError::BadMagic([0, 0, 0, 0]));
    for v in [0, 1, 4, 99, u32::MAX, 0x0300_0000] {
        let mut g = Gguf::new();
        g.version = v;
        assert_err!(error(&g.build()), GgufError::UnsupportedVersion(x) if x == v);
    }
    let mut g = Gguf::new();
    g.kv_count = Some(u64::MAX);
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "kv count",
            value: u64::MAX,
            limit: 1048576
        }
    );
    let mut g = Gguf::new();
    g.tensor_count = Some(1 << 40);
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "tensor count",
            ..
        }
    );
    // Counts under their limits but more than the header budget could hold.
    let mut g = Gguf::new();
    g.kv_count = Some(1 << 20);
    let small = Limits {
        max_header_bytes: 1 << 16,
        ..Limits::default()
    };
    assert_err!(
        error_with(&g.build(), small.clone()),
        GgufError::TooLarge {
            what: "header bytes",
            ..
        }
    );
    let mut g = Gguf::new();
    g.tensor_count = Some(60_000);
    assert_err!(
        error_with(&g.build(), small.clone()),
        GgufError::TooLarge {
            what: "header bytes",
            ..
        }
    );
    // A header simply longer than allowed.
    let g = Gguf::new().with_kv(kv(b"big", T_STRING, &s(&[b'x'; 70_000])));
    assert_err!(
        error_with(&g.build(), small),
        GgufError::TooLarge {
            what: "header bytes",
            ..
        }
    );
}

#[test]
fn strings_and_arrays() {
    let absurd = u64::MAX.to_le_bytes();
    // Key length, string value length, tensor name length.
    let mut g = Gguf::new();
    g.kvs.push([&absurd[..], b"rest"].concat());
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "string length",
            value: u64::MAX,
            ..
        }
    );
    let g = Gguf::new().with_kv(kv(b"k", T_STRING, &absurd));
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "string length",
            ..
        }
    );
    let mut g = Gguf::new();
    g.tensors[0].name = vec![b'n'; 100];
    let tight = Limits {
        max_string_len: 99,
        ..Limits::default()
    };
    assert_err!(
        error_with(&g.build(), tight),
        GgufError::TooLarge {
            what: "string length",
            value: 100,
            limit: 99
        }
    );
    // Array length absurd, and under the limit but beyond the header budget.
    let g = Gguf::new().with_kv(kv(b"a", T_ARRAY, &arr(T_U8, u64::MAX, &[])));
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "array length",
            ..
        }
    );
    let g = Gguf::new().with_kv(kv(b"a", T_ARRAY, &arr(T_U64, 16 << 20, &[])));
    let small = Limits {
        max_header_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_err!(
        error_with(&g.build(), small),
        GgufError::TooLarge {
            what: "header bytes",
            ..
        }
    );
    // An array of arrays of ... deeper than allowed.
    let mut v = arr(T_U8, 0, &[]);
    for _ in 0..20 {
        v = arr(T_ARRAY, 1, &[v]);
    }
    let g = Gguf::new().with_kv(kv(b"deep", T_ARRAY, &v));
    assert_err!(
        error(&g.build()),
        GgufError::TooLarge {
            what: "array nesting depth",
            ..
        }
    );
    // Invalid UTF-8 in a key, a value, an array element.
    let g = Gguf::new().with_kv(kv(b"k\xc3", T_U8, &[0]));
    assert_err!(
        error(&g.build()),
        GgufError::InvalidUtf8 {
            what: "metadata key",
            ..
        }
    );
    let g = Gguf::new().with_kv(kv(b"k", T_STRING, &s(b"\xed\xa0\x80")));
    assert_err!(
        error(&g.build()),
        GgufError::InvalidUtf8 {
            what: "string value",
            ..
        }
    );
    let g = Gguf::new().with_kv(kv(
        b"k",
        T_ARRAY,
        &arr(T_STRING, 2, &[s(b"ok"), s(b"\xff")]),
    ));
    assert_err!(
        error(&g.build()),
        GgufError::InvalidUtf8 {
            what: "string value",
            ..
        }
    );
}

#[test]
fn value_types_and_keys() {
    let g = Gguf::new().with_kv(kv(b"weird", 13, &[0; 8]));
    assert_err!(error(&g.build()), GgufError::UnknownValueType { key, id: 13 } if key == "weird");
    let g = Gguf::new().with_kv(kv(b"weird", T_ARRAY, &arr(u32::MAX, 1, &[])));
    assert_err!(error(&g.build()), GgufError::UnknownValueType { key, id: u32::MAX } if key == "weird");
    let g = Gguf::new().with_kv(kv(b"flag", T_BOOL, &[2]));
    assert_err!(error(&g.build()), GgufError::BadBool { value: 2, .. });
    let g = Gguf::new().with_kv(kv(b"general.architecture", T_STRING, &s(b"again")));
    assert_err!(error(&g.build()), GgufError::DuplicateKey(k) if k == "general.architecture");
}

#[test]
fn alignment_key() {
    for a in [0u32, 3, 48, 1 << 30] {
        let g = Gguf::new().with_kv(kv(b"general.alignment", T_U32, &a.to_le_bytes()));
        assert_err!(error(&g.build()), GgufError::BadAlignment(x) if x == a as u64);
    }
    let g = Gguf::new().with_kv(kv(b"general.alignment", T_STRING, &s(b"32")));
    assert_err!(error(&g.build()), GgufError::MetadataType { .. });
    let g = Gguf::new().with_kv(kv(b"general.alignment", T_I32, &(-32i32).to_le_bytes()));
    assert_err!(error(&g.build()), GgufError::MetadataType { .. });
    // Alignment 1 is legal: no padding at all.
    let mut g = Gguf::new()
        .with_kv(kv(b"general.alignment", T_U32, &1u32.to_le_bytes()))
        .with_tensors(vec![
            tensor("a", &[1], GGML_F32, 0),
            tensor("b", &[1], GGML_F32, 4),
        ]);
    g.align = 1;
    let data = g.build();
    let (h, t) = parse(&data);
    assert_eq!(h.data_offset as usize, data.len() - 8);
    assert_eq!(t[1], &data[data.len() - 4..]);
}

#[test]
fn tensor_infos() {
    let one = |t: Tensor| Gguf::new().with_tensors(vec![t]).build();
    assert_err!(error(&one(tensor("t", &[8], 4, 0))), GgufError::UnknownTensorType { tensor, id: 4 } if tensor == "t");
    assert_err!(
        error(&one(tensor("t", &[8], 40, 0))),
        GgufError::UnknownTensorType { id: 40, .. }
    );
    assert_err!(
        error(&one(tensor("t", &[], GGML_F32, 0))),
        GgufError::BadDimCount { n_dims: 0, .. }
    );
    assert_err!(
        error(&one(tensor("t", &[1; 5], GGML_F32, 0))),
        GgufError::BadDimCount {
            n_dims: 5,
            max: 4,
            ..
        }
    );
    let mut g = Gguf::new();
    g.n_dims = Some(1 << 31);
    assert_err!(
        error(&g.build()),
        GgufError::BadDimCount {
            n_dims: 0x8000_0000,
            ..
        }
    );
    assert_err!(
        error(&one(tensor("t", &[1 << 32, 1 << 32], GGML_F32, 0))),
        GgufError::ShapeOverflow { .. }
    );
    assert_err!(
        error(&one(tensor("t", &[u64::MAX, 2], GGML_F32, 0))),
        GgufError::ShapeOverflow { .. }
    );
    // Element count fits, byte size does not.
    assert_err!(
        error(&one(tensor("t", &[1 << 31, 1 << 31], GGML_F32, 0))),
        GgufError::ShapeOverflow { .. }
    );
    assert_err!(
        error(&one(tensor("t", &[33, 2], GGML_Q4_0, 0))),
        GgufError::NotBlockMultiple {
            dim0: 33,
            block: 32,
            ..
        }
    );
    // Too big for the limit, and an offset that runs off the end of u64.
    let limited = Limits {
        max_tensor_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_err!(
        error_with(&one(tensor("t", &[1 << 20], GGML_F32, 0)), limited),
        GgufError::TooLarge {
            what: "tensor bytes",
            value: 4194304,
            limit: 1048576
        }
    );
    assert_err!(
        error(&one(tensor("t", &[8], GGML_F32, u64::MAX - 31))),
        GgufError::OffsetOverflow { .. }
    );
    assert_err!(
        error(&one(tensor("t", &[8], GGML_F32, 16))),
        GgufError::MisalignedTensor {
            offset: 16,
            alignment: 32,
            ..
        }
    );
    let two = |a: Tensor, b: Tensor| Gguf::new().with_tensors(vec![a, b]).build();
    assert_err!(
        error(&two(tensor("a", &[16], GGML_F32, 0), tensor("b", &[8], GGML_F32, 32))),
        GgufError::OverlappingTensors { first, second } if first == "a" && second == "b"
    );
    assert_err!(
        error(&two(
            tensor("a", &[8], GGML_F32, 64),
            tensor("b", &[8], GGML_F32, 64)
        )),
        GgufError::OverlappingTensors { .. }
    );
    assert_err!(
        error(&two(tensor("a", &[8], GGML_F32, 0), tensor("a", &[8], GGML_F32, 32))),
        GgufError::DuplicateTensor(n) if n == "a"
    );
}

// ---------------------------------------------------------------- parser contract

#[test]
fn spent_parser_and_callback_errors() {
    #[derive(Debug)]
    enum MyError {
        Gguf(GgufError),
        Stop,
    }
    impl From<GgufError> for MyError {
        fn from(e: GgufError) -> Self {
            MyError::Gguf(e)
        }
    }
    let data = Gguf::new().build();
    let mut p = StreamParser::new();
    let r = p.push(&data, &mut |ev| match ev {
        Event::TensorBytes { .. } => Err(MyError::Stop),
        _ => Ok(()),
    });
    assert!(matches!(r, Err(MyError::Stop)));
    assert!(matches!(
        p.push(&data, &mut |_| Ok::<(), MyError>(())),
        Err(MyError::Gguf(GgufError::AlreadyFailed))
    ));
    assert_err!(p.finish(), Err(GgufError::AlreadyFailed));

    let mut p = StreamParser::new();
    assert_err!(
        p.push(b"GGUX", &mut |_| Ok::<(), GgufError>(())),
        Err(GgufError::BadMagic(_))
    );
    assert_err!(
        p.push(b"", &mut |_| Ok::<(), GgufError>(())),
        Err(GgufError::AlreadyFailed)
    );

    // Empty pushes are harmless.
    let mut p = StreamParser::new();
    for _ in 0..3 {
        p.push(&[], &mut |_| Ok::<(), GgufError>(())).unwrap();
    }
    assert_err!(
        p.finish(),
        Err(GgufError::Truncated {
            offset: 0,
            needed: 4
        })
    );
}

/// Seeded random byte flips in the tiny model's header and data: any outcome
/// but a panic, and the same outcome in any chunking.
#[test]
fn random_corruptions_do_not_panic() {
    let data = tiny_model();
    let header_len = gguf::read_header(&data[..]).unwrap().data_offset as usize;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..300 {
        let mut d = data[..header_len + 4096].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % header_len as u64) as usize;
            d[at] = next() as u8;
        }
        let whole = parse_with(&d, usize::MAX, Limits::default());
        let chunked = parse_with(&d, 1 + (next() % 5000) as usize, Limits::default());
        assert_eq!(
            format!("{:?}", whole.as_ref().err()),
            format!("{:?}", chunked.as_ref().err())
        );
        let kind = match whole {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{e:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string(),
        };
        *outcomes.entry(kind).or_default() += 1;
    }
    eprintln!("corruption outcomes: {outcomes:?}");
}

// ---------------------------------------------------------------- decoded size

/// Pushes `data` in `chunk`-byte pieces until the parser fails; returns the
/// error and the spent parser (for its accounting).
fn first_error(data: &[u8], chunk: usize) -> (GgufError, StreamParser) {
    let mut p = StreamParser::new();
    for c in data.chunks(chunk) {
        if let Err(e) = p.push(c, &mut |_| Ok::<(), GgufError>(())) {
            return (e, p);
        }
    }
    panic!("parsed a header that decodes past the limit");
}

/// Headers within the 256 MiB header cap whose values decode far larger (a
/// 1-byte element is a whole `Value`): the decoded-size budget stops each with
/// a typed error before allocating past it, whatever the chunking.
#[test]
fn decoded_header_memory_is_bounded() {
    let limit = Limits::default().max_decoded_bytes;
    let slot = std::mem::size_of::<Value>() as u64;
    // 12 arrays of 16 Mi u8 and bool: 192 MiB stored, 6 GiB as Values.
    let n = 16u64 << 20;
    let mut g = Gguf::new();
    for i in 0..12 {
        let ty = if i % 2 == 0 { T_U8 } else { T_BOOL };
        g = g.with_kv(kv(format!("bytes.{i}").as_bytes(), T_ARRAY, &arr(ty, n, &[vec![1u8; n as usize]])));
    }
    let data = g.build();
    assert!((data.len() as u64) < Limits::default().max_header_bytes);
    for chunk in [usize::MAX, 1 << 20] {
        let (e, p) = first_error(&data, chunk);
        assert_err!(e, GgufError::TooLarge { what: "decoded header bytes", value, limit: l } if l == limit && value > limit);
        assert!(p.decoded_bytes() <= limit);
        // It stops inside the first array, after about limit / size_of::<Value>() elements.
        let elems = limit / slot;
        assert!(p.bytes_consumed() < 1024 + elems, "stopped at byte {} (about {elems} elements fit)", p.bytes_consumed());
    }
    drop(data);

    // 4 arrays of 4 Mi one-byte strings: 144 MiB stored, a Value and a heap
    // allocation each (at least 48 bytes): 768 MiB decoded.
    let n = 4u64 << 20;
    let one = s(b"x");
    let elems: Vec<Vec<u8>> = vec![one; n as usize];
    let mut g = Gguf::new();
    for i in 0..4 {
        g = g.with_kv(kv(format!("strings.{i}").as_bytes(), T_ARRAY, &arr(T_STRING, n, &elems)));
    }
    drop(elems);
    let data = g.build();
    let (e, p) = first_error(&data, 1 << 20);
    assert_err!(e, GgufError::TooLarge { what: "decoded header bytes", limit: l, .. } if l == limit);
    let parsed = p.bytes_consumed() / 9;
    assert!(parsed * (slot + 16) <= limit, "{parsed} strings decoded, at least {} bytes", parsed * (slot + 16));
}

/// The accounting covers what the values really take: an array's elements
/// count as whole `Value`s, strings by their bytes; a file whose decoded
/// size is over a small budget fails, the same file under it parses.
#[test]
fn decoded_size_accounting() {
    let slot = std::mem::size_of::<Value>() as u64;
    let g = Gguf::new()
        .with_kv(kv(b"a", T_ARRAY, &arr(T_U8, 10_000, &[vec![7u8; 10_000]])))
        .with_kv(kv(b"s", T_STRING, &s(&[b'y'; 5000])));
    let data = g.build();
    let mut p = StreamParser::new();
    p.push(&data, &mut |_| Ok::<(), GgufError>(())).unwrap();
    let decoded = p.decoded_bytes();
    let least = 10_000 * slot + 5000;
    assert!(decoded >= least && decoded < least + 4096, "decoded {decoded}, values alone {least}");
    assert!(p.peak_buffered_bytes() >= decoded);
    let tight = Limits { max_decoded_bytes: least, ..Limits::default() };
    assert_err!(error_with(&data, tight), GgufError::TooLarge { what: "decoded header bytes", .. });
    let (h, _) = parse_with(&data, 7, Limits { max_decoded_bytes: decoded, ..Limits::default() }).unwrap();
    assert_eq!(h.metadata.get("a").and_then(Value::as_array).map(<[Value]>::len), Some(10_000));
}
