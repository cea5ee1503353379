//! "Will it run?" before the download: the page fetches the first bytes of a
//! GGUF file with HTTP Range requests and pushes them into a
//! [`WebHeaderProbe`] until the header is complete, then asks for a report
//! against the device's limits. No GPU is needed.

use wasm_bindgen::prelude::*;

use super::error::{bad_request, internal};
use crate::inspect::{inspect, HeaderProbe, InspectOptions};

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A GGUF header parsed from the file's first bytes.
#[wasm_bindgen]
#[derive(Default)]
pub struct WebHeaderProbe {
    probe: HeaderProbe,
}

#[wasm_bindgen]
impl WebHeaderProbe {
    #[wasm_bindgen(constructor)]
    pub fn new() -> WebHeaderProbe {
        Self::default()
    }

    /// Feeds the next bytes of the file (any size, in file order); true once
    /// the header is complete. A malformed or hostile header throws, and the
    /// probe is spent.
    pub fn push(&mut self, chunk: &[u8]) -> Result<bool, JsError> {
        self.probe.push(chunk).map_err(js_err)
    }

    /// Bytes pushed so far.
    pub fn bytes_pushed(&self) -> f64 {
        self.probe.bytes_pushed() as f64
    }

    /// Size of the next Range request worth making (0 once complete): at
    /// least 1 MiB, at least what the item being parsed still lacks, and
    /// doubling with what was pushed so far.
    pub fn bytes_needed_hint(&self) -> f64 {
        self.probe.bytes_needed_hint() as f64
    }

    /// The `ModelReport` as JSON for `options_json`, an `InspectOptions`
    /// object (`{}` for defaults): `{context?, kv_bytes_per_element? (4 or 2),
    /// max_batch?, max_buffer_size?, max_storage_buffer_binding_size?,
    /// available_bytes?, bandwidth_gbps?}`.
    /// Options out of range are `invalid_request` errors (the caller's, not the file's).
    pub fn report(&self, options_json: String) -> Result<String, JsValue> {
        let header = self.probe.header().ok_or_else(|| JsValue::from(js_err("the GGUF header is not complete yet: push more bytes")))?;
        let opts: InspectOptions = serde_json::from_str(&options_json).map_err(|e| bad_request(format!("inspect options: {e}")))?;
        if !matches!(opts.kv_bytes_per_element, 2 | 4) {
            return Err(bad_request(format!("kv_bytes_per_element is {}: 4 (f32) or 2 (f16)", opts.kv_bytes_per_element)));
        }
        serde_json::to_string(&inspect(header, &opts)).map_err(internal)
    }
}
