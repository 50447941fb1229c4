use std::fmt::Write as _;

use sshrace_core::Outcome;
use sshrace_runner::report::{Format, render};
use sshrace_runner::{Row, RunResult};

use crate::cell::{Cell, CellRuns, run_cells};
use crate::seeds::SeedPlan;
use crate::{Check, Difference, Error, SnapshotRow, Strategy, replay};

/// Failing seeds listed per scenario in a failure message; the rest are counted.
const SEEDS_SHOWN: usize = 20;

/// The result of [`Check::run`]: one [`Row`] per (scenario, strategy), the same rows the
/// `sshrace` command line reports, and assertions that read as the intent.
///
/// Assertions judge the strategy under test (not ones added with [`Check::also`]). Each returns
/// the report, so they chain. A failed assertion panics with a message that holds the result
/// table, the failing seeds per scenario and the command that replays one:
///
/// ```text
/// sshrace: one-shot failed 40.8% of measured operations in max-startups-retry-storm (49 of 120, 95% CI 32.5%-49.8%); expected below 1.0%
///
/// scenario                  strategy  runs  ops  failed  rate   95% CI       silent  conns  leaked  p50 ms  other outcomes
/// max-startups-retry-storm  one-shot  2     120  49      40.8%  32.5%-49.8%  0       120    0       1033    transport:closed-before-banner 49
///
/// failing seeds:
///   max-startups-retry-storm: 0, 1
/// replay:
///   SSHRACE_SEED=0 cargo test -- one_shot_survives_the_storm --exact --nocapture
/// ```
///
/// For a built-in strategy the replay line is `sshrace replay <scenario> --strategy <name>
/// --seed <n>` instead.
#[derive(Debug)]
pub struct Report {
    check: Check,
    plan: SeedPlan,
    cells: Vec<CellRuns>,
    rows: Vec<Row>,
    test: Option<String>,
}

impl Report {
    pub(crate) fn new(check: Check, plan: SeedPlan, cells: Vec<CellRuns>) -> Report {
        Report {
            rows: cells.iter().map(CellRuns::row).collect(),
            check,
            plan,
            cells,
            test: replay::current_test_name(),
        }
    }

    /// Every row: per scenario, the strategy under test, then those added with
    /// [`Check::also`].
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row of the strategy under test in the scenario named `scenario`.
    pub fn row(&self, scenario: &str) -> Option<&Row> {
        self.under_test()
            .find(|(cell, _)| cell.cell.scenario.name == scenario)
            .map(|(_, row)| row)
    }

    /// Every run, in row order and, within a row, seed order: for assertions of your own.
    pub fn runs(&self) -> impl Iterator<Item = &RunResult> {
        self.cells.iter().flat_map(|cell| &cell.runs)
    }

    /// The rows as the aligned text table `sshrace run` prints.
    pub fn table(&self) -> String {
        render(&self.rows, Format::Table)
    }

    /// The rows reduced to what is judged, for a reviewed snapshot:
    /// `insta::assert_yaml_snapshot!(report.snapshot_rows())`. See [`SnapshotRow`].
    pub fn snapshot_rows(&self) -> Vec<SnapshotRow> {
        self.rows.iter().map(SnapshotRow::from).collect()
    }

    /// The command that replays the strategy under test on `scenario` at `seed`, for messages
    /// of your own assertions; `None` if the check has no such scenario.
    pub fn replay_command(&self, scenario: &str, seed: u64) -> Option<String> {
        let (cell, _) = self
            .under_test()
            .find(|(cell, _)| cell.cell.scenario.name == scenario)?;
        Some(replay::command(
            &cell.cell.strategy,
            &cell.cell.scenario,
            seed,
            self.test.as_deref(),
        ))
    }

