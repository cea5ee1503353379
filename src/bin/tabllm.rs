//! The native command line: tokenize, generate, chat and inspect with the same
//! engine the browser runs, on wgpu's native backends (Vulkan, Metal, DX12).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tabllm::constrain::ResponseFormat;
use tabllm::engine::{load_engine, ChatOptions, Engine, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::gpu::{PrefillKernels, MatvecVariant};
use tabllm::model::{Device, LoadOptions, PrefillPath};
use tabllm::sampler::{LogitBias, SamplerConfig};
use tabllm::chat::{ChatMessage, FinalAssistant, ReplyDelta, ToolRequest};
use tabllm::tokenizer::Tokenizer;

#[derive(Parser)]
#[command(name = "tabllm", version, about = "Run GGUF language models on the GPU (WebGPU/wgpu)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the token ids of TEXT (no BOS; special-token text parsed).
    Tokenize {
        #[arg(long)]
        model: PathBuf,
        /// Print {"ids":[...]}.
        #[arg(long)]
        json: bool,
        text: String,
    },
    /// Generate a completion of --prompt, or a reply to --messages.
    Generate(GenerateArgs),
    /// Chat in the terminal.
    Chat {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 0.7, value_parser = temperature_value)]
        temperature: f32,
        #[arg(long, default_value_t = 512)]
        max_tokens: u32,
        #[arg(long)]
        system: Option<String>,
        /// OpenAI's `logit_bias`, as in `generate`.
        #[arg(long, value_name = "JSON", value_parser = LogitBiasParser)]
        logit_bias: Option<LogitBias>,
        /// Turn a thinking model's reasoning off (see `generate --no-think`).
        #[arg(long)]
        no_think: bool,
        /// Extra chat template variables, as in `generate`.
        #[arg(long, value_name = "JSON", value_parser = template_kwargs_value)]
        chat_template_kwargs: Option<TemplateKwargs>,
    },
    /// Embed texts (an embedding model's pooling, L2-normalized) and print
    /// OpenAI's embeddings response: {"object":"list","data":[{"object":
    /// "embedding","index":i,"embedding":[…]}],"model":…,"usage":{…}}.
    Embed {
        #[command(flatten)]
        load: LoadArgs,
        /// A text to embed; repeat for several (each embedded on its own).
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
        /// Keep the first N components and normalize again (Matryoshka; 1..=the model's width).
        #[arg(long)]
        dimensions: Option<u64>,
        /// Override the model's pooling (`{arch}.pooling_type`): mean, cls or last.
        #[arg(long, value_parser = ["mean", "cls", "last"])]
        pooling: Option<String>,
    },
    /// Measure memory bandwidth, then prompt processing (pp512, pp2048) and
    /// text generation (tg128) as llama-bench does, and decode against the
    /// bandwidth roofline, on this device. The context is what the largest
    /// test needs unless --ctx says otherwise.
    Bench(BenchArgs),
    /// Print the model's metadata summary and tensor types, and whether it
    /// runs: sizes, KV cache and fit (from the header only; no GPU needed).
    ///
    /// With --shape instead of --model: the catalog row of a model shape in a
    /// quantization mix (no file needed); with neither: every catalog row.
    Info {
        /// A GGUF file (a split model's first part brings the others), or a
        /// Hugging Face name as the page takes it: `hf:OWNER/REPO[@REVISION][:QUANT]`
        /// or `hf:OWNER/REPO[@REVISION]/FILE.gguf` (only the header is read,
        /// over HTTP; write `./hf:…` for a file named so).
        #[arg(long, conflicts_with = "shape")]
        model: Option<PathBuf>,
        /// Where `hf:` names are resolved: a mirror's URL (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long, env = "HF_ENDPOINT")]
        hf_endpoint: Option<String>,
        /// A catalog shape (`llama-3.1-8b`; see `tabllm info` for the list).
        #[arg(long)]
        shape: Option<String>,
        /// The quantization mix of --shape or of the table: q4_0, q8_0, q4_k_m, q5_k_m, q6_k.
        #[arg(long = "type", default_value = "q4_k_m")]
        mix: String,
        /// Context to size the KV cache for (default: the runtime's, the
        /// model's training context capped at 4096), 1 to 2^20 as in the browser.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=tabllm::budget::MAX_CONTEXT as i64))]
        context: Option<u32>,
        /// Size the KV cache in f16 (2 bytes per element) instead of f32.
        #[arg(long)]
        f16_kv: bool,
        /// Check the fit against this maxStorageBufferBindingSize, in bytes.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_binding_size: Option<u64>,
        /// Check the fit against this much GPU memory, in bytes.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        available_bytes: Option<u64>,
        /// Predict decode speed at this read bandwidth (GB/s, finite, above 0).
        #[arg(long, value_parser = positive_finite)]
        bandwidth_gbps: Option<f64>,
        /// Print the report as one JSON object (and nothing else).
        #[arg(long)]
        json: bool,
    },
    /// Write a GGUF of a catalog shape in a quantization mix with random but
    /// valid weights (streamed block by block), for tests and benchmarks.
    Synth {
        /// A catalog shape (`tabllm info` lists them).
        #[arg(long)]
        shape: String,
        /// q4_0, q8_0, q4_k_m, q5_k_m or q6_k, with llama.cpp's per-tensor types.
        #[arg(long = "type")]
        mix: String,
        /// The GGUF to write (refused when it exists, unless --force).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Replace --out when it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct LoadArgs {
    #[arg(long)]
    model: PathBuf,
    /// Where the model runs: `webgpu` (the GPU through wgpu) or `cpu` (the
    /// CPU backend the browser falls back to without WebGPU).
    #[arg(long, value_parser = ["webgpu", "cpu"], default_value = "webgpu")]
    backend: String,
    /// Context length to allocate (positions, at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    ctx: Option<u32>,
    /// Use the f32 path even when the GPU has shader-f16.
    #[arg(long)]
    f32: bool,
    /// Run every projection, norm and RoPE as its own op instead of the
    /// fused kernels (diagnostics: what a device that cannot pack takes).
    #[arg(long)]
    unfused: bool,
    /// Force the matvec lane layout instead of the adapter's: `row` (one
    /// invocation per row), `shared` (16 lanes, workgroup-memory reduction),
    /// `subgroup` (lanes reduced with subgroup shuffles).
    #[arg(long, value_parser = ["row", "shared", "subgroup"])]
    matvec: Option<String>,
    /// Force the prefill kernels' layout instead of the adapter's: `tiled`
    /// (GEMM and flash attention staged in workgroup memory, GPUs) or
    /// `token-lanes` (lanes take tokens and read each weight block and K/V row
    /// together, CPU adapters).
    #[arg(long, value_parser = ["tiled", "token-lanes"])]
    prefill_kernels: Option<String>,
    /// Which kernels prefill steps run: `auto` (GEMMs for steps of 16
    /// tokens or more), `gemm` (for every step of 2 or more), `matvec` (the
    /// batched matvecs decode uses; diagnostics and before/after figures).
    #[arg(long, value_parser = ["auto", "gemm", "matvec"], default_value = "auto")]
    prefill: String,
    /// Most tokens per prefill step (1..=512; lowered to what the device's
    /// binding size allows).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=512), default_value_t = tabllm::model::MAX_BATCH)]
    batch: u32,
    /// Threads the CPU backend splits its matmuls across (1..=64, the
    /// caller included; 1: no pool). Refused with `--backend webgpu`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64), default_value_t = 1)]
    threads: u32,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Prompt-processing tests (llama-bench's -p): ppN reads N prompt tokens
    /// from an empty cache in steps of the model's max batch. Comma-separated;
    /// 0 for none.
    #[arg(long, value_delimiter = ',', default_values_t = [512, 2048], alias = "prompt-tokens")]
    pp: Vec<u32>,
    /// Text-generation tests (llama-bench's -n): tgN decodes N tokens one at a
    /// time from an empty cache. Comma-separated; 0 for none. The first one
    /// is set against the bandwidth.
    #[arg(long, value_delimiter = ',', default_values_t = [128], alias = "gen-tokens")]
    tg: Vec<u32>,
    /// Cache positions filled (untimed) before every test (llama-bench's -d):
    /// `--depth 0,4096` runs each test from an empty cache and again after
    /// 4,096 positions, as `tg128 @ d4096`. Comma-separated. --profile times
    /// its decode step at the largest depth.
    #[arg(long, value_delimiter = ',', default_values_t = [0])]
    depth: Vec<u32>,
    /// Runs of each test (llama-bench's -r); tok/s is their mean ± standard deviation.
    #[arg(short = 'r', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Largest buffer of the bandwidth sweep (1 MiB doubling up to this, the
    /// device limit and 1 GiB).
    #[arg(long, default_value_t = 1 << 30)]
    max_bandwidth_bytes: u64,
    /// Skip the bandwidth sweep (no peak, so no efficiency).
    #[arg(long)]
    no_bandwidth: bool,
    /// Also print time per kernel family for one decode step.
    #[arg(long)]
    profile: bool,
    /// Print one JSON object with every figure.
    #[arg(long)]
    json: bool,
    /// Also write that JSON object (pretty-printed) to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, conflicts_with = "messages")]
    prompt: Option<String>,
    /// A file holding an OpenAI-style messages JSON array, rendered with the model's chat
    /// template: `content` a string or an array of `{"type": "text", "text"}`
    /// parts, roles system/developer/user/assistant/tool, `name`,
    /// `tool_call_id`, assistant `tool_calls`. A final assistant message is
    /// continued, unless --close-assistant.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// Close a final assistant message of --messages and reply in a new turn
    /// (default: continue it).
    #[arg(long, requires = "messages")]
    close_assistant: bool,
    /// OpenAI-style tools for --messages: a JSON file holding the `tools`
    /// array (`[{"type": "function", "function": {"name", "description",
    /// "parameters"}}]`), passed to the chat template; the reply's tool calls
    /// are read back (Hermes/Qwen, Qwen3.5's XML, LFM2's Python calls, Gemma 4's, Llama 3.x and Mistral formats) and printed.
    #[arg(long, requires = "messages", value_name = "FILE")]
    tools: Option<PathBuf>,
    /// With --tools: `auto` (default), `none` (tools reach the template, the
    /// reply is not read for calls), or OpenAI's other forms as JSON
    /// (`required` and a named function force one call: decoding follows the
    /// template's call format and the tool's parameters schema).
    #[arg(long, requires = "tools")]
    tool_choice: Option<String>,
    /// With --tools: keep only the first call of a reply (parallel_tool_calls: false).
    #[arg(long, requires = "tools")]
    no_parallel_tool_calls: bool,
    /// With --messages: render the chat template with `enable_thinking`
    /// false, the switch thinking models' templates read (Qwen3, Qwen3.5,
    /// SmolLM3), as `chat_template_kwargs: {"enable_thinking": false}` does.
    #[arg(long, requires = "messages")]
    no_think: bool,
    /// With --messages: extra chat template variables, a JSON object, as
    /// llama-server's `--chat-template-kwargs` and a request's
    /// `chat_template_kwargs` pass them (`'{"enable_thinking": false}'`).
    /// Names must be variable names; `enable_thinking` must be a boolean;
    /// `enable_thinking` and --no-think together are refused.
    #[arg(long, value_name = "JSON", value_parser = template_kwargs_value)]
    chat_template_kwargs: Option<TemplateKwargs>,
    /// With --messages: print the prompt the chat template renders, and
    /// nothing else (no generation; with --json, `{"prompt", "prompt_ids"}`).
    #[arg(long, requires = "messages")]
    print_prompt: bool,
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    #[arg(long, default_value_t = 0.8, value_parser = temperature_value)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95, value_parser = probability_value)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05, value_parser = probability_value)]
    min_p: f32,
    /// Above 0 (1 = off); logits of recent tokens are divided (positive) or multiplied by it.
    #[arg(long, default_value_t = 1.0, value_parser = repetition_penalty_value)]
    repetition_penalty: f32,
    /// OpenAI's: logit −= count × this, for each token among the last --penalty-last-n.
    #[arg(long, default_value_t = 0.0, value_parser = openai_penalty_value)]
    frequency_penalty: f32,
    /// OpenAI's: logit −= this, for each token among the last --penalty-last-n.
    #[arg(long, default_value_t = 0.0, value_parser = openai_penalty_value)]
    presence_penalty: f32,
    /// How many recent tokens (prompt included) the penalties look at.
    #[arg(long, default_value_t = 64)]
    penalty_last_n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// OpenAI's `logit_bias`: a JSON object of token ids (as strings) to a
    /// number from -100 to 100 added to that token's logit before sampling,
    /// `'{"50256": -100}'` (at most 4096 ids; -100 bans a token in practice,
    /// 100 forces it). Ids outside the model's vocabulary are refused.
    #[arg(long, value_name = "JSON", value_parser = LogitBiasParser)]
    logit_bias: Option<LogitBias>,
    /// Stop when this text is generated (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object instead of streaming text. For a chat reply of
    /// a model with think tags it has `reasoning_content` (when the reply
    /// had reasoning) and `content` (the reply less it); `text` is the raw reply.
    #[arg(long)]
    json: bool,
    /// With --json: the K highest [id, logit] pairs of the first generated position.
    #[arg(long, default_value_t = 0)]
    top_logits: usize,
    /// OpenAI's `response_format`, as JSON or @FILE holding it:
    /// `{"type":"json_object"}`, or `{"type":"json_schema","json_schema":{"name":..,"schema":{..}}}`
    /// (the output then parses and validates against the schema; a keyword
    /// that cannot be enforced is refused by name).
    #[arg(long, value_name = "JSON|@FILE")]
    response_format: Option<String>,
}

/// A finite number above 0 (clap value parser).
fn positive_finite(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a finite number above 0")),
    }
}

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`tabllm info |
    // head`) would panic; the default action ends the process quietly.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Tokenize { model, json, text } => {
            let header = tabllm::gguf::read_header_from_path(&model)?;
            // A later part of a split model has no tokenizer: name the part to give.
            tabllm::gguf::split::require_first(&header, &model.display().to_string())?;
            let tok = Tokenizer::from_metadata(&header.metadata)?;
            let ids = tok.encode(&text, true);
            if json {
                println!("{}", json!({ "ids": ids }));
            } else {
                println!("{ids:?}");
            }
        }
        Cmd::Generate(a) => generate(a)?,
        Cmd::Chat { load, temperature, max_tokens, system, logit_bias, no_think, chat_template_kwargs } => {
            let kwargs = template_kwargs(chat_template_kwargs, no_think)?;
            chat(load, temperature, max_tokens, system, logit_bias.unwrap_or_default(), kwargs)?
        }
        Cmd::Info { model, hf_endpoint, shape, mix, context, f16_kv, max_binding_size, available_bytes, bandwidth_gbps, json } => {
            let opts = tabllm::inspect::InspectOptions {
                context,
                kv_bytes_per_element: if f16_kv { 2 } else { 4 },
                max_storage_buffer_binding_size: max_binding_size,
                available_bytes,
                bandwidth_gbps,
                ..Default::default()
            };
            match (model, shape) {
                (Some(model), _) if model.to_str().is_some_and(tabllm::hub::is_hub_name) => {
                    let endpoint = tabllm::hub::http::check_endpoint(hf_endpoint.as_deref().unwrap_or(tabllm::hub::DEFAULT_ENDPOINT))?;
                    info_hub(model.to_str().unwrap_or_default(), &endpoint, &opts, json)?
                }
                (Some(model), _) => info(&model, &opts, json)?,
                (None, Some(shape)) => {
                    let row = tabllm::catalog::catalog_report(&shape, &mix, &opts)?;
                    if json {
                        println!("{}", serde_json::to_string(&row)?);
                    } else {
                        print_catalog_row(&row);
                    }
                }
                (None, None) => {
                    let rows = tabllm::catalog::catalog_table(&mix, &opts)?;
                    if json {
                        println!("{}", serde_json::to_string(&rows)?);
                    } else {
                        print_catalog_table(&rows);
                    }
                }
            }
        }
        Cmd::Synth { shape, mix, out, seed, force } => synth(&shape, &mix, &out, seed, force)?,
        Cmd::Embed { load: l, inputs, dimensions, pooling } => embed(l, inputs, dimensions, pooling)?,
        Cmd::Bench(a) => bench(a)?,
    }
    Ok(())
}

