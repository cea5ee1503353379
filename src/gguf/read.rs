//! Blocking helpers over `std::io` for tests and tools (the page streams
//! through [`StreamParser`] instead).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::{GgufError, Header, StreamParser};

/// Read size while looking for the end of the header.
const READ_CHUNK: usize = 64 << 10;

/// Reads and checks the header; stops reading once it is complete (at most
/// one read of 64 KiB past its end).
pub fn read_header<R: Read>(mut r: R) -> Result<Header, GgufError> {
    let mut parser = StreamParser::new();
    let mut buf = vec![0u8; READ_CHUNK];
    while parser.header().is_none() {
        let n = match r.read(&mut buf) {
            Ok(0) => return Err(parser.finish().err().unwrap_or(GgufError::AlreadyFailed)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        parser.push(&buf[..n], &mut |_| Ok::<(), GgufError>(()))?;
    }
    parser.into_header().ok_or(GgufError::AlreadyFailed)
}

/// [`read_header`] on a file.
pub fn read_header_from_path(p: impl AsRef<Path>) -> Result<Header, GgufError> {
    read_header(std::fs::File::open(p)?)
}

/// The files of a split model when `p` names its first part in llama.cpp's
/// gguf-split naming (`NAME-00001-of-0000N.gguf`): parts 1..=N in order,
/// whether they exist or not (reading a missing one names it). Any other
/// path: just `p`.
pub fn split_part_paths(p: &Path) -> Vec<std::path::PathBuf> {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parsed = name.strip_suffix(".gguf").and_then(|stem| {
        let (head, count) = stem.rsplit_once("-of-")?;
        let (base, no) = head.rsplit_once('-')?;
        let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        (digits(no) && digits(count) && no == "00001").then(|| (base.to_string(), count.parse::<u32>().ok()))
    });
    match parsed {
        Some((base, Some(n))) if n > 1 => (1..=n).map(|i| p.with_file_name(format!("{base}-{i:05}-of-{n:05}.gguf"))).collect(),
        _ => vec![p.to_path_buf()],
    }
}

/// One tensor's raw bytes (still quantized), read from a file.
pub fn read_tensor_bytes(p: impl AsRef<Path>, name: &str) -> Result<Vec<u8>, GgufError> {
    let mut file = std::fs::File::open(p)?;
    let header = read_header(&mut file)?;
    let (index, _) = header
        .tensor(name)
        .ok_or_else(|| GgufError::TensorNotFound(name.to_string()))?;
    // Checked against u64 overflow when the header was parsed.
    let (start, end) = header
        .tensor_file_range(index)
        .ok_or(GgufError::AlreadyFailed)?;
    let file_len = file.metadata()?.len();
    if end > file_len {
        return Err(GgufError::Truncated {
            offset: file_len,
            needed: end - file_len,
        });
    }
    let len = usize::try_from(end - start).map_err(|_| GgufError::TooLarge {
        what: "tensor bytes",
        value: end - start,
        limit: usize::MAX as u64,
    })?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = vec![0u8; len];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}
