//! Chat templates: the Jinja source in `tokenizer.chat_template`, rendered
//! with minijinja set up as Hugging Face's `apply_chat_template` sets up
//! Python's jinja2 (the renderer templates are written and tested against):
//! `trim_blocks` and `lstrip_blocks` on, the final newline of the template
//! dropped, `{% break %}`/`{% continue %}`, `loop.previtem`/`loop.nextitem`,
//! Python string/dict methods (`.strip()`, `.rsplit()`, `.items()`, …),
//! `raise_exception(msg)`, `strftime_now(fmt)` (today's local date and time
//! through a Python `strftime` format), and `tojson` spelled as Python's
//! `json.dumps(..., ensure_ascii=False)` with its keyword arguments.
//! Every value prints as Python's `str()` prints it (`None`, `True`, `1e-05`,
//! `['a', 'b']`, `{'a': None}`), and jinja2's tests (`is sequence`,
//! `is number`, …) answer as jinja2's do (see `chat/pyvalue.rs`); the
//! `format` filter prints its arguments that way too. The `int` and `float`
//! filters fall back to their default as jinja2's do (`"x"|int` is 0,
//! `"0x1A"|int(0, 16)` is 26: see `chat/pynum.rs`).
//!
//! `{% generation %}…{% endgeneration %}` (Hugging Face's marker of assistant
//! text for training masks) renders its body: before compiling, exactly those
//! two block tags — found with minijinja's own lexer, so never inside strings,
//! comments or raw blocks — become `{% if true %}`/`{% endif %}`, which keeps
//! their whitespace control (`{%-`, `-%}`, trim/lstrip) unchanged.
//!
//! Rendering runs under a [`RenderBudget`] (see `chat/budget.rs`): a template
//! from a file cannot hang the caller or exhaust memory.
//!
//! A template that does not compile does not stop a model from loading:
//! [`ChatTemplate::for_model`] keeps the reason, plain prompts work, and
//! rendering answers [`ChatError::TemplateUnusable`].

mod budget;
mod message;
mod pyjson;
mod pynum;
mod pyvalue;
mod reasoning;
mod reply;
mod tool_calls;
mod tool_gemma4;
mod tool_history;
mod tool_markup;
mod tool_python;
mod tool_xml;
mod tools;

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use minijinja::machinery::{self, CodeGenerator, Token, Vm, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind};
use serde_json::Value as Json;

use crate::gguf::Metadata;

use crate::tokenizer::Tokenizer;

pub use budget::{BudgetExceeded, BudgetResource, RenderBudget};
pub use message::{ChatMessage, MessageError, MessagesError, ROLES};
pub use reasoning::{opens_thinking, split_reasoning, split_reasoning_with, ReplyDelta, Reasoned, ReasoningStream, ThinkTags, THINK_CLOSE, THINK_OPEN};
pub use reply::{ReplyEnd, ReplyStream};
pub use tool_calls::{forced_call_grammar, new_call_id, parse_tool_calls, ParsedReply, StreamEnd, ToolCall, ToolCallFormat, ToolCallStream};
use tool_history::requires_nine_char_ids;
pub use tools::{ToolChoice, ToolError, ToolRequest};

/// Gemma's turn format (`<start_of_turn>user … <end_of_turn>`), text only,
/// for Gemma 3 files, which carry no template.
const GEMMA3_TEMPLATE: &str = include_str!("templates/gemma3.jinja");

const NAME: &str = "chat";