/// `tabllm embed`: each input embedded on its own, printed as OpenAI's
/// embeddings response (floats as JSON numbers).
fn embed(a: LoadArgs, inputs: Vec<String>, dimensions: Option<u64>, pooling: Option<String>) -> Result<()> {
    let pooling = pooling.as_deref().map(tabllm::embed::Pooling::from_name).transpose()?;
    let opts = tabllm::embed::EmbedOptions { pooling, dimensions };
    // As the package: an empty input has nothing to embed ([CLS] and [SEP] alone).
    if let Some(i) = inputs.iter().position(|t| t.is_empty()) {
        return Err(format!("--input {i} is empty: give text to embed").into());
    }
    let mut engine = load(&a, true)?;
    // Refused before any text runs: a model with no pooling, dimensions out of range.
    engine.embed_pooling(&opts)?;
    tabllm::embed::check_dimensions(dimensions, engine.model.config.dim)?;
    let mut data = Vec::new();
    let mut tokens = 0;
    for (index, text) in inputs.iter().enumerate() {
        let e = pollster::block_on(engine.embed(text, &opts)).map_err(|e| format!("input {index}: {e}"))?;
        tokens += e.tokens;
        data.push(json!({ "object": "embedding", "index": index, "embedding": e.vector }));
    }
    let model = a.model.file_name().map_or_else(|| a.model.display().to_string(), |n| n.to_string_lossy().into_owned());
    println!("{}", json!({ "object": "list", "data": data, "model": model, "usage": { "prompt_tokens": tokens, "total_tokens": tokens } }));
    Ok(())
}