    /// Assert that no measured operation of the strategy under test reported success for a
    /// command the server did not run to completion.
    ///
    /// # Panics
    ///
    /// With the table, the seeds that had a silent failure, and a replay command.
    #[track_caller]
    pub fn assert_no_silent_failures(&self) -> &Self {
        let failing = self.failing_seeds(|run| {
            run.measured()
                .any(|(_, outcome)| *outcome == Outcome::SilentFailure)
        });
        if !failing.is_empty() {
            let silent: u64 = self.under_test().map(|(_, row)| row.silent_failures).sum();
            self.fail(
                &format!(
                    "sshrace: {} reported success for {silent} operation(s) the server never \
                     completed (silent failures)",
                    self.name()
                ),
                &self.under_test_rows(),
                &failing,
            );
        }
        self
    }

    /// Assert that the strategy under test failed strictly less than `max` (a fraction:
    /// `0.01` is 1%) of the measured operations in the scenario named `scenario`, over all
    /// seeds. Which outcomes count as failures is the scenario's `failing` list.
    ///
    /// # Panics
    ///
    /// If the rate is `max` or more, with the table, the seeds with a failure and a replay
    /// command; or if the check has no scenario named `scenario`.
    ///
    /// ```should_panic
    /// use sshrace::{Check, builtin};
    /// # let one_shot = sshrace::doc_support::one_shot();
    ///
    /// // A fresh connection per command, 60 at once, against MaxStartups 10:30:100.
    /// Check::new(one_shot)
    ///     .scenario(builtin::named("max-startups-retry-storm"))
    ///     .seeds(0..2)
    ///     .run()
    ///     .assert_failure_rate_below("max-startups-retry-storm", 0.01);
    /// ```
    #[track_caller]
    pub fn assert_failure_rate_below(&self, scenario: &str, max: f64) -> &Self {
        let (cell, row) = self.cell(scenario);
        if row.failure_rate >= max {
            self.fail(
                &format!(
                    "sshrace: {} failed {:.1}% of measured operations in {scenario} ({} of {}, \
                     95% CI {:.1}%-{:.1}%); expected below {:.1}%",
                    self.name(),
                    row.failure_rate * 100.0,
                    row.failures,
                    row.operations,
                    row.ci_low * 100.0,
                    row.ci_high * 100.0,
                    max * 100.0
                ),
                &self.under_test_rows(),
                &[(cell, row.failing_seeds.clone())],
            );
        }
        self
    }

    /// Assert that the strategy under test stays within every `[[expect]]` bound its scenarios
    /// set for its name (`strategy = "<name>"`, `max_failure_rate = ...`): the check the
    /// `sshrace` command line makes. Scenarios with no bound for it pass.
    ///
    /// # Panics
    ///
    /// With the table (a `!` marks rows above their bound), their failing seeds and a replay
    /// command.
    #[track_caller]
    pub fn assert_meets_expectations(&self) -> &Self {
        let failing: Vec<(&CellRuns, Vec<u64>)> = self
            .under_test()
            .filter(|(_, row)| row.breaks_expectation())
            .map(|(cell, row)| (cell, row.failing_seeds.clone()))
            .collect();
        if !failing.is_empty() {
            let names: Vec<&str> = failing
                .iter()
                .map(|(cell, _)| cell.cell.scenario.name.as_str())
                .collect();
            self.fail(
                &format!(
                    "sshrace: {} breaks the max_failure_rate of {}",
                    self.name(),
                    names.join(", ")
                ),
                &self.under_test_rows(),
                &failing,
            );
        }
        self
    }

    /// Assert that the strategy under test leaves no session or connection open on any server
    /// once it has shut down.
    ///
    /// # Panics
    ///
    /// With the table, the seeds that leaked and a replay command.
    ///
    /// ```
    /// use sshrace::{Check, builtin};
    ///
    /// Check::new("pool")
    ///     .scenario(builtin::named("max-sessions-one-master"))
    ///     .seeds(0..2)
    ///     .run()
    ///     .assert_no_leaks()
    ///     .assert_meets_expectations();
    /// ```
    #[track_caller]
    pub fn assert_no_leaks(&self) -> &Self {
        let failing = self.failing_seeds(|run| run.leaked_sessions + run.leaked_connections > 0);
        if !failing.is_empty() {
            self.fail(
                &format!(
                    "sshrace: {} left sessions or connections open after shutdown",
                    self.name()
                ),
                &self.under_test_rows(),
                &failing,
            );
        }
        self
    }