/// Everything that can stop a chat template from being built or rendered, or
/// a conversation from becoming prompt tokens.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat template: {0}")]
    Template(#[from] minijinja::Error),
    /// Rendering stopped at a limit of its [`RenderBudget`].
    #[error(transparent)]
    TemplateBudget(#[from] BudgetExceeded),
    /// The template called `raise_exception(message)`: it refuses this conversation.
    #[error("the chat template refused the conversation: {0}")]
    TemplateRaised(String),
    /// The template does not compile; plain prompts still work.
    #[error("the model's chat template cannot be used: {detail}")]
    TemplateUnusable { detail: String },
    /// A request's extra template variable (`chat_template_kwargs`) has a
    /// name tabllm gives the template itself (see [`OWN_VARIABLES`]).
    #[error("chat_template_kwargs.{0} cannot be set: tabllm gives the chat template its own `{0}`")]
    TemplateVariable(String),
    /// A request's `chat_template_kwargs` entry a template could not read as
    /// sent (see [`check_template_kwargs`]): `field` is its path
    /// (`chat_template_kwargs.enable_thinking`), `key` the entry's name.
    #[error("{field} {why}")]
    TemplateKwarg { field: String, key: String, why: String },
    /// A metadata key the template choice reads has the wrong type.
    #[error(transparent)]
    Metadata(#[from] crate::gguf::GgufError),
}

/// What a template sees besides `messages` (Hugging Face's
/// `apply_chat_template` arguments).
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderArgs<'a> {
    pub add_generation_prompt: bool,
    /// Texts of the model's BOS and EOS tokens (templates often start with `{{ bos_token }}`).
    pub bos_token: &'a str,
    pub eos_token: &'a str,
    /// OpenAI-style tool definitions (`tools`), absent from the context when `None`.
    pub tools: Option<&'a [Json]>,
    /// More template variables, as `apply_chat_template(**kwargs)` passes them
    /// and llama-server's `chat_template_kwargs` (e.g. `enable_thinking`).
    /// Checked by [`check_template_kwargs`].
    pub extra: Option<&'a serde_json::Map<String, Json>>,
}

/// The names tabllm itself gives a template (the context's variables and
/// its functions), which [`RenderArgs::extra`] may not set.
pub const OWN_VARIABLES: [&str; 7] = ["messages", "tools", "add_generation_prompt", "bos_token", "eos_token", "raise_exception", "strftime_now"];

/// Checks a request's `chat_template_kwargs` (llama-server's name) before
/// they reach a template as variables:
/// - each name must be one a template can read as a variable: a letter or
///   `_`, then letters, digits or `_` (jinja2's and minijinja's names);
///   `'foo-bar'` or `''` would be set and never readable, so they are refused;
/// - `enable_thinking` (the switch of Qwen3's, Qwen3.5's and SmolLM3's
///   templates) must be a boolean, as llama-server requires ("invalid type
///   for enable_thinking (expected boolean, got string)"): the string
///   `'false'` is truthy in a template and would leave thinking on;
/// - a name tabllm gives the template itself ([`OWN_VARIABLES`]) is refused
///   ([`ChatError::TemplateVariable`]).
///
/// Errors: [`ChatError::TemplateKwarg`] naming the entry (`field`
/// `chat_template_kwargs.NAME`, or `chat_template_kwargs` with `key` for a
/// name that is not a variable name).
pub fn check_template_kwargs(extra: &serde_json::Map<String, Json>) -> Result<(), ChatError> {
    for (name, value) in extra {
        let mut chars = name.chars();
        let is_name = chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric());
        if !is_name {
            return Err(ChatError::TemplateKwarg {
                field: "chat_template_kwargs".into(),
                key: name.clone(),
                why: format!("key {name:?} is not a name a chat template can read as a variable (a letter or _, then letters, digits or _)"),
            });
        }
        if OWN_VARIABLES.contains(&name.as_str()) {
            return Err(ChatError::TemplateVariable(name.clone()));
        }
        if name == "enable_thinking" && !value.is_boolean() {
            return Err(ChatError::TemplateKwarg {
                field: "chat_template_kwargs.enable_thinking".into(),
                key: name.clone(),
                why: format!("must be true or false, got {} (a template reads any non-empty string as true)", json_type(value)),
            });
        }
    }
    Ok(())
}

/// A JSON value's type and, for a short scalar, the value (`the string "false"`).
fn json_type(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) if s.chars().count() <= 20 => format!("the string {s:?}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// What to do when a conversation ends with an assistant message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalAssistant {
    /// Continue it, as llama-server does by default (its `prefill_assistant`):
    /// the conversation before it is rendered with the generation prompt and
    /// its text is appended, so the reply goes on from that text. A final
    /// assistant message with `tool_calls` is closed instead.
    #[default]
    Continue,
    /// Close that turn and open a new assistant turn after it.
    Close,
}

/// A chat template ready to render.
pub struct ChatTemplate {
    /// The source after the `{% generation %}` pre-pass.
    source: String,
    env: Environment<'static>,
    /// Why the template does not compile, when it does not.
    unusable: Option<String>,
    budget: RenderBudget,
    /// The template refuses tool-call ids that are not 9 characters
    /// ([`requires_nine_char_ids`]): foreign ids are mapped before rendering.
    nine_char_ids: bool,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("unusable", &self.unusable).finish_non_exhaustive()
    }
}

