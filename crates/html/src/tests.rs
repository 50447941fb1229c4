use std::time::Duration;

use fixtures::*;

use super::*;

/// Rows, timelines and cells to render.
mod fixtures {
    use super::super::*;
    use sshrace_runner::{Bar, BarKind, FailedOp, Lane, LaneKind, Marker, MarkerKind};
    use std::collections::BTreeMap;
    use std::time::Duration;

    pub fn row(scenario: &str, strategy: &str, backend: &str, failures: u64) -> Row {
        let operations = 100;
        let (ci_low, ci_high) = sshrace_runner::wilson(failures, operations);
        let mut outcomes = BTreeMap::from([("success".to_owned(), operations - failures)]);
        if failures > 0 {
            outcomes.insert("transport:closed-locally".to_owned(), failures);
        }
        Row {
            scenario: scenario.to_owned(),
            strategy: strategy.to_owned(),
            backend: backend.to_owned(),
            runs: 10,
            operations,
            failures,
            failure_rate: failures as f64 / operations as f64,
            ci_low,
            ci_high,
            outcomes,
            silent_failures: 0,
            lost_events: 0,
            connections_opened: 10,
            handshakes: 10,
            peak_unauthenticated: 1,
            peak_sessions_per_connection: 1,
            latency_p50_ms: Some(10.0),
            latency_p99_ms: Some(20.0),
            leaked_sessions: 0,
            leaked_connections: 0,
            max_failure_rate: None,
            failing_seeds: if failures > 0 { vec![3] } else { vec![] },
            traces: vec![],
        }
    }

    pub fn timeline(label: &str, what: &str) -> Timeline {
        let bar = |label: &str, kind, begin: u64, end: u64, failed| Bar {
            label: label.to_owned(),
            kind,
            depth: 0,
            begin: Duration::from_secs(begin),
            end: Duration::from_secs(end),
            unfinished: false,
            begin_what: what.to_owned(),
            end_what: Some(what.to_owned()),
            failed,
        };
        Timeline {
            end: Duration::from_secs(100),
            lanes: vec![
                Lane {
                    name: "client".to_owned(),
                    kind: LaneKind::Client,
                    rows: vec![vec![
                        bar(label, BarKind::Operation, 40, 42, true),
                        bar("c0 to target", BarKind::Master, 1, 90, false),
                    ]],
                    overflow: 0,
                    markers: vec![Marker {
                        at: Duration::from_secs(42),
                        kind: MarkerKind::Failed,
                        what: what.to_owned(),
                    }],
                },
                Lane {
                    name: "faults".to_owned(),
                    kind: LaneKind::Faults,
                    rows: vec![],
                    overflow: 0,
                    markers: vec![Marker {
                        at: Duration::from_secs(41),
                        kind: MarkerKind::Fault,
                        what: "crash target".to_owned(),
                    }],
                },
            ],
            failed: Some(FailedOp {
                id: 7,
                workload: "deploy".to_owned(),
                outcome: "transport:closed-locally".to_owned(),
                started: Duration::from_secs(40),
                finished: Some(Duration::from_secs(42)),
            }),
        }
    }

    pub fn cell_of(row: Row) -> Cell {
        let failing = !row.failing_seeds.is_empty();
        Cell {
            replay: failing.then(|| {
                format!(
                    "sshrace replay {} --strategy {} --seed 3",
                    row.scenario, row.strategy
                )
            }),
            timeline: failing.then(|| (3, timeline("op 7 deploy", "op 7 deploy: exit 255"))),
            no_timeline: None,
            row,
        }
    }
}

fn page(cells: Vec<Cell>) -> Page {
    Page {
        title: "sshrace matrix".to_owned(),
        command: "sshrace matrix --seeds 10".to_owned(),
        cells,
    }
}

