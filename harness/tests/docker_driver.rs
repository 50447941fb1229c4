//! Bring your own client: `--client-cmd` runs a user's program on containers, speaking the driver
//! protocol, and judges it like a built-in strategy. The example drivers reproduce their
//! incidents (and their fixed variants do not); programs that print garbage, exit early or
//! never answer get an outcome per operation and the run ends; an interrupted run leaves no
//! container, folder or program behind.

mod common;

use common::{containers_of, folders_of};

use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;

/// Container runs one at a time: their races turn on how fast a real handshake is.
static SERIAL: Mutex<()> = Mutex::new(());

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Docker and the 9.2 image, or `None` when the test must skip (never under CI=true).
fn containers() -> Option<std::sync::MutexGuard<'static, ()>> {
    if !require_docker() {
        return None;
    }
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    Some(serial)
}

/// `tool` is installed, or the test skips (fails under CI=true, where `.ci/run` installs it).
fn needs(tool: &str, check: &mut Command, how: &str) -> bool {
    let ok = check
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok || !ci(), "{tool} is missing under CI=true: {how}");
    if !ok {
        eprintln!("skipped: {tool} is missing ({how})");
    }
    ok
}

/// One row of `sshrace run SCENARIO --backend docker --client-cmd COMMAND --format json`, after
/// checking the run left nothing behind.
fn run_program(scenario: &str, command: &str, seeds: &str) -> serde_json::Value {
    let child = common::command()
        .args([
            "run",
            scenario,
            "--backend",
            "docker",
            "--client-cmd",
            command,
            "--seeds",
            seeds,
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshrace starts");
    let pid = child.id();
    let out: Output = child.wait_with_output().expect("sshrace ends");
    let stderr = common::text(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "no container left"
    );
    assert_eq!(folders_of(pid), Vec::<String>::new(), "no folder left");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "only the program runs: {report}");
    eprintln!("{command}: {}", rows[0]);
    rows[0].clone()
}

fn failures(row: &serde_json::Value) -> u64 {
    row["failures"].as_u64().expect("failures")
}

fn outcome(row: &serde_json::Value, key: &str) -> u64 {
    row["outcomes"][key].as_u64().unwrap_or(0)
}

#[test]
fn the_mux_age_driver_reproduces_the_deploy_incident_and_its_stop_variant_does_not() {
    let Some(_serial) = containers() else {
        return;
    };
    if !needs(
        "jq",
        Command::new("jq").arg("--version"),
        "apt-get install jq",
    ) {
        return;
    }
    let exit = run_program("stop-then-reap", "examples/drivers/mux-age.sh", "1");
    assert_eq!(exit["strategy"], "mux-age.sh");
    // `ssh -O exit` at a refresh kills the long jobs streaming over the master, as mux-exit's
    // are: exit 255, closed locally.
    assert!(failures(&exit) > 0, "{exit}");
    assert_eq!(outcome(&exit, "transport:closed-locally"), failures(&exit));
    assert_eq!(exit["silent_failures"], 0);
    let stop = run_program("stop-then-reap", "examples/drivers/mux-age.sh stop", "1");
    assert_eq!(stop["strategy"], "mux-age.sh stop");
    assert_eq!(failures(&stop), 0, "{stop}");
    assert_eq!(stop["operations"], exit["operations"]);
}

#[test]
fn the_asyncssh_drivers_reproduce_the_flood_the_session_limit_and_the_swallowed_job_and_the_pool_does_not()
 {
    let Some(_serial) = containers() else {
        return;
    };
    let python = std::env::var("SSHRACE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !needs(
        "asyncssh",
        Command::new(&python).args(["-c", "import asyncssh"]),
        "pip install -r examples/drivers/python/requirements.txt and set SSHRACE_TEST_PYTHON to that python",
    ) {
        return;
    }
    let driver = |name: &str| format!("{python} examples/drivers/python/{name}.py");
    // 80 fresh connections at once against MaxStartups 10:30:100: sshd drops some before the
    // banner. The pool's handshake limit keeps it under the threshold.
    let flood = "tests/scenarios/docker-flood.toml";
    let fresh = run_program(flood, &driver("fresh"), "1");
    assert!(
        outcome(&fresh, "transport:closed-before-banner") > 0,
        "{fresh}"
    );
    let pooled = run_program(flood, &driver("pooled"), "1");
    assert_eq!(failures(&pooled), 0, "{pooled}");
    // 13 commands at once over one cached connection against MaxSessions 10: three channels
    // refused. The pool opens another connection instead.
    let cached = run_program("max-sessions-one-master", &driver("cached"), "1");
    assert_eq!(outcome(&cached, "transport:channel-refused"), 3, "{cached}");
    let pooled = run_program("max-sessions-one-master", &driver("pooled"), "1");
    assert_eq!(failures(&pooled), 0, "{pooled}");
    // The installer's job form: a host crashes mid-build. swallow.py reports success (a silent
    // failure by the container's ledger) and its error event comes after DONE (lost); the
    // pool's job runner propagates the failure: loud, nothing lost.
    let install = "tests/scenarios/docker-swallowed-error.toml";
    let swallow = run_program(install, &driver("swallow"), "1");
    assert_eq!(swallow["silent_failures"], 1, "{swallow}");
    assert_eq!(swallow["lost_events"], 1, "{swallow}");
    let propagate = run_program(install, &driver("pooled"), "1");
    assert_eq!(propagate["silent_failures"], 0, "{propagate}");
    assert_eq!(propagate["lost_events"], 0, "{propagate}");
}

#[test]
fn a_program_that_prints_garbage_exits_early_or_never_answers_gets_an_outcome_per_operation() {
    let Some(_serial) = containers() else {
        return;
    };
    let scenario = "harness/tests/fixtures/driver-short.toml";
    // Garbage is skipped (and counted in the trace); nothing answers, so each operation meets
    // its deadline.
    let garbage = run_program(scenario, "harness/tests/fixtures/garbage-driver.sh", "1");
    assert_eq!(garbage["operations"], 3);
    assert_eq!(outcome(&garbage, "timeout"), 3, "{garbage}");
    // A program that dies fails what is in flight at once, and every later request.
    let early = run_program(scenario, "crates/driver/tests/fixtures/exits_early.sh", "1");
    assert_eq!(outcome(&early, "transport:closed-locally"), 3, "{early}");
    // A program that never answers: each operation times out, and shutdown kills it.
    let silent = run_program(
        scenario,
        "crates/driver/tests/fixtures/never_replies.sh",
        "1",
    );
    assert_eq!(outcome(&silent, "timeout"), 3, "{silent}");
    for row in [&garbage, &early, &silent] {
        assert_eq!(row["silent_failures"], 0, "{row}");
        assert_eq!(row["leaked_connections"], 0, "{row}");
    }
}

#[test]
fn an_interrupted_program_run_leaves_no_container_folder_or_program() {
    let Some(_serial) = containers() else {
        return;
    };
    // A copy under a name of its own, so its process can be found.
    let program = std::env::temp_dir().join(format!("never-answers-{}.sh", std::process::id()));
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/driver/tests/fixtures/never_replies.sh"
        ),
        &program,
    )
    .unwrap();
    // Removed however the test ends.
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _removed = Removed(program.clone());
    let program = program.to_str().unwrap().to_owned();
    // The program's own shell, not sshrace, whose command line names it too.
    let running = || {
        Command::new("pgrep")
            .args(["-f", &format!("^sh {program}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let child = common::command()
        .args([
            "run",
            "harness/tests/fixtures/driver-short.toml",
            "--backend",
            "docker",
            "--client-cmd",
            &format!("sh {program}"),
            "--seeds",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshrace starts");
    let pid = child.id();
    let started = Instant::now();
    while containers_of(pid).is_empty() || !running() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the run started no program"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: sends SIGINT to the child this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("sshrace ends");
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("killed 1 client program(s) of this run"),
        "{stderr}"
    );
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "no container left"
    );
    assert_eq!(folders_of(pid), Vec::<String>::new(), "no folder left");
    let gone = Instant::now();
    while running() {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the program outlived the run"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
