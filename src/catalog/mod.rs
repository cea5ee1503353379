//! "What can I run here?" without a file: the shapes of the models people
//! run ([`shapes`]), quantized the way llama.cpp's `llama-quantize` does for
//! each mix ([`mix`]), as a tensor table with sizes ([`plan`]). The same
//! table sizes the catalog rows ([`catalog_report`]) and is what
//! `tabllm synth` writes, so a row can be checked against a real header.

pub mod mix;
pub mod plan;
pub mod shapes;

use serde::Serialize;

use crate::inspect::{inspect, InspectOptions, ModelReport};
pub use mix::{NoFallback, QuantMix};
pub use plan::{ModelPlan, PlannedTensor};
pub use shapes::{find, RopeScaling, Shape, ShapeArch, SHAPES};

/// Why a catalog row cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no model shape named `{name}` (known: {known})")]
    UnknownShape { name: String, known: String },
    #[error("no quantization mix named `{name}` (known: {known})")]
    UnknownMix { name: String, known: String },
    #[error(transparent)]
    NoFallback(#[from] NoFallback),
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
        for s in SHAPES {
            for m in QuantMix::ALL {
                let plan = ModelPlan::new(s, m).unwrap_or_else(|e| panic!("{} {}: {e}", s.name, m.name()));
                let h = plan.header(plan.metadata());
                let config = ModelConfig::from_header(&h);
                if s.arch == ShapeArch::Phi3 {
                    assert!(config.is_err(), "{}: phi3 is not run by tabllm yet", s.name);
                } else {
                    config.unwrap_or_else(|e| panic!("{} {}: {e}", s.name, m.name()));
                }
            }
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