    /// Run `baseline` on the same scenarios and seeds and assert that the strategy under test
    /// is not worse in any scenario: its failure rate may be higher only by chance, i.e. the
    /// 95% confidence interval of the paired difference (see [`Difference`]) must reach down
    /// to zero. One unlucky seed does not fail the build; a consistent regression does.
    ///
    /// Under `SSHRACE_SEED` (one seed: no interval) it fails when that seed alone is worse, so
    /// the replay of a failing seed fails again.
    ///
    /// # Panics
    ///
    /// With each scenario's difference and interval, both strategies' rows, the seeds on which
    /// the strategy under test failed more often (most extra failures first) and a replay
    /// command; or if the baseline cannot run (see [`Check::try_run`]).
    ///
    /// ```
    /// use sshrace::{Check, builtin};
    /// # let one_shot = sshrace::doc_support::one_shot();
    ///
    /// // The built-in pool against a fresh connection per command.
    /// Check::new("pool")
    ///     .scenario(builtin::named("max-sessions-one-master"))
    ///     .seeds(0..4)
    ///     .run()
    ///     .assert_not_worse_than(one_shot);
    /// ```
    #[track_caller]
    pub fn assert_not_worse_than(&self, baseline: impl Into<Strategy>) -> &Self {
        let baseline = baseline.into();
        let (differences, baseline_cells) = self
            .pair_with(&baseline)
            .unwrap_or_else(|error| panic!("sshrace: baseline {}: {error}", baseline.name()));
        let replaying = self.plan.is_replay();
        let worse: Vec<&Difference> = differences
            .iter()
            .filter(|d| d.is_worse() || (replaying && d.difference > 0.0))
            .collect();
        if worse.is_empty() {
            return self;
        }
        let mut headline = format!(
            "sshrace: {} is worse than {}:",
            self.name(),
            baseline.name()
        );
        for difference in &worse {
            let _ = write!(headline, "\n  {}", difference.summary());
        }
        let mut rows = Vec::new();
        for ((_, row), baseline) in self.under_test().zip(&baseline_cells) {
            rows.push(row.clone());
            rows.push(baseline.row());
        }
        let failing: Vec<(&CellRuns, Vec<u64>)> = worse
            .iter()
            .map(|d| {
                let (cell, _) = self.cell(&d.scenario);
                (cell, d.worse_seeds.clone())
            })
            .collect();
        self.fail(&headline, &rows, &failing);
    }

    /// Run `baseline` on the same scenarios and seeds and pair it, seed by seed, with the
    /// strategy under test: one [`Difference`] per scenario, in scenario order.
    ///
    /// # Errors
    ///
    /// If the baseline cannot run in some scenario (see [`Check::try_run`]).
    ///
    /// ```
    /// use sshrace::{Check, builtin};
    /// # let one_shot = sshrace::doc_support::one_shot();
    ///
    /// let report = Check::new(one_shot)
    ///     .scenario(builtin::named("max-startups-retry-storm"))
    ///     .seeds(0..4)
    ///     .run();
    /// let differences = report.compare("pool")?;
    /// assert!(differences[0].is_worse());
    /// assert!(differences[0]
    ///     .summary()
    ///     .starts_with("max-startups-retry-storm: one-shot 38.8% vs pool 0.0%: +38.8 points (95% CI +34.2 to +43.3"));
    /// # Ok::<(), sshrace::Error>(())
    /// ```
    pub fn compare(&self, baseline: impl Into<Strategy>) -> Result<Vec<Difference>, Error> {
        self.pair_with(&baseline.into()).map(|(d, _)| d)
    }