fn load(a: &LoadArgs, quiet: bool) -> Result<Engine> {
    // Name the file in the error before a GPU device is set up for nothing,
    // and a split model's part that is not the first, or a part not found.
    std::fs::File::open(&a.model).map_err(|e| format!("cannot open the model {}: {e}", a.model.display()))?;
    tabllm::gguf::split_part_paths(&a.model)?;
    let matvec = match a.matvec.as_deref() {
        Some("row") => Some(MatvecVariant::ThreadPerRow),
        Some("shared") => Some(MatvecVariant::SharedLanes { lanes: 16 }),
        // The adapter's smallest subgroup bounds the lanes: ask for 16 and let
        // the device say what it can do.
        Some(_) => Some(MatvecVariant::SubgroupLanes { lanes: 16 }),
        None => None,
    };
    let prefill = match a.prefill.as_str() {
        "gemm" => PrefillPath::Gemm,
        "matvec" => PrefillPath::Matvec,
        _ => PrefillPath::Auto,
    };
    if a.threads > 1 && a.backend != "cpu" {
        return Err("--threads is for the CPU backend: add --backend cpu".into());
    }
    let cpu_threads = if a.threads > 1 {
        Some(Arc::new(tabllm::cpu::threads::NativeThreads::start(a.threads as usize).map_err(|e| format!("cannot start {} CPU threads: {e}", a.threads))?) as Arc<dyn tabllm::cpu::CpuThreads>)
    } else {
        None
    };
    let opts = LoadOptions { n_ctx: a.ctx, fuse: !a.unfused, prefill, max_batch: a.batch, cpu_threads };
    let device = if a.backend == "cpu" {
        if !quiet {
            eprintln!("device: the CPU backend, {} thread(s)", a.threads);
        }
        Device::Cpu
    } else {
        Device::Gpu(gpu_context(a, matvec, quiet)?)
    };
    let mut last_pct = u64::MAX;
    let engine = load_engine(device, &a.model, opts, 1 << 20, &mut |p| {
        if let (false, Some(total)) = (quiet, p.bytes_total) {
            let pct = p.bytes_read * 100 / total.max(1);
            if pct / 10 != last_pct / 10 {
                eprint!("\rloading {pct:3}% ({} / {} MB)", p.bytes_read >> 20, total >> 20);
                last_pct = pct;
            }
        }
    })?;
    if !quiet {
        eprintln!("\rloaded: {} layers, context {}, {} MB weights, {} MB KV cache", engine.model.config.n_layers, engine.model.n_ctx(), engine.model.weight_bytes() >> 20, engine.model.kv_cache_bytes() >> 20);
        if let Some(w) = engine.model.config.context_warning(engine.model.n_ctx()) {
            eprintln!("warning: {w}");
        }
    }
    Ok(engine)
}