fn whitespace() -> WhitespaceConfig {
    WhitespaceConfig { keep_trailing_newline: false, lstrip_blocks: true, trim_blocks: true }
}

impl ChatTemplate {
    /// Compiles a Jinja chat template; syntax errors are reported here.
    pub fn new(source: &str) -> Result<Self, ChatError> {
        let t = Self::lenient(source);
        match t.unusable {
            Some(detail) => Err(ChatError::TemplateUnusable { detail }),
            None => Ok(t),
        }
    }

    /// Like [`new`](Self::new), but a template that does not compile is kept
    /// with the reason, which rendering then returns.
    pub fn lenient(source: &str) -> Self {
        // jinja2's lexer turns every newline sequence into "\n" (its
        // `newline_sequence`); minijinja keeps them as written.
        let source = source.replace("\r\n", "\n").replace('\r', "\n");
        let source = strip_generation_tags(&source);
        let unusable = machinery::parse(&source, NAME, SyntaxConfig::default(), whitespace())
            .err()
            .map(|e| describe(&e));
        let budget = RenderBudget::default();
        let mut env = Environment::new();
        env.set_fuel(Some(budget.fuel));
        env.set_unknown_method_callback(budget::unknown_method);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", pyjson::tojson);
        env.add_filter("int", pynum::int);
        env.add_filter("float", pynum::float);
        budget::install(&mut env);
        pyvalue::install(&mut env);
        let nine_char_ids = requires_nine_char_ids(&source);
        let mut t = Self { source, env, unusable, budget, nine_char_ids };
        t.set_now(None);
        t
    }

    /// The template for a model: the file's `tokenizer.chat_template`, else a
    /// built-in one by `general.architecture` (`gemma3`: Gemma's turn
    /// format), else `None`. A template that does not compile is returned
    /// unusable (see [`compile_error`](Self::compile_error)), never an error,
    /// so the model still loads for plain prompts.
    pub fn for_model(md: &Metadata) -> Result<Option<Self>, ChatError> {
        match md.get_str("tokenizer.chat_template") {
            Ok(Some(source)) => {
                let t = Self::lenient(source);
                if let Some(e) = &t.unusable {
                    log::warn!("the chat template does not compile ({e}); chat is off, plain prompts work");
                }
                return Ok(Some(t));
            }
            Ok(None) => {}
            Err(e) => return Ok(Some(Self::unusable(format!("tokenizer.chat_template: {e}")))),
        }
        match md.get_str("general.architecture")? {
            Some("gemma3") => Self::gemma3().map(Some),
            _ => Ok(None),
        }
    }

    fn unusable(detail: String) -> Self {
        let mut t = Self::lenient("");
        t.unusable = Some(detail);
        t
    }

    /// The built-in Gemma 3 template.
    pub fn gemma3() -> Result<Self, ChatError> {
        Self::new(GEMMA3_TEMPLATE)
    }

    /// Why the template cannot render, if it cannot.
    pub fn compile_error(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    /// Whether the template reads a variable named `tools` (found with
    /// minijinja's lexer: never in strings or comments). A template that does
    /// not would drop a request's tools silently.
    pub fn takes_tools(&self) -> bool {
        machinery::tokenize(&self.source, false, SyntaxConfig::default(), whitespace())
            .any(|t| matches!(t, Ok((Token::Ident("tools"), _))))
    }

    /// How the model writes tool calls, told from the template's text.
    pub fn tool_call_format(&self) -> Option<ToolCallFormat> {
        ToolCallFormat::detect(&self.source)
    }

    /// Checks a request's tools against this template: it must take tools,
    /// and with `tool_choice` `auto` its call format must be one tabllm
    /// parses. Returns the format to parse the reply with (`None` for
    /// `tool_choice` `none`: the reply is plain content).
    pub fn check_tools(&self, request: &ToolRequest) -> Result<Option<ToolCallFormat>, ToolError> {
        if !self.takes_tools() {
            return Err(ToolError::TemplateIgnoresTools);
        }
        match request.choice {
            ToolChoice::None => Ok(None),
            _ => self.tool_call_format().map(Some).ok_or(ToolError::UnknownFormat),
        }
    }

    /// Fixes what `strftime_now` sees as "now" (local time); `None` reads the
    /// clock at each call. Tests use this to compare with a reference
    /// rendered at the same instant.
    pub fn set_now(&mut self, now: Option<NaiveDateTime>) {
        self.env.add_function("strftime_now", move |format: String| -> Result<Value, Error> {
            let now = now.unwrap_or_else(|| chrono::Local::now().naive_local());
            strftime(now, &format).map(Value::from)
        });
    }

    /// Replaces the render budget.
    pub fn set_budget(&mut self, budget: RenderBudget) {
        self.budget = budget;
        self.env.set_fuel(Some(budget.fuel));
    }

    /// Renders a conversation with `bos_token`/`eos_token` and, with
    /// `add_generation_prompt`, the text ends where the assistant's reply begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String, ChatError> {
        self.render_with(messages, &RenderArgs { add_generation_prompt, bos_token, eos_token, ..Default::default() })
    }

