//! A reply's reasoning ("thinking"), split from its content as llama-server
//! (`reasoning_format` `deepseek`, its default; `try_parse_reasoning` in
//! llama.cpp's `common/chat-parser.cpp`) and the DeepSeek API return it:
//! OpenAI's `message.content` beside `message.reasoning_content`.
//!
//! Which models: those whose vocabulary has both `<think>` and `</think>`
//! as tokens ([`ThinkTags::from_vocab`]): Qwen3, Qwen3.5, SmolLM3,
//! DeepSeek-R1 and its distills; and Gemma 4, whose vocabulary has
//! `<|channel>` and `<channel|>` and whose reasoning is its thought channel,
//! `<|channel>thought…<channel|>` (llama.cpp `common/parsers/gemma4.cpp`:
//! `thinking_start_tag`, `thinking_end_tags`). For any other model nothing
//! is split, so a model that writes the text `<think>` by chance keeps it in
//! its content. Below, "`<think>`" and "`</think>`" stand for the model's tags.
//!
//! Where: reasoning is only at the start of a reply. A reply that begins
//! (after whitespace) with `<think>` has its reasoning up to `</think>`;
//! when the prompt itself ends with `<think>` (and whitespace) — templates
//! that open thinking in the generation prompt, as DeepSeek-R1's does — the
//! reply starts inside the reasoning, with no opening tag
//! ([`opens_thinking`]; llama.cpp's `thinking_forced_open`). A reply that
//! ends before `</think>` (cut by `max_tokens`) is all reasoning, its
//! content empty. Whitespace around the reasoning and before the content
//! after it is dropped; a reply with no reasoning is left exactly as written.
//!
//! [`ReasoningStream`] does the same on a stream: text that could still be
//! a tag (`<thi…`, `</thi…`), and whitespace whose place is not yet known, is
//! held back until it is decided. However a reply is cut into pieces, the
//! pieces sent join into exactly what [`split_reasoning`] gives for the
//! whole reply.

/// The tag that opens a reply's reasoning.
pub const THINK_OPEN: &str = "<think>";
/// The tag that closes it.
pub const THINK_CLOSE: &str = "</think>";

/// The tags around a model's reasoning (see the module docs for the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThinkTags {
    pub open: &'static str,
    pub close: &'static str,
}

impl ThinkTags {
    /// `<think>` … `</think>` (Qwen3, Qwen3.5, SmolLM3, DeepSeek-R1).
    pub const THINK: ThinkTags = ThinkTags { open: THINK_OPEN, close: THINK_CLOSE };
    /// Gemma 4's thought channel: `<|channel>thought` … `<channel|>`.
    pub const GEMMA4: ThinkTags = ThinkTags { open: "<|channel>thought", close: "<channel|>" };

    /// `Some` when `token_id` (the vocabulary's text → id lookup) knows both
    /// [`THINK_OPEN`] and [`THINK_CLOSE`] as single tokens ([`Self::THINK`]),
    /// or else both `<|channel>` and `<channel|>` ([`Self::GEMMA4`]).
    pub fn from_vocab(token_id: impl Fn(&str) -> Option<u32>) -> Option<Self> {
        let has = |a: &str, b: &str| token_id(a).is_some() && token_id(b).is_some();
        if has(THINK_OPEN, THINK_CLOSE) {
            Some(Self::THINK)
        } else if has("<|channel>", "<channel|>") {
            Some(Self::GEMMA4)
        } else {
            None
        }
    }

    /// Whether a rendered chat prompt opens the reasoning itself (it ends
    /// with the opening tag and maybe whitespace), so that the reply starts
    /// inside it.
    pub fn opened_by(self, prompt: &str) -> bool {
        prompt.trim_end().ends_with(self.open)
    }
}

/// [`ThinkTags::opened_by`] for `<think>`.
pub fn opens_thinking(prompt: &str) -> bool {
    ThinkTags::THINK.opened_by(prompt)
}

/// A whole reply split: the reasoning (`None` when there was none, or only
/// whitespace) and the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reasoned {
    pub reasoning: Option<String>,
    pub content: String,
}

/// Splits a whole reply with `<think>` tags; `open`: the prompt opened the
/// reasoning (see [`opens_thinking`]).
pub fn split_reasoning(text: &str, open: bool) -> Reasoned {
    split_reasoning_with(ThinkTags::THINK, text, open)
}