/// The GPU the model loads onto, with the matvec variant asked for.
fn gpu_context(a: &LoadArgs, matvec: Option<MatvecVariant>, quiet: bool) -> Result<Arc<GpuContext>> {
    let prefill_kernels = match a.prefill_kernels.as_deref() {
        Some("tiled") => Some(PrefillKernels::Tiled),
        Some(_) => Some(PrefillKernels::TokenLanes),
        None => None,
    };
    let ctx = GpuContext::new_blocking(&DeviceOptions { force_f32: a.f32, matvec, prefill_kernels, ..Default::default() })
        .or_else(|e| match matvec {
            Some(MatvecVariant::SubgroupLanes { .. }) => GpuContext::new_blocking(&DeviceOptions { force_f32: a.f32, matvec: Some(MatvecVariant::SubgroupLanes { lanes: 8 }), prefill_kernels, ..Default::default() }),
            _ => Err(e),
        })?;
    let ctx = Arc::new(ctx);
    if !quiet {
        eprintln!("device: {} ({:?}), {:?} path, matvec {:?}, prefill kernels {:?}", ctx.adapter_info.name, ctx.adapter_info.backend, ctx.precision, ctx.matvec, ctx.prefill_kernels);
    }
    Ok(ctx)
}

/// `--tools`, `--tool-choice` and `--no-parallel-tool-calls` as a checked [`ToolRequest`].
fn tool_request(a: &GenerateArgs) -> Result<Option<ToolRequest>> {
    let Some(file) = &a.tools else { return Ok(None) };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let tools: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    // A bare word is a string choice (`auto`); anything else is read as JSON.
    let choice = a.tool_choice.as_deref().map(|c| match serde_json::from_str(c) {
        Ok(v) => v,
        Err(_) => serde_json::Value::from(c),
    });
    let parallel = a.no_parallel_tool_calls.then_some(serde_json::Value::Bool(false));
    Ok(ToolRequest::from_fields(Some(&tools), choice.as_ref(), parallel.as_ref())?)
}

fn generate(a: GenerateArgs) -> Result<()> {
    // Options that only mean something with another are refused without it,
    // never ignored (clap's `requires` does not hold across the flattened args).
    for (given, needs, what) in [
        (a.tools.is_some(), a.messages.is_some(), "--tools needs --messages"),
        (a.close_assistant, a.messages.is_some(), "--close-assistant needs --messages"),
        (a.no_think, a.messages.is_some(), "--no-think needs --messages"),
        (a.chat_template_kwargs.is_some(), a.messages.is_some(), "--chat-template-kwargs needs --messages"),
        (a.print_prompt, a.messages.is_some(), "--print-prompt needs --messages"),
        (a.top_logits > 0, a.json, "--top-logits needs --json"),
    ] {
        if given && !needs {
            return Err(what.into());
        }
    }
    let tools = tool_request(&a)?;
    let kwargs = template_kwargs(a.chat_template_kwargs.clone(), a.no_think)?;
    // Checked before the model loads: a refused schema costs nothing.
    let mut constraint = match &a.response_format {
        None => None,
        Some(arg) => {
            let text = match arg.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?,
                None => arg.clone(),
            };
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("--response-format: {e}"))?;
            ResponseFormat::from_value(&v)?.constraint()
        }
    };
    let mut engine = load(&a.load, a.json || a.print_prompt)?;
    let mut reply = None;
    let prompt_ids = match (&a.prompt, &a.messages) {
        (_, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let messages = ChatMessage::parse_list(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let last = if a.close_assistant { FinalAssistant::Close } else { FinalAssistant::Continue };
            let prompt = engine.prepare_chat(&messages, &ChatOptions { final_assistant: last, tools: tools.as_ref(), template_kwargs: kwargs.as_ref() })?;
            if a.print_prompt {
                if a.json {
                    println!("{}", json!({ "prompt": prompt.text, "prompt_ids": prompt.ids }));
                } else {
                    println!("{}", prompt.text);
                }
                return Ok(());
            }
            constraint = engine.request_constraint(tools.as_ref(), prompt.format, constraint)?;
            reply = Some(prompt.reply_stream(tools.as_ref(), constraint.is_some()));
            prompt.ids
        }
        (Some(p), None) => {
            engine.check_text_fits(p)?;
            engine.encode_prompt(p)
        }
        (None, None) => return Err("give --prompt TEXT or --messages FILE".into()),
    };
    let params = GenerateParams {
        max_tokens: a.max_tokens,
        sampler: SamplerConfig {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repetition_penalty: a.repetition_penalty,
            frequency_penalty: a.frequency_penalty,
            presence_penalty: a.presence_penalty,
            penalty_last_n: a.penalty_last_n,
            seed: a.seed,
            ..SamplerConfig::default()
        },
        stop: a.stop.clone(),
        top_logits: a.top_logits,
        logprobs: None,
        constraint,
        logit_bias: a.logit_bias.clone().unwrap_or_default(),
    };
    let json = a.json;
    let mut shown = Shown::default();
    let g = pollster::block_on(engine.generate(&prompt_ids, &params, &mut |piece| {
        // A chat reply: reasoning split off, text that may begin a call held
        // (see ReplyStream); the stream sees every piece, printed or not (--json).
        let d = match &mut reply {
            Some(r) => r.push(piece),
            None => ReplyDelta { reasoning: String::new(), content: piece.to_string() },
        };
        if !json {
            shown.print(&d);
        }
        true
    }))?;
    let splits = reply.as_ref().is_some_and(|r| r.splits_reasoning());
    let end = reply.map(|r| r.finish(g.finish_reason.as_str() == "length"));
    // A call cut off by --max-tokens keeps `length`, as OpenAI's does.
    let called = end.as_ref().is_some_and(|e| !e.calls.is_empty() && !e.partial);
    let finish_reason = if called { "tool_calls" } else { g.finish_reason.as_str() };
    if json {
        let mut out = json!({
            "prompt_ids": g.prompt_ids,
            "ids": g.ids,
            "text": g.text,
            "finish_reason": finish_reason,
            "prefill_tok_s": g.prefill_tok_s(),
            "decode_tok_s": g.decode_tok_s(),
        });
        if let Some(top) = &g.top_logits {
            out["top_logits"] = json!(top.iter().map(|(i, l)| json!([i, l])).collect::<Vec<_>>());
        }
        // OpenAI's message fields when the reply called tools or had its
        // reasoning split off (`text` stays the raw reply).
        if let Some(e) = end.filter(|e| splits || !e.calls.is_empty()) {
            out["content"] = json!(e.content);
            if let Some(r) = e.reasoning_content {
                out["reasoning_content"] = json!(r);
            }
            if !e.calls.is_empty() {
                out["tool_calls"] = json!(e.calls);
            }
        }
        println!("{out}");
    } else {
        if let Some(e) = end {
            shown.print(&e.tail);
            shown.end_reasoning();
            // Each call on its own line, in OpenAI's shape.
            for c in &e.calls {
                print!("\n{}", serde_json::to_string(c)?);
            }
        }
        shown.end_reasoning();
        println!();
        eprintln!("[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s, {}]", g.prefilled, g.prefill_tok_s(), g.ids.len(), g.decode_tok_s(), finish_reason);
    }
    Ok(())
}

