use std::sync::Arc;

use sshrace_runner::Shard;
use sshrace_scenario::Scenario;

use crate::cell::{Cell, run_cells};
use crate::report::Report;
use crate::seeds::{DEFAULT_SEEDS, SeedPlan};
use crate::{Error, Strategy, log, replay};

/// What to run: a strategy, the scenarios to run it through, and the seeds. Build it, call
/// [`Check::run`], then assert on the [`Report`].
///
/// Each scenario runs with the strategy under test only (add others to the table with
/// [`Check::also`]), on each scenario's regression seeds (`seeds = [...]` in its file) and then
/// the check's seeds, in parallel on every core. The same check gives the same report on any
/// machine and any number of threads.
///
/// Defaults: seeds `0..20`; threads: the number of cores. `SSHRACE_SEED` and `SSHRACE_SEEDS`
/// override the seeds (see the [crate docs](crate#seeds-and-replay)).
///
/// ```
/// use sshrace::{Check, builtin};
/// # let my_strategy = sshrace::doc_support::one_shot();
///
/// let report = Check::new(my_strategy)
///     .scenario(builtin::named("agent-flap"))
///     .seeds(0..2)
///     .run();
/// assert_eq!(report.rows().len(), 1);
/// assert_eq!(report.rows()[0].runs, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Check {
    strategy: Strategy,
    others: Vec<Strategy>,
    scenarios: Vec<Arc<Scenario>>,
    seeds: Vec<u64>,
    threads: Option<usize>,
}

impl Check {
    /// Check `strategy`: your own [`StrategySpec`](crate::StrategySpec), or a built-in by name
    /// (`Check::new("pool")`).
    pub fn new(strategy: impl Into<Strategy>) -> Self {
        Check {
            strategy: strategy.into(),
            others: Vec::new(),
            scenarios: Vec::new(),
            seeds: DEFAULT_SEEDS.collect(),
            threads: None,
        }
    }

    /// Add one scenario: a built-in ([`builtin::named`](crate::builtin::named)) or your own
    /// ([`Scenario::load`], [`Scenario::from_str`]).
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenarios.push(Arc::new(scenario));
        self
    }

    /// Add scenarios: [`builtin::all`](crate::builtin::all), or your own from
    /// [`scenarios_in`](crate::scenarios_in).
    pub fn scenarios(mut self, scenarios: impl IntoIterator<Item = Scenario>) -> Self {
        self.scenarios.extend(scenarios.into_iter().map(Arc::new));
        self
    }

    /// Run these seeds (default `0..20`), in the order given, each once.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds.clear();
        for seed in seeds {
            if !self.seeds.contains(&seed) {
                self.seeds.push(seed);
            }
        }
        self
    }

    /// Also run `strategy` on every scenario, for comparison in the table and snapshot.
    /// Assertions judge only the strategy under test.
    pub fn also(mut self, strategy: impl Into<Strategy>) -> Self {
        self.others.push(strategy.into());
        self
    }

    /// Run at most `threads` simulations at once (default: the number of cores). Results never
    /// depend on it.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// The strategy under test.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// Run every scenario with every seed and aggregate the runs into rows.
    ///
    /// # Panics
    ///
    /// If the check cannot run (see [`Check::try_run`]); the message says why.
    pub fn run(&self) -> Report {
        self.try_run()
            .unwrap_or_else(|error| panic!("sshrace: {error}"))
    }

    /// [`Check::run`], returning why a check could not run instead of panicking: no scenarios
    /// or seeds, two scenarios with one name, an unknown built-in strategy name, a malformed
    /// `SSHRACE_SEED`/`SSHRACE_SEEDS`, or a simulation that failed to run.
    pub fn try_run(&self) -> Result<Report, Error> {
        log::init();
        let plan = SeedPlan::from_env(&self.seeds)?;
        if self.scenarios.is_empty() {
            return Err(Error::NoScenarios);
        }
        for (index, scenario) in self.scenarios.iter().enumerate() {
            if let Some(first) = self.scenarios[..index]
                .iter()
                .find(|s| s.name == scenario.name)
            {
                return Err(Error::DuplicateScenario {
                    name: scenario.name.clone(),
                    first: first.path.clone(),
                    second: scenario.path.clone(),
                });
            }
        }
        // SSHRACE_SHARD splits the (scenario, seed) pairs over machines; a replay runs its seed.
        let shard = match plan {
            SeedPlan::Replay(_) => Shard::ALL,
            SeedPlan::Range(_) => crate::seeds::shard_from_env()?,
        };
        let mut per_scenario: Vec<Vec<u64>> = self
            .scenarios
            .iter()
            .map(|s| plan.for_scenario(s))
            .collect();
        let total: usize = per_scenario.iter().map(Vec::len).sum();
        crate::seeds::shard_seeds(&mut per_scenario, shard);
        if !shard.is_all() {
            eprintln!(
                "sshrace: SSHRACE_SHARD={shard}: {} of {total} (scenario, seed) pairs of this check run here",
                per_scenario.iter().map(Vec::len).sum::<usize>()
            );
        }
        let mut cells = Vec::new();
        for (scenario, seeds) in self.scenarios.iter().zip(per_scenario) {
            if seeds.is_empty() {
                continue;
            }
            cells.push(Cell::new(scenario, &self.strategy, seeds.clone(), true)?);
            for other in &self.others {
                cells.push(Cell::new(scenario, other, seeds.clone(), false)?);
            }
        }
        let cells = run_cells(cells, self.thread_count(), plan.is_replay())?;
        if let SeedPlan::Replay(seed) = plan {
            let mut out = format!("sshrace: SSHRACE_SEED={seed}: running seed {seed} only\n");
            for cell in &cells {
                for run in &cell.runs {
                    out.push_str(&replay::timeline(&cell.cell.scenario, run));
                }
            }
            eprint!("{out}");
        }
        Ok(Report::new(self.clone(), plan, cells))
    }

    pub(crate) fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(sshrace_runner::default_threads)
    }
}
