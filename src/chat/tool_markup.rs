//! What the tool-call formats that wrap their calls in markers share:
//! splitting a whole reply at the markers, and the parameter sequence of a
//! forced call's grammar.

/// Splits `text` at each `open` marker. `body` reads the calls after one
/// marker (it gets the text after it) and returns them with the text after
/// them, which must then hold (after whitespace) the `close` marker, or be
/// empty (the closing marker cut by the end of the reply still counts).
/// Returns the content pieces around the calls and the calls; `None` when
/// the reply holds no call, or a call or its closing marker does not parse
/// (the whole reply is then content).
pub(super) fn split_at_markers<'a, T>(text: &'a str, open: &str, close: &str, body: impl Fn(&'a str) -> Option<(Vec<T>, &'a str)>) -> Option<(Vec<&'a str>, Vec<T>)> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        parts.push(&rest[..at]);
        let (found, after) = body(&rest[at + open.len()..])?;
        calls.extend(found);
        let after = after.trim_start();
        rest = match after.strip_prefix(close) {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return None,
        };
    }
    if calls.is_empty() {
        return None;
    }
    parts.push(rest);
    Some((parts, calls))
}

/// A call's parameters in a Lark grammar: the `required` rules, joined by
/// `sep` (a Lark literal), then each `optional` one, preceded by `sep` when
/// another came before it. With none required, whichever optional rule
/// comes first is written without `sep` (a parameter list cannot start with
/// it). `None` when there are no parameters.
pub(super) fn param_sequence(required: &[String], optional: &[String], sep: &str) -> Option<String> {
    let tail = |from: usize| optional[from..].iter().map(|r| format!("({sep} {r})?")).collect::<Vec<_>>();
    if required.is_empty() {
        if optional.is_empty() {
            return None;
        }
        // Which optional parameter comes first, then any of those after it.
        let starts: Vec<String> = (0..optional.len()).map(|k| [vec![optional[k].clone()], tail(k + 1)].concat().join(" ")).collect();
        Some(format!("({})?", starts.join(" | ")))
    } else {
        Some([vec![required.join(&format!(" {sep} "))], tail(0)].concat().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sequences() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(param_sequence(&r(&["a", "b"]), &r(&["c"]), "\",\"").as_deref(), Some("a \",\" b (\",\" c)?"));
        assert_eq!(param_sequence(&r(&[]), &r(&["a", "b"]), "\",\"").as_deref(), Some("(a (\",\" b)? | b)?"));
        assert_eq!(param_sequence(&r(&[]), &r(&[]), "\",\""), None);
    }

    #[test]
    fn markers_split_the_reply() {
        // A body reading one word per marker.
        let word = |s: &'static str| s.find(' ').map(|i| (vec![s[..i].to_string()], &s[i..]));
        assert_eq!(split_at_markers("hi [a ] x [b ]", "[", "]", word), Some((vec!["hi ", " x ", ""], vec!["a".to_string(), "b".to_string()])));
        assert_eq!(split_at_markers("hi [a ", "[", "]", word), Some((vec!["hi ", ""], vec!["a".to_string()])), "the closing marker cut");
        assert_eq!(split_at_markers("hi [a x]", "[", "]", word), None, "text before the closing marker");
        assert_eq!(split_at_markers("no call", "[", "]", word), None);
    }
}