/// `--chat-template-kwargs`' value: a JSON object of template variables.
type TemplateKwargs = serde_json::Map<String, serde_json::Value>;

/// Parses `--chat-template-kwargs`: a JSON object whose entries pass
/// [`tabllm::chat::check_template_kwargs`] (the checks a request's
/// `chat_template_kwargs` gets).
fn template_kwargs_value(v: &str) -> std::result::Result<TemplateKwargs, String> {
    let kwargs = match serde_json::from_str(v).map_err(|e| format!("not JSON: {e}"))? {
        serde_json::Value::Object(o) => o,
        _ => return Err("must be a JSON object of template variables, such as '{\"enable_thinking\": false}'".into()),
    };
    tabllm::chat::check_template_kwargs(&kwargs).map_err(|e| e.to_string())?;
    Ok(kwargs)
}

/// The template variables of `--chat-template-kwargs` and `--no-think`
/// (`enable_thinking: false`); both setting `enable_thinking` is refused.
fn template_kwargs(given: Option<TemplateKwargs>, no_think: bool) -> Result<Option<TemplateKwargs>> {
    if !no_think {
        return Ok(given);
    }
    let mut kwargs = given.unwrap_or_default();
    if kwargs.contains_key("enable_thinking") {
        return Err("--no-think sets enable_thinking, which --chat-template-kwargs sets too: give one".into());
    }
    kwargs.insert("enable_thinking".into(), serde_json::Value::Bool(false));
    Ok(Some(kwargs))
}

/// Prints a streamed reply: its content on stdout, and a thinking model's
/// reasoning on stderr (so `> file` keeps the answer only), the reasoning
/// between a `[thinking]` line and a `[/thinking]` line.
#[derive(Default)]
struct Shown {
    /// Inside the reasoning (its opening line printed, not its closing one).
    thinking: bool,
}

impl Shown {
    fn print(&mut self, d: &ReplyDelta) {
        if !d.reasoning.is_empty() {
            if !self.thinking {
                eprintln!("[thinking]");
                self.thinking = true;
            }
            eprint!("{}", d.reasoning);
        }
        if !d.content.is_empty() {
            self.end_reasoning();
            print!("{}", d.content);
            let _ = std::io::stdout().flush();
        }
    }

    /// Closes the reasoning's block on stderr, if one is open.
    fn end_reasoning(&mut self) {
        if std::mem::take(&mut self.thinking) {
            eprintln!("\n[/thinking]");
        }
    }
}

fn chat(load_args: LoadArgs, temperature: f32, max_tokens: u32, system: Option<String>, logit_bias: LogitBias, kwargs: Option<TemplateKwargs>) -> Result<()> {
    let mut engine = load(&load_args, false)?;
    // Refused once, before the first turn, as generate refuses it.
    logit_bias.check_vocab(engine.model.config.vocab)?;
    let mut messages: Vec<ChatMessage> = system.into_iter().map(|s| ChatMessage::new("system", s)).collect();
    let params = GenerateParams {
        max_tokens,
        sampler: SamplerConfig { temperature, ..SamplerConfig::default() },
        logit_bias,
        ..GenerateParams::default()
    };
    eprintln!("Type a message; an empty line or Ctrl-D quits.");
    let stdin = std::io::stdin();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        messages.push(ChatMessage::new("user", line.trim()));
        let prompt = engine.prepare_chat(&messages, &ChatOptions { template_kwargs: kwargs.as_ref(), ..Default::default() })?;
        let mut reply = prompt.reply_stream(None, false);
        let mut shown = Shown::default();
        let g = pollster::block_on(engine.generate(&prompt.ids, &params, &mut |piece| {
            shown.print(&reply.push(piece));
            true
        }));
        match g {
            Ok(g) => {
                let end = reply.finish(g.finish_reason.as_str() == "length");
                shown.print(&end.tail);
                shown.end_reasoning();
                println!();
                eprintln!("[{:.1} tok/s]", g.decode_tok_s());
                // The answer goes back into the conversation; its reasoning
                // does not (templates drop earlier turns' reasoning anyway).
                messages.push(ChatMessage::new("assistant", end.content.unwrap_or_default()));
            }
            Err(e) => {
                eprintln!("\nerror: {e}");
                messages.pop();
            }
        }
    }
    Ok(())
}

fn info(path: &std::path::Path, opts: &tabllm::inspect::InspectOptions, json: bool) -> Result<()> {
    // A split model's first part brings the others, so the sizes cover the
    // whole model; a later part alone is sized alone (its report says so).
    let mut h = tabllm::gguf::read_header_from_path(path)?;
    let parts = match tabllm::gguf::split::split_of(&h)? {
        (0, _) => tabllm::gguf::split_part_paths_of(path, &h)?,
        _ => vec![path.to_path_buf()],
    };
    for (i, part) in parts.iter().enumerate().skip(1) {
        let next = tabllm::gguf::read_header_from_path(part).map_err(|e| format!("part {} of {}, {}: {e}", i + 1, parts.len(), part.display()))?;
        tabllm::inspect::append_split_part(&mut h, &next, i as u32).map_err(|e| format!("{}: {e}", part.display()))?;
    }
    let r = tabllm::inspect::inspect(&h, opts);
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    print_report(&h, &r);
    Ok(())
}