    /// Renders `messages` with all of [`RenderArgs`]. Earlier tool calls
    /// reach the template as tool-calling templates expect them (see
    /// `chat/tool_history.rs`): string `arguments` parsed into objects, as
    /// llama-server and vLLM do, and for a template that refuses other ids
    /// ([`requires_nine_char_ids`]) call ids mapped to 9 alphanumerics.
    pub fn render_with(&self, messages: &[ChatMessage], args: &RenderArgs) -> Result<String, ChatError> {
        if let Some(detail) = &self.unusable {
            return Err(ChatError::TemplateUnusable { detail: detail.clone() });
        }
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(extra) = args.extra {
            check_template_kwargs(extra)?;
            for (k, v) in extra {
                ctx.insert(k.clone(), Value::from_serialize(v));
            }
        }
        ctx.insert("add_generation_prompt".into(), Value::from(args.add_generation_prompt));
        ctx.insert("bos_token".into(), Value::from(args.bos_token));
        ctx.insert("eos_token".into(), Value::from(args.eos_token));
        if let Some(tools) = args.tools {
            ctx.insert("tools".into(), Value::from_serialize(tools));
        }
        let prepared = tool_history::prepare(messages, self.nine_char_ids, true);
        let parsed = matches!(prepared, std::borrow::Cow::Owned(_));
        ctx.insert("messages".into(), Value::from_serialize(&*prepared));
        match self.eval(Value::from(ctx.clone())).map_err(|e| classify(e, &self.budget)) {
            // A template written for string arguments (DeepSeek-R1's adds them
            // to a string) fails on objects: it gets them as sent, as
            // llama-server gives objects only to templates that need them.
            Err(ChatError::Template(_)) if parsed => {
                ctx.insert("messages".into(), Value::from_serialize(&*tool_history::prepare(messages, self.nine_char_ids, false)));
                self.eval(Value::from(ctx)).map_err(|e| classify(e, &self.budget))
            }
            r => r,
        }
    }

    /// The prompt for a reply to `messages`: with the generation prompt, and a
    /// final assistant message continued or closed as `final_assistant` says.
    pub fn render_prompt(
        &self,
        messages: &[ChatMessage],
        final_assistant: FinalAssistant,
        args: &RenderArgs,
    ) -> Result<String, ChatError> {
        let args = RenderArgs { add_generation_prompt: true, ..*args };
        match messages.split_last() {
            Some((last, before))
                if final_assistant == FinalAssistant::Continue && last.role == "assistant" && last.tool_calls.is_none() =>
            {
                let mut text = self.render_with(before, &args)?;
                text.push_str(last.text());
                Ok(text)
            }
            _ => self.render_with(messages, &args),
        }
    }

    fn eval(&self, root: Value) -> Result<String, Error> {
        let ast = machinery::parse(&self.source, NAME, SyntaxConfig::default(), whitespace())?;
        let mut g = CodeGenerator::new(NAME, &self.source);
        g.compile_stmt(&ast);
        let (instructions, blocks) = g.finish();
        let instructions = budget::guard_instructions(&instructions);
        let blocks: BTreeMap<_, _> = blocks.iter().map(|(k, v)| (*k, budget::guard_instructions(v))).collect();
        let _metering = budget::Metering::start(self.budget);
        let mut out = String::new();
        Vm::new(&self.env).eval(&instructions, root, &blocks, &mut machinery::make_string_output(&mut out), AutoEscape::None)?;
        Ok(out)
    }
}

