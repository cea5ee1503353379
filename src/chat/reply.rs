//! A chat reply read as it streams: its reasoning split off first (for a
//! model with think tags, see `reasoning.rs`), then tool calls read from the
//! content that follows (with tools, see `tool_calls.rs`). The CLI and the
//! wasm engine both send what [`ReplyStream::push`] returns and end with
//! [`ReplyStream::finish`].

use super::reasoning::{ReplyDelta, ReasoningStream};
use super::tool_calls::{ToolCall, ToolCallStream};

/// Splits a streamed chat reply into reasoning, content and tool calls.
#[derive(Debug)]
pub struct ReplyStream {
    reasoning: Option<ReasoningStream>,
    calls: Option<ToolCallStream>,
    /// All reasoning sent (and to send).
    reasoning_text: String,
    /// All content after the reasoning, before tool calls are taken out of it.
    content_text: String,
}

/// The end of a streamed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyEnd {
    /// Reasoning and content not sent yet.
    pub tail: ReplyDelta,
    /// The whole reasoning; `None` when the reply had none (or the model has
    /// no think tags).
    pub reasoning_content: Option<String>,
    /// The whole content (OpenAI's `message.content`): the reply less its
    /// reasoning and its calls; `None` when the reply is only calls.
    pub content: Option<String>,
    /// The tool calls read (empty without tools or when none parsed).
    pub calls: Vec<ToolCall>,
    /// The one call was cut off by the token limit (see [`ToolCallStream::finish`]).
    pub partial: bool,
}

impl ReplyStream {
    /// `reasoning`: split reasoning off (the model has think tags); `calls`:
    /// read tool calls from the content.
    pub fn new(reasoning: Option<ReasoningStream>, calls: Option<ToolCallStream>) -> Self {
        Self { reasoning, calls, reasoning_text: String::new(), content_text: String::new() }
    }

    /// Whether the reply's reasoning is split off.
    pub fn splits_reasoning(&self) -> bool {
        self.reasoning.is_some()
    }

    /// Takes the next piece of the reply; returns what can be sent now.
    pub fn push(&mut self, piece: &str) -> ReplyDelta {
        let d = match &mut self.reasoning {
            Some(r) => r.push(piece),
            None => ReplyDelta { reasoning: String::new(), content: piece.to_string() },
        };
        self.pass_on(d)
    }

    /// Records `d` and runs its content through the tool-call reader.
    fn pass_on(&mut self, d: ReplyDelta) -> ReplyDelta {
        self.reasoning_text.push_str(&d.reasoning);
        self.content_text.push_str(&d.content);
        let content = match &mut self.calls {
            Some(c) => c.push(&d.content),
            None => d.content,
        };
        ReplyDelta { reasoning: d.reasoning, content }
    }

    /// The reply is complete; `cut`: it stopped at its token limit.
    pub fn finish(mut self, cut: bool) -> ReplyEnd {
        let rest = self.reasoning.take().map(ReasoningStream::finish).unwrap_or_default();
        let mut tail = self.pass_on(rest);
        let reasoning_content = (!self.reasoning_text.is_empty()).then(|| std::mem::take(&mut self.reasoning_text));
        match self.calls.take() {
            Some(c) => {
                let end = c.finish(cut);
                tail.content.push_str(&end.tail);
                ReplyEnd { tail, reasoning_content, content: end.content, calls: end.calls, partial: end.partial }
            }
            None => ReplyEnd { tail, reasoning_content, content: Some(self.content_text), calls: Vec::new(), partial: false },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reasoning::split_reasoning;
    use super::super::tool_calls::ToolCallFormat;
    use super::*;

    fn run(open: bool, tools: bool, pieces: &[&str], cut: bool) -> (String, String, ReplyEnd) {
        let mut s = ReplyStream::new(Some(ReasoningStream::new(open)), tools.then(|| ToolCallStream::new(ToolCallFormat::Hermes, true)));
        let (mut reasoning, mut content) = (String::new(), String::new());
        for p in pieces {
            let d = s.push(p);
            reasoning.push_str(&d.reasoning);
            content.push_str(&d.content);
        }
        let end = s.finish(cut);
        reasoning.push_str(&end.tail.reasoning);
        content.push_str(&end.tail.content);
        (reasoning, content, end)
    }

    /// A call after the reasoning is read from the content, whatever the
    /// pieces; the streamed reasoning and content equal the whole reply's.
    #[test]
    fn tool_calls_after_thinking() {
        let text = "<think>\nThe user wants weather.\n</think>\n\nChecking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        for i in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let (reasoning, content, end) = run(false, true, &[&text[..i], &text[i..]], false);
            assert_eq!(reasoning, "The user wants weather.");
            assert_eq!(end.reasoning_content.as_deref(), Some("The user wants weather."));
            assert_eq!((content.as_str(), end.content.as_deref()), ("Checking.", Some("Checking.")), "cut at {i}");
            assert_eq!(end.calls.len(), 1);
            assert_eq!((end.calls[0].name.as_str(), end.calls[0].arguments.as_str()), ("get_weather", r#"{"city":"Oslo"}"#));
        }
    }

    /// A reply cut by max_tokens inside the reasoning: all of it is
    /// reasoning, the content empty (with tools too).
    #[test]
    fn cut_inside_thinking() {
        for tools in [false, true] {
            let (reasoning, content, end) = run(true, tools, &["Let me", " think about <tool_call> ", "and"], true);
            assert_eq!((reasoning.as_str(), content.as_str()), ("Let me think about <tool_call> and", ""));
            assert_eq!(end.reasoning_content.as_deref(), Some("Let me think about <tool_call> and"));
            assert_eq!(end.content.as_deref(), Some(""), "tools {tools}");
            assert!(end.calls.is_empty());
        }
    }

    /// Without think tags (no reasoning stream) the reply is content as written.
    #[test]
    fn no_thinking_model_changes_nothing() {
        let mut s = ReplyStream::new(None, None);
        assert!(!s.splits_reasoning());
        assert_eq!(s.push("<think>x</think> y").content, "<think>x</think> y");
        let end = s.finish(false);
        assert_eq!((end.reasoning_content, end.content), (None, Some("<think>x</think> y".to_string())));
        let (_, content, end) = run(false, false, &["  plain ", "answer"], false);
        assert_eq!(content, "  plain answer");
        assert_eq!(end.content.as_deref(), Some(split_reasoning("  plain answer", false).content.as_str()));
        assert_eq!(end.reasoning_content, None);
    }
}
