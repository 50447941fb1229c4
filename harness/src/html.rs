//! `--format html` on run and matrix: the sshrace-html page, with each failing cell's timeline.

use anyhow::Context as _;
use sshrace_runner::{Job, Row, Timeline, execute_with};

use crate::docker::Containers;
use crate::plan::Cell;
use crate::report::replay_command;

/// `--format html`: the rows as one page, with the timeline of each failing cell's first
/// failing seed. In the simulation those seeds are rerun with their traces (same seed, same
/// trace: the hash is checked against the row's); a container run is not rerun (it would be
/// another real run), its cell gives the replay command instead.
pub fn page(
    reported: &[(&Cell, Row)],
    containers: Option<&Containers>,
    threads: usize,
) -> anyhow::Result<String> {
    let jobs: Vec<Job> = reported
        .iter()
        .filter(|_| containers.is_none())
        .filter_map(|(cell, row)| {
            Some(Job {
                scenario: cell.scenario.clone(),
                strategy: cell.strategy.clone(),
                seed: *row.failing_seeds.first()?,
            })
        })
        .collect();
    let start = std::time::Instant::now();
    let mut traced = execute_with(&jobs, threads, true, &|_| {}).into_iter();
    if !jobs.is_empty() {
        eprintln!(
            "sshrace: html: {} failing seeds rerun for their timelines in {:.1} s",
            jobs.len(),
            start.elapsed().as_secs_f64()
        );
    }
    let mut cells = Vec::with_capacity(reported.len());
    for (cell, row) in reported {
        let seed = row.failing_seeds.first().copied();
        let (timeline, no_timeline) = match (seed, containers) {
            (None, _) => (None, None),
            (Some(_), Some(_)) => (
                None,
                Some(
                    "container runs are real, so a rerun would be another run: replay it"
                        .to_owned(),
                ),
            ),
            (Some(seed), None) => {
                let run = traced
                    .next()
                    .expect("one rerun per failing cell")
                    .with_context(|| {
                        format!("{} with {} seed {seed}", cell.scenario.path, row.strategy)
                    })?;
                let recorded = row.traces.iter().find(|t| t.seed == seed);
                match recorded {
                    Some(t) if t.trace != run.trace_hash => (
                        None,
                        Some(format!(
                            "the rerun gave trace {} where the run gave {} (not deterministic: run with --check-determinism)",
                            run.trace_hash, t.trace
                        )),
                    ),
                    _ => (
                        Timeline::from_run(&run).map(|timeline| (seed, timeline)),
                        None,
                    ),
                }
            }
        };
        cells.push(sshrace_html::Cell {
            row: row.clone(),
            replay: seed.map(|seed| replay_command(cell, seed, containers)),
            timeline,
            no_timeline,
        });
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let page = sshrace_html::Page {
        title: format!("sshrace {}", args.first().map_or("report", String::as_str)),
        command: format!("sshrace {}", args.join(" ")),
        cells,
    };
    Ok(sshrace_html::render(&page))
}
