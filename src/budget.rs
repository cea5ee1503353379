//! The limits a model meets on the device the engine would run it on, as
//! the browser describes that device: the backend (`auto` in pkg/worker.js:
//! WebGPU on a hardware adapter, else the CPU backend), its buffer limits,
//! the KV cache element size the engine allocates there, and a memory budget
//! where one is known. [`DeviceBudget::options`] turns them into the
//! [`InspectOptions`] that "will it run" (`inspect`, the catalog) sizes
//! models with, so the verdict applies the limits the load will.

use serde::{Deserialize, Serialize};

use crate::inspect::InspectOptions;
use crate::model::{CPU_KV_BYTES_PER_ELEMENT, CPU_WASM32_MAX_BYTES};

/// Where the model would run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Webgpu,
    Cpu,
}

/// What the browser tells about the device (pkg/worker.js gathers it).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFacts {
    pub backend: Backend,
    /// Why this backend, in words (pkg/worker.js `chooseBackend`).
    #[serde(default)]
    pub backend_reason: String,
    /// The adapter has `shader-f16`: the WebGPU engine keeps K and V in f16.
    #[serde(default)]
    pub shader_f16: bool,
    /// The adapter's `maxBufferSize` (WebGPU only; the engine asks for all of it).
    #[serde(default)]
    pub max_buffer_size: Option<u64>,
    /// The adapter's `maxStorageBufferBindingSize` (WebGPU only).
    #[serde(default)]
    pub max_storage_buffer_binding_size: Option<u64>,
    /// `navigator.deviceMemory`: the device's RAM in GiB, rounded down to a
    /// power of two and capped by the browser (Chrome: 0.25 to 8); absent
    /// where the browser does not say (Firefox, Safari).
    #[serde(default)]
    pub device_memory_gib: Option<f64>,
}

/// The limits a model is sized against on this device. Serialized as the
/// `device` object of "will it run" answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceBudget {
    pub backend: Backend,
    pub backend_reason: String,
    /// Bytes per cached K or V element the engine allocates: 2 on WebGPU with
    /// `shader-f16` (`Precision::F16`), else 4 (the f32 WebGPU path, and the
    /// CPU backend, whose caches are f32 vectors: `cpu::CpuForward::new`).
    pub kv_bytes_per_element: u32,
    /// WebGPU: the adapter's limits; `None` on the CPU backend (no bindings).
    pub max_buffer_size: Option<u64>,
    pub max_storage_buffer_binding_size: Option<u64>,
    /// Bytes weights + KV cache may take; `None` where nothing says (WebGPU
    /// does not expose the GPU's memory size).
    pub memory_bytes: Option<u64>,
    /// Where `memory_bytes` comes from, in words ("unknown: …" when `None`).
    pub memory_source: String,
    pub device_memory_gib: Option<f64>,
}

/// Options the caller may not give, or gave out of range.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("inspect options must be a JSON object")]
    NotAnObject,
    #[error("inspect options: {0}")]
    Json(String),
    #[error("{field} is {got}: {expected}")]
    OutOfRange { field: &'static str, got: String, expected: &'static str },
}

/// Largest context a load takes (`createEngine`'s `context`, src/web `MAX_CONTEXT`).
pub const MAX_CONTEXT: u32 = 1 << 20;

const GIB: f64 = (1u64 << 30) as f64;

impl DeviceFacts {
    /// The limits on this device:
    /// - WebGPU: the adapter's buffer and binding limits; KV elements of 2
    ///   bytes with `shader-f16`, else 4; memory unknown (`deviceMemory` is
    ///   the host's RAM, not the GPU's, so it is reported but not applied).
    /// - CPU: no binding limits; KV elements of 2 bytes (f16,
    ///   [`CPU_KV_BYTES_PER_ELEMENT`]); memory the smaller of
    ///   [`CPU_WASM32_MAX_BYTES`] (what the loader enforces in 32-bit wasm)
    ///   and `deviceMemory` GiB when the browser gives it.
    pub fn budget(&self) -> DeviceBudget {
        let device_memory = self.device_memory_gib.filter(|g| g.is_finite() && *g > 0.0);
        let (kv, max_buffer, max_binding, memory, source) = match self.backend {
            Backend::Webgpu => (
                if self.shader_f16 { 2 } else { 4 },
                self.max_buffer_size,
                self.max_storage_buffer_binding_size,
                None,
                "unknown: WebGPU does not say how much GPU memory there is".to_string(),
            ),
            Backend::Cpu => {
                let ram = device_memory.map(|g| (g * GIB) as u64);
                match ram.filter(|&r| r < CPU_WASM32_MAX_BYTES) {
                    Some(r) => (CPU_KV_BYTES_PER_ELEMENT, None, None, Some(r), format!("this device's RAM as the browser reports it (navigator.deviceMemory = {} GiB)", device_memory.unwrap_or(0.0))),
                    None => (CPU_KV_BYTES_PER_ELEMENT, None, None, Some(CPU_WASM32_MAX_BYTES), "the CPU backend's 32-bit wasm memory (4 GiB less 384 MiB for the engine)".to_string()),
                }
            }
        };
        DeviceBudget {
            backend: self.backend,
            backend_reason: self.backend_reason.clone(),
            kv_bytes_per_element: kv,
            max_buffer_size: max_buffer,
            max_storage_buffer_binding_size: max_binding,
            memory_bytes: memory,
            memory_source: source,
            device_memory_gib: device_memory,
        }
    }
}

