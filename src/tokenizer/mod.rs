//! Tokenizers built from GGUF metadata, chat templates, incremental detokenization.
