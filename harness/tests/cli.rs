//! The `sshrace` command line: exit codes, errors that point at the spot, machine-readable
//! output, replay lines.

mod common;

use common::{sshrace, text};

#[test]
fn unknown_scenario_is_a_one_line_error_with_exit_2() {
    let out = sshrace(&["run", "no-such-scenario"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("sshrace list"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_scenario_names_file_line_and_field_and_runs_nothing() {
    let dir = std::env::temp_dir().join(format!("sshrace-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "description = \"bad\"\nstrategies = [\"pool\"]\n[sim]\nduration_ms = 1000\n[[host]]\nname = \"t\"\n[[workload]]\nname = \"w\"\nhost = \"t\"\nat_ms = 5000\n",
    )
    .unwrap();
    let out = sshrace(&["run", path.to_str().unwrap(), "--seeds", "1"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:10:"), "{stderr}");
    assert!(stderr.contains("workload[0].at_ms"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn broken_max_failure_rate_exits_1_and_prints_the_replay_command() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--seeds",
        "2",
        "--max-failure-rate",
        "0.01",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("replay: sshrace replay scenarios/max-sessions-one-master.toml --strategy cached --seed 0"),
        "{stderr}"
    );
}

#[test]
fn json_rows_carry_the_documented_keys() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--seeds",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = document["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for key in [
        "scenario",
        "strategy",
        "backend",
        "runs",
        "failures",
        "failure_rate",
        "ci_low",
        "ci_high",
        "outcomes",
        "connections_opened",
        "traces",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(rows[0]["traces"].as_array().unwrap().len(), 2);
    assert!(
        rows[1]["outcomes"]["transport:channel-refused"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn junit_and_csv_are_written() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--seeds",
        "1",
        "--format",
        "junit",
    ]);
    assert!(text(&out.stdout).starts_with("<?xml"));
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--seeds",
        "1",
        "--format",
        "csv",
    ]);
    assert_eq!(text(&out.stdout).lines().count(), 4);
}

#[test]
fn check_determinism_passes_on_identical_reruns() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--seeds",
        "2",
        "--check-determinism",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("every seed gave the same trace twice"));
}

#[test]
fn check_determinism_repeat_runs_more_passes_in_other_orders() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--seeds",
        "3",
        "--jobs",
        "1",
        "--check-determinism",
        "--repeat",
        "2",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("every seed gave the same trace 3 times (first pass on 1 threads; then reverse order on 2 threads, rotated order on 2 threads)"),
        "{stderr}"
    );
}

#[test]
fn repeat_without_check_determinism_or_out_of_range_is_a_one_line_error_with_exit_2() {
    for args in [
        &["--repeat", "3"][..],
        &["--check-determinism", "--repeat", "0"],
        &["--check-determinism", "--repeat", "101"],
    ] {
        let mut all = vec!["run", "max-sessions-one-master", "--seeds", "1"];
        all.extend_from_slice(args);
        let out = sshrace(&all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("--repeat"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn replay_prints_the_same_timeline_every_time() {
    let args = [
        "replay",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--seed",
        "3",
    ];
    let first = sshrace(&args);
    let second = sshrace(&args);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(first.stdout, second.stdout);
    let timeline = text(&first.stdout);
    assert!(
        timeline.contains("refused, MaxSessions 10 (reason 2, open failed)"),
        "{timeline}"
    );
    assert!(timeline.contains("transport:channel-refused"));
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sshrace-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn replay_trace_is_chrome_trace_json_and_identical_across_processes() {
    let dir = temp_dir("trace");
    let files = [dir.join("first.json"), dir.join("second.json")];
    for file in &files {
        let out = sshrace(&[
            "replay",
            "max-sessions-one-master",
            "--strategy",
            "cached",
            "--seed",
            "3",
            "--trace",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("ui.perfetto.dev"));
    }
    let first = std::fs::read(&files[0]).unwrap();
    let second = std::fs::read(&files[1]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(first, second, "same seed, same file byte for byte");
    let document: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let events = document["traceEvents"].as_array().unwrap();
    assert!(events.iter().all(|e| {
        ["name", "ph", "ts", "pid", "tid"]
            .iter()
            .all(|key| e.get(key).is_some())
    }));
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"] == "session 0.1")
    );
    assert_eq!(document["otherData"]["strategy"], "cached");
}

#[test]
fn sweep_writes_a_table_and_an_svg_plot() {
    let dir = temp_dir("sweep");
    let plot = dir.join("burst.svg");
    let out = sshrace(&[
        "sweep",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--param",
        "workload.parallel.burst=5,13",
        "--seeds",
        "1",
        "--format",
        "csv",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&plot).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("parameter,value,scenario,strategy,"));
    assert!(lines[1].starts_with("workload.parallel.burst,5,max-sessions-one-master,cached,"));
    assert!(svg.starts_with("<svg"), "{svg:.200}");
    assert!(svg.contains("cached") && svg.contains("95% Wilson interval"));
}

#[test]
fn sweep_refuses_an_unknown_parameter_listing_what_it_accepts() {
    let out = sshrace(&[
        "sweep",
        "max-sessions-one-master",
        "--param",
        "max_age=1..2:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown parameter \"max_age\""), "{stderr}");
    assert!(stderr.contains("max_age_ms") && stderr.contains("host.<name>.<key>"));
}

#[test]
fn compare_reports_the_paired_difference_and_replay_commands() {
    let out = sshrace(&[
        "compare",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--strategy",
        "pool",
        "--seeds",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("difference B - A"), "{report}");
    assert!(report.contains("sign test (exact)"), "{report}");
    assert!(
        report.contains(
            "sshrace replay scenarios/max-sessions-one-master.toml --strategy cached --seed 1"
        ),
        "{report}"
    );
    let out = sshrace(&["compare", "max-sessions-one-master", "--strategy", "cached"]);
    assert_eq!(out.status.code(), Some(2), "one strategy is a usage error");
}

#[test]
fn help_documents_the_tests_and_exit_codes() {
    let compare = text(&sshrace(&["compare", "--help"]).stdout);
    assert!(compare.contains("paired t-test") && compare.contains("sign test"));
    assert!(compare.contains("Exit status: 0"));
    let sweep = text(&sshrace(&["sweep", "--help"]).stdout);
    for name in sshrace_core::StrategyParams::NAMES {
        assert!(sweep.contains(name), "sweep --help does not list {name}");
    }
    assert!(text(&sshrace(&["replay", "--help"]).stdout).contains("--trace"));
}

#[test]
fn fuzz_prints_a_replayable_scenario_and_exits_1_on_a_violation() {
    let out = sshrace(&["fuzz", "fuzz-base", "--strategy", "cached", "--cases", "20"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.starts_with("# found by sshrace fuzz scenarios/fuzz-base.toml --strategy cached"),
        "{stdout}"
    );
    assert!(stderr.contains("cases/s"), "{stderr}");
    assert!(
        stderr.contains("replay: sshrace replay scenarios/"),
        "{stderr}"
    );
    let dir = std::env::temp_dir().join(format!("sshrace-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("found.toml");
    std::fs::write(&path, &stdout).unwrap();
    let replay = sshrace(&[
        "replay",
        path.to_str().unwrap(),
        "--strategy",
        "cached",
        "--seed",
        "0",
    ]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stderr));
    assert!(text(&replay.stdout).contains("channel-refused"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fuzz_exits_0_without_a_violation_and_2_on_usage_errors() {
    let out = sshrace(&["fuzz", "fuzz-base", "--strategy", "pool", "--cases", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let out = sshrace(&["fuzz", "fuzz-base", "--strategy", "pool", "--cases", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sshrace(&["fuzz", "fuzz-base", "--strategy", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sshrace(&["fuzz", "fuzz-base"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn docker_matrix_lists_refused_scenarios_and_runs_nothing_when_all_are_refused() {
    // A fault between two targets cannot be applied to containers (the nemesis only faults the
    // client's path to a target): refused up front, naming the scenario and the fault, before
    // Docker is asked anything, so this holds on a machine without Docker too.
    let dir = temp_dir("refused");
    std::fs::write(
        dir.join("between-targets.toml"),
        "description = \"a partition between two targets\"\nstrategies = [\"pool\"]\n[sim]\nduration_ms = 60_000\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\n[[workload]]\nname = \"w\"\nhost = \"a\"\nat_ms = 1_000\nduration_ms = 1_000\n[[timeline]]\nat_ms = 10_000\nfault = \"partition\"\na = \"a\"\nb = \"b\"\n",
    )
    .unwrap();
    let out = sshrace(&[
        "matrix",
        "--scenarios",
        dir.to_str().unwrap(),
        "--seeds",
        "1",
        "--backend",
        "docker",
    ]);
    let sim = sshrace(&[
        "matrix",
        "--scenarios",
        dir.to_str().unwrap(),
        "--seeds",
        "1",
        "--format",
        "csv",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused: ") && stderr.contains("`partition` between a and b"),
        "{stderr}"
    );
    assert!(
        stderr.contains("none of the 1 scenarios can run on containers"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    // The same directory runs in the simulation, which can fault any path.
    assert_eq!(sim.status.code(), Some(0), "{}", text(&sim.stderr));
    assert!(text(&sim.stdout).contains("between-targets"));
}

#[test]
fn bench_quick_prints_every_figure_beside_its_floor() {
    // No timing assertions: only that each workload ran and printed its line.
    let out = sshrace(&["bench", "--quick"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("stepping floor"), "{stdout}");
    assert!(stdout.contains("bare russh handshake"), "{stdout}");
    assert!(stdout.contains("10 parallel SSH handshakes:"), "{stdout}");
    assert!(stdout.contains("floor 10 x bare"), "{stdout}");
    for strategy in [
        "mux-exit",
        "coolify-3600",
        "mux-exit-pr7503",
        "mux-stop",
        "pool",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{strategy}:")))
            .unwrap_or_else(|| panic!("no line for {strategy}: {stdout}"));
        assert!(line.contains("x real time"), "{line}");
        assert!(line.contains("trace events"), "{line}");
        assert!(line.contains("handshake floor"), "{line}");
        assert!(!line.contains(" 0 ops"), "{line}");
    }
    assert!(stdout.contains("peak memory"), "{stdout}");
    assert!(
        !stdout.contains("built-in matrix"),
        "--quick skips the matrix"
    );
}
