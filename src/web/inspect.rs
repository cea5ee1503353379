//! "Will it run?" before the download: the page fetches the first bytes of a
//! GGUF file with HTTP Range requests and pushes them into a
//! [`WebHeaderProbe`] until the header is complete, then asks for a report
//! against the device's limits. No GPU is needed.

use wasm_bindgen::prelude::*;

use serde::Serialize;

use super::error::{bad_request, internal, ErrorCode};
use crate::budget::{self, BudgetError, DeviceBudget, DeviceFacts};
use crate::inspect::{inspect, HeaderProbe, InspectOptions, ModelReport};

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

    /// Appends part `index` (0-based: 1 for the second file) of a split GGUF,
    /// probed on its own, so that `report` sizes the whole model; throws when
    /// it is not that part of this model (`split.no` / `split.count`).
    pub fn append_part(&mut self, next: &WebHeaderProbe, index: u32) -> Result<(), JsError> {
        self.probe.append_part(&next.probe, index).map_err(js_err)
    }

    /// `[split.no, split.count]` of this file once its header is complete:
    /// `[0, 1]` for a whole file, `[k, n]` for part k + 1 of a split model.
    /// Throws on keys a split model cannot have, or an incomplete header.
    pub fn split(&self) -> Result<Vec<u32>, JsError> {
        let header = self.probe.header().ok_or_else(|| js_err("the GGUF header is not complete yet: push more bytes"))?;
        let (no, count) = crate::gguf::split::split_of(header).map_err(js_err)?;
        Ok(vec![no, count])
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
    /// available_bytes?, bandwidth_gbps?}`. With `device_json`
    /// (`budget::DeviceFacts`, gathered by pkg/worker.js) the limits the
    /// options leave out come from that device, and the report gains
    /// `device`, the `budget::DeviceBudget` applied.
    /// Options unknown or out of range are `invalid_request` errors (the
    /// caller's, not the file's); malformed device facts are `internal`.
    pub fn report(&self, options_json: String, device_json: Option<String>) -> Result<String, JsValue> {
        let header = self.probe.header().ok_or_else(|| JsValue::from(js_err("the GGUF header is not complete yet: push more bytes")))?;
        let user: serde_json::Value = serde_json::from_str(&options_json).map_err(|e| bad_request(format!("inspect options: {e}")))?;
        let device = match device_json {
            Some(d) => Some(serde_json::from_str::<DeviceFacts>(&d).map_err(|e| internal(format!("device facts: {e}")))?.budget()),
            None => None,
        };
        let opts = match &device {
            Some(budget) => budget.options(user),
            None => serde_json::from_value::<InspectOptions>(user).map_err(|e| BudgetError::Json(e.to_string())).and_then(|o| budget::check(&o).map(|()| o)),
        }
        .map_err(|e| bad_request_of(&e))?;
        serde_json::to_string(&Answer { report: inspect(header, &opts), device }).map_err(internal)
    }
}

/// An options error as `invalid_request`, with its `details`.
fn bad_request_of(e: &BudgetError) -> JsValue {
    let details = e.details();
    let err = bad_request(e);
    if let Some(d) = details {
        let _ = js_sys::Reflect::set(&err, &"details".into(), &d.to_string().into());
    }
    err
}

#[derive(Serialize)]
struct Answer {
    #[serde(flatten)]
    report: ModelReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceBudget>,
}
