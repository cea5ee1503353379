//! Native loading: stream a GGUF file from disk into an [`Engine`].

use std::io::Read;

use super::{Engine, EngineError};
use crate::gguf::GgufError;
use crate::model::Device;
use crate::model::{LoadOptions, LoadProgress, ModelError, ModelLoader};
use crate::chat::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// Reads `path` in `chunk`-byte pieces; the tokenizer and chat template are
/// built from the header as soon as it is parsed (before the weights).
pub fn load_engine(
    device: impl Into<Device>,
    path: &std::path::Path,
    opts: LoadOptions,
    chunk: usize,
    on_progress: &mut dyn FnMut(LoadProgress),
) -> Result<Engine, EngineError> {
    let io = |e: std::io::Error| EngineError::Model(ModelError::Gguf(GgufError::Io(e)));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut loader = ModelLoader::on(device.into(), opts);
    let mut buf = vec![0u8; chunk.max(1)];
    let mut text: Option<(Tokenizer, Option<ChatTemplate>)> = None;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        loader.push(&buf[..n])?;
        if text.is_none() {
            if let Some(h) = loader.header() {
                text = Some((Tokenizer::from_metadata(&h.metadata)?, ChatTemplate::for_model(&h.metadata)?));
            }
        }
        on_progress(loader.progress());
    }
    let (tokenizer, template) = text.ok_or(EngineError::Model(ModelError::Incomplete))?;
    let model = loader.finish()?;
    Ok(Engine::new(model, tokenizer, template))
}
