//! # sshrace-html: a report as one self-contained HTML page
//!
//! [`render`] turns a [`Page`] (report rows, each with its replay command and, when it failed,
//! the [`Timeline`] of its first failing seed) into one HTML document: a scenario x strategy
//! grid (failure rate, 95% interval, silent failures and lost events marked; a click shows the
//! outcome breakdown and the replay command), the incidents' before and after side by side,
//! simulation beside real OpenSSH when both backends' rows are present, and an SVG swimlane
//! timeline per failing cell.
//!
//! Everything is inline (CSS, SVG, a little JS): no network, it opens from disk or a CI
//! artifact. Every colour comes with a number or a mark; the page reads at 1280 px and in
//! print. Every text from a row or a trace is HTML-escaped ([`escape`]).
//!
//! Invariant: the output is a function of the page alone (no clock, no map order), so the same
//! rows give the same bytes.
#![warn(missing_docs)]

mod svg;

use std::fmt::Write as _;

use sshrace_runner::{Row, Timeline};

pub use svg::timeline_svg;

/// One report row and what the page shows with it.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The row, as the other formats print it.
    pub row: Row,
    /// The command that replays the row's first failing seed (`None`: no failing seed).
    pub replay: Option<String>,
    /// The first failing seed's timeline (`None`: no failing seed, or not drawn, see
    /// [`Cell::no_timeline`]).
    pub timeline: Option<(u64, Timeline)>,
    /// Why a failing row has no timeline (a container run is not rerun).
    pub no_timeline: Option<String>,
}

/// What the page is about.
#[derive(Debug, Clone)]
pub struct Page {
    /// The `<title>` and heading (`sshrace matrix`).
    pub title: String,
    /// The command that made the page, shown under the heading.
    pub command: String,
    /// One per report row, in report order.
    pub cells: Vec<Cell>,
}

/// The published incidents: scenario, the strategy that failed the way the incident did
/// ("before"), and its fix ("after"); see `../shared/seeds` and tests/incidents.rs.
pub const INCIDENTS: [(&str, &str, &str, &str); 4] = [
    ("000", "deploy-age-recycle", "mux-exit", "mux-stop"),
    ("001", "flood-fresh-connections", "fresh", "pool"),
    ("002", "agent-flap", "agent-status", "workspace-running"),
    ("003", "swallowed-install-error", "swallow", "propagate"),
];

/// `text` safe in HTML text and in a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A rate as the table prints it (`2.2%`).
pub fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

/// The colour band of a failure rate, 0 (none) to 5 (over half); the page prints the number
/// beside the colour.
pub fn band(row: &Row) -> u8 {
    let rate = row.failure_rate;
    match () {
        _ if row.failures == 0 => 0,
        _ if rate <= 0.01 => 1,
        _ if rate <= 0.05 => 2,
        _ if rate <= 0.20 => 3,
        _ if rate <= 0.50 => 4,
        _ => 5,
    }
}

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");
const ERRORS_JS: &str = include_str!("errors.js");

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&page.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<script>\n{ERRORS_JS}</script>\n<style>\n{CSS}</style>\n</head>\n<body>\n"
    );
    let rows = page.cells.len();
    let failing = page
        .cells
        .iter()
        .filter(|c| !c.row.failing_seeds.is_empty())
        .count();
    let breaking = page
        .cells
        .iter()
        .filter(|c| c.row.breaks_expectation())
        .count();
    let _ = write!(
        out,
        "<header>\n<h1>{title}</h1>\n<p class=\"command\"><code>{}</code></p>\n\
         <p class=\"summary\" id=\"summary\" data-rows=\"{rows}\" data-failing=\"{failing}\" data-breaking=\"{breaking}\">\
         {rows} rows, {failing} with a failing seed, {breaking} breaking their expectation.</p>\n",
        escape(&page.command)
    );
    out.push_str(LEGEND);
    out.push_str("<nav><a href=\"#grid\">grid</a> <a href=\"#incidents\">incidents</a> ");
    if backends(page).len() > 1 {
        out.push_str("<a href=\"#backends\">simulation beside real</a> ");
    }
    out.push_str(
        "<a href=\"#timelines\">timelines</a> <a href=\"#details\">outcomes per cell</a></nav>\n</header>\n<main>\n",
    );
    grid(&mut out, page);
    incidents(&mut out, page);
    sim_beside_real(&mut out, page);
    timelines(&mut out, page);
    details(&mut out, page);
    let _ = write!(out, "</main>\n<script>\n{JS}</script>\n</body>\n</html>\n");
    out
}