/// [`split_reasoning`] with the model's tags.
pub fn split_reasoning_with(tags: ThinkTags, text: &str, open: bool) -> Reasoned {
    let body = if open {
        text
    } else {
        match text.trim_start().strip_prefix(tags.open) {
            Some(rest) => rest,
            None => return Reasoned { reasoning: None, content: text.to_string() },
        }
    };
    let (reasoning, content) = match body.find(tags.close) {
        Some(at) => (&body[..at], body[at + tags.close.len()..].trim_start()),
        None => (body, ""),
    };
    let reasoning = reasoning.trim();
    Reasoned { reasoning: (!reasoning.is_empty()).then(|| reasoning.to_string()), content: content.to_string() }
}

/// What a stream can send after a piece: reasoning and content (either may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyDelta {
    pub reasoning: String,
    pub content: String,
}

impl ReplyDelta {
    pub fn is_empty(&self) -> bool {
        self.reasoning.is_empty() && self.content.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not known yet whether the reply opens with `<think>` (only whitespace
    /// or a part of the tag so far).
    Undecided,
    /// Inside the reasoning.
    Thinking,
    /// After `</think>`: content, its leading whitespace dropped.
    After,
    /// A reply without reasoning: everything is content, as written.
    Plain,
}

/// Splits a reply into reasoning and content as it streams: [`push`](Self::push)
/// each piece and send what it returns; [`finish`](Self::finish) gives the
/// rest. What is sent is always the start of what [`split_reasoning`] gives
/// for the whole reply.
#[derive(Clone, Debug)]
pub struct ReasoningStream {
    tags: ThinkTags,
    phase: Phase,
    /// Text received but not sent (undecided, or maybe part of `</think>` or
    /// trailing whitespace of the reasoning).
    held: String,
    /// Some reasoning text was sent (leading whitespace is dropped until then).
    reasoning_begun: bool,
    /// Some content after `</think>` was sent.
    content_begun: bool,
}

impl ReasoningStream {
    /// `<think>` tags; `open`: the prompt opened the reasoning (see [`opens_thinking`]).
    pub fn new(open: bool) -> Self {
        Self::with_tags(ThinkTags::THINK, open)
    }

    /// With the model's tags.
    pub fn with_tags(tags: ThinkTags, open: bool) -> Self {
        Self { tags, phase: if open { Phase::Thinking } else { Phase::Undecided }, held: String::new(), reasoning_begun: false, content_begun: false }
    }

    /// Takes the next piece of the reply; returns what can be sent now.
    pub fn push(&mut self, piece: &str) -> ReplyDelta {
        let tags = self.tags;
        self.held.push_str(piece);
        let mut out = ReplyDelta::default();
        if self.phase == Phase::Undecided {
            let t = self.held.trim_start();
            if let Some(rest) = t.strip_prefix(tags.open) {
                self.held = rest.to_string();
                self.phase = Phase::Thinking;
            } else if tags.open.starts_with(t) {
                return out;
            } else {
                self.phase = Phase::Plain;
            }
        }
        if self.phase == Phase::Thinking {
            match self.held.find(tags.close) {
                Some(at) => {
                    let after = self.held.split_off(at + tags.close.len());
                    self.held.truncate(at);
                    out.reasoning = self.take_reasoning(self.held.trim_end().len());
                    self.held = after;
                    self.phase = Phase::After;
                }
                None => {
                    let keep = undecided_tail(&self.held, tags.close);
                    out.reasoning = self.take_reasoning(self.held.len() - keep);
                    return out;
                }
            }
        }
        if self.phase == Phase::After && !self.content_begun {
            let rest = self.held.trim_start();
            self.content_begun = !rest.is_empty();
            self.held = rest.to_string();
        }
        out.content = std::mem::take(&mut self.held);
        out
    }

    /// The reply is complete: what is still to be sent. Text held as a
    /// possible opening tag is content; inside the reasoning, the rest is
    /// reasoning (its trailing whitespace dropped).
    pub fn finish(mut self) -> ReplyDelta {
        match self.phase {
            Phase::Thinking => {
                let end = self.held.trim_end().len();
                ReplyDelta { reasoning: self.take_reasoning(end), content: String::new() }
            }
            _ => ReplyDelta { reasoning: String::new(), content: std::mem::take(&mut self.held) },
        }
    }

    /// Sends `held[..end]` as reasoning (without leading whitespace before
    /// any reasoning was sent) and keeps the rest held.
    fn take_reasoning(&mut self, end: usize) -> String {
        let rest = self.held.split_off(end);
        let mut sent = std::mem::replace(&mut self.held, rest);
        if !self.reasoning_begun {
            sent = sent.trim_start().to_string();
            self.reasoning_begun = !sent.is_empty();
        }
        sent
    }
}

/// How many bytes at the end of `text` (which holds no `marker`) must wait:
/// the longest end that is a proper start of `marker`, with the whitespace
/// before it (dropped if the marker follows).
fn undecided_tail(text: &str, marker: &str) -> usize {
    let partial = (1..marker.len()).rev().find(|&k| text.ends_with(&marker[..k])).unwrap_or(0);
    let rest = &text[..text.len() - partial];
    partial + (rest.len() - rest.trim_end().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasoned(reasoning: Option<&str>, content: &str) -> Reasoned {
        Reasoned { reasoning: reasoning.map(str::to_string), content: content.to_string() }
    }

    #[test]
    fn whole_replies() {
        let cases: [(&str, bool, Reasoned); 12] = [
            ("<think>\nWhy? Because.\n</think>\n\nIt is 4.", false, reasoned(Some("Why? Because."), "It is 4.")),
            ("  <think>a</think>b", false, reasoned(Some("a"), "b")),
            // The prompt opened it: no opening tag in the reply.
            ("Let me add.\n</think>\n\n4", true, reasoned(Some("Let me add."), "4")),
            // Cut by max_tokens inside the reasoning: all of it is reasoning.
            ("<think>\nStill thinking", false, reasoned(Some("Still thinking"), "")),
            ("Still thinking ", true, reasoned(Some("Still thinking"), "")),
            ("", true, reasoned(None, "")),
            // Empty reasoning (Qwen3 with thinking off writes `<think>\n\n</think>`).
            ("<think>\n\n</think>\n\nHello", false, reasoned(None, "Hello")),
            // No reasoning: the reply as written, whitespace and all.
            ("  Hello <think> there", false, reasoned(None, "  Hello <think> there")),
            ("<thin", false, reasoned(None, "<thin")),
            ("\n", false, reasoned(None, "\n")),
            // A tool call after the reasoning is content (read by the tool-call parser).
            ("<think>call it</think>\n<tool_call>\n{\"name\": \"f\"}\n</tool_call>", false, reasoned(Some("call it"), "<tool_call>\n{\"name\": \"f\"}\n</tool_call>")),
            // Only the first </think> closes; a second is content.
            ("<think>a</think>b</think>c", false, reasoned(Some("a"), "b</think>c")),
        ];
        for (text, open, want) in cases {
            assert_eq!(split_reasoning(text, open), want, "{text:?} open={open}");
        }
    }

    #[test]
    fn the_prompt_opens_thinking() {
        assert!(opens_thinking("<｜Assistant｜><think>\n"));
        assert!(opens_thinking("<|im_start|>assistant\n<think>"));
        assert!(!opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
        assert!(!opens_thinking("<|im_start|>assistant\n"));
    }

    #[test]
    fn tags_come_from_the_vocabulary() {
        let qwen3 = |t: &str| match t {
            "<think>" => Some(151667),
            "</think>" => Some(151668),
            _ => None,
        };
        assert_eq!(ThinkTags::from_vocab(qwen3), Some(ThinkTags::THINK));
        let gemma4 = |t: &str| match t {
            "<|channel>" => Some(100),
            "<channel|>" => Some(101),
            _ => None,
        };
        assert_eq!(ThinkTags::from_vocab(gemma4), Some(ThinkTags::GEMMA4));
        assert_eq!(ThinkTags::from_vocab(|t| (t == "<think>").then_some(5)), None, "both tags or none");
        assert_eq!(ThinkTags::from_vocab(|_| None), None);
    }

    /// Feeds `pieces`; returns the reasoning and content sent, joined, and
    /// checks that no piece sent holds a tag.
    fn stream(open: bool, pieces: &[&str]) -> (String, String) {
        let mut s = ReasoningStream::new(open);
        let (mut reasoning, mut content) = (String::new(), String::new());
        let mut add = |d: ReplyDelta| {
            reasoning.push_str(&d.reasoning);
            content.push_str(&d.content);
        };
        for p in pieces {
            add(s.push(p));
        }
        add(s.finish());
        (reasoning, content)
    }

    /// However a reply is cut into pieces (at every byte boundary into two;
    /// into every character; and into three at every pair of cuts), the
    /// stream sends exactly what the whole reply splits into.
    #[test]
    fn stream_equals_the_whole_reply_at_every_split() {
        let cases = [
            ("<think>\nWhy? Because.\n</think>\n\nIt is 4.", false),
            ("  <think> ünï </think>  b ", false),
            ("Let me add.\n</think>\n\n4", true),
            ("\n  Still thinking  \n", true),
            ("<think>\n\n</think>\n\nHello", false),
            ("  Hello <think> there", false),
            ("<thin", false),
            (" \n", false),
            ("<think>a </thin b</think>", false),
            ("<think>call</think>\n<tool_call>\n{}\n</tool_call>", false),
            ("<think>a</think>b</think>c", false),
            ("plain </think> text", false),
        ];
        for (text, open) in cases {
            let whole = split_reasoning(text, open);
            let want = (whole.reasoning.clone().unwrap_or_default(), whole.content.clone());
            let cuts: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let mut splits: Vec<Vec<&str>> = Vec::new();
            for &i in &cuts {
                for &j in cuts.iter().filter(|&&j| j >= i) {
                    splits.push(vec![&text[..i], &text[i..j], &text[j..]]);
                }
            }
            splits.push(text.char_indices().map(|(i, c)| &text[i..i + c.len_utf8()]).collect());
            for pieces in splits {
                assert_eq!(stream(open, &pieces), want, "{text:?} open={open} {pieces:?}");
            }
        }
    }

    /// Gemma 4's thought channel, whole and streamed at every split; an
    /// empty channel (what its template writes with thinking off) is no reasoning.
    #[test]
    fn gemma4_thought_channel() {
        let g = ThinkTags::GEMMA4;
        let text = "<|channel>thought\nThe user greets.\n<channel|>Hello!";
        let whole = split_reasoning_with(g, text, false);
        assert_eq!(whole, Reasoned { reasoning: Some("The user greets.".into()), content: "Hello!".into() });
        assert_eq!(split_reasoning_with(g, "<|channel>thought\n<channel|>Hi", false), Reasoned { reasoning: None, content: "Hi".into() });
        assert_eq!(split_reasoning_with(g, "<think>x</think>y", false).reasoning, None, "only the model's own tags");
        assert!(g.opened_by("<|turn>model\n<|channel>thought\n") && !g.opened_by("<|turn>model\n<|channel>thought\n<channel|>"));
        for i in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let mut s = ReasoningStream::with_tags(g, false);
            let (a, b, end) = (s.push(&text[..i]), s.push(&text[i..]), s.finish());
            assert_eq!((a.reasoning + &b.reasoning + &end.reasoning, a.content + &b.content + &end.content), ("The user greets.".to_string(), "Hello!".to_string()), "split at {i}");
        }
    }

    /// What is held back is only what is undecided: plain text goes out at
    /// once, reasoning as it comes (bar a possible `</think>` and trailing
    /// whitespace).
    #[test]
    fn stream_sends_what_is_decided() {
        let mut s = ReasoningStream::new(false);
        assert_eq!(s.push(" <th"), ReplyDelta::default());
        assert_eq!(s.push("ink>\nStep one"), ReplyDelta { reasoning: "Step one".into(), content: String::new() });
        assert_eq!(s.push(".\n</th"), ReplyDelta { reasoning: ".".into(), content: String::new() });
        assert_eq!(s.push("ink>\n\nAnswer"), ReplyDelta { reasoning: String::new(), content: "Answer".into() });
        assert_eq!(s.finish(), ReplyDelta::default());
        let mut s = ReasoningStream::new(false);
        assert_eq!(s.push("Hi"), ReplyDelta { reasoning: String::new(), content: "Hi".into() });
        assert_eq!(s.push(" <think>"), ReplyDelta { reasoning: String::new(), content: " <think>".into() });
    }
}
