//! Issue 19, point 8: mutated and extreme scenario files (mutations of the built-ins: extreme
//! numbers, odd names, duplicated and dropped lines) either parse and pass admission, or fail
//! with a scenario error (`file:line:column: field: message`, what the CLI prints with exit 2).
//! Nothing panics, and whatever is admitted stays inside its admitted cost: its plan has no
//! more operations than admission counted (Poisson: within a generous margin) and no more
//! than the per-run limit.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use sshrace_core::limits;
use sshrace_runner::{Registry, admit, builtin_scenarios};
use sshrace_scenario::Scenario;

/// Values a mutation puts in place of a number.
const EXTREMES: &[&str] = &[
    "0",
    "1",
    "-1",
    "5",
    "1.5",
    "nan",
    "inf",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "1000000000000",
    "\"x\"",
    "[]",
    "{}",
];

/// Values a mutation puts in place of a string (names, hosts, strategies).
const ODD_STRINGS: &[&str] = &[
    "\"\"",
    "\"deploy, v2\"",
    "\"a|b\"",
    "\"two\\nlines\"",
    "\"ctl\\u0001\"",
    "\"pool\"",
    "\"fresh\"",
    "\"client\"",
    "\"target\"",
    "\"é\"",
    "9.2",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value on line `line` (modulo the line count) with an extreme number.
    Number(usize, usize),
    /// Replace the value on line `line` with an odd string.
    String(usize, usize),
    /// Write line `line` twice.
    Duplicate(usize),
    /// Drop line `line`.
    Drop(usize),
    /// Append a table.
    Append(usize),
}

const APPENDED: &[&str] = &[
    "\n[strategy.pool]\nbase = \"fresh\"\n",
    "\n[strategy.x]\nbase = \"pool\"\nattempts = 0\n",
    "\n[strategy.x]\nbase = \"agent-status\"\npoll_interval_ms = 1\n",
    "\n[[workload]]\nname = \"flood\"\nhost = \"target\"\nburst = 16385\nat_ms = 1\n",
    "\n[[workload]]\nname = \"tick\"\nhost = \"target\"\nevery_ms = 1\n",
    "\n[[workload]]\nname = \"big\"\nhost = \"target\"\nat_ms = 1\nstdout_bytes = 1073741825\n",
    "\n[[host]]\nname = \"extra\"\nhandshake_cost_ms = 60001\n",
    "\n[[timeline]]\nat_ms = 1\nfault = \"latency\"\na = \"client\"\nb = \"target\"\nbase_ms = 9223372036854775807\n",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..200usize, 0..EXTREMES.len()).prop_map(|(l, v)| Mutation::Number(l, v)),
        (0..200usize, 0..ODD_STRINGS.len()).prop_map(|(l, v)| Mutation::String(l, v)),
        (0..200usize).prop_map(Mutation::Duplicate),
        (0..200usize).prop_map(Mutation::Drop),
        (0..APPENDED.len()).prop_map(Mutation::Append),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let count = lines.len().max(1);
    let set_value = |lines: &mut Vec<String>, line: usize, value: &str| {
        let line = line % count;
        if let Some((key, _)) = lines[line].split_once(" = ") {
            lines[line] = format!("{key} = {value}");
        }
    };
    match mutation {
        Mutation::Number(line, value) => set_value(&mut lines, *line, EXTREMES[*value]),
        Mutation::String(line, value) => set_value(&mut lines, *line, ODD_STRINGS[*value]),
        Mutation::Duplicate(line) => {
            let line = line % count;
            let copy = lines[line].clone();
            lines.insert(line, copy);
        }
        Mutation::Drop(line) => {
            lines.remove(line % count);
        }
        Mutation::Append(index) => lines.push(APPENDED[*index].to_owned()),
    }
    lines.join("\n") + "\n"
}

/// Parse, resolve and admit `text`; panics (the property's failure) on a panic inside, or on
/// an admitted scenario whose plan is past its admitted cost.
fn check(text: &str) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let scenario = match Scenario::from_str(text, "m.toml") {
            Ok(scenario) => scenario,
            Err(error) => {
                let shown = error.to_string();
                assert!(shown.starts_with("m.toml:"), "{shown}");
                assert!(!shown.contains("Raw"), "internal type name: {shown}");
                assert_eq!(shown.lines().count(), 1, "one line: {shown}");
                return;
            }
        };
        if Registry::new().check(&scenario).is_err() {
            return;
        }
        let Ok(cost) = admit(&scenario, 1) else {
            return;
        };
        assert!(cost.operations_per_run <= limits::OPERATIONS_PER_RUN as f64);
        let planned = scenario.plan(0).operations.len() as f64;
        // Poisson counts vary around their mean: allow a wide margin, never past the limit.
        let bound = cost.operations_per_run * 1.5 + 6.0 * cost.operations_per_run.sqrt() + 10.0;
        assert!(
            planned <= bound,
            "planned {planned} operations, admitted {}",
            cost.operations_per_run
        );
        for host in &scenario.hosts {
            assert!(host.sshd.handshake_cost.as_millis() <= u128::from(limits::LATENCY_MS));
        }
        assert!(scenario.sim.duration.as_millis() <= u128::from(limits::DURATION_MS));
        assert!(scenario.hosts.len() <= limits::HOSTS);
    }));
    assert!(outcome.is_ok(), "panicked on:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn mutated_built_ins_are_admitted_within_their_cost_or_refused_with_a_scenario_error(
        which in 0..64usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let builtins = builtin_scenarios();
        let builtin = &builtins[which % builtins.len()];
        let mut text = builtin.text.to_owned();
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        check(&text);
    }
}

#[test]
fn every_built_in_is_admitted() {
    for builtin in builtin_scenarios() {
        let scenario = builtin.parse().expect("parses");
        Registry::new().check(&scenario).expect("resolves");
        admit(&scenario, 100).expect("100 runs are admitted");
    }
}

/// The case proptest found in CI: a string value `"two\nlines"` in place of a workload's
/// `kind` made "unknown variant" echo the newline, and the error took two lines.
#[test]
fn a_value_with_a_newline_is_refused_on_one_line() {
    let builtins = builtin_scenarios();
    let builtin = &builtins[57 % builtins.len()];
    check(&apply(builtin.text, &Mutation::String(24, 3)));
}