const LEGEND: &str = "<p class=\"legend\">Failure rate, colour and number: \
<span class=\"swatch b0\">0</span> none \
<span class=\"swatch b1\">&le;1%</span> \
<span class=\"swatch b2\">&le;5%</span> \
<span class=\"swatch b3\">&le;20%</span> \
<span class=\"swatch b4\">&le;50%</span> \
<span class=\"swatch b5\">&gt;50%</span>. \
Marks: <b class=\"mark silent\">S n</b> silent failures (reported success, the server disagrees), \
<b class=\"mark lost\">L n</b> events lost after DONE, <b class=\"mark breaks\">! over</b> breaks the \
scenario's expectation. Click a cell for its outcomes and replay command.</p>\n";

fn backends(page: &Page) -> Vec<&str> {
    let mut backends: Vec<&str> = page.cells.iter().map(|c| c.row.backend.as_str()).collect();
    backends.sort();
    backends.dedup();
    backends
}

/// Scenarios in the order they first appear, each with the indices of its cells.
fn by_scenario(page: &Page) -> Vec<(&str, Vec<usize>)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (index, cell) in page.cells.iter().enumerate() {
        let scenario = cell.row.scenario.as_str();
        match groups.iter_mut().find(|(name, _)| *name == scenario) {
            Some((_, cells)) => cells.push(index),
            None => groups.push((scenario, vec![index])),
        }
    }
    // Sim beside real: a strategy's cells next to each other.
    for (_, cells) in &mut groups {
        let order: Vec<&str> = {
            let mut names: Vec<&str> = Vec::new();
            for &i in cells.iter() {
                let name = page.cells[i].row.strategy.as_str();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        cells.sort_by_key(|&i| {
            let row = &page.cells[i].row;
            (
                order.iter().position(|n| *n == row.strategy),
                row.backend != "sim",
                i,
            )
        });
    }
    groups
}

fn grid(out: &mut String, page: &Page) {
    let several = backends(page).len() > 1;
    out.push_str(
        "<section id=\"grid\">\n<h2>Failure rate per scenario and strategy</h2>\n\
         <table class=\"grid\">\n<thead><tr><th scope=\"col\">scenario</th>\
         <th scope=\"col\">strategies: failure rate, 95% interval, marks</th></tr></thead>\n<tbody>\n",
    );
    for (scenario, cells) in by_scenario(page) {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td><div class=\"cells\">",
            escape(scenario)
        );
        for index in cells {
            cell(out, index, &page.cells[index], several);
        }
        out.push_str("</div></td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str(
        "<div id=\"detail\" class=\"detail-panel\" hidden aria-live=\"polite\"></div>\n</section>\n",
    );
}

/// Every cell's outcomes: shown in the grid's panel on a click, all listed here for print and
/// without JS.
fn details(out: &mut String, page: &Page) {
    out.push_str(
        "<section id=\"details\">\n<h2>Outcomes per cell</h2>\n<div class=\"detail-list\">\n",
    );
    for (index, cell) in page.cells.iter().enumerate() {
        detail(out, index, cell);
    }
    out.push_str("</div>\n</section>\n");
}

fn marks(row: &Row) -> String {
    let mut marks = String::new();
    if row.silent_failures > 0 {
        let _ = write!(
            marks,
            "<b class=\"mark silent\" title=\"silent failures\">S {}</b>",
            row.silent_failures
        );
    }
    if row.lost_events > 0 {
        let _ = write!(
            marks,
            "<b class=\"mark lost\" title=\"events lost after DONE\">L {}</b>",
            row.lost_events
        );
    }
    if row.breaks_expectation() {
        let _ = write!(
            marks,
            "<b class=\"mark breaks\" title=\"above the scenario's max failure rate {}\">! over</b>",
            percent(row.max_failure_rate.unwrap_or(0.0))
        );
    }
    marks
}

fn cell(out: &mut String, index: usize, cell: &Cell, several_backends: bool) {
    let row = &cell.row;
    let backend = if several_backends {
        format!("<span class=\"backend\">{}</span>", escape(&row.backend))
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<a class=\"cell b{band}\" href=\"#detail-{index}\" data-index=\"{index}\" \
         data-scenario=\"{scenario}\" data-strategy=\"{strategy}\" data-backend=\"{backend_name}\" \
         data-runs=\"{runs}\" data-operations=\"{operations}\" data-failures=\"{failures}\" \
         data-rate=\"{rate}\" data-ci-low=\"{low}\" data-ci-high=\"{high}\" data-silent=\"{silent}\" \
         data-lost=\"{lost}\">\
         <span class=\"strategy\">{strategy}</span>{backend}\
         <span class=\"rate\">{rate_text}</span>\
         <span class=\"ci\">{low_text}&ndash;{high_text}</span>\
         <span class=\"count\">{failures}/{operations}</span>{marks}</a>",
        band = band(row),
        scenario = escape(&row.scenario),
        strategy = escape(&row.strategy),
        backend_name = escape(&row.backend),
        runs = row.runs,
        operations = row.operations,
        failures = row.failures,
        rate = row.failure_rate,
        low = row.ci_low,
        high = row.ci_high,
        silent = row.silent_failures,
        lost = row.lost_events,
        rate_text = percent(row.failure_rate),
        low_text = percent(row.ci_low),
        high_text = percent(row.ci_high),
        marks = marks(row),
    );
}

fn detail(out: &mut String, index: usize, cell: &Cell) {
    let row = &cell.row;
    let _ = write!(
        out,
        "<div class=\"detail\" id=\"detail-{index}\">\n<h3>{} / {} <small>{}</small></h3>\n\
         <p><span class=\"rate\">{}</span> of {} operations failed ({}), 95% interval {}&ndash;{}, \
         {} runs. {}</p>\n",
        escape(&row.scenario),
        escape(&row.strategy),
        escape(&row.backend),
        percent(row.failure_rate),
        row.operations,
        row.failures,
        percent(row.ci_low),
        percent(row.ci_high),
        row.runs,
        marks(row)
    );
    out.push_str(
        "<table class=\"outcomes\"><thead><tr><th scope=\"col\">outcome</th>\
         <th scope=\"col\">operations</th></tr></thead><tbody>",
    );
    let mut outcomes: Vec<(&String, &u64)> = row.outcomes.iter().collect();
    outcomes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (outcome, count) in outcomes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{count}</td></tr>",
            escape(outcome)
        );
    }
    out.push_str("</tbody></table>\n");
    let _ = writeln!(
        out,
        "<p class=\"figures\">connections {}, handshakes {}, leaked sessions {}, leaked connections {}, \
         p50 {} ms, p99 {} ms</p>",
        row.connections_opened,
        row.handshakes,
        row.leaked_sessions,
        row.leaked_connections,
        millis(row.latency_p50_ms),
        millis(row.latency_p99_ms)
    );
    if !row.failing_seeds.is_empty() {
        let seeds: Vec<String> = row.failing_seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(out, "<p>failing seeds: {}</p>", escape(&seeds.join(", ")));
    }
    if let Some(replay) = &cell.replay {
        let _ = writeln!(
            out,
            "<p>replay: <code class=\"replay\">{}</code></p>",
            escape(replay)
        );
    }
    if cell.timeline.is_some() {
        let _ = writeln!(
            out,
            "<p><a href=\"#timeline-{index}\">timeline of the first failing seed</a></p>"
        );
    } else if let Some(why) = &cell.no_timeline {
        let _ = writeln!(out, "<p>no timeline: {}</p>", escape(why));
    }
    out.push_str("</div>\n");
}

