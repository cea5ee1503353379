//! A panic in the wasm engine aborts the instance (wasm32 has no unwinding):
//! the JS caller sees only `RuntimeError: unreachable`. The hook installed at
//! start-up writes the panic's message and place into a fixed buffer in linear
//! memory, without allocating (the panic may have come from the allocator),
//! and the worker reads it from there with [`panic_message_ptr`] /
//! [`panic_message_len`] after the trap, turns it into an `internal` error
//! carrying the message, and drops the dead instance (pkg/worker.js).

use std::fmt::Write;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use wasm_bindgen::prelude::*;

const CAPACITY: usize = 2048;
static MESSAGE: [AtomicU8; CAPACITY] = [const { AtomicU8::new(0) }; CAPACITY];
static LEN: AtomicUsize = AtomicUsize::new(0);

/// Writes into [`MESSAGE`], dropping what does not fit.
struct Buffer(usize);

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            if self.0 == CAPACITY {
                break;
            }
            MESSAGE[self.0].store(b, Ordering::Relaxed);
            self.0 += 1;
        }
        Ok(())
    }
}

#[wasm_bindgen(start)]
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if LEN.load(Ordering::Relaxed) > 0 {
            return; // the first panic is the one that explains
        }
        let mut buf = Buffer(0);
        let _ = write!(buf, "{info}");
        LEN.store(buf.0, Ordering::Relaxed);
    }));
}

/// Where the last panic's message (UTF-8, possibly cut inside a character) starts in memory.
#[wasm_bindgen]
pub fn panic_message_ptr() -> usize {
    MESSAGE.as_ptr() as usize
}

/// Its length in bytes; 0 when nothing panicked.
#[wasm_bindgen]
pub fn panic_message_len() -> usize {
    LEN.load(Ordering::Relaxed)
}

/// Test-only (tests/browser/package.mjs, through the worker's `__testPanic`
/// op): panics with `message`, inside a future when `in_future` (as a panic
/// during a generation or a bench would), so the tests can check that a panic
/// reaches the caller as an `internal` error with its message and that the
/// next load gets a fresh instance. Not part of the package's API.
#[wasm_bindgen]
pub fn test_panic(message: String, in_future: bool) -> js_sys::Promise {
    if !in_future {
        panic!("{message}");
    }
    wasm_bindgen_futures::future_to_promise(async move {
        crate::gpu::next_task().await;
        panic!("{message}");
    })
}