/// Chat prompt ids from rendered template text. When the model wants a BOS
/// (`add_bos_token`), the ids start with exactly one, whether or not the
/// template wrote its text: llama.cpp strips a leading `bos_token` text from
/// the rendered prompt (`common_chat_templates_apply` in `common/chat.cpp`)
/// and then adds the BOS id when tokenizing.
pub fn chat_prompt_ids(tokenizer: &Tokenizer, rendered: &str) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut body = rendered;
    if tokenizer.add_bos() {
        if let Some(bos) = tokenizer.bos_id() {
            ids.push(bos);
            match tokenizer.token_text(bos) {
                Some(text) if !text.is_empty() => body = body.strip_prefix(text).unwrap_or(body),
                _ => {}
            }
        }
    }
    ids.extend(tokenizer.encode(body, true));
    ids
}

/// An error as one line: kind, detail and where in the template.
fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    if let (Some(line), None) = (e.line(), s.find("line ")) {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

/// Sorts a render error into the typed ones.
fn classify(e: Error, budget: &RenderBudget) -> ChatError {
    if e.kind() == ErrorKind::OutOfFuel {
        return ChatError::TemplateBudget(BudgetExceeded { resource: BudgetResource::Fuel, limit: budget.fuel });
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<BudgetExceeded>() {
            return ChatError::TemplateBudget(*b);
        }
        if let Some(r) = s.downcast_ref::<Raised>() {
            return ChatError::TemplateRaised(r.0.clone());
        }
        source = s.source();
    }
    ChatError::Template(e)
}

/// `raise_exception(msg)`: the template refuses the conversation.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Raised(String);

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
}

/// Python's `datetime.strftime` for the directives chrono shares with C's
/// `strftime` (`%d %b %B %Y %m %H %M %S %A %a %j %p %-d`, …); a directive it
/// does not know is an error, never a panic.
fn strftime(now: NaiveDateTime, format: &str) -> Result<String, Error> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write;
    let items: Vec<Item> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("strftime_now: unsupported format {format:?}")));
    }
    let mut out = String::new();
    write!(out, "{}", now.format_with_items(items.into_iter()))
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("strftime_now: cannot format {format:?} (no time zone)")))?;
    Ok(out)
}