/// `info` of a Hugging Face name: resolved through the Hub's file list as
/// the page resolves it (src/hub), then each part's header read from the
/// start of its `resolve` URL (the rest of the file is never fetched). The
/// report says the repo, revision and file(s); `--json` adds them as `hf`
/// (pkg/tabllm.d.ts HubSource's fields) with `bytes_fetched`.
fn info_hub(name: &str, endpoint: &str, opts: &tabllm::inspect::InspectOptions, json: bool) -> Result<()> {
    use tabllm::hub::http::{read_prefix, resolve, MAX_HEADER_BYTES};
    let resolved = resolve(&tabllm::hub::parse(name)?, endpoint)?;
    let mut fetched = 0u64;
    let mut h: Option<tabllm::gguf::Header> = None;
    for (i, (file, url)) in resolved.parts.iter().enumerate() {
        let mut probe = tabllm::inspect::HeaderProbe::new();
        fetched += read_prefix(url, MAX_HEADER_BYTES, |chunk| probe.push(chunk).map_err(|e| e.to_string()))?;
        let part = probe.into_header().ok_or_else(|| format!("{}: the file ended inside its GGUF header", file.path))?;
        match &mut h {
            None => h = Some(part),
            Some(acc) => tabllm::inspect::append_split_part(acc, &part, i as u32).map_err(|e| format!("{}: {e}", file.path))?,
        }
    }
    let h = h.ok_or("the name resolved to no file")?;
    let r = tabllm::inspect::inspect(&h, opts);
    if json {
        let mut v = serde_json::to_value(&r)?;
        v["hf"] = serde_json::to_value(&resolved)?;
        v["bytes_fetched"] = fetched.into();
        println!("{v}");
        return Ok(());
    }
    let more = if resolved.files.len() > 1 { format!(" and {} more parts", resolved.files.len() - 1) } else { String::new() };
    println!("Hugging Face: {}@{}, {}{more} (header read: {} bytes from {endpoint})", resolved.repo, resolved.revision, resolved.file, fetched);
    print_report(&h, &r);
    Ok(())
}

