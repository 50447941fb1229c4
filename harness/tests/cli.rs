//! The `sshrace` command line: exit codes, errors that point at the spot, machine-readable
//! output, replay lines.

use std::process::{Command, Output};

fn sshrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshrace"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("SSHRACE_SEED")
        .output()
        .expect("sshrace runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
