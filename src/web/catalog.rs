//! "What can I run here?" without a file: the catalog (`catalog::device_table`)
//! sized for the device the worker describes. No GPU is needed.

use wasm_bindgen::prelude::*;

use super::error::{internal, to_js};
use crate::budget::DeviceFacts;
use crate::catalog::device_table;

/// Every catalog shape in the mixes asked for, as JSON `{device, mixes,
/// rows}` (`catalog::DeviceTable`: `device` the limits applied, `rows` one
/// `CatalogReport` per shape × mix, shape by shape).
/// `options_json`: `{mixes?: string[] (default ["q4_k_m"]), context?,
/// bandwidth_gbps?, kv_bytes_per_element?, max_buffer_size?,
/// max_storage_buffer_binding_size?, available_bytes?, max_batch?}`; limits
/// left out come from the device. `device_json`: `budget::DeviceFacts`
/// (`{backend: "webgpu" | "cpu", backend_reason?, shader_f16?,
/// max_buffer_size?, max_storage_buffer_binding_size?, device_memory_gib?}`),
/// gathered by pkg/worker.js. Unknown options, unknown mixes and values out
/// of range are `invalid_request` errors naming them; malformed device facts
/// are `internal` (the worker's bug, not the caller's).
#[wasm_bindgen]
pub fn catalog_reports(options_json: String, device_json: String) -> Result<String, JsValue> {
    let facts: DeviceFacts = serde_json::from_str(&device_json).map_err(|e| internal(format!("device facts: {e}")))?;
    let request: serde_json::Value = serde_json::from_str(&options_json).map_err(|e| super::error::bad_request(format!("catalog options: {e}")))?;
    let table = device_table(request, &facts).map_err(|e| to_js(&e))?;
    serde_json::to_string(&table).map_err(internal)
}