/// Rewrites `{% generation %}` / `{% endgeneration %}` block tags to
/// `{% if true %}` / `{% endif %}`, using minijinja's lexer so that only real
/// block tags change. A source the lexer rejects is returned unchanged (the
/// compiler then reports it).
fn strip_generation_tags(source: &str) -> String {
    if !source.contains("generation") {
        return source.to_string();
    }
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    let mut after_block_start = false;
    for tok in machinery::tokenize(source, false, SyntaxConfig::default(), whitespace()) {
        let Ok((tok, span)) = tok else { return source.to_string() };
        if after_block_start {
            let with = match tok {
                Token::Ident("generation") => Some("if true"),
                Token::Ident("endgeneration") => Some("endif"),
                _ => None,
            };
            if let Some(with) = with {
                edits.push((span.start_offset as usize, span.end_offset as usize, with));
            }
        }
        after_block_start = matches!(tok, Token::BlockStart);
    }
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for (start, end, with) in edits {
        out.push_str(&source[at..start]);
        out.push_str(with);
        at = end;
    }
    out.push_str(&source[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_methods_and_tojson() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m.content.strip() }}|{{ m | tojson }}{% endfor %}",
        )
        .unwrap();
        let out = t
            .render(&[ChatMessage::new("user", "  hi \"x\"\n")], false, "", "")
            .unwrap();
        assert_eq!(
            out,
            "hi \"x\"|{\"role\": \"user\", \"content\": \"  hi \\\"x\\\"\\n\"}"
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}").unwrap();
        let err = t.render(&[], true, "", "").unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }

    /// `tools` counts only as a variable the template reads, never in a
    /// string or a comment; a template without it refuses tools, one whose
    /// call format is unknown refuses `auto` but renders with `none`.
    #[test]
    fn tools_are_checked_against_the_template() {
        let req = |choice: &str| {
            let tools = serde_json::json!([{"type": "function", "function": {"name": "f"}}]);
            ToolRequest::from_fields(Some(&tools), Some(&Json::from(choice)), None).unwrap().unwrap()
        };
        let no_tools = ChatTemplate::new("{# tools #}{{ 'tools' }}{% for m in messages %}{{ m.content }}{% endfor %}").unwrap();
        assert!(!no_tools.takes_tools());
        assert_eq!(no_tools.check_tools(&req("auto")), Err(ToolError::TemplateIgnoresTools));
        let unknown = ChatTemplate::new("{% if tools %}{{ tools | tojson }}{% endif %}").unwrap();
        assert!(unknown.takes_tools());
        assert_eq!(unknown.check_tools(&req("auto")), Err(ToolError::UnknownFormat));
        assert_eq!(unknown.check_tools(&req("none")), Ok(None));
        let hermes = ChatTemplate::new("{% if tools %}<tools>{{ tools | tojson }}</tools> <tool_call>{% endif %}").unwrap();
        assert_eq!(hermes.check_tools(&req("auto")), Ok(Some(ToolCallFormat::Hermes)));
        // A forced call is read in the template's format too (decoding is constrained to it).
        assert_eq!(hermes.check_tools(&req("required")), Ok(Some(ToolCallFormat::Hermes)));
        assert_eq!(unknown.check_tools(&req("required")), Err(ToolError::UnknownFormat));
        let out = hermes.render_with(&[], &RenderArgs { tools: Some(&req("auto").tools), ..Default::default() }).unwrap();
        assert_eq!(out, r#"<tools>[{"type": "function", "function": {"name": "f"}}]</tools> <tool_call>"#);
    }

    /// `extra` (a request's `chat_template_kwargs`) reaches the template as
    /// variables: Qwen3's template reads `enable_thinking`; a name tabllm
    /// gives the template itself is refused by name, never overridden.
    #[test]
    fn extra_variables_reach_the_template_and_own_names_are_refused() {
        let src = std::fs::read_to_string(format!("{}/tests/templates/qwen3.jinja", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let t = ChatTemplate::new(&src).unwrap();
        let hi = [ChatMessage::new("user", "hi")];
        let render = |extra: Option<&serde_json::Map<String, Json>>| t.render_with(&hi, &RenderArgs { add_generation_prompt: true, extra, ..Default::default() });
        let kwargs = |v: Json| v.as_object().unwrap().clone();
        assert_eq!(render(None).unwrap(), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        let off = kwargs(serde_json::json!({"enable_thinking": false}));
        assert_eq!(render(Some(&off)).unwrap(), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
        let on = kwargs(serde_json::json!({"enable_thinking": true, "unused": [1, {"a": null}]}));
        assert_eq!(render(Some(&on)).unwrap(), render(None).unwrap());
        for name in OWN_VARIABLES {
            let bad = kwargs(serde_json::json!({ "enable_thinking": false, name: "x" }));
            match render(Some(&bad)) {
                Err(ChatError::TemplateVariable(n)) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// `chat_template_kwargs` a template could not read as sent are refused
    /// by name: `enable_thinking` that is not a boolean (the string `'false'`
    /// is truthy and left thinking on), names that are not variable names.
    #[test]
    fn template_kwargs_are_checked_by_name() {
        let t = ChatTemplate::new("{% if enable_thinking is defined and not enable_thinking %}off{% else %}on{% endif %}").unwrap();
        let render = |v: Json| t.render_with(&[], &RenderArgs { extra: Some(v.as_object().unwrap()), ..Default::default() });
        assert_eq!(render(serde_json::json!({"enable_thinking": false})).unwrap(), "off");
        for bad in [serde_json::json!("false"), serde_json::json!(0), Json::Null, serde_json::json!([false])] {
            match render(serde_json::json!({ "enable_thinking": bad })) {
                Err(ChatError::TemplateKwarg { field, key, why }) => {
                    assert_eq!((field.as_str(), key.as_str()), ("chat_template_kwargs.enable_thinking", "enable_thinking"));
                    assert!(why.contains("true or false"), "{why}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for name in ["foo-bar", "", "1st", "a b", "x.y"] {
            match render(serde_json::json!({ name: 1 })) {
                Err(ChatError::TemplateKwarg { field, key, .. }) => assert_eq!((field.as_str(), key.as_str()), ("chat_template_kwargs", name)),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        for name in ["_x", "x1", "réponse", "__proto__"] {
            assert_eq!(render(serde_json::json!({ name: 1 })).unwrap(), "on", "{name}");
        }
    }

    /// jinja2's `int` and `float` filters fall back to their default where
    /// minijinja's abort the render. Every expected value is jinja2 3.1.6's
    /// output for the same expression.
    #[test]
    fn int_and_float_filters_fall_back_as_jinja2() {
        let cases = [
            (r#"{{ "x"|int }}"#, "0"),
            (r#"{{ " 42 "|int }}"#, "42"),
            (r#"{{ ""|int }}"#, "0"),
            (r#"{{ "12abc"|int(7) }}"#, "7"),
            (r#"{{ "12abc"|int(default=7) }}"#, "7"),
            (r#"{{ "0x1A"|int(0, 16) }}"#, "26"),
            (r#"{{ "0x1A"|int(base=0) }}"#, "26"),
            (r#"{{ "010"|int(base=0) }}"#, "10"),
            (r#"{{ "0_0"|int(base=0) }}"#, "0"),
            (r#"{{ "1_000"|int }}"#, "1000"),
            (r#"{{ "42.9"|int }}"#, "42"),
            (r#"{{ "-1e3"|int }}"#, "-1000"),
            (r#"{{ "inf"|int }}"#, "0"),
            (r#"{{ "nan"|int(5) }}"#, "5"),
            (r#"{{ none|int(3) }}"#, "3"),
            (r#"{{ [1]|int }}"#, "0"),
            (r#"{{ true|int }}"#, "1"),
            (r#"{{ 3.9|int }}"#, "3"),
            (r#"{{ -3.9|int }}"#, "-3"),
            (r#"{{ "0b101"|int(0, 2) }}"#, "5"),
            (r#"{{ "ff"|int(0, 16) }}"#, "255"),
            (r#"{{ "z"|int(0, 36) }}"#, "35"),
            (r#"{{ "7"|int(0, 1) }}"#, "7"),
            (r#"{{ "0x_1f"|int(0, 16) }}"#, "31"),
            (r#"{{ "+ 5"|int }}"#, "0"),
            (r#"{{ "x"|float }}"#, "0.0"),
            (r#"{{ "1_0.5"|float }}"#, "10.5"),
            (r#"{{ " -inf "|float }}"#, "-inf"),
            (r#"{{ "nan"|float }}"#, "nan"),
            (r#"{{ none|float }}"#, "0.0"),
            (r#"{{ true|float }}"#, "1.0"),
            (r#"{{ 3|float }}"#, "3.0"),
            (r#"{{ "12"|float(1) }}"#, "12.0"),
            (r#"{{ "1__0"|float(2) }}"#, "2"),
        ];
        for (src, want) in cases {
            let got = ChatTemplate::new(src).unwrap().render(&[], false, "", "");
            assert_eq!(got.as_deref().ok(), Some(want), "{src}: {got:?}");
        }
        for src in [r#"{{ x|int }}"#, r#"{{ x|float }}"#, r#"{{ "1"|int(0, default=1) }}"#] {
            assert!(ChatTemplate::new(src).unwrap().render(&[], false, "", "").is_err(), "{src}");
        }
    }

    /// `format` prints None, lists and dicts with Python's `str()`, as
    /// `~` does (jinja2 3.1.6's outputs). (`{{ {'a': 'x'} ~ '' }}`, both
    /// sides literals, is folded by minijinja's compiler before any filter
    /// or operator of ours runs, and still prints JSON.)
    #[test]
    fn format_prints_values_as_python() {
        let cases = [
            (r#"{{ "%s|%s|%s"|format({"a": "x"}, ["x"], none) }}"#, "{'a': 'x'}|['x']|None"),
            (r#"{% set m = {"role": "user"} %}{{ "<%s>"|format(m) }}"#, "<{'role': 'user'}>"),
            (r#"{{ "%s-%d-%.1f"|format("s", 3, 2.25) }}"#, "s-3-2.2"),
        ];
        for (src, want) in cases {
            let got = ChatTemplate::new(src).unwrap().render(&[], false, "", "");
            assert_eq!(got.as_deref().ok(), Some(want), "{src}: {got:?}");
        }
    }

    #[test]
    fn trim_and_lstrip_blocks() {
        let t = ChatTemplate::new("  {% if true %}\nA\n  {% endif %}\nB\n").unwrap();
        assert_eq!(t.render(&[], false, "", "").unwrap(), "A\nB");
    }
}
