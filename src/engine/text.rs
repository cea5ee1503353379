//! The text of a generation: decoded pieces pass through the stop-string
//! matcher to the caller's callback and into the result. However the
//! generation ends, nothing produced is lost: text held back as a possible
//! start of a stop string (and bytes of an unfinished UTF-8 character) is
//! flushed, unless a stop string cut it off.

use super::stop::{StopMatcher, StopScan};

/// Why the generation ended, as far as its text is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// End-of-generation token.
    Eog,
    /// Token budget or context full.
    Length,
    /// The callback asked to stop: the held text goes into the result but is
    /// not sent (the caller no longer wants pieces).
    Aborted,
    /// A step failed: what was produced is sent and kept for the error.
    Failed,
}

/// What the generation loop should do after a piece of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Go,
    /// A stop string was found; the text before it has been sent.
    Stop,
    /// The callback returned false.
    Abort,
}

pub struct TextOut<'a> {
    stops: StopMatcher,
    text: String,
    on_text: &'a mut dyn FnMut(&str) -> bool,
    stopped: bool,
}

impl<'a> TextOut<'a> {
    pub fn new(stops: &[String], on_text: &'a mut dyn FnMut(&str) -> bool) -> Self {
        Self { stops: StopMatcher::new(stops), text: String::new(), on_text, stopped: false }
    }

    /// A newly decoded piece (empty when the token ended inside a UTF-8
    /// character). The callback hears of every push: with the text that is
    /// free to go, or with "" when all of it is held back (a possible start
    /// of a stop string, an unfinished character), so that the caller can
    /// abort then too.
    pub fn push(&mut self, piece: &str) -> Flow {
        match self.stops.push(piece) {
            StopScan::Continue(s) => {
                let go = if s.is_empty() { (self.on_text)("") } else { self.send(&s) };
                if go {
                    Flow::Go
                } else {
                    Flow::Abort
                }
            }
            StopScan::Stop(s) => {
                // The generation ends here whatever the callback answers.
                self.send(&s);
                self.stopped = true;
                Flow::Stop
            }
        }
    }

    /// The text so far, without what is held back.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Ends the text: `rest` is what the decoder still held (an unfinished
    /// character, written as U+FFFD). Returns the whole text and whether a stop
    /// string cut it (here or before).
    pub fn finish(mut self, rest: &str, ending: Ending) -> (String, bool) {
        if self.stopped {
            return (self.text, true);
        }
        let (tail, stopped) = match self.stops.push(rest) {
            StopScan::Continue(s) => (s + &self.stops.finish(), false),
            StopScan::Stop(s) => (s, true),
        };
        match ending {
            Ending::Aborted => self.text.push_str(&tail),
            Ending::Eog | Ending::Length | Ending::Failed => {
                self.send(&tail);
            }
        }
        (self.text, stopped)
    }

    /// Appends `s` to the text and gives it to the callback; false when the
    /// callback asks to stop. Empty pieces are not sent.
    fn send(&mut self, s: &str) -> bool {
        if s.is_empty() {
            return true;
        }
        self.text.push_str(s);
        (self.on_text)(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `pieces` with stop string "Paris. Q:" and ends with `ending`;
    /// returns (flow of each push, text, stopped, every non-empty piece
    /// sent). The callback refuses once it has been sent `abort_after` pieces.
    fn run(pieces: &[&str], rest: &str, ending: Ending, abort_after: usize) -> (Vec<Flow>, String, bool, Vec<String>) {
        let mut sent = Vec::new();
        let mut on_text = |s: &str| {
            if !s.is_empty() {
                sent.push(s.to_string());
            }
            sent.len() < abort_after
        };
        let mut out = TextOut::new(&["Paris. Q:".to_string()], &mut on_text);
        let flows = pieces.iter().map(|p| out.push(p)).collect();
        let (text, stopped) = out.finish(rest, ending);
        (flows, text, stopped, sent)
    }

    const CAPITAL: [&str; 3] = ["The capital is", " Paris", "."];

    #[test]
    fn end_of_generation_flushes_the_held_text() {
        let (flows, text, stopped, sent) = run(&CAPITAL, "", Ending::Eog, usize::MAX);
        assert_eq!(flows, [Flow::Go; 3]);
        assert_eq!((text.as_str(), stopped), ("The capital is Paris.", false));
        assert_eq!(sent, ["The capital is", " ", "Paris."], "\"Paris.\" was held until the end");
    }

    #[test]
    fn length_flushes_the_held_text_and_the_unfinished_character() {
        let (_, text, stopped, sent) = run(&CAPITAL, "\u{FFFD}", Ending::Length, usize::MAX);
        assert_eq!((text.as_str(), stopped), ("The capital is Paris.\u{FFFD}", false));
        assert_eq!(sent.concat(), text);
    }

    #[test]
    fn a_failed_step_flushes_the_held_text() {
        let (_, text, _, sent) = run(&CAPITAL[..2], "", Ending::Failed, usize::MAX);
        assert_eq!(text, "The capital is Paris");
        assert_eq!(sent, ["The capital is", " ", "Paris"]);
    }

    #[test]
    fn abort_keeps_the_held_text_without_sending_it() {
        // The second piece sent (" ", while "Paris" is held) is refused.
        let (flows, text, stopped, sent) = run(&CAPITAL[..2], "", Ending::Aborted, 2);
        assert_eq!(flows, [Flow::Go, Flow::Abort]);
        assert_eq!((text.as_str(), stopped), ("The capital is Paris", false));
        assert_eq!(sent, ["The capital is", " "]);
    }

    #[test]
    fn abort_while_everything_is_held_back() {
        // "Paris" and then "." are held as a possible start of "Paris. Q:", and
        // an unfinished character gives an empty piece: the callback still
        // hears of each (with "") and its refusal stops the generation.
        let mut calls = Vec::new();
        let mut on_text = |s: &str| {
            calls.push(s.to_string());
            calls.len() < 4
        };
        let mut out = TextOut::new(&["Paris. Q:".to_string()], &mut on_text);
        assert_eq!(out.push("The capital is "), Flow::Go);
        assert_eq!(out.push("Paris"), Flow::Go);
        assert_eq!(out.push("."), Flow::Go);
        assert_eq!(out.push(""), Flow::Abort);
        let (text, stopped) = out.finish("\u{FFFD}", Ending::Aborted);
        assert_eq!(calls, ["The capital is ", "", "", ""]);
        assert_eq!((text.as_str(), stopped), ("The capital is Paris.\u{FFFD}", false));
    }

    #[test]
    fn a_stop_string_cuts_and_nothing_is_flushed() {
        let (flows, text, stopped, sent) = run(&["The capital is", " Paris", ". Q: and"], "\u{FFFD}", Ending::Eog, usize::MAX);
        assert_eq!(flows, [Flow::Go, Flow::Go, Flow::Stop]);
        assert_eq!((text.as_str(), stopped), ("The capital is ", true));
        assert_eq!(sent.concat(), text);
        // A stop string completed by the decoder's last bytes also cuts.
        let mut sent = String::new();
        let mut on_text = |s: &str| {
            sent.push_str(s);
            true
        };
        let mut out = TextOut::new(&["end\u{FFFD}".to_string()], &mut on_text);
        assert_eq!(out.push("the end"), Flow::Go);
        assert_eq!(out.finish("\u{FFFD}", Ending::Length), ("the ".to_string(), true));
        assert_eq!(sent, "the ");
    }
}
