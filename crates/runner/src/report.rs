//! Rendering rows: `table` for people, `markdown` for PR comments, `csv` for spreadsheets,
//! `json` (one document, stable key order) and `junit` for CI.

use std::fmt::Write as _;

use crate::{Row, Sweep};

/// A leading column before a row's own cells: its header and one cell per row (a sweep's
/// parameter and its value).
type Lead<'a> = Option<(&'a str, &'a [String])>;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text.
    Table,
    /// A GitHub-flavoured markdown table.
    Markdown,
    /// Comma-separated values with a header line.
    Csv,
    /// `{"rows": [...]}`, keys in a fixed order.
    Json,
    /// JUnit XML: a test case per row, failed when it breaks its expectation.
    Junit,
}

fn rate(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

fn millis(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.0}"))
}

/// Render `rows` in `format`.
pub fn render(rows: &[Row], format: Format) -> String {
    match format {
        Format::Table => table(rows, None),
        Format::Markdown => markdown(rows, None),
        Format::Csv => csv(rows, None),
        Format::Json => json(rows),
        Format::Junit => junit(rows, None),
    }
}

/// Render a sweep in `format`: the rows of every point, each led by the parameter's value
/// (`json`: the [`Sweep`] document, points in order).
pub fn render_sweep(sweep: &Sweep, format: Format) -> String {
    let rows: Vec<Row> = sweep
        .points
        .iter()
        .flat_map(|point| point.rows.iter().cloned())
        .collect();
    let values: Vec<String> = sweep
        .points
        .iter()
        .flat_map(|point| point.rows.iter().map(|_| value(point.value)))
        .collect();
    let lead = Some((sweep.parameter.as_str(), values.as_slice()));
    match format {
        Format::Table => table(&rows, lead),
        Format::Markdown => markdown(&rows, lead),
        Format::Csv => csv(&rows, lead),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(sweep).expect("sweep serialises");
            text.push('\n');
            text
        }
        Format::Junit => junit(&rows, lead),
    }
}

/// A parameter value without a needless fraction (`300000`, `0.5`).
fn value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// `cells` with the lead's cell for row `index` in front.
fn led(lead: Lead<'_>, index: usize, cells: Vec<String>) -> Vec<String> {
    match lead {
        Some((_, values)) => std::iter::once(values[index].clone())
            .chain(cells)
            .collect(),
        None => cells,
    }
}

fn headers(lead: Lead<'_>) -> Vec<String> {
    lead.map(|(name, _)| name.to_owned())
        .into_iter()
        .chain(HEADERS.map(str::to_owned))
        .collect()
}

const HEADERS: [&str; 12] = [
    "scenario",
    "strategy",
    "runs",
    "ops",
    "failed",
    "rate",
    "95% CI",
    "silent",
    "conns",
    "leaked",
    "p50 ms",
    "other outcomes",
];

fn cells(row: &Row) -> [String; 12] {
    let mark = if row.breaks_expectation() { " !" } else { "" };
    [
        row.scenario.clone(),
        row.strategy.clone(),
        row.runs.to_string(),
        row.operations.to_string(),
        row.failures.to_string(),
        format!("{}{mark}", rate(row.failure_rate)),
        format!("{}-{}", rate(row.ci_low), rate(row.ci_high)),
        row.silent_failures.to_string(),
        row.connections_opened.to_string(),
        (row.leaked_connections + row.leaked_sessions).to_string(),
        millis(row.latency_p50_ms),
        row.top_failures(2),
    ]
}

fn table(rows: &[Row], lead: Lead<'_>) -> String {
    let headers = headers(lead);
    let all: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| led(lead, index, cells(row).to_vec()))
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(String::len).collect();
    for row in &all {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, &headers);
    for row in &all {
        line(&mut out, row);
    }
    if rows.iter().any(Row::breaks_expectation) {
        out.push_str("! failure rate above the scenario's max_failure_rate\n");
    }
    out
}

fn markdown(rows: &[Row], lead: Lead<'_>) -> String {
    let headers = headers(lead);
    let headers: Vec<String> = headers.iter().map(|h| markdown_cell(h)).collect();
    let mut out = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = led(lead, index, cells(row).to_vec())
            .iter()
            .map(|cell| markdown_cell(cell))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

fn csv(rows: &[Row], lead: Lead<'_>) -> String {
    let mut out = String::from(if lead.is_some() {
        "parameter,value,"
    } else {
        ""
    });
    out.push_str(
        "scenario,strategy,backend,runs,operations,failures,failure_rate,ci_low,ci_high,silent_failures,lost_events,connections_opened,handshakes,peak_unauthenticated,peak_sessions_per_connection,latency_p50_ms,latency_p99_ms,leaked_sessions,leaked_connections\n",
    );
    for (index, r) in rows.iter().enumerate() {
        if let Some((name, values)) = lead {
            let _ = write!(out, "{},{},", csv_field(name), csv_field(&values[index]));
        }
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.6},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.scenario),
            csv_field(&r.strategy),
            csv_field(&r.backend),
            r.runs,
            r.operations,
            r.failures,
            r.failure_rate,
            r.ci_low,
            r.ci_high,
            r.silent_failures,
            r.lost_events,
            r.connections_opened,
            r.handshakes,
            r.peak_unauthenticated,
            r.peak_sessions_per_connection,
            r.latency_p50_ms
                .map_or(String::new(), |v| format!("{v:.3}")),
            r.latency_p99_ms
                .map_or(String::new(), |v| format!("{v:.3}")),
            r.leaked_sessions,
            r.leaked_connections
        );
    }
    out
}