#[test]
fn escape_covers_text_and_both_attribute_quotes() {
    assert_eq!(
        escape(r#"<a href="x" title='y'>&amp;</a>"#),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
    );
}

#[test]
fn every_text_from_rows_and_traces_is_escaped() {
    let hostile = "<script>alert(1)</script>\"'&";
    let mut row = row(hostile, hostile, "sim", 5);
    row.outcomes.insert(hostile.to_owned(), 1);
    let mut cell = cell_of(row);
    cell.replay = Some(format!("sshrace replay {hostile}"));
    cell.timeline = Some((3, timeline(hostile, hostile)));
    let html = render(&Page {
        title: hostile.to_owned(),
        command: hostile.to_owned(),
        cells: vec![cell],
    });
    assert!(!html.contains(hostile), "unescaped text in the page");
    assert!(!html.contains("<script>alert"), "a script got in");
    // Only the page's own two scripts.
    assert_eq!(html.matches("<script>").count(), 2);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
}

#[test]
fn one_cell_per_row_with_the_rows_numbers() {
    let rows = vec![
        row("a", "x", "sim", 0),
        row("a", "y", "sim", 12),
        row("b", "x", "sim", 100),
    ];
    let html = render(&page(rows.iter().cloned().map(cell_of).collect()));
    assert_eq!(
        html.matches("<a class=\"cell b").count() - incidents_cells(&html),
        3
    );
    for row in &rows {
        let needle = format!(
            "data-scenario=\"{}\" data-strategy=\"{}\" data-backend=\"sim\" data-runs=\"10\" \
             data-operations=\"100\" data-failures=\"{}\"",
            row.scenario, row.strategy, row.failures
        );
        assert!(html.contains(&needle), "{needle}");
    }
    assert!(html.contains("<span class=\"rate\">12.0%</span>"));
    assert!(html.contains("class=\"cell b0\""));
    assert!(html.contains("class=\"cell b5\""));
}

fn incidents_cells(html: &str) -> usize {
    let start = html.find("<section id=\"incidents\">").unwrap();
    let end = start + html[start..].find("</section>").unwrap();
    html[start..end].matches("<a class=\"cell b").count()
}

#[test]
fn a_failing_cell_gets_its_timeline_with_the_failed_op() {
    let html = render(&page(vec![
        cell_of(row("a", "x", "sim", 12)),
        cell_of(row("a", "y", "sim", 0)),
    ]));
    assert_eq!(html.matches("<article class=\"timeline\"").count(), 1);
    let start = html
        .find("<article class=\"timeline\" id=\"timeline-0\"")
        .unwrap();
    let article = &html[start..start + html[start..].find("</article>").unwrap()];
    assert!(article.contains("FAILED op 7 deploy"));
    assert!(article.contains("class=\"bar op failed\""));
    assert!(article.contains("data-op=\"7\""));
    assert!(article.contains("sshrace replay a --strategy x --seed 3"));
}

#[test]
fn silent_failures_lost_events_and_broken_expectations_are_marked_not_only_coloured() {
    let mut r = row("swallowed-install-error", "swallow", "sim", 20);
    r.silent_failures = 12;
    r.lost_events = 8;
    r.max_failure_rate = Some(0.0);
    let html = render(&page(vec![cell_of(r)]));
    assert!(html.contains(">S 12</b>"));
    assert!(html.contains(">L 8</b>"));
    assert!(html.contains(">! over</b>"));
}

#[test]
fn incidents_side_by_side_and_sim_beside_real() {
    let html = render(&page(vec![
        cell_of(row("deploy-age-recycle", "mux-exit", "sim", 3)),
        cell_of(row("deploy-age-recycle", "mux-stop", "sim", 0)),
        cell_of(row(
            "deploy-age-recycle",
            "mux-exit",
            "docker-openssh-9.2",
            40,
        )),
    ]));
    assert!(html.contains("Incident 000: deploy-age-recycle"));
    assert!(html.contains("<div class=\"side before\">"));
    assert!(html.contains("<div class=\"side after\">"));
    assert!(html.contains("<section id=\"backends\">"));
    // 3% [0.98-8.5] against 40% [31-50]: the intervals do not overlap.
    assert!(html.contains("<td><b>no</b></td>"));
    // One backend: no such section.
    let html = render(&page(vec![cell_of(row("a", "x", "sim", 3))]));
    assert!(!html.contains("<section id=\"backends\">"));
}

#[test]
fn same_page_same_bytes() {
    let cells = vec![
        cell_of(row("a", "x", "sim", 12)),
        cell_of(row("b", "y", "sim", 0)),
    ];
    assert_eq!(render(&page(cells.clone())), render(&page(cells)));
}

#[test]
fn zoom_only_when_the_failed_op_is_a_small_part_of_the_run() {
    let timeline = timeline("op 7 deploy", "x");
    // 40-42 s of 100 s: the window is 38-44 s.
    assert_eq!(
        svg::focus(&timeline),
        Some((Duration::from_secs(38), Duration::from_secs(44)))
    );
    let mut long = timeline.clone();
    long.failed.as_mut().unwrap().finished = Some(Duration::from_secs(90));
    assert_eq!(svg::focus(&long), None);
}
