//! "What can I run here?" without a file: the shapes of the models people
//! run ([`shapes`]), quantized the way llama.cpp's `llama-quantize` does for
//! each mix ([`mix`]), as a tensor table with sizes ([`plan`]). The same
//! table sizes the catalog rows ([`catalog_report`]) and is what
//! `tabllm synth` writes, so a row can be checked against a real header.

pub mod mix;
pub mod plan;
pub mod shapes;

use serde::Serialize;

use crate::budget::{BudgetError, DeviceBudget, DeviceFacts};
use crate::inspect::{inspect, InspectOptions, ModelReport};
pub use mix::{NoFallback, QuantMix};
pub use plan::{ModelPlan, PlannedTensor};
pub use shapes::{find, DeltaNet, Gemma4, Hybrid, RopeScaling, Shape, ShapeArch, SHAPES, TINY_SHAPES};

/// Why a catalog row cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no model shape named `{name}` (known: {known})")]
    UnknownShape { name: String, known: String },
    #[error("no quantization mix named `{name}` (known: {known})")]
    UnknownMix { name: String, known: String },
    #[error(transparent)]
    NoFallback(#[from] NoFallback),
    #[error(transparent)]
    Options(#[from] BudgetError),
    #[error("mixes must be a non-empty array of mix names (known: {known})")]
    BadMixes { known: String },
}

/// The shape with this name, or an error listing the known ones.
pub fn shape(name: &str) -> Result<&'static Shape, CatalogError> {
    find(name).ok_or_else(|| CatalogError::UnknownShape { name: name.to_string(), known: SHAPES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ") })
}

/// The mix with this name (`q4_k_m`), or an error listing the known ones.
pub fn mix(name: &str) -> Result<QuantMix, CatalogError> {
    QuantMix::from_name(name).ok_or_else(|| CatalogError::UnknownMix { name: name.to_string(), known: QuantMix::ALL.map(|m| m.name()).join(", ") })
}

/// One catalog row: the model's sizes and its "will it run" report, as
/// `inspect` computes them from the header the row's file would have.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogReport {
    pub shape: String,
    pub mix: String,
    pub tensor_count: usize,
    /// K + V bytes one position adds in every layer at
    /// `kv_bytes_per_element` (2 × layers × kv_heads × head_dim × element).
    pub kv_bytes_per_token: u64,
    #[serde(flatten)]
    pub report: ModelReport,
}

/// The row of `shape` quantized as `mix`, sized for `opts` (context, KV
/// element size, device limits, bandwidth): a pure function of its inputs,
/// for the CLI and a wasm export alike.
pub fn catalog_report(shape_name: &str, mix_name: &str, opts: &InspectOptions) -> Result<CatalogReport, CatalogError> {
    let plan = ModelPlan::new(shape(shape_name)?, mix(mix_name)?)?;
    Ok(report_of(&plan, opts))
}

/// Every catalog shape in `mix`, in catalog order.
pub fn catalog_table(mix_name: &str, opts: &InspectOptions) -> Result<Vec<CatalogReport>, CatalogError> {
    let m = mix(mix_name)?;
    SHAPES.iter().map(|s| Ok(report_of(&ModelPlan::new(s, m)?, opts))).collect()
}

/// Every catalog shape in each of `mixes`: shape by shape (catalog order),
/// each in the mixes' order.
pub fn catalog_rows(mixes: &[QuantMix], opts: &InspectOptions) -> Result<Vec<CatalogReport>, CatalogError> {
    SHAPES.iter().flat_map(|s| mixes.iter().map(move |&m| Ok(report_of(&ModelPlan::new(s, m)?, opts)))).collect()
}

/// The catalog sized for one device: its limits and the rows.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceTable {
    /// The limits every row was checked against.
    pub device: DeviceBudget,
    /// The mixes asked for, in order.
    pub mixes: Vec<&'static str>,
    pub rows: Vec<CatalogReport>,
}

/// The mix asked for when the caller names none.
pub const DEFAULT_MIX: QuantMix = QuantMix::Q4KM;

/// "What can I run here?" for the device `facts` describe: every shape in
/// each mix of `request.mixes` (default `["q4_k_m"]`), sized by
/// `catalog_rows` with the rest of `request` as `InspectOptions`, the
/// limits it leaves out taken from the device ([`DeviceBudget::options`]).
/// Unknown fields, unknown mixes and values out of range are errors naming them.
pub fn device_table(request: serde_json::Value, facts: &DeviceFacts) -> Result<DeviceTable, CatalogError> {
    let serde_json::Value::Object(mut o) = request else { return Err(BudgetError::NotAnObject.into()) };
    let bad_mixes = || CatalogError::BadMixes { known: QuantMix::ALL.map(|m| m.name()).join(", ") };
    let mixes = match o.remove("mixes") {
        None | Some(serde_json::Value::Null) => vec![DEFAULT_MIX],
        Some(serde_json::Value::Array(a)) if !a.is_empty() => a.iter().map(|v| v.as_str().ok_or_else(bad_mixes).and_then(mix)).collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(bad_mixes()),
    };
    let device = facts.budget();
    let opts = device.options(serde_json::Value::Object(o))?;
    let rows = catalog_rows(&mixes, &opts)?;
    Ok(DeviceTable { device, mixes: mixes.iter().map(|m| m.name()).collect(), rows })
}

