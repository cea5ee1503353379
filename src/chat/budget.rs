//! The render budget: a chat template comes from a model file, so it is
//! hostile input, and rendering it must end quickly with bounded memory.
//!
//! - **Fuel** (minijinja's `fuel` feature): every instruction costs one unit,
//!   so loops end (three nested `range(100000)` would be 10^15 steps).
//! - **String size and bytes created**: fuel cannot see a string that doubles
//!   40 times in 40 steps (8 TB). minijinja offers no hook on `~` or `+`, so
//!   the compiled instructions are rewritten (through its unstable machinery;
//!   the version is pinned in Cargo.toml): `StringConcat`, `Add` and `Mul`
//!   become calls to guarded functions that check the size of the result
//!   *before* building it, then do what minijinja does. The string-building
//!   filters and Python methods (`join`, `replace`, `indent`, `str.replace`,
//!   `str.join`) are checked the same way. Each string built
//!   this way also counts against a total, so many strings just under the
//!   size limit cannot add up to gigabytes.
//! - **Output size**: all output goes through the environment's formatter
//!   (literal template text too: `EmitRaw` is rewritten to a constant and
//!   `Emit`), which counts bytes.
//!
//! Hitting a limit stops rendering with [`BudgetExceeded`] as the error's
//! source, which becomes `ChatError::TemplateBudget`.

use std::cell::RefCell;
use std::sync::OnceLock;

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::{Kwargs, StringInput};
use minijinja::{context, Environment, Error, ErrorKind, Output, State, Value};

use super::pyvalue::py_str;

/// Limits for one render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderBudget {
    /// Template instructions executed.
    pub fuel: u64,
    /// Largest string one operation may build.
    pub max_string_bytes: usize,
    /// Bytes of all strings built by concatenation, repetition and the
    /// string-building filters and methods, together.
    pub max_created_bytes: usize,
    /// Bytes of rendered text.
    pub max_output_bytes: usize,
}

impl Default for RenderBudget {
    /// Room for conversations that fill a large context (a 128k-token prompt
    /// is about 512 KB of text) and tool lists, well under a second of work.
    fn default() -> Self {
        Self {
            fuel: 5_000_000,
            max_string_bytes: 8 << 20,
            max_created_bytes: 64 << 20,
            max_output_bytes: 8 << 20,
        }
    }
}

/// Which limit of a [`RenderBudget`] was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetResource {
    Fuel,
    StringSize,
    CreatedBytes,
    OutputSize,
}

impl std::fmt::Display for BudgetResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BudgetResource::Fuel => "instruction (fuel)",
            BudgetResource::StringSize => "string size",
            BudgetResource::CreatedBytes => "bytes of strings built",
            BudgetResource::OutputSize => "output size",
        })
    }
}

/// The error a render stops with when a limit is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the chat template went over its {resource} budget of {limit}")]
pub struct BudgetExceeded {
    pub resource: BudgetResource,
    pub limit: u64,
}

impl BudgetExceeded {
    fn into_error(self) -> Error {
        Error::new(ErrorKind::InvalidOperation, self.to_string()).with_source(self)
    }
}

