//! Blocking helpers over `std::io` for tests and tools (the page streams
//! through [`StreamParser`] instead).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{split, GgufError, Header, StreamParser};

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

/// The files of the model whose file is `p`, in `split.no` order: `[p]` for
/// a whole file; for the first part of a split model (`split.count` above 1,
/// read from its header, whatever its name), every part, each found next to
/// `p` under the names [`split::part_names`] gives (the first that exists).
/// Errors: `p` unreadable or not a GGUF, a part other than the first
/// ([`GgufError::NotFirstSplit`]), a first part whose name does not follow
/// gguf-split's naming ([`GgufError::SplitUnnamed`]), a part not found under
/// any of its names ([`GgufError::SplitPartNotFound`], naming the paths
/// looked for). Each part's own `split.no` is checked by whoever reads it.
pub fn split_part_paths(p: &Path) -> Result<Vec<PathBuf>, GgufError> {
    split_part_paths_of(p, &read_header_from_path(p)?)
}

/// [`split_part_paths`] with `p`'s header already read.
pub fn split_part_paths_of(p: &Path, header: &Header) -> Result<Vec<PathBuf>, GgufError> {
    let shown = p.display().to_string();
    let count = split::require_first(header, &shown)?;
    if count == 1 {
        return Ok(vec![p.to_path_buf()]);
    }
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut paths = vec![p.to_path_buf()];
    for k in 2..=count {
        let names = split::part_names(name, 0, count, k).ok_or_else(|| GgufError::SplitUnnamed { file: shown.clone(), count })?;
        let tried: Vec<PathBuf> = names.iter().map(|n| p.with_file_name(n)).collect();
        match tried.iter().find(|c| c.is_file()) {
            Some(found) => paths.push(found.clone()),
            None => return Err(GgufError::SplitPartNotFound { part: k, count, tried: tried.iter().map(|c| c.display().to_string()).collect() }),
        }
    }
    Ok(paths)
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
