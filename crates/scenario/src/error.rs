use std::fmt;

/// Why a scenario file was rejected, pointing at the place in the file.
///
/// Every problem a scenario can have (TOML syntax, an unknown or missing key, a value of the
/// wrong type, a semantic check such as a timeline entry after the end of the run) is reported
/// as this one type, so a caller prints it and a person jumps to the line:
///
/// ```text
/// scenarios/mux_recycle.toml:14:9: timeline[2].at_ms: 90000 is after sim.duration_ms (60000)
/// ```
///
/// `line` and `column` are 1-based (column counts characters); both are 0 when there is no
/// place in the text to point at (the file could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The scenario's path, as given to [`crate::Scenario::from_str`] or
    /// [`crate::Scenario::load`].
    pub path: String,
    /// 1-based line of the offending text (0: no position).
    pub line: usize,
    /// 1-based column, in characters, of the offending text (0: no position).
    pub column: usize,
    /// Dotted path of the offending key with array indices, e.g. `workload[1].duration_ms`
    /// (empty when the error is not about a key).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    /// `{path}:{line}:{column}: {field}: {message}`, or `{path}:{line}:{column}: {message}` when
    /// there is no field. Always one line: a control character taken from the file (a value
    /// `"two\nlines"` echoed in "unknown variant") is written escaped, as `\n` or `\u{1}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_one_line(f, &self.path)?;
        write!(f, ":{}:{}: ", self.line, self.column)?;
        if !self.field.is_empty() {
            write_one_line(f, &self.field)?;
            f.write_str(": ")?;
        }
        write_one_line(f, &self.message)
    }
}

/// Writes `text` with its control characters escaped, so it stays on one line.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(field: &str) -> ScenarioError {
        ScenarioError {
            path: "scenarios/mux_recycle.toml".to_owned(),
            line: 14,
            column: 9,
            field: field.to_owned(),
            message: "90000 is after sim.duration_ms (60000)".to_owned(),
        }
    }

    #[test]
    fn display_is_path_line_column_field_message() {
        assert_eq!(
            error("timeline[2].at_ms").to_string(),
            "scenarios/mux_recycle.toml:14:9: timeline[2].at_ms: 90000 is after sim.duration_ms (60000)"
        );
    }

    #[test]
    fn display_is_one_line_whatever_the_file_held() {
        let mut multi = error("workload[0].kind");
        multi.message =
            "unknown variant `two\nlines\u{1}`, expected one of `command`, `job`".to_owned();
        let shown = multi.to_string();
        assert_eq!(shown.lines().count(), 1, "{shown}");
        assert!(
            shown
                .ends_with("unknown variant `two\\nlines\\u{1}`, expected one of `command`, `job`"),
            "{shown}"
        );
        assert!(error("é").to_string().contains(": é: "));
    }

    #[test]
    fn display_without_field_leaves_the_field_out() {
        assert_eq!(
            error("").to_string(),
            "scenarios/mux_recycle.toml:14:9: 90000 is after sim.duration_ms (60000)"
        );
    }
}
