//! How a failure is reproduced: the command to run, and the timeline a replay prints.

use sshrace_runner::RunResult;
use sshrace_scenario::Scenario;

use crate::Strategy;
use crate::seeds::SEED_VARIABLE;

/// The name of the test running on this thread: libtest names each test's thread after the
/// test (`tests::pool_survives_the_flood`); `None` outside a test (the main thread).
pub(crate) fn current_test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}

/// The command that reruns `strategy` on `scenario` at `seed`: the `sshrace` command line for
/// a built-in, the test itself with `SSHRACE_SEED` for your own strategy.
pub(crate) fn command(
    strategy: &Strategy,
    scenario: &Scenario,
    seed: u64,
    test: Option<&str>,
) -> String {
    match (strategy, test) {
        (Strategy::Builtin(name), _) => format!(
            "sshrace replay {} --strategy {name} --seed {seed}",
            scenario.path
        ),
        (Strategy::Custom(_), Some(test)) => {
            format!("{SEED_VARIABLE}={seed} cargo test -- {test} --exact --nocapture")
        }
        (Strategy::Custom(_), None) => format!("{SEED_VARIABLE}={seed} cargo test"),
    }
}

/// What `sshrace replay` prints for one run: a header, the timeline, each operation's outcome
/// and the trace hash. `run` must have been made with its trace kept.
pub(crate) fn timeline(scenario: &Scenario, run: &RunResult) -> String {
    let mut out = format!(
        "sshrace: replay {} strategy {} seed {} backend sim tick {} ms\n",
        scenario.path,
        run.strategy,
        run.seed,
        scenario.sim.tick.as_millis()
    );
    if let Some(trace) = &run.trace {
        out.push_str(&trace.render());
    }
    out.push_str("outcomes:\n");
    out.push_str(&run.outcome_lines());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_strategies_replay_with_the_command_line() {
        let scenario = crate::builtin::named("agent-flap");
        assert_eq!(
            command(&Strategy::builtin("pool"), &scenario, 7, Some("t")),
            "sshrace replay scenarios/agent-flap.toml --strategy pool --seed 7"
        );
    }

    #[test]
    fn custom_strategies_replay_with_their_test() {
        let scenario = crate::builtin::named("agent-flap");
        let mine = Strategy::from(crate::doc_support::one_shot());
        assert_eq!(
            command(&mine, &scenario, 7, Some("tests::mine")),
            "SSHRACE_SEED=7 cargo test -- tests::mine --exact --nocapture"
        );
        assert_eq!(
            command(&mine, &scenario, 7, None),
            "SSHRACE_SEED=7 cargo test"
        );
    }

    #[test]
    fn the_test_name_is_the_thread_name() {
        assert_eq!(
            current_test_name().as_deref(),
            Some("replay::tests::the_test_name_is_the_thread_name")
        );
    }
}