struct Meter {
    budget: RenderBudget,
    created: usize,
    output: usize,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// Counting is on while this lives (one render on this thread).
pub(super) struct Metering(());

impl Metering {
    pub(super) fn start(budget: RenderBudget) -> Self {
        METER.with(|m| *m.borrow_mut() = Some(Meter { budget, created: 0, output: 0 }));
        Metering(())
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        METER.with(|m| *m.borrow_mut() = None);
    }
}

/// Checks that a string of `len` bytes may be built, and counts it.
fn charge_string(len: usize) -> Result<(), Error> {
    METER.with(|m| {
        let mut m = m.borrow_mut();
        let Some(m) = m.as_mut() else { return Ok(()) };
        if len > m.budget.max_string_bytes {
            return Err(exceeded(BudgetResource::StringSize, m.budget.max_string_bytes));
        }
        m.created = m.created.saturating_add(len);
        if m.created > m.budget.max_created_bytes {
            return Err(exceeded(BudgetResource::CreatedBytes, m.budget.max_created_bytes));
        }
        Ok(())
    })
}

fn charge_output(len: usize) -> Result<(), Error> {
    METER.with(|m| {
        let mut m = m.borrow_mut();
        let Some(m) = m.as_mut() else { return Ok(()) };
        m.output = m.output.saturating_add(len);
        if m.output > m.budget.max_output_bytes {
            return Err(exceeded(BudgetResource::OutputSize, m.budget.max_output_bytes));
        }
        Ok(())
    })
}

fn exceeded(resource: BudgetResource, limit: usize) -> Error {
    BudgetExceeded { resource, limit: limit as u64 }.into_error()
}

const CONCAT: &str = "__tabllm_concat";
const ADD: &str = "__tabllm_add";
const MUL: &str = "__tabllm_mul";

/// Registers the guarded operations, filters and the counting formatter.
pub(super) fn install(env: &mut Environment<'static>) {
    env.add_function(CONCAT, concat);
    env.add_function(ADD, add);
    env.add_function(MUL, mul);
    env.set_formatter(format);
    env.add_filter("join", join);
    env.add_filter("replace", replace);
    env.add_filter("indent", indent);
}

/// A copy of `src` with the string-building operations and literal output
/// rerouted through the guards. Jump targets are renumbered because each
/// `EmitRaw` becomes two instructions.
pub(super) fn guard_instructions<'s>(src: &Instructions<'s>) -> Instructions<'s> {
    let n = src.len() as u32;
    let mut map = Vec::with_capacity(n as usize + 1);
    let mut next = 0u32;
    for i in 0..n {
        map.push(next);
        next += if matches!(src.get(i), Some(Instruction::EmitRaw(_))) { 2 } else { 1 };
    }
    map.push(next);
    let to = |t: u32| map.get(t as usize).copied().unwrap_or(next);
    let mut out = Instructions::new(src.name(), src.source());
    for i in 0..n {
        let Some(instr) = src.get(i) else { break };
        let mut add = |instr: Instruction<'s>| match (src.get_span(i), src.get_line(i)) {
            (Some(span), _) => out.add_with_span(instr, span),
            (None, Some(line)) => out.add_with_line(instr, line.min(u16::MAX as usize) as u16),
            (None, None) => out.add(instr),
        };
        match instr.clone() {
            Instruction::EmitRaw(s) => {
                add(Instruction::LoadConst(Value::from(s)));
                add(Instruction::Emit);
            }
            Instruction::StringConcat => _ = add(Instruction::CallFunction(CONCAT, Some(2))),
            Instruction::Add => _ = add(Instruction::CallFunction(ADD, Some(2))),
            Instruction::Mul => _ = add(Instruction::CallFunction(MUL, Some(2))),
            Instruction::Jump(t) => _ = add(Instruction::Jump(to(t))),
            Instruction::JumpIfFalse(t) => _ = add(Instruction::JumpIfFalse(to(t))),
            Instruction::JumpIfFalseOrPop(t) => _ = add(Instruction::JumpIfFalseOrPop(to(t))),
            Instruction::JumpIfTrueOrPop(t) => _ = add(Instruction::JumpIfTrueOrPop(to(t))),
            Instruction::Iterate(t) => _ = add(Instruction::Iterate(to(t))),
            Instruction::BuildMacro(name, t, flags) => _ = add(Instruction::BuildMacro(name, to(t), flags)),
            other => _ = add(other),
        }
    }
    out
}

/// The largest string one operation may build under the running render's
/// budget (the default budget's outside a render).
pub(super) fn max_string_bytes() -> usize {
    METER.with(|m| m.borrow().as_ref().map(|m| m.budget.max_string_bytes)).unwrap_or(RenderBudget::default().max_string_bytes)
}

/// The error for a string over [`max_string_bytes`].
pub(super) fn string_size_exceeded() -> Error {
    exceeded(BudgetResource::StringSize, max_string_bytes())
}

fn format(out: &mut Output, _state: &State, value: &Value) -> Result<(), Error> {
    let s = py_str(value)?;
    charge_output(s.len())?;
    out.write_str(&s).map_err(|_| Error::new(ErrorKind::WriteFailure, "writing the output failed"))
}

fn concat(a: Value, b: Value) -> Result<Value, Error> {
    let (a, b) = (py_str(&a)?, py_str(&b)?);
    charge_string(a.len().saturating_add(b.len()))?;
    Ok(Value::from(format!("{a}{b}")))
}

fn add(a: Value, b: Value) -> Result<Value, Error> {
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        charge_string(x.len().saturating_add(y.len()))?;
        return Ok(Value::from(format!("{x}{y}")));
    }
    builtin_op("a + b", a, b)
}

fn mul(a: Value, b: Value) -> Result<Value, Error> {
    let repeated = match (a.as_str(), b.as_str()) {
        (Some(s), None) => Some((s.len(), &b)),
        (None, Some(s)) => Some((s.len(), &a)),
        _ => None,
    };
    if let Some((len, n)) = repeated {
        if let Some(n) = n.as_usize() {
            charge_string(len.saturating_mul(n))?;
        }
    }
    builtin_op("a * b", a, b)
}

/// minijinja's own operator, for everything the guards do not change.
fn builtin_op(expr: &str, a: Value, b: Value) -> Result<Value, Error> {
    static OPS: OnceLock<Environment<'static>> = OnceLock::new();
    let env = OPS.get_or_init(Environment::new);
    env.compile_expression(expr)?.eval(context! { a, b })
}