fn report_of(plan: &ModelPlan, opts: &InspectOptions) -> CatalogReport {
    let header = plan.header(plan.metadata());
    CatalogReport {
        shape: plan.shape.name.to_string(),
        mix: plan.mix.name().to_string(),
        tensor_count: plan.tensors.len(),
        kv_bytes_per_token: plan.kv_bytes_per_token(opts.kv_bytes_per_element),
        report: inspect(&header, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    /// Every row plans in every mix, and every row of an architecture tabllm
    /// runs passes the loader's header checks (shapes, types, hyper-parameters).
    #[test]
    fn every_shape_plans_and_loads_in_every_mix() {
        for s in SHAPES.iter().chain(TINY_SHAPES) {
            for m in QuantMix::ALL {
                let plan = ModelPlan::new(s, m).unwrap_or_else(|e| panic!("{} {}: {e}", s.name, m.name()));
                let h = plan.header(plan.metadata());
                if let Err(e) = ModelConfig::from_header(&h) {
                    panic!("{} {}: {e}", s.name, m.name());
                }
            }
        }
    }

    /// The loader reads the plan's header as the shape says: which layers
    /// attend, their KV heads and head size, the Gated DeltaNet's dims, the
    /// short conv's taps; and `inspect` sizes the recurrent state the
    /// runtime allocates.
    #[test]
    fn hybrid_shapes_load_as_planned() {
        use crate::model::Mixer;
        for name in ["qwen3.5-2b", "qwen3.5-9b", "lfm2-350m", "lfm2-2.6b", "smollm3-3b", "tiny-qwen35", "tiny-lfm2"] {
            let s = shapes::find(name).unwrap();
            let plan = ModelPlan::new(s, QuantMix::Q4KM).unwrap();
            let c = ModelConfig::from_header(&plan.header(plan.metadata())).unwrap();
            assert_eq!((c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.n_rot, c.ffn_dim, c.vocab), (s.n_layers, s.dim, s.n_heads, s.n_kv_heads, s.head_dim, s.n_rot, s.ffn_dim, s.vocab), "{name}");
            for l in 0..s.n_layers {
                let m = c.layers[l as usize].mixer;
                match (s.hybrid, m) {
                    (_, Mixer::Attention(_)) => assert!(s.is_attention(l), "{name} layer {l}"),
                    (Hybrid::DeltaNet(d), Mixer::GatedDeltaNet(n)) => {
                        assert!(!s.is_attention(l), "{name} layer {l}");
                        assert_eq!((n.n_k_heads, n.n_v_heads, n.head_k_dim, n.head_v_dim, n.conv_taps), (d.n_k_heads, d.n_v_heads, d.head_k_dim, d.head_v_dim, d.conv_kernel), "{name}");
                    }
                    (Hybrid::ShortConv { l_cache, .. }, Mixer::ShortConv { l_cache: got }) => assert_eq!((s.is_attention(l), got), (false, l_cache), "{name} layer {l}"),
                    other => panic!("{name} layer {l}: {other:?}"),
                }
            }
            let r = inspect(&plan.header(plan.metadata()), &InspectOptions { context: Some(1000), ..Default::default() });
            assert_eq!(r.recurrent_state_bytes, plan.recurrent_state_bytes(), "{name}");
            assert_eq!(r.kv_bytes, 1000 * plan.kv_bytes_per_token(4), "{name}");
            assert_eq!(r.total_bytes, r.weight_bytes + r.recurrent_state_bytes + r.kv_bytes, "{name}");
        }
    }

    /// A row of the device table is the CLI's row for the same limits.
    #[test]
    fn device_table_sizes_rows_for_the_device() {
        let cpu: DeviceFacts = serde_json::from_value(serde_json::json!({"backend": "cpu"})).unwrap();
        let t = device_table(serde_json::json!({"context": 8192, "mixes": ["q4_k_m", "q8_0"], "bandwidth_gbps": 20.0}), &cpu).unwrap();
        assert_eq!(t.rows.len(), 2 * SHAPES.len());
        assert_eq!(t.mixes, ["q4_k_m", "q8_0"]);
        let row = t.rows.iter().find(|r| r.shape == "llama-3.1-8b" && r.mix == "q4_k_m").unwrap();
        let opts = InspectOptions { context: Some(8192), kv_bytes_per_element: crate::model::CPU_KV_BYTES_PER_ELEMENT, available_bytes: Some(crate::model::CPU_WASM32_MAX_BYTES), bandwidth_gbps: Some(20.0), ..Default::default() };
        let cli = catalog_report("llama-3.1-8b", "q4_k_m", &opts).unwrap();
        assert_eq!(serde_json::to_value(row).unwrap(), serde_json::to_value(&cli).unwrap());
        // 8B at q4_k_m is about 4.9 GB: above what 32-bit wasm holds.
        assert_eq!(row.report.fits, crate::inspect::Fit::DoesNotFit);
        assert!(row.report.reason.contains("the weights alone need"), "{}", row.report.reason);
        let small = t.rows.iter().find(|r| r.shape == "llama-3.2-1b" && r.mix == "q4_k_m").unwrap();
        assert_eq!(small.report.fits, crate::inspect::Fit::Fits);
        for bad in [serde_json::json!({"mixes": []}), serde_json::json!({"mixes": ["q3_k"]}), serde_json::json!({"mixes": "q4_0"}), serde_json::json!({"shapes": ["tiny"]})] {
            assert!(device_table(bad.clone(), &cpu).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = catalog_report("llama-9", "q4_k_m", &InspectOptions::default()).unwrap_err();
        assert!(e.to_string().contains("llama-3.1-8b"), "{e}");
        let e = catalog_report("tiny", "q3_k", &InspectOptions::default()).unwrap_err();
        assert!(e.to_string().contains("q4_k_m"), "{e}");
    }
}
