//! Every file in `scenarios/` parses, is compiled into the built-in list, names strategies that
//! exist, and runs with each of them on one seed: the TOML cannot rot.

use std::path::Path;

use sshrace_runner::{Registry, builtin_scenarios, run_one};
use sshrace_scenario::Scenario;

fn files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_scenario_file_is_a_builtin_and_parses() {
    let mut builtins: Vec<String> = builtin_scenarios()
        .iter()
        .map(|b| b.name.to_owned())
        .collect();
    builtins.sort();
    assert_eq!(files(), builtins, "scenarios/ and the built-in list differ");
    assert!(builtins.len() >= 15);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for name in files() {
        let scenario =
            Scenario::load(dir.join(format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"));
        Registry::new()
            .check(&scenario)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = Scenario::from_str(&scenario.to_toml(), &scenario.path).unwrap();
        assert_eq!(again, scenario, "{name}: to_toml round-trips");
    }
}

#[test]
fn every_scenario_file_opens_with_a_comment_naming_what_it_reproduces() {
    for builtin in builtin_scenarios() {
        assert!(
            builtin.text.starts_with("# "),
            "{} must start with a comment naming the incident or race",
            builtin.path
        );
    }
}

#[test]
fn every_scenario_runs_with_each_of_its_strategies() {
    for builtin in builtin_scenarios() {
        let scenario = builtin.parse().unwrap();
        for name in &scenario.strategies {
            let spec = Registry::new()
                .resolve(&scenario, name, &Default::default())
                .unwrap();
            let result = run_one(&scenario, &spec, 0, false)
                .unwrap_or_else(|e| panic!("{} with {name}: {e}", builtin.path));
            assert!(
                !result.operations.is_empty(),
                "{} plans operations",
                builtin.path
            );
        }
    }
}

/// A malformed scenario names file, line and field, and nothing runs.
#[test]
fn a_bad_scenario_names_file_line_and_field() {
    let text = "description = \"x\"\nstrategies = [\"pool\"]\n[sim]\nduration_ms = 60000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"w\"\nhost = \"target\"\nat_ms = 1000\n[[timeline]]\nat_ms = 90000\nfault = \"crash\"\nhost = \"target\"\n";
    let error = Scenario::from_str(text, "scenarios/bad.toml")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("scenarios/bad.toml:12:"), "{error}");
    assert!(error.contains("timeline[0].at_ms"), "{error}");
    let unknown = text.replace("name = \"w\"", "name = \"w\"\ncolour = \"red\"");
    let error = Scenario::from_str(&unknown, "scenarios/bad.toml")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("scenarios/bad.toml:9:"), "{error}");
    assert!(error.contains("colour"), "{error}");
    let scenario = Scenario::from_str(
        &text
            .replace("90000", "9000")
            .replace("[\"pool\"]", "[\"poll\"]"),
        "scenarios/bad.toml",
    )
    .unwrap();
    let error = Registry::new().check(&scenario).unwrap_err().to_string();
    assert!(error.starts_with("scenarios/bad.toml:2:"), "{error}");
    assert!(
        error.contains("strategies[0]") && error.contains("\"poll\""),
        "{error}"
    );
}