impl DeviceBudget {
    /// `InspectOptions` from the caller's JSON object, every limit it leaves
    /// out taken from this budget (`kv_bytes_per_element`, `max_buffer_size`,
    /// `max_storage_buffer_binding_size`, `available_bytes`). Unknown fields
    /// are refused by name; `context` must be 1 to [`MAX_CONTEXT`],
    /// `kv_bytes_per_element` 2 or 4, `bandwidth_gbps` a number above 0.
    pub fn options(&self, user: serde_json::Value) -> Result<InspectOptions, BudgetError> {
        let serde_json::Value::Object(mut o) = user else { return Err(BudgetError::NotAnObject) };
        o.retain(|_, v| !v.is_null());
        let mut fill = |k: &str, v: Option<u64>| {
            if let Some(v) = v {
                o.entry(k).or_insert(v.into());
            }
        };
        fill("kv_bytes_per_element", Some(self.kv_bytes_per_element as u64));
        fill("max_buffer_size", self.max_buffer_size);
        fill("max_storage_buffer_binding_size", self.max_storage_buffer_binding_size);
        fill("available_bytes", self.memory_bytes);
        let opts: InspectOptions = serde_json::from_value(serde_json::Value::Object(o)).map_err(|e| BudgetError::Json(e.to_string()))?;
        check(&opts)?;
        Ok(opts)
    }
}

/// The ranges of [`DeviceBudget::options`].
pub fn check(opts: &InspectOptions) -> Result<(), BudgetError> {
    if let Some(c) = opts.context.filter(|c| !(1..=MAX_CONTEXT).contains(c)) {
        return Err(BudgetError::OutOfRange { field: "context", got: c.to_string(), expected: "1 to 1048576 positions" });
    }
    if !matches!(opts.kv_bytes_per_element, 2 | 4) {
        return Err(BudgetError::OutOfRange { field: "kv_bytes_per_element", got: opts.kv_bytes_per_element.to_string(), expected: "4 (f32) or 2 (f16)" });
    }
    if let Some(b) = opts.bandwidth_gbps.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(BudgetError::OutOfRange { field: "bandwidth_gbps", got: b.to_string(), expected: "a number of GB/s above 0" });
    }
    if opts.max_batch == 0 {
        return Err(BudgetError::OutOfRange { field: "max_batch", got: "0".into(), expected: "at least 1" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(v: serde_json::Value) -> DeviceFacts {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn webgpu_takes_the_adapter_limits_and_f16_kv_and_no_memory_size() {
        let b = facts(json!({"backend": "webgpu", "shader_f16": true, "max_buffer_size": 1u64 << 32, "max_storage_buffer_binding_size": 1u64 << 31, "device_memory_gib": 8})).budget();
        assert_eq!((b.kv_bytes_per_element, b.max_buffer_size, b.max_storage_buffer_binding_size, b.memory_bytes), (2, Some(1 << 32), Some(1 << 31), None));
        assert!(b.memory_source.starts_with("unknown"), "{}", b.memory_source);
        let o = b.options(json!({"context": 2048})).unwrap();
        assert_eq!((o.context, o.kv_bytes_per_element, o.max_buffer_size, o.max_storage_buffer_binding_size, o.available_bytes), (Some(2048), 2, Some(1 << 32), Some(1 << 31), None));
        let no_f16 = facts(json!({"backend": "webgpu"})).budget();
        assert_eq!(no_f16.kv_bytes_per_element, 4);
    }

    #[test]
    fn cpu_is_bound_by_wasm32_memory_or_a_smaller_ram() {
        let b = facts(json!({"backend": "cpu", "device_memory_gib": 8})).budget();
        assert_eq!((b.kv_bytes_per_element, b.max_buffer_size, b.memory_bytes), (2, None, Some(CPU_WASM32_MAX_BYTES)), "the CPU's KV cache is f16");
        assert_eq!(CPU_WASM32_MAX_BYTES, 3_892_314_112);
        let small = facts(json!({"backend": "cpu", "device_memory_gib": 2})).budget();
        assert_eq!(small.memory_bytes, Some(2 << 30));
        assert!(small.memory_source.contains("deviceMemory = 2 GiB"), "{}", small.memory_source);
        let o = small.options(json!({})).unwrap();
        assert_eq!((o.available_bytes, o.kv_bytes_per_element, o.max_storage_buffer_binding_size), (Some(2 << 30), 2, None));
    }

    #[test]
    fn the_callers_values_win_and_bad_ones_are_refused_by_name() {
        let b = facts(json!({"backend": "cpu"})).budget();
        let o = b.options(json!({"available_bytes": 1000, "kv_bytes_per_element": 2, "bandwidth_gbps": null})).unwrap();
        assert_eq!((o.available_bytes, o.kv_bytes_per_element, o.bandwidth_gbps), (Some(1000), 2, None));
        let e = b.options(json!({"contxt": 10})).unwrap_err().to_string();
        assert!(e.contains("unknown field `contxt`"), "{e}");
        for (bad, field) in [(json!({"context": 0}), "context"), (json!({"context": MAX_CONTEXT + 1}), "context"), (json!({"kv_bytes_per_element": 3}), "kv_bytes_per_element"), (json!({"bandwidth_gbps": -1.0}), "bandwidth_gbps")] {
            let e = b.options(bad.clone()).unwrap_err();
            assert!(matches!(e, BudgetError::OutOfRange { field: f, .. } if f == field), "{bad}: {e}");
        }
        assert_eq!(b.options(json!([1])).unwrap_err(), BudgetError::NotAnObject);
    }
}
