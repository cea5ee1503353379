//! Pushes the input through `StreamParser` in chunks whose sizes come from the
//! input's first bytes, and checks the parser's promises: no panic, events in
//! order, tensor bytes borrowed from the chunk and contiguous, and the same
//! outcome as one whole-input push.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabllm_fuzz::gguf::{Event, GgufError, Limits, StreamParser};

/// Small limits so that the fuzzer reaches them (and allocations stay small).
fn limits() -> Limits {
    Limits {
        max_string_len: 1 << 16,
        max_array_len: 1 << 16,
        max_kv_count: 1 << 12,
        max_tensor_count: 1 << 10,
        max_dims: 4,
        max_header_bytes: 1 << 20,
        max_decoded_bytes: 1 << 22,
        max_tensor_bytes: 1 << 24,
    }
}

/// Runs the parser over `data` cut into `sizes` (cycled; must not be all
/// zeros); returns the outcome as text (the error, or the tensors' summary).
fn run(data: &[u8], sizes: &[u8]) -> String {
    let mut p = StreamParser::with_limits(limits());
    let mut events: Vec<(usize, u64)> = Vec::new(); // per tensor: bytes seen
    let mut header_seen = false;
    let mut current: Option<usize> = None;
    let mut pos = 0usize;
    let mut i = 0usize;
    while pos < data.len() {
        // No sizes: one push of everything. A size 0 is an empty push;
        // 250..=255 stand for 4 KiB..24 KiB.
        let n = match sizes.get(i % sizes.len().max(1)) {
            None => data.len(),
            Some(&s) if s >= 250 => (s as usize - 249) * 4096,
            Some(&s) => s as usize,
        }
        .min(data.len() - pos);
        i += 1;
        let chunk = &data[pos..pos + n];
        let (lo, hi) = (
            chunk.as_ptr() as usize,
            chunk.as_ptr() as usize + chunk.len(),
        );
        let r = p.push(chunk, &mut |ev: Event<'_>| -> Result<(), GgufError> {
            match ev {
                Event::Header(h) => {
                    assert!(!header_seen);
                    header_seen = true;
                    events = vec![(0, 0); h.tensors.len()];
                }
                Event::TensorBytes {
                    index,
                    offset,
                    bytes,
                } => {
                    assert!(header_seen);
                    let a = bytes.as_ptr() as usize;
                    assert!(
                        a >= lo && a + bytes.len() <= hi,
                        "not a sub-slice of the chunk"
                    );
                    assert!(current.is_none() || current == Some(index));
                    current = Some(index);
                    assert_eq!(events[index].1, offset);
                    events[index].1 += bytes.len() as u64;
                }
                Event::TensorDone { index } => {
                    assert!(current.is_none() || current == Some(index));
                    current = None;
                    events[index].0 += 1;
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            return format!("{e:?}");
        }
        pos += n;
    }
    match p.finish() {
        Err(e) => format!("{e:?}"),
        Ok(()) => {
            let h = p.header().expect("complete without header");
            for (i, t) in h.tensors.iter().enumerate() {
                assert_eq!(events[i], (1, t.n_bytes), "tensor {i}");
            }
            // The decoded header within its budget, plus one item gathered across chunks.
            assert!(p.peak_buffered_bytes() <= limits().max_decoded_bytes + (1 << 17));
            format!("ok {events:?}")
        }
    }
}

fuzz_target!(|input: &[u8]| {
    // First byte: how many size bytes follow (0..=15); then the file.
    let Some((&k, rest)) = input.split_first() else {
        return;
    };
    let k = (k as usize % 16).min(rest.len());
    let (sizes, data) = rest.split_at(k);
    let sizes: Vec<u8> = if sizes.iter().all(|&s| s == 0) {
        vec![255]
    } else {
        sizes.to_vec()
    };
    let chunked = run(data, &sizes);
    let whole = run(data, &[]);
    assert_eq!(chunked, whole, "outcome depends on the chunking");
});
