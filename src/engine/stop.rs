//! Stop strings over streamed text: text that might be the start of a stop
//! string is held back until it is known not to be one.

pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What to do with newly decoded text.
#[derive(Debug, PartialEq, Eq)]
pub enum StopScan {
    /// Emit this text and go on.
    Continue(String),
    /// Emit this text (everything before the stop string) and finish.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopScan {
        self.held.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let out = self.held[..at].to_string();
            self.held.clear();
            return StopScan::Stop(out);
        }
        // Hold back the longest tail that is a proper prefix of some stop string.
        let mut keep = 0;
        for s in &self.stops {
            for (i, _) in self.held.char_indices() {
                let tail = &self.held[i..];
                if tail.len() > keep && s.starts_with(tail) {
                    keep = tail.len();
                }
            }
        }
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        StopScan::Continue(out)
    }

    /// Text still held when generation ends for another reason.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_partial_stop_and_cuts_at_stop() {
        let mut m = StopMatcher::new(&["<|end|>".to_string()]);
        assert_eq!(m.push("Hello <|"), StopScan::Continue("Hello ".into()));
        assert_eq!(m.push("en"), StopScan::Continue(String::new()));
        assert_eq!(m.push("d|> more"), StopScan::Stop(String::new()));
        let mut m = StopMatcher::new(&["\n\n".to_string()]);
        assert_eq!(m.push("a\n"), StopScan::Continue("a".into()));
        assert_eq!(m.push("b"), StopScan::Continue("\nb".into()));
        assert_eq!(m.push("\n\nc"), StopScan::Stop(String::new()));
        assert_eq!(m.finish(), "");
    }
}
