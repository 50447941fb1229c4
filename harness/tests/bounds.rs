//! Issue 19, bounded by construction: one test per finding. Every input past a documented limit
//! (`sshrace_core::limits`, the README's limits table) is refused before anything runs with one
//! line and exit 2; nothing panics (101) or aborts (134); SIGINT and SIGTERM stop a run with
//! its finished rows and exit 130 and 143.

mod common;

use common::{sshrace, text};

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A one-line error on stderr with exit 2, nothing on stdout, containing every `needle`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing ran: {}", text(&out.stdout));
}

/// A scenario file in a fresh folder (removed on drop).
struct File {
    dir: PathBuf,
    path: PathBuf,
}

impl File {
    fn new(name: &str, contents: &[u8]) -> File {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bounds-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        File { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const BASE: &str = r#"description = "bounds"
strategies = ["fresh"]

[sim]
duration_ms = 60000

[[host]]
name = "target"

[[workload]]
name = "deploy"
host = "target"
at_ms = 1000
"#;

/// BASE with `from` replaced by `to`, run with one seed.
fn run_with(from: &str, to: &str) -> Output {
    assert!(BASE.contains(from), "{from}");
    let file = File::new("s.toml", BASE.replacen(from, to, 1).as_bytes());
    sshrace(&["run", file.path(), "--seeds", "1"])
}

#[test]
fn the_largest_seed_count_is_refused_without_a_capacity_overflow() {
    let out = sshrace(&[
        "run",
        "max-sessions-one-master",
        "--seeds",
        "18446744073709551615",
    ]);
    assert_refused(&out, &["--seeds", "more than the limit of 100000"]);
}

#[test]
fn a_hundred_million_seeds_are_refused_at_once() {
    let started = Instant::now();
    let out = sshrace(&["run", "max-sessions-one-master", "--seeds", "0..100000000"]);
    assert_refused(&out, &["100000000 seeds", "limit of 100000"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn nan_and_out_of_range_rates_are_refused() {
    // `--flag=value` form: as two words clap would read `-1` as a flag of its own.
    for rate in ["NaN", "-1", "2", "inf"] {
        let flag = format!("--max-failure-rate={rate}");
        let out = sshrace(&["run", "max-sessions-one-master", "--seeds", "1", &flag]);
        assert_eq!(out.status.code(), Some(2), "{rate}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--max-failure-rate"), "{rate}");
    }
    for alpha in ["NaN", "0", "1", "-0.5"] {
        let out = sshrace(&[
            "compare",
            "stop-then-reap",
            "--strategy",
            "mux-exit,mux-stop",
            &format!("--alpha={alpha}"),
        ]);
        assert_eq!(out.status.code(), Some(2), "{alpha}: {}", text(&out.stderr));
    }
    let out = sshrace(&["run", "max-sessions-one-master", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_sweep_step_with_no_or_too_many_points_is_refused_before_running() {
    let sweep = |param: &str| {
        sshrace(&[
            "sweep",
            "flood-fresh-connections",
            "--strategy",
            "pool",
            "--param",
            param,
            "--seeds",
            "1",
            "--plot",
            "/dev/null",
        ])
    };
    let out = sweep("max_connections=1..2:1e-20");
    assert_refused(&out, &["more than the limit of 1000"]);
    let out = sweep("attempts=4294967296");
    assert_refused(&out, &["attempts", "more than 4294967295"]);
    let out = sweep("attempts=0");
    assert_refused(&out, &["attempts", "must be >= 1"]);
    let out = sweep("poll_interval_ms=5");
    assert_refused(&out, &["poll_interval_ms", "limit of 10 ms"]);
}

#[test]
fn zero_counts_are_refused_not_rounded_up() {
    for key in [
        "attempts",
        "max_connections",
        "max_sessions",
        "handshake_limit",
    ] {
        let out = run_with(
            "strategies = [\"fresh\"]\n",
            &format!("strategies = [\"p\"]\n[strategy.p]\nbase = \"pool\"\n{key} = 0\n"),
        );
        assert_refused(&out, &[&format!("strategy.p.{key}"), "must be >= 1"]);
    }
}

#[test]
fn a_variant_may_not_shadow_a_built_in_strategy() {
    let out = run_with(
        "strategies = [\"fresh\"]\n",
        "strategies = [\"pool\"]\n[strategy.pool]\nbase = \"fresh\"\n",
    );
    assert_refused(
        &out,
        &["s.toml:3:", "strategy.pool", "built-in strategy \"pool\""],
    );
}

#[test]
fn a_gate_poll_interval_of_five_ms_or_zero_is_refused() {
    for ms in ["5", "0"] {
        let out = run_with(
            "strategies = [\"fresh\"]\n",
            &format!(
                "strategies = [\"g\"]\n[strategy.g]\nbase = \"agent-status\"\npoll_interval_ms = {ms}\n"
            ),
        );
        assert_refused(&out, &["strategy.g.poll_interval_ms", "limit of 10 ms"]);
    }
}

#[test]
fn ten_gigabytes_of_stdout_are_refused_not_allocated() {
    let out = run_with(
        "at_ms = 1000\n",
        "at_ms = 1000\nstdout_bytes = 10000000000\n",
    );
    assert_refused(&out, &["s.toml:14:", "workload[0].stdout_bytes", "1 GiB"]);
}

#[test]
fn twenty_workloads_under_the_per_run_limit_each_are_refused_as_a_whole() {
    let mut text = BASE.replace("duration_ms = 60000", "duration_ms = 3600000");
    text = text.replace(
        "[[workload]]\nname = \"deploy\"\nhost = \"target\"\nat_ms = 1000\n",
        "",
    );
    for index in 0..20 {
        text.push_str(&format!(
            "\n[[workload]]\nname = \"w{index}\"\nhost = \"target\"\nevery_ms = 40\n"
        ));
    }
    let file = File::new("s.toml", text.as_bytes());
    let out = sshrace(&["run", file.path(), "--seeds", "1"]);
    // 90,000 arrivals each: every item alone is admitted, the second one takes the run past
    // the limit of 100,000 operations.
    assert_refused(&out, &["workload[1]", "more than the limit of 100000"]);
}

#[test]
fn a_hanging_command_with_a_huge_timeout_is_refused() {
    let out = run_with(
        "at_ms = 1000\n",
        "at_ms = 1000\nhang = true\ntimeout_ms = 9223372036854775807\n",
    );
    assert_refused(&out, &["workload[0].timeout_ms", "7 days"]);
}

#[test]
fn a_timeline_of_a_trillion_seconds_is_refused() {
    let out = run_with("duration_ms = 60000", "duration_ms = 1000000000000000");
    assert_refused(&out, &["s.toml:5:", "sim.duration_ms", "7 days"]);
}

#[test]
fn chunks_near_u32_max_and_a_million_chunks_in_one_second_are_refused() {
    let out = run_with(
        "at_ms = 1000\n",
        "at_ms = 1000\nduration_ms = 60000\nstdout_bytes = 10\nchunks = 4294967295\n",
    );
    assert_refused(&out, &["workload[0].chunks", "limit of 100000"]);
    let out = run_with(
        "at_ms = 1000\n",
        "at_ms = 1000\nduration_ms = 1000\nstdout_bytes = 10\nchunks = 100000\n",
    );
    assert_refused(&out, &["workload[0].chunks", "sim.tick_ms"]);
}

#[test]
fn ten_thousand_hosts_are_refused() {
    let mut text = BASE.to_owned();
    for index in 0..10_000 {
        text.push_str(&format!("\n[[host]]\nname = \"h{index}\"\n"));
    }
    let file = File::new("s.toml", text.as_bytes());
    let started = Instant::now();
    let out = sshrace(&["run", file.path(), "--seeds", "1"]);
    assert_refused(&out, &["host[100]", "limit of 100"]);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn tick_latency_and_handshake_cost_near_i64_max_are_refused() {
    let huge = "9223372036854775807";
    let out = run_with(
        "duration_ms = 60000",
        &format!("duration_ms = 60000\ntick_ms = {huge}"),
    );
    assert_refused(&out, &["sim.tick_ms", "limit of 1000 ms"]);
    let out = run_with(
        "duration_ms = 60000",
        &format!("duration_ms = 60000\nlatency_ms = {huge}"),
    );
    assert_refused(&out, &["sim.latency_ms", "limit of 60000 ms"]);
    let out = run_with(
        "name = \"target\"\n",
        &format!("name = \"target\"\nhandshake_cost_ms = {huge}\n"),
    );
    assert_refused(&out, &["host[0].handshake_cost_ms", "limit of 60000 ms"]);
}

#[test]
fn names_outside_the_documented_characters_are_refused() {
    for name in ["deploy, v2", "a|b", "two\\nlines", "tab\\there"] {
        let out = run_with("name = \"deploy\"", &format!("name = \"{name}\""));
        assert_refused(&out, &["workload[0].name", "A-Z a-z 0-9 _ -"]);
    }
    let long = "x".repeat(65);
    let out = run_with("name = \"deploy\"", &format!("name = \"{long}\""));
    assert_refused(&out, &["workload[0].name", "more than 64"]);
}

#[test]
fn a_duplicate_key_is_named() {
    let out = run_with("at_ms = 1000\n", "at_ms = 1000\nat_ms = 2000\n");
    assert_refused(&out, &["s.toml:14:", "duplicate key", "at_ms"]);
}

#[test]
fn invalid_utf8_is_reported_with_its_line_and_offset() {
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("bounds").unwrap();
    bytes[at] = 0xff;
    let file = File::new("s.toml", &bytes);
    let out = sshrace(&["run", file.path(), "--seeds", "1"]);
    assert_refused(&out, &["s.toml:1:16:", &format!("byte {at}"), "UTF-8"]);
}

#[test]
fn dev_zero_is_refused_before_it_is_read() {
    let started = Instant::now();
    let out = sshrace(&["run", "/dev/zero", "--seeds", "1"]);
    assert_refused(&out, &["/dev/zero", "1 MiB"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn messages_name_no_internal_type() {
    let out = run_with("[sim]\nduration_ms = 60000\n", "sim = []\n");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("Raw"), "{stderr}");
    assert!(stderr.contains("sim"), "{stderr}");
}

#[test]
fn a_profile_written_as_a_number_says_what_to_write() {
    let out = run_with("[sim]", "profile = 9.2\n[sim]");
    assert_refused(&out, &["profile", "profile = \"openssh-9.2\""]);
}

/// Start a long simulated matrix, send `signal` once it has finished some runs, and return
/// its output.
fn interrupted(signal: i32) -> Output {
    let child = common::command()
        .args([
            "matrix", "--seeds", "0..400", "--format", "csv", "--jobs", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshrace starts");
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let started = Instant::now();
    let out = child.wait_with_output().expect("sshrace ends");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ends soon after the signal"
    );
    out
}

fn assert_interrupted(out: &Output, code: i32, name: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {name}: INCOMPLETE")),
        "{stderr}"
    );
    assert!(
        stderr.contains("rerun: sshrace matrix --seeds 0..400 --format csv --jobs 1"),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("scenario,strategy,backend,"), "{stdout}");
    assert!(stdout.lines().count() >= 2, "the finished rows: {stdout}");
}

#[test]
fn sigint_prints_the_finished_rows_marked_incomplete_and_exits_130() {
    assert_interrupted(&interrupted(libc::SIGINT), 130, "SIGINT");
}

#[test]
fn sigterm_prints_the_finished_rows_marked_incomplete_and_exits_143() {
    assert_interrupted(&interrupted(libc::SIGTERM), 143, "SIGTERM");
}
