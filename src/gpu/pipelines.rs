//! Compute pipelines, compiled once and cached by (shader, entry point, defines).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::preprocess::{preprocess, ShaderError};

/// Switches and constants for one shader variant. Built through typed
/// methods; kept sorted so equal sets make equal keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Defines(Vec<(String, String)>);

impl Defines {
    pub fn new() -> Self {
        Self::default()
    }

    fn set(mut self, name: &str, wgsl: String) -> Self {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_string(), wgsl));
        self.0.sort();
        self
    }

    /// A switch tested with `#ifdef NAME`.
    pub fn flag(self, name: &str) -> Self {
        self.set(name, String::new())
    }

    pub fn flag_if(self, name: &str, on: bool) -> Self {
        if on {
            self.flag(name)
        } else {
            self
        }
    }

    /// `const NAME: u32 = value;` (also usable with `#ifdef NAME`).
    pub fn u32(self, name: &str, value: u32) -> Self {
        self.set(name, format!("const {name}: u32 = {value}u;"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    pub(super) fn wgsl_consts(&self) -> String {
        let mut s = String::new();
        for (_, decl) in &self.0 {
            if !decl.is_empty() {
                s.push_str(decl);
                s.push('\n');
            }
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub shader: &'static str,
    pub entry: &'static str,
    pub defines: Defines,
}

/// One pipeline per key, created on first use.
#[derive(Default)]
pub struct PipelineCache {
    map: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
}

impl PipelineCache {
    pub fn get(
        &self,
        device: &wgpu::Device,
        key: PipelineKey,
    ) -> Result<Arc<wgpu::ComputePipeline>, ShaderError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(&key) {
            return Ok(p.clone());
        }
        let source = preprocess(key.shader, &key.defines)?;
        let label = format!("{}:{}", key.shader, key.entry);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: None,
            module: &module,
            entry_point: Some(key.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let p = Arc::new(pipeline);
        map.insert(key, p.clone());
        Ok(p)
    }

    /// The keys of every pipeline built so far, in no particular order
    /// (tests check what each one's shader declares).
    pub fn keys(&self) -> Vec<PipelineKey> {
        self.map.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
