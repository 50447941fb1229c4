//! Where in the scenario text something is: byte offsets to line:column, and TOML errors to the
//! dotted field path they are about.

use std::fmt::Write as _;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::ScenarioError;

/// The text being parsed and the path it is reported under; makes [`ScenarioError`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a str,
    pub(crate) text: &'a str,
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a str, text: &'a str) -> Self {
        Self { path, text }
    }

    /// An error about `field` at the start of byte range `span`.
    pub(crate) fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = line_column(self.text, span.start);
        ScenarioError {
            path: self.path.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error about `field`, pointing at `value` in the text.
    pub(crate) fn at<T>(
        &self,
        value: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.error(value.span(), field, message)
    }

    /// An error about a whole document key with no better place: the top of the file.
    pub(crate) fn top(
        &self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.error(0..0, field, message)
    }

    /// A TOML syntax error; `partial` is what the parser recovered, used to name the field:
    /// the key written last before the error on its line, if any. (Only keys are trusted: the
    /// spans of values that failed to parse can stretch over unrelated text.)
    pub(crate) fn syntax_error(
        &self,
        error: &toml::de::Error,
        partial: &DeTable<'_>,
    ) -> ScenarioError {
        let span = error.span().unwrap_or(0..0);
        let entries = entries(partial);
        let field = preceding_on_line(&entries, self.text, span.start)
            .map(render)
            .unwrap_or_default();
        let mut message = error.message().to_owned();
        // toml says "duplicate key" without the key: name it from the text it points at.
        if message.starts_with("duplicate key")
            && !message.contains('`')
            && let Some(key) = self.text.get(span.clone()).filter(|key| !key.is_empty())
        {
            message = message.replacen("duplicate key", &format!("duplicate key `{key}`"), 1);
        }
        self.error(span, field, message)
    }

    /// A serde error (unknown key, missing key, wrong type) from deserializing part of `doc`.
    pub(crate) fn serde_error(
        &self,
        error: &toml::de::Error,
        doc: &Spanned<DeTable<'_>>,
    ) -> ScenarioError {
        let span = error.span().unwrap_or(0..0);
        let mut path = if span == doc.span() || span == (0..0) {
            Vec::new()
        } else {
            let entries = entries(doc.get_ref());
            innermost(&entries, &span).cloned().unwrap_or_default()
        };
        if let Some(missing) = missing_field(error.message()) {
            path.push(Segment::Key(missing.to_owned()));
        }
        self.error(span, render(&path), plain(error.message()))
    }
}

/// serde's message without the parser's own type names: `struct RawSim with 6 elements`
/// becomes `a table`, `enum RawKind` a string naming one of the listed values.
pub(crate) fn plain(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['s', 'e']) {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let (replacement, prefix) = if tail.starts_with("struct Raw") {
            ("a table", "struct Raw")
        } else if tail.starts_with("enum Raw") {
            ("a string", "enum Raw")
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        };
        let after = &tail[prefix.len()..];
        let name_end = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let mut after = &after[name_end..];
        // " with 6 elements" / " with 1 element"
        if let Some(with) = after.strip_prefix(" with ") {
            let digits = with
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(with.len());
            if digits > 0 {
                let words = &with[digits..];
                if let Some(tail) = words
                    .strip_prefix(" elements")
                    .or_else(|| words.strip_prefix(" element"))
                {
                    after = tail;
                }
            }
        }
        out.push_str(replacement);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// 1-based line and column (in characters) of byte `offset` in `text`. Offsets past the end
/// point just after the last character; offsets inside a character point at that character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// One step of a field path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `workload[1].step[0].duration_ms`.
fn render(path: &Vec<Segment>) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    out
}

/// Every key and array element of a parsed document, with the span of its key (for array
/// elements, the element itself; for `[[array]]` tables, the header) and of its value.
struct Entry {
    path: Vec<Segment>,
    key: Range<usize>,
    value: Range<usize>,
}

fn entries(table: &DeTable<'_>) -> Vec<Entry> {
    let mut out = Vec::new();
    collect_table(table, &mut Vec::new(), &mut out);
    out
}

fn collect_table(table: &DeTable<'_>, path: &mut Vec<Segment>, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        out.push(Entry {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
        });
        collect_value(value, path, out);
        path.pop();
    }
}

