//! Native loading: stream a GGUF file (or every part of a split one) from
//! disk into an [`Engine`].

use std::io::Read;

use super::{Engine, EngineError};
use crate::gguf::GgufError;
use crate::model::Device;
use crate::model::{LoadOptions, LoadProgress, ModelError, ModelLoader};
use crate::chat::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// Reads `path` in `chunk`-byte pieces; the tokenizer and chat template are
/// built from the header as soon as it is parsed (before the weights).
/// A split model is loaded from its first part's path: the others are found
/// next to it ([`crate::gguf::split_part_paths`], whose errors name what was
/// looked for) and streamed after it.
pub fn load_engine(
    device: impl Into<Device>,
    path: &std::path::Path,
    opts: LoadOptions,
    chunk: usize,
    on_progress: &mut dyn FnMut(LoadProgress),
) -> Result<Engine, EngineError> {
    let gguf = |e: GgufError| EngineError::Model(ModelError::Gguf(e));
    let parts = crate::gguf::split_part_paths(path).map_err(gguf)?;
    // The loader knows a part's size only once its header is in; progress
    // counts against every part's size on disk from the start, so a split
    // model's bar does not reach its end at the end of part 1.
    let total_on_disk = parts.iter().try_fold(0u64, |sum, p| std::fs::metadata(p).map(|m| sum + m.len())).ok();
    let mut loader = ModelLoader::on(device.into(), opts);
    let mut buf = vec![0u8; chunk.max(1)];
    let mut text: Option<(Tokenizer, Option<ChatTemplate>)> = None;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            loader.next_part()?;
        }
        // An error in a part of a split model names its file.
        loader.name_part(part.display().to_string());
        let mut f = std::fs::File::open(part).map_err(|e| gguf(GgufError::Io(e)))?;
        loop {
            let n = f.read(&mut buf).map_err(|e| gguf(GgufError::Io(e)))?;
            if n == 0 {
                break;
            }
            loader.push(&buf[..n])?;
            if text.is_none() {
                if let Some(h) = loader.header() {
                    text = Some((Tokenizer::from_metadata(&h.metadata)?, ChatTemplate::for_model(&h.metadata)?));
                }
            }
            let mut p = loader.progress();
            if parts.len() > 1 {
                p.bytes_total = total_on_disk.or(p.bytes_total);
            }
            on_progress(p);
        }
    }
    let (tokenizer, template) = text.ok_or(EngineError::Model(ModelError::Incomplete))?;
    let model = loader.finish()?;
    Ok(Engine::new(model, tokenizer, template))
}
