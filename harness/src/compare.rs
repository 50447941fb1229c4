//! `sshrace compare`: argument handling and printing; the comparison itself is the runner's.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use sshrace_runner::{Comparison, Registry, Row, compare, measure_only};

use crate::cli::CompareFormat;
use crate::plan;

/// What `sshrace compare` was given.
pub struct CompareArgs {
    pub scenario: String,
    pub strategies: Vec<String>,
    pub measure: Vec<String>,
    pub seeds: String,
    pub alpha: f64,
    pub format: CompareFormat,
    pub threads: usize,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let CompareArgs {
        scenario,
        strategies,
        measure,
        seeds,
        alpha,
        format,
        threads,
    } = args;
    let [a, b] = strategies.as_slice() else {
        bail!(
            "--strategy: give exactly two strategies, A then B (got {})",
            strategies.len()
        );
    };
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha {alpha}: must be between 0 and 1");
    }
    let seeds = plan::parse_seeds(&seeds)?;
    let mut scenario = plan::load_scenario(&scenario)?;
    measure_only(&mut scenario, &measure)?;
    sshrace_runner::admit(&scenario, seeds.len() as u64 * 2)?;
    eprintln!(
        "sshrace: compare {} {a} (A) vs {b} (B) on {} seeds, backend sim, {threads} threads",
        scenario.path,
        seeds.len()
    );
    let bar = crate::progress::bar(seeds.len() * 2, format == CompareFormat::Text);
    let comparison = compare(
        &Registry::new(),
        &scenario,
        [a, b],
        &seeds,
        alpha,
        threads,
        &|done| bar.set_position(done as u64),
    );
    bar.finish_and_clear();
    let comparison = comparison.with_context(|| format!("scenario {}", scenario.path))?;
    let text = match format {
        CompareFormat::Text => report(&comparison),
        CompareFormat::Json => {
            let mut text = serde_json::to_string_pretty(&comparison)?;
            text.push('\n');
            text
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn points(rate: f64) -> String {
    format!("{:+.1}", rate * 100.0)
}

fn row_line(label: &str, row: &Row) -> String {
    format!(
        "  {label} {:<20} failure rate {:>6} (95% CI {}-{}), {} of {} operations failed\n",
        row.strategy,
        percent(row.failure_rate),
        percent(row.ci_low),
        percent(row.ci_high),
        row.failures,
        row.operations
    )
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("= {p:.4}")
    }
}

/// The comparison for people.
fn report(c: &Comparison) -> String {
    let t = &c.paired_t;
    let ties = t.pairs as u64 - c.b_worse - c.b_better;
    let mut out = format!(
        "compare {}: A = {}, B = {}, {} seeds ({} with measured operations)\n",
        c.scenario,
        c.a.strategy,
        c.b.strategy,
        c.seeds.len(),
        t.pairs
    );
    out += &row_line("A", &c.a);
    out += &row_line("B", &c.b);
    out += &format!(
        "difference B - A, mean of per-seed failure rates: {} points (95% CI {} to {})\n",
        points(t.mean),
        points(t.ci_low),
        points(t.ci_high)
    );
    let verdict = if c.significant {
        format!("significant at alpha {}", c.alpha)
    } else {
        format!("not significant at alpha {}", c.alpha)
    };
    match (t.t, t.p_value) {
        (Some(statistic), Some(p)) => {
            out += &format!(
                "paired t-test: t = {statistic:.3}, df = {}, p {}, {verdict}\n",
                t.degrees_of_freedom,
                p_value(p)
            );
        }
        _ => {
            out += "paired t-test: undefined, every seed gave the same difference (the sign test decides)\n";
        }
    }
    out += &format!(
        "sign test (exact): B failed more on {} seeds, less on {}, tied on {ties}: p {}{}\n",
        c.b_worse,
        c.b_better,
        p_value(c.sign_test_p),
        if c.verdict_test == "sign" {
            format!(", {verdict}")
        } else {
            String::new()
        }
    );
    for (label, strategy, seeds) in [
        ("A", &c.a.strategy, &c.only_a_failed),
        ("B", &c.b.strategy, &c.only_b_failed),
    ] {
        out += &format!(
            "seeds where only {label} ({strategy}) failed: {}\n",
            if seeds.is_empty() {
                "none".to_owned()
            } else {
                seeds.len().to_string()
            }
        );
        for seed in seeds {
            out += &format!("  {}\n", c.replay_command(strategy, *seed));
        }
    }
    out
}
