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
    let mut out = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for (index, row) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} |",
            led(lead, index, cells(row).to_vec()).join(" | ")
        );
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
            let _ = write!(out, "{name},{},", values[index]);
        }
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.6},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{}",
            r.scenario,
            r.strategy,
            r.backend,
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