fn collect_value(value: &Spanned<DeValue<'_>>, path: &mut Vec<Segment>, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(table) => collect_table(table, path, out),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Segment::Index(index));
                out.push(Entry {
                    path: path.clone(),
                    key: element.span(),
                    value: element.span(),
                });
                collect_value(element, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Whether `outer` covers `inner`; an empty `inner` is a position, covered when it falls inside.
fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    if inner.is_empty() {
        outer.start <= inner.start && (inner.start < outer.end || outer.start == outer.end)
    } else {
        outer.start <= inner.start && inner.end <= outer.end
    }
}

/// The deepest entry whose key or value covers `span`.
fn innermost<'e>(entries: &'e [Entry], span: &Range<usize>) -> Option<&'e Vec<Segment>> {
    entries
        .iter()
        .filter(|entry| covers(&entry.key, span) || covers(&entry.value, span))
        .fold(None, |best: Option<&Entry>, entry| match best {
            Some(best) if best.path.len() >= entry.path.len() => Some(best),
            _ => Some(entry),
        })
        .map(|entry| &entry.path)
}

/// The last entry whose key starts on the line of `offset`, before it: the key being written
/// when the syntax went wrong.
fn preceding_on_line<'e>(
    entries: &'e [Entry],
    text: &str,
    offset: usize,
) -> Option<&'e Vec<Segment>> {
    let offset = offset.min(text.len());
    let line_start = text
        .get(..offset)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    entries
        .iter()
        .filter(|entry| entry.key.start >= line_start && entry.key.start <= offset)
        .fold(None, |best: Option<&Entry>, entry| match best {
            Some(best)
                if (best.key.start, best.path.len()) >= (entry.key.start, entry.path.len()) =>
            {
                Some(best)
            }
            _ => Some(entry),
        })
        .map(|entry| &entry.path)
}

/// `name` from serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_is_one_based_and_counts_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, 12), (2, 6));
    }

    #[test]
    fn line_column_clamps_offsets_past_the_end_and_inside_characters() {
        let text = "é";
        assert_eq!(line_column(text, 1), (1, 1));
        assert_eq!(line_column(text, 99), (1, 2));
        assert_eq!(line_column("", 5), (1, 1));
    }

    fn field_of(text: &str, needle: &str) -> String {
        let doc = DeTable::parse(text).expect("valid toml");
        let start = text.find(needle).expect("needle in text");
        let entries = entries(doc.get_ref());
        innermost(&entries, &(start..start + needle.len()))
            .map(render)
            .unwrap_or_default()
    }

    #[test]
    fn a_span_is_named_by_the_dotted_path_of_its_innermost_key() {
        let text = "a = 5\n[[w]]\nn = 1\n[[w]]\nn = 2\n[[w.step]]\nd = 7\np.q = [1, 9]\n";
        assert_eq!(field_of(text, "5"), "a");
        assert_eq!(field_of(text, "2"), "w[1].n");
        assert_eq!(field_of(text, "7"), "w[1].step[0].d");
        assert_eq!(field_of(text, "9"), "w[1].step[0].p.q[1]");
        assert_eq!(field_of(text, "[[w.step]]"), "w[1].step[0]");
    }

    #[test]
    fn messages_never_name_the_parsers_own_types() {
        assert_eq!(
            plain("invalid length 0, expected struct RawSim with 6 elements"),
            "invalid length 0, expected a table"
        );
        assert_eq!(
            plain("invalid type: integer `3`, expected struct RawHost"),
            "invalid type: integer `3`, expected a table"
        );
        assert_eq!(
            plain("expected enum RawKind, see the sections"),
            "expected a string, see the sections"
        );
        assert_eq!(plain("unknown field `ticks`"), "unknown field `ticks`");
    }

    #[test]
    fn a_syntax_error_is_named_by_the_key_on_its_line() {
        let text = "description = 'x'\n[sim]\nduration_ms = 1 2\n";
        let (partial, errors) = DeTable::parse_recoverable(text);
        let source = Source::new("s.toml", text);
        let error = source.syntax_error(&errors[0], partial.get_ref());
        assert_eq!((error.line, error.field.as_str()), (3, "sim.duration_ms"));
    }
}