/// `join`: jinja2's `sep.join(map(str, value))`, each item printed as
/// Python's `str()` does (so `[None, ['a']]|join(',')` is `None,['a']`).
fn join(state: &State, value: &Value, joiner: Option<StringInput<'_>>) -> Result<Value, Error> {
    if value.is_undefined() || value.is_none() || value.as_str().is_some() {
        return minijinja::filters::join(state, value, joiner);
    }
    let sep = joiner.as_ref().map_or("", |j| j.as_str());
    let limit = max_string_bytes();
    let mut out = String::new();
    for (i, item) in value.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&py_str(&item)?);
        if out.len() > limit {
            return Err(string_size_exceeded());
        }
    }
    charge_string(out.len())?;
    Ok(Value::from(out))
}

fn replace(state: &State, value: StringInput<'_>, from: StringInput<'_>, to: StringInput<'_>) -> Result<Value, Error> {
    charge_string(replaced_len(value.as_str(), from.as_str(), to.as_str(), None))?;
    minijinja::filters::replace(state, value, from, to)
}

/// The length of `s` with `from` replaced by `to` (at most `count` times).
fn replaced_len(s: &str, from: &str, to: &str, count: Option<usize>) -> usize {
    let hits = if from.is_empty() { s.chars().count() + 1 } else { s.matches(from).count() };
    let hits = count.map_or(hits, |c| hits.min(c));
    s.len().saturating_sub(hits.saturating_mul(from.len())).saturating_add(hits.saturating_mul(to.len()))
}

fn indent(
    value: StringInput<'_>,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let lines = value.as_str().lines().count() + 1;
    charge_string(value.as_str().len().saturating_add(width.unwrap_or(4).saturating_mul(lines)))?;
    minijinja::filters::indent(value, width, first, blank, kwargs)
}

/// Python string methods the templates call: minijinja-contrib's pycompat,
/// plus `rsplit`, with `replace` and `join` checked against the budget.
pub(super) fn unknown_method(state: &State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        match method {
            "replace" => {
                let from = args.first().map(py_str).transpose()?.unwrap_or_default();
                let to = args.get(1).map(py_str).transpose()?.unwrap_or_default();
                let count = args.get(2).and_then(|c| c.as_i64()).and_then(|c| usize::try_from(c).ok());
                charge_string(replaced_len(s, &from, &to, count))?;
            }
            "join" => {
                let items: Vec<Value> = match args.first() {
                    Some(a) => a.try_iter()?.collect(),
                    None => Vec::new(),
                };
                let mut len = 0usize;
                for i in &items {
                    len = len.saturating_add(py_str(i)?.len());
                }
                charge_string(len.saturating_add(s.len().saturating_mul(items.len().saturating_sub(1))))?;
            }
            "rsplit" => return rsplit(s, args),
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// `str.rsplit(sep=None, maxsplit=-1)` as Python does it.
fn rsplit(s: &str, args: &[Value]) -> Result<Value, Error> {
    let sep = match args.first() {
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => Some(v.as_str().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "rsplit: sep must be a string"))?.to_string()),
        None => None,
    };
    let max = args.get(1).and_then(|m| m.as_i64()).filter(|m| *m >= 0).map(|m| m as usize);
    let mut parts: Vec<String> = match &sep {
        Some(sep) if sep.is_empty() => return Err(Error::new(ErrorKind::InvalidOperation, "empty separator")),
        Some(sep) => match max {
            Some(m) => s.rsplitn(m + 1, sep.as_str()).map(String::from).collect(),
            None => s.rsplit(sep.as_str()).map(String::from).collect(),
        },
        None => {
            let mut words: Vec<String> = Vec::new();
            let mut rest = s.trim_end();
            while !rest.is_empty() {
                if max.is_some_and(|m| words.len() == m) {
                    words.push(rest.to_string());
                    break;
                }
                match rest.rfind(char::is_whitespace) {
                    Some(i) => {
                        let ws_len = rest[i..].chars().next().map_or(1, char::len_utf8);
                        words.push(rest[i + ws_len..].to_string());
                        rest = rest[..i].trim_end();
                    }
                    None => {
                        words.push(rest.to_string());
                        rest = "";
                    }
                }
            }
            words
        }
    };
    parts.reverse();
    Ok(Value::from(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(s: &str, args: &[Value]) -> Vec<String> {
        let v = rsplit(s, args).unwrap();
        v.try_iter().unwrap().map(|x| x.as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn rsplit_matches_python() {
        assert_eq!(rs("a,b,c", &[Value::from(","), Value::from(1)]), ["a,b", "c"]);
        assert_eq!(rs("a,b,c", &[Value::from(",")]), ["a", "b", "c"]);
        assert_eq!(rs("  a  b c ", &[]), ["a", "b", "c"]);
        assert_eq!(rs("  a  b c ", &[Value::from(()), Value::from(1)]), ["  a  b", "c"]);
    }

    #[test]
    fn replaced_len_counts_every_hit() {
        assert_eq!(replaced_len("xax", "x", "yy", None), 5);
        assert_eq!(replaced_len("ab", "", "-", None), 5);
        assert_eq!(replaced_len("xax", "x", "yy", Some(1)), 4);
    }
}