fn millis(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.0}"))
}

fn find<'a>(page: &'a Page, scenario: &str, strategy: &str) -> Vec<(usize, &'a Cell)> {
    page.cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.row.scenario == scenario && c.row.strategy == strategy)
        .collect()
}

fn incidents(out: &mut String, page: &Page) {
    out.push_str(
        "<section id=\"incidents\">\n<h2>Incidents: before and after</h2>\n\
         <p>Each published incident's strategy (before) beside its fix (after), same seeds.</p>\n",
    );
    let mut any = false;
    for (number, scenario, before, after) in INCIDENTS {
        let (befores, afters) = (find(page, scenario, before), find(page, scenario, after));
        if befores.is_empty() && afters.is_empty() {
            continue;
        }
        any = true;
        let _ = write!(
            out,
            "<div class=\"incident\"><h3>Incident {number}: {}</h3><div class=\"pair\">",
            escape(scenario)
        );
        for (label, cells) in [("before", befores), ("after", afters)] {
            let _ = write!(out, "<div class=\"side {label}\"><h4>{label}</h4>");
            for (index, cell) in cells {
                side(out, index, cell);
            }
            out.push_str("</div>");
        }
        out.push_str("</div></div>\n");
    }
    if !any {
        out.push_str("<p>No incident scenario in these rows.</p>\n");
    }
    out.push_str("</section>\n");
}