/// The layer plan read from the header, as counts of each kind in order of
/// first appearance: "3 Gated DeltaNet, 1 attention (output-gated)".
fn layer_kinds(c: &tabllm::model::ModelConfig) -> String {
    use tabllm::model::Mixer;
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for (i, l) in c.layers.iter().enumerate() {
        let kind = match l.mixer {
            Mixer::ShortConv { l_cache } => format!("short conv ({l_cache} taps)"),
            Mixer::GatedDeltaNet(_) => "Gated DeltaNet".to_string(),
            Mixer::Attention(a) => {
                let mut notes = Vec::new();
                if a.window > 0 {
                    notes.push(format!("sliding window {}", a.window));
                }
                if !a.rope {
                    notes.push("no RoPE".to_string());
                }
                if a.output_gate {
                    notes.push("output-gated".to_string());
                }
                if a.kv_layer as usize != i {
                    notes.push("an earlier layer's KV cache".to_string());
                }
                if notes.is_empty() { "attention".to_string() } else { format!("attention ({})", notes.join(", ")) }
            }
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

/// The text report of `info` (file or Hub name alike).
fn print_report(h: &tabllm::gguf::Header, r: &tabllm::inspect::ModelReport) {
    use tabllm::inspect::format_bytes;
    println!("GGUF v{}, {} tensors, {} metadata keys, data at byte {}", h.version, h.tensors.len(), h.metadata.len(), h.data_offset);
    println!("architecture: {}", h.architecture().unwrap_or("?"));
    for (ty, t) in &r.tensor_types {
        println!("  {ty:>6}: {:.1} MB", t.bytes as f64 / 1e6);
    }
    let config = tabllm::model::ModelConfig::from_header(&h);
    match &config {
        Ok(c) => {
            println!(
                "runs in tabllm: yes ({:?}: {} layers, dim {}, {} heads / {} KV heads of {}, FFN {}, vocabulary {}, trained context {})",
                c.arch, c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab, c.ctx_train.map_or("not given".to_string(), |n| n.to_string())
            );
            println!("layers: {}", layer_kinds(c));
        }
        Err(e) => println!("runs in tabllm: no ({})", r.unsupported_reason.clone().unwrap_or_else(|| e.to_string())),
    }
    let opt = |v: Option<u32>| v.map_or("?".to_string(), |v| v.to_string());
    println!("name: {}", r.name.as_deref().unwrap_or("?"));
    println!("parameters: {:.1} M, weights {} ({} bytes; {} uploaded)", r.parameters as f64 / 1e6, format_bytes(r.weight_bytes), r.weight_bytes, format_bytes(r.loaded_weight_bytes));
    if let Some(t) = &r.largest_tensor {
        println!("largest tensor: {} ({})", t.name, format_bytes(t.bytes));
    }
    if let Some(first) = &r.unread_tensor_example {
        println!("not loaded: {} tensors the text model does not read (from `{first}`; a vision or audio encoder is not run)", r.unread_tensors);
    }
    let window = match r.sliding_window {
        Some(w) => format!(", {} of them sliding-window ({w})", r.n_local_layers),
        None => String::new(),
    };
    // Hybrid models: only their attention layers hold a KV cache.
    let attention = match &config {
        Ok(c) => c.layers.iter().filter(|l| matches!(l.mixer, tabllm::model::Mixer::Attention(_))).count().to_string(),
        Err(_) => opt(r.n_layers),
    };
    println!("attention: {attention} of {} layers{window}, {} KV heads of {}", opt(r.n_layers), opt(r.n_kv_heads), opt(r.head_dim));
    println!("KV cache at context {} ({} bytes per element): {}; total {}", r.context, r.kv_bytes_per_element, format_bytes(r.kv_bytes), format_bytes(r.total_bytes));
    println!("fit{}: {}: {}", if r.supported { "" } else { " (sized as if it ran)" }, r.fits.as_str(), r.reason);
    if let Some(c) = r.max_context_that_fits {
        println!("largest context that fits: {c}");
    }
    match r.predicted_decode_tok_s {
        Some(t) => println!("decode reads {:.1} MB/token: at most {t:.1} tok/s", r.decode_bytes_per_token / 1e6),
        None => println!("decode reads {:.1} MB/token (give --bandwidth-gbps for a speed estimate)", r.decode_bytes_per_token / 1e6),
    }
}

fn bench(mut a: BenchArgs) -> Result<()> {
    use tabllm::bench::{self, BandwidthOptions};
    use tabllm::engine::BenchPlan;
    // llama-bench's convention: a count of 0 is no test.
    let plan = BenchPlan {
        pp: a.pp.iter().copied().filter(|&n| n > 0).collect(),
        tg: a.tg.iter().copied().filter(|&n| n > 0).collect(),
        depth: a.depth.clone(),
        repetitions: a.repetitions,
    };
    // Refused before the model loads: a context too small for a test, or nothing to run.
    let n_ctx = *a.load.ctx.get_or_insert(u32::try_from(plan.positions()).unwrap_or(u32::MAX).max(1));
    plan.check(n_ctx).map_err(|e| match e {
        tabllm::engine::BenchError::OverContext { needed, .. } if needed > u32::MAX as u64 => format!("{e}: a context holds at most {} positions (lower --depth or the test)", u32::MAX),
        tabllm::engine::BenchError::OverContext { .. } => format!("{e} (give --ctx {} or more, or leave --ctx out)", plan.positions()),
        _ => e.to_string(),
    })?;
    let engine = load(&a.load, a.json)?;
    let m = &engine.model;

    // 1. Memory bandwidth, on the device the model is loaded on.
    let bw = if a.no_bandwidth {
        None
    } else {
        // The sweep measures the GPU; the CPU backend has none to sweep.
        m.gpu_context()
            .map(|ctx| -> Result<_> {
                let opts = BandwidthOptions { max_bytes: a.max_bandwidth_bytes, ..Default::default() };
                if !a.json {
                    eprintln!("bandwidth sweep up to {} MiB...", bench::sizes(bench::device_max_bytes(ctx).min(opts.max_bytes)).last().copied().unwrap_or(0) >> 20);
                }
                Ok(pollster::block_on(bench::measure_bandwidth(ctx, &opts))?)
            })
            .transpose()?
    };

    // 2. Prompt processing and text generation, and the roofline of the first tg.
    if !a.json {
        let names: Vec<String> = plan.tests().iter().map(|t| t.name()).collect();
        eprintln!("{} ({} tokens per prefill step, {} run{} each)...", names.join(", "), m.max_batch(), a.repetitions, if a.repetitions == 1 { "" } else { "s" });
    }
    let tp = pollster::block_on(tabllm::engine::measure_throughput(m, &plan))?;
    let peak = bw.as_ref().map(|r| r.peak_gbps).unwrap_or(0.0);
    let roof = tp.decode.as_ref().map(|d| bench::roofline(d.bytes_per_token, d.decode_tok_s, peak));

    if a.profile && m.gpu_context().is_none() {
        return Err("--profile times GPU kernels one by one; the CPU backend has none (drop --profile or use --backend webgpu)".into());
    }
    // At the largest depth, whose positions the tests filled: decode's
    // attention there reads that much KV cache.
    let profile_depth = plan.depth.iter().copied().max().unwrap_or(0);
    let profile: Vec<serde_json::Value> = if a.profile {
        [("decode", 1usize), ("prefill", m.max_batch() as usize)]
            .into_iter()
            .map(|(label, n)| -> Result<serde_json::Value> {
                let ids: Vec<u32> = (0..n as u32).collect();
                let depth = if profile_depth + n as u32 <= m.n_ctx() { profile_depth } else { 0 };
                let p = m.profile_step(&ids, depth)?;
                let total: f64 = p.iter().map(|x| x.1).sum();
                let kernels: Vec<_> = p.iter().map(|(k, s)| json!({ "kernel": k, "ms": s * 1e3 })).collect();
                Ok(json!({ "step": label, "tokens": n, "depth": depth, "total_ms": total * 1e3, "kernels": kernels }))
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };

    let d = tp.decode.as_ref();
    let gpu = m.gpu_context();
    let matvec = gpu.map(|ctx| format!("{:?}", ctx.matvec)).unwrap_or_else(|| "cpu".into());
    let prefill_kernels = gpu.map(|ctx| format!("{:?}", ctx.prefill_kernels)).unwrap_or_else(|| "cpu".into());
    let out = json!({
        "device": gpu.map_or("cpu".to_string(), |ctx| ctx.adapter_info.name.clone()),
        "backend": gpu.map_or("cpu".to_string(), |ctx| format!("{:?}", ctx.adapter_info.backend)),
        "precision": gpu.map_or("F32".to_string(), |ctx| format!("{:?}", ctx.precision)),
        "model": a.load.model.display().to_string(),
        "n_ctx": m.n_ctx(),
        "max_batch": tp.max_batch,
        "repetitions": a.repetitions,
        "depth": a.depth,
        "tests": tp.tests,
        // The first pp and tg tests under their older names (null without one).
        "prompt_tokens": tp.prefill.as_ref().map(|p| p.prompt_tokens),
        "prefill_tok_s": tp.prefill.as_ref().map(|p| p.prefill_tok_s),
        "gen_tokens": d.map(|d| d.gen_tokens),
        "decode_tok_s": d.map(|d| d.decode_tok_s),
        "weight_bytes": m.weight_bytes(),
        "weight_bytes_per_token": d.map(|d| d.weight_bytes_per_token),
        "kv_bytes_per_token": d.map(|d| d.kv_bytes_per_token),
        "bytes_per_token": d.map(|d| d.bytes_per_token),
        "implied_gbps": roof.map(|r| r.implied_gbps),
        "dispatches_per_token": d.map(|d| d.dispatches_per_token),
        "host_encode_ms_per_token": d.map(|d| d.host_encode_ms_per_token),
        "matvec": matvec,
        "prefill_kernels": prefill_kernels,
        "fused_layers": m.fused_layers().0,
        "peak_gbps": bw.as_ref().map(|r| r.peak_gbps),
        "efficiency": bw.as_ref().and(roof).map(|r| r.efficiency),
        "bandwidth": bw,
        "profile": if a.profile { json!(profile) } else { serde_json::Value::Null },
    });

    if a.json {
        println!("{out}");
    } else {
        if let Some(r) = &bw {
            println!("{} ({}, {}, {})", r.adapter.name, r.adapter.backend, r.adapter.device_type, r.adapter.driver);
            println!("limits: max buffer {} MiB, max storage binding {} MiB", r.limits.max_buffer_size >> 20, r.limits.max_storage_buffer_binding_size >> 20);
            println!("{:>10} {:>6} {:>10} {:>10} {:>10} {:>5}", "size", "op", "median", "min", "max", "reps");
            for x in &r.results {
                println!("{:>6} MiB {:>6} {:>7.2} GB/s {:>5.2} GB/s {:>5.2} GB/s {:>5}", x.size >> 20, x.op.name(), x.gbps.median, x.gbps.min, x.gbps.max, x.reps);
            }
            println!("peak (best median read): {:.2} GB/s", r.peak_gbps);
        }
        println!("{:>14} {:>7} {:>10} {:>18} {:>24}", "test", "tokens", "seconds", "tok/s", "weight MB read / token");
        for r in &tp.tests {
            let spread = if r.runs > 1 { format!(" ± {:.2}", r.tok_s_stddev) } else { String::new() };
            let read = match (r.weight_bytes_per_token, r.weight_fraction) {
                (Some(b), Some(f)) => format!("{:.2} (1/{:.0} of weights)", b / 1e6, 1.0 / f.max(1e-12)),
                _ => String::new(),
            };
            println!("{:>14} {:>7} {:>10.3} {:>18} {:>24}", r.test, r.tokens, r.seconds, format!("{:.2}{spread}", r.tok_s), read);
        }
        if let (Some(d), Some(roof)) = (d, roof) {
            println!(
                "tg{}: {}",
                d.gen_tokens,
                if gpu.is_some() {
                    format!(
                        "{} compute dispatches per token, {:.3} ms host encode per token; matvec {matvec}, prefill {prefill_kernels}, {}/{} layers fused",
                        d.dispatches_per_token,
                        d.host_encode_ms_per_token,
                        m.fused_layers().0,
                        m.fused_layers().1
                    )
                } else {
                    format!("{} CPU ops per token on the CPU backend", d.dispatches_per_token)
                }
            );
            println!(
                "decode reads {:.1} MB/token ({:.1} MB weights + {:.2} MB KV cache): {:.2} GB/s implied",
                d.bytes_per_token / 1e6,
                d.weight_bytes_per_token / 1e6,
                d.kv_bytes_per_token / 1e6,
                roof.implied_gbps
            );
            if bw.is_some() {
                println!("efficiency: {:.1}% of the measured {:.2} GB/s", roof.efficiency * 100.0, peak);
            }
        }
        for p in &profile {
            eprintln!(
                "{} step ({} tokens at depth {}): {:.1} ms in separate submissions",
                p["step"].as_str().unwrap_or(""),
                p["tokens"],
                p["depth"],
                p["total_ms"].as_f64().unwrap_or(0.0)
            );
            let total = p["total_ms"].as_f64().unwrap_or(0.0).max(1e-12);
            for k in p["kernels"].as_array().into_iter().flatten().take(12) {
                let ms = k["ms"].as_f64().unwrap_or(0.0);
                eprintln!("  {:>16}: {ms:7.2} ms ({:4.1}%)", k["kernel"].as_str().unwrap_or(""), ms / total * 100.0);
            }
        }
    }

    if let Some(file) = &a.out {
        std::fs::write(file, serde_json::to_string_pretty(&out)? + "\n").map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        if !a.json {
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(())
}

fn print_catalog_row(row: &tabllm::catalog::CatalogReport) {
    use tabllm::inspect::format_bytes;
    let r = &row.report;
    println!("{} {} ({}): {} tensors, {:.2} B parameters", row.shape, row.mix, r.architecture, row.tensor_count, r.parameters as f64 / 1e9);
    println!("weights: {} ({} bytes)", format_bytes(r.weight_bytes), r.weight_bytes);
    for (ty, t) in &r.tensor_types {
        println!("  {ty:>6}: {:>4} tensors, {} ({} bytes)", t.count, format_bytes(t.bytes), t.bytes);
    }
    if let Some(t) = &r.largest_tensor {
        println!("largest tensor: {} ({})", t.name, format_bytes(t.bytes));
    }
    println!("KV cache: {} bytes per token ({} bytes per element); {} at context {}", row.kv_bytes_per_token, r.kv_bytes_per_element, format_bytes(r.kv_bytes), r.context);
    println!("runs in tabllm: {}", if r.supported { "yes".to_string() } else { format!("no ({})", r.unsupported_reason.as_deref().unwrap_or("?")) });
    println!("fit{}: {}: {}", if r.supported { "" } else { " (sized as if it ran)" }, r.fits.as_str(), r.reason);
    if let Some(t) = r.predicted_decode_tok_s {
        println!("decode reads {:.1} MB/token: at most {t:.1} tok/s", r.decode_bytes_per_token / 1e6);
    }
}

fn print_catalog_table(rows: &[tabllm::catalog::CatalogReport]) {
    use tabllm::inspect::format_bytes;
    println!("{:<28} {:>7} {:>7} {:>10} {:>12} {:>10} {:>10} {:>5}", "shape", "mix", "arch", "params", "weights", "KV/token", "KV@ctx", "ctx");
    for row in rows {
        let r = &row.report;
        println!(
            "{:<28} {:>7} {:>7} {:>9.2}B {:>12} {:>10} {:>10} {:>5}{}",
            row.shape,
            row.mix,
            r.architecture,
            r.parameters as f64 / 1e9,
            format_bytes(r.weight_bytes),
            format_bytes(row.kv_bytes_per_token),
            format_bytes(r.kv_bytes),
            r.context,
            // A model tabllm cannot run gets no fit verdict: it would not load anywhere.
            match (r.supported, r.fits, r.predicted_decode_tok_s) {
                (false, _, _) => format!("  not supported ({})", r.architecture),
                (true, tabllm::inspect::Fit::Fits, Some(t)) => format!("  fits, <= {t:.1} tok/s"),
                (true, tabllm::inspect::Fit::Fits, None) => String::new(),
                (true, f, _) => format!("  {}", f.as_str()),
            }
        );
    }
}

fn synth(shape: &str, mix: &str, out: &std::path::Path, seed: u64, force: bool) -> Result<()> {
    use tabllm::inspect::format_bytes;
    let plan = tabllm::catalog::ModelPlan::new(tabllm::catalog::shape(shape)?, tabllm::catalog::mix(mix)?)?;
    let t0 = std::time::Instant::now();
    let s = tabllm::synth::write_model_file(&plan, seed, out, force)?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "wrote {}: {} tensors, {} of weights, {} in all ({} header) in {secs:.2} s ({:.2} GB/s)",
        out.display(),
        s.tensors,
        format_bytes(s.weight_bytes),
        format_bytes(s.file_bytes),
        format_bytes(s.header_bytes),
        s.file_bytes as f64 / secs.max(1e-9) / 1e9
    );
    Ok(())
}

/// A finite number in `min..=max` (the same ranges the npm API enforces).
fn f32_in(v: &str, min: f32, max: f32) -> std::result::Result<f32, String> {
    let x: f32 = v.parse().map_err(|e| format!("{v:?} is not a number: {e}"))?;
    if !x.is_finite() || x < min || x > max {
        return Err(format!("must be a number from {min} to {max}, got {v}"));
    }
    Ok(x)
}

fn temperature_value(v: &str) -> std::result::Result<f32, String> {
    f32_in(v, 0.0, 100.0)
}

fn probability_value(v: &str) -> std::result::Result<f32, String> {
    f32_in(v, 0.0, 1.0)
}

fn repetition_penalty_value(v: &str) -> std::result::Result<f32, String> {
    f32_in(v, 0.01, 100.0)
}

fn openai_penalty_value(v: &str) -> std::result::Result<f32, String> {
    f32_in(v, -2.0, 2.0)
}

/// `--logit-bias`: the JSON object, its shape checked (see [`LogitBias::from_value`]).
/// A parser of its own because clap's errors echo the whole value, and a
/// 4,097-entry object is no error message.
#[derive(Clone)]
struct LogitBiasParser;

impl clap::builder::TypedValueParser for LogitBiasParser {
    type Value = LogitBias;

    fn parse_ref(&self, cmd: &clap::Command, _arg: Option<&clap::Arg>, value: &std::ffi::OsStr) -> std::result::Result<LogitBias, clap::Error> {
        let refuse = |why: String| clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("invalid --logit-bias: {why}\n")).with_cmd(cmd);
        let v = value.to_str().ok_or_else(|| refuse("not UTF-8".into()))?;
        let json: serde_json::Value = serde_json::from_str(v).map_err(|e| refuse(format!("logit_bias is not JSON: {e}")))?;
        LogitBias::from_value(&json).map_err(|e| refuse(e.to_string()))
    }
}