fn json(rows: &[Row]) -> String {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        rows: &'a [Row],
    }
    let mut text = serde_json::to_string_pretty(&Document { rows }).expect("rows serialise");
    text.push('\n');
    text
}

/// `text` for an XML attribute or element: markup escaped, and every character XML 1.0 cannot
/// hold (control characters other than tab, newline and carriage return; U+FFFE, U+FFFF)
/// replaced by U+FFFD, so the document always parses.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A CSV field per RFC 4180: quoted (quotes doubled) when it holds a comma, a quote, CR or LF.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A markdown table cell: pipes escaped, line breaks as spaces, so the row stays one row.
fn markdown_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", " ")
        .replace(['\r', '\n'], " ")
}

fn junit(rows: &[Row], lead: Lead<'_>) -> String {
    let failures = rows.iter().filter(|r| r.breaks_expectation()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"sshrace\" tests=\"{}\" failures=\"{failures}\">",
        rows.len()
    );
    for (index, row) in rows.iter().enumerate() {
        let name = match lead {
            Some((parameter, values)) => format!("{} {parameter}={}", row.strategy, values[index]),
            None => row.strategy.clone(),
        };
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\">",
            escape(&row.scenario),
            escape(&name)
        );
        if row.breaks_expectation() {
            let _ = write!(
                out,
                "<failure message=\"failure rate {} above {}\">{}</failure>",
                rate(row.failure_rate),
                rate(row.max_failure_rate.unwrap_or(0.0)),
                escape(&row.top_failures(3))
            );
        }
        let _ = writeln!(
            out,
            "<system-out>failure rate {} ({} of {} operations, 95% CI {}-{})</system-out></testcase>",
            rate(row.failure_rate),
            row.failures,
            row.operations,
            rate(row.ci_low),
            rate(row.ci_high)
        );
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row whose scenario and strategy names carry what each format must escape (names from
    /// files are restricted to `A-Z a-z 0-9 _ -`, but a library caller's rows are not).
    fn row(scenario: &str, strategy: &str) -> Row {
        Row {
            scenario: scenario.to_owned(),
            strategy: strategy.to_owned(),
            backend: "sim".to_owned(),
            runs: 1,
            operations: 2,
            failures: 2,
            failure_rate: 1.0,
            ci_low: 0.3,
            ci_high: 1.0,
            outcomes: [("timeout".to_owned(), 2)].into(),
            silent_failures: 0,
            lost_events: 0,
            connections_opened: 1,
            handshakes: 1,
            peak_unauthenticated: 1,
            peak_sessions_per_connection: 1,
            latency_p50_ms: None,
            latency_p99_ms: None,
            leaked_sessions: 0,
            leaked_connections: 0,
            max_failure_rate: Some(0.0),
            failing_seeds: vec![0],
            traces: Vec::new(),
        }
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks_per_rfc_4180() {
        let text = render(&[row("deploy, v2", "say \"hi\"\nthere")], Format::Csv);
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(text.contains("\"deploy, v2\",\"say \"\"hi\"\"\nthere\",sim,"));
        // A minimal RFC 4180 reader: the record has as many fields as the header.
        let body = &text[header.len() + 1..];
        let (mut fields, mut quoted, mut chars) = (1, false, body.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields += 1,
                '\n' if !quoted => break,
                _ => {}
            }
        }
        assert_eq!(fields, header.split(',').count());
    }

    #[test]
    fn junit_escapes_markup_and_replaces_characters_xml_cannot_hold() {
        let text = render(&[row("a<b>&'c'", "x\u{1}y\u{1b}z\u{fffe}")], Format::Junit);
        assert!(
            text.contains("classname=\"a&lt;b&gt;&amp;&apos;c&apos;\""),
            "{text}"
        );
        assert!(
            text.contains("name=\"x\u{fffd}y\u{fffd}z\u{fffd}\""),
            "{text}"
        );
        assert!(
            !text
                .chars()
                .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')),
            "no control character left: {text:?}"
        );
    }

    #[test]
    fn markdown_escapes_pipes_and_line_breaks_so_a_row_stays_one_row() {
        let text = render(&[row("a|b", "two\nlines\r\nhere")], Format::Markdown);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[2].starts_with("| a\\|b | two lines here | "),
            "{text}"
        );
        let unescaped = |line: &str| line.replace("\\|", "").matches('|').count();
        assert_eq!(unescaped(lines[2]), unescaped(lines[0]));
    }
}