    fn pair_with(&self, baseline: &Strategy) -> Result<(Vec<Difference>, Vec<CellRuns>), Error> {
        let cells = self
            .under_test()
            .map(|(cell, _)| {
                Cell::new(
                    &cell.cell.scenario,
                    baseline,
                    cell.cell.run.seeds.clone(),
                    false,
                )
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let baseline_cells = run_cells(cells, self.check.thread_count(), false)?;
        let differences = self
            .under_test()
            .zip(&baseline_cells)
            .map(|((mine, _), theirs)| {
                let per_seed: Vec<(u64, u64, u64, u64)> = mine
                    .runs
                    .iter()
                    .zip(&theirs.runs)
                    .map(|(a, b)| {
                        (
                            a.seed,
                            a.measured().count() as u64,
                            failures(a),
                            failures(b),
                        )
                    })
                    .collect();
                Difference::paired(
                    &mine.cell.scenario.name,
                    mine.cell.run.strategy.name(),
                    theirs.cell.run.strategy.name(),
                    &per_seed,
                )
            })
            .collect();
        Ok((differences, baseline_cells))
    }

    fn name(&self) -> &str {
        self.check.strategy().name()
    }

    fn under_test(&self) -> impl Iterator<Item = (&CellRuns, &Row)> {
        self.cells
            .iter()
            .zip(&self.rows)
            .filter(|(cell, _)| cell.cell.under_test)
    }

    fn under_test_rows(&self) -> Vec<Row> {
        self.under_test().map(|(_, row)| row.clone()).collect()
    }

    /// The cell and row of the strategy under test in `scenario`, or a panic naming the
    /// scenarios there are.
    #[track_caller]
    fn cell(&self, scenario: &str) -> (&CellRuns, &Row) {
        if let Some(found) = self
            .under_test()
            .find(|(cell, _)| cell.cell.scenario.name == scenario)
        {
            return found;
        }
        let names: Vec<&str> = self
            .under_test()
            .map(|(cell, _)| cell.cell.scenario.name.as_str())
            .collect();
        panic!(
            "sshrace: this check has no scenario named {scenario:?} (it has: {})",
            names.join(", ")
        )
    }

    /// Per cell of the strategy under test, the seeds whose run matches `failed`; cells
    /// without any are left out.
    fn failing_seeds(&self, failed: impl Fn(&RunResult) -> bool) -> Vec<(&CellRuns, Vec<u64>)> {
        self.under_test()
            .map(|(cell, _)| {
                let seeds = cell.runs.iter().filter(|r| failed(r)).map(|r| r.seed);
                (cell, seeds.collect::<Vec<u64>>())
            })
            .filter(|(_, seeds)| !seeds.is_empty())
            .collect()
    }

    /// Panic with `headline`, the table of `rows`, the failing seeds per scenario and one
    /// replay command per scenario (each at its first listed seed).
    #[track_caller]
    fn fail(&self, headline: &str, rows: &[Row], failing: &[(&CellRuns, Vec<u64>)]) -> ! {
        let mut message = format!("{headline}\n\n{}", render(rows, Format::Table));
        let mut commands: Vec<String> = Vec::new();
        if failing.iter().any(|(_, seeds)| !seeds.is_empty()) {
            message.push_str("\nfailing seeds:\n");
        }
        for (cell, seeds) in failing {
            let Some(first) = seeds.first() else {
                continue;
            };
            let shown: Vec<String> = seeds.iter().take(SEEDS_SHOWN).map(u64::to_string).collect();
            let more = match seeds.len().saturating_sub(SEEDS_SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let _ = writeln!(
                message,
                "  {}: {}{more}",
                cell.cell.scenario.name,
                shown.join(", ")
            );
            let command = replay::command(
                &cell.cell.strategy,
                &cell.cell.scenario,
                *first,
                self.test.as_deref(),
            );
            if !commands.contains(&command) {
                commands.push(command);
            }
        }
        if !commands.is_empty() {
            message.push_str("replay:\n");
            for command in commands {
                let _ = writeln!(message, "  {command}");
            }
        }
        panic!("{message}");
    }
}

/// Measured operations of `run` that count as failures in its scenario.
fn failures(run: &RunResult) -> u64 {
    run.measured()
        .filter(|(_, outcome)| run.counts_as_failure(*outcome))
        .count() as u64
}