fn side(out: &mut String, index: usize, cell: &Cell) {
    let row = &cell.row;
    let _ = write!(
        out,
        "<p><a class=\"cell b{}\" href=\"#detail-{index}\"><span class=\"strategy\">{}</span>\
         <span class=\"backend\">{}</span><span class=\"rate\">{}</span>\
         <span class=\"ci\">{}&ndash;{}</span><span class=\"count\">{}/{}</span>{}</a></p>\
         <p class=\"outcome-line\">{}</p>",
        band(row),
        escape(&row.strategy),
        escape(&row.backend),
        percent(row.failure_rate),
        percent(row.ci_low),
        percent(row.ci_high),
        row.failures,
        row.operations,
        marks(row),
        escape(&match row.top_failures(3) {
            text if text.is_empty() => "every operation succeeded".to_owned(),
            text => text,
        })
    );
    if cell.timeline.is_some() {
        let _ = write!(
            out,
            "<p><a href=\"#timeline-{index}\">timeline of seed {}</a></p>",
            row.failing_seeds.first().copied().unwrap_or_default()
        );
    }
}

fn sim_beside_real(out: &mut String, page: &Page) {
    if backends(page).len() < 2 {
        return;
    }
    out.push_str(
        "<section id=\"backends\">\n<h2>Simulation beside real OpenSSH</h2>\n\
         <table class=\"backends\"><thead><tr><th scope=\"col\">scenario</th><th scope=\"col\">strategy</th>\
         <th scope=\"col\">simulation</th><th scope=\"col\">real</th><th scope=\"col\">intervals overlap</th></tr></thead><tbody>\n",
    );
    for sim in page.cells.iter().filter(|c| c.row.backend == "sim") {
        for real in page.cells.iter().filter(|c| {
            c.row.backend != "sim"
                && c.row.scenario == sim.row.scenario
                && c.row.strategy == sim.row.strategy
        }) {
            let overlap = sim.row.ci_low <= real.row.ci_high && real.row.ci_low <= sim.row.ci_high;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} <small>{}</small></td><td>{}</td></tr>",
                escape(&sim.row.scenario),
                escape(&sim.row.strategy),
                interval(&sim.row),
                interval(&real.row),
                escape(&real.row.backend),
                if overlap { "yes" } else { "<b>no</b>" }
            );
        }
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn interval(row: &Row) -> String {
    format!(
        "<span class=\"swatch b{}\">{}</span> {}&ndash;{} ({}/{})",
        band(row),
        percent(row.failure_rate),
        percent(row.ci_low),
        percent(row.ci_high),
        row.failures,
        row.operations
    )
}

fn timelines(out: &mut String, page: &Page) {
    out.push_str(
        "<section id=\"timelines\">\n<h2>Timelines of the first failing seeds</h2>\n\
         <p>One run per failing cell, drawn from the same trace <code>sshrace replay</code> prints. \
         Lanes: the client (operations, connections, masters), each target's sshd (connections, \
         sessions inside them, commands inside those), the control plane, the faults. \
         Markers: <b>!</b> fault, <b>x</b> refusal or drop, <b>|</b> exit, <b>D</b> DONE, \
         <b>L</b> event lost after DONE, <b>F</b> the failed operation (its bar is outlined in red and \
         labelled FAILED). Hover a bar or marker for its trace line.</p>\n",
    );
    let mut any = false;
    for (index, cell) in page.cells.iter().enumerate() {
        let Some((seed, timeline)) = &cell.timeline else {
            continue;
        };
        any = true;
        let row = &cell.row;
        let _ = write!(
            out,
            "<article class=\"timeline\" id=\"timeline-{index}\" data-index=\"{index}\">\n\
             <h3>{} / {} <small>{} seed {seed}</small></h3>\n",
            escape(&row.scenario),
            escape(&row.strategy),
            escape(&row.backend)
        );
        if let Some(failed) = &timeline.failed {
            let _ = writeln!(
                out,
                "<p class=\"failed-op\" data-op=\"{}\">failed: <b>op {} {}</b>: {} \
                 (started {:.3} s, {})</p>",
                failed.id,
                failed.id,
                escape(&failed.workload),
                escape(&failed.outcome),
                failed.started.as_secs_f64(),
                match failed.finished {
                    Some(at) => format!("ended {:.3} s", at.as_secs_f64()),
                    None => "never ended".to_owned(),
                }
            );
        }
        if let Some(replay) = &cell.replay {
            let _ = writeln!(
                out,
                "<p>replay: <code class=\"replay\">{}</code></p>",
                escape(replay)
            );
        }
        out.push_str(&timeline_svg(timeline, None));
        if let Some(window) = svg::focus(timeline) {
            let _ = writeln!(
                out,
                "<p class=\"zoom\">Around the failed operation ({:.3} s to {:.3} s):</p>",
                window.0.as_secs_f64(),
                window.1.as_secs_f64()
            );
            out.push_str(&timeline_svg(timeline, Some(window)));
        }
        out.push_str("</article>\n");
    }
    if !any {
        out.push_str("<p>No failing seed: nothing to draw.</p>\n");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests;
