//! The example drivers of examples/drivers/: their syntax, and their protocol handling against
//! stand-ins for `ssh` (tests/fixtures/fake-ssh) and asyncssh (tests/fixtures/fake-asyncssh), so
//! no network and no PyPI package is needed. Their runs against real sshd are the container
//! tests' business.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Cause, FixedClock, Trace};
use sshrace_driver::{
    JobRequest, JobStepRequest, OpPurpose, OpRequest, Options, Program, TargetInfo,
};
use sshrace_strategy::{EventSink, MasterCommand};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn drivers() -> PathBuf {
    repository().join("examples/drivers")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn targets() -> Vec<TargetInfo> {
    vec![TargetInfo {
        name: "target".to_owned(),
        address: "127.0.0.1".to_owned(),
        port: 2222,
        users: vec!["root".to_owned()],
        key_file: PathBuf::from("/nonexistent/id"),
        known_hosts: PathBuf::from("/nonexistent/known_hosts"),
    }]
}

fn op(id: u64, command: &str) -> OpRequest {
    OpRequest {
        id,
        host: "target".to_owned(),
        user: "root".to_owned(),
        command: command.to_owned(),
        timeout: Duration::from_secs(30),
        purpose: OpPurpose::Work,
        retryable: false,
    }
}

async fn start(command: &str, trace: &Trace) -> Program {
    Program::start_with(
        command,
        &std::env::temp_dir(),
        &targets(),
        trace.clone(),
        Options {
            time_scale: 1.0 / 60.0,
            ..Options::default()
        },
    )
    .await
    .expect("the driver starts")
}

fn trace() -> Trace {
    Trace::new(Arc::new(FixedClock::default()))
}

#[test]
fn example_drivers_parse() {
    let status = Command::new("sh")
        .arg("-n")
        .arg(drivers().join("mux-age.sh"))
        .status()
        .expect("sh runs");
    assert!(status.success(), "sh -n mux-age.sh");
    let python = drivers().join("python");
    let files: Vec<PathBuf> = [
        "driver_protocol.py",
        "fresh.py",
        "cached.py",
        "pooled.py",
        "swallow.py",
    ]
    .iter()
    .map(|f| python.join(f))
    .collect();
    // ast.parse, not py_compile: nothing is written into examples/.
    let status = Command::new("python3")
        .arg("-c")
        .arg("import ast, sys\nfor p in sys.argv[1:]: ast.parse(open(p).read(), p)")
        .args(&files)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "the Python drivers parse");
    let requirements =
        std::fs::read_to_string(python.join("requirements.txt")).expect("requirements.txt");
    assert!(requirements.contains("asyncssh=="), "{requirements}");
}

/// `jq` is on the machine; missing, the test is skipped, except under `CI=true`.
fn have_jq() -> bool {
    let found = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mux-age.sh needs jq (apt-get install jq)"
        );
        eprintln!("skipped: mux-age.sh needs jq");
    }
    found
}

fn mux_age_command(recycle: &str, log: &Path) -> String {
    format!(
        "PATH={}:$PATH FAKE_SSH_LOG={} {} {recycle}",
        fixtures().join("fake-ssh").display(),
        log.display(),
        drivers().join("mux-age.sh").display()
    )
}

async fn mux_age_run(recycle: &str) -> String {
    let log = std::env::temp_dir().join(format!(
        "sshrace-driver-fake-ssh-{}-{recycle}.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log);
    let trace = trace();
    let program = start(&mux_age_command(recycle, &log), &trace).await;
    let ok = program.run(op(1, "ok")).await.expect("success");
    assert_eq!((ok.exit_status, ok.stdout_bytes), (0, 5));
    let exit = program.run(op(2, "exit 4")).await.expect("a remote exit");
    assert_eq!(exit.exit_status, 4);
    let killed = program.run(op(3, "fail")).await.expect_err("exit 255");
    assert_eq!(killed.cause, Cause::ConnectionLost, "{killed}");
    program.refresh("target").await;
    program.master("target", MasterCommand::Stop).await;
    let events = EventSink::new(5, trace.clone());
    let step = |name: &str, command: &str| JobStepRequest {
        name: name.to_owned(),
        host: "target".to_owned(),
        user: "root".to_owned(),
        command: command.to_owned(),
    };
    let report = program
        .job(
            JobRequest {
                id: 5,
                steps: vec![step("clone", "ok"), step("build", "exit 2")],
                timeout: Duration::from_secs(30),
            },
            &events,
        )
        .await;
    assert!(!report.success);
    assert_eq!(
        report.failure,
        Some(sshrace_core::FailureClass::RemoteExit(2))
    );
    assert_eq!(
        events.delivered(),
        [
            "target: clone started",
            "target: build started",
            "target: exit 2"
        ]
    );
    assert!(events.lost().is_empty());
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
    assert_eq!(
        diagnostics.exit.as_deref(),
        Some("exit status: 0"),
        "{diagnostics:?}"
    );
    let calls = std::fs::read_to_string(&log).expect("ssh was called");
    let _ = std::fs::remove_file(&log);
    calls
}

#[tokio::test]
async fn mux_age_sh_runs_requests_through_a_control_master_and_recycles_on_refresh() {
    if !have_jq() {
        return;
    }
    let calls = mux_age_run("exit").await;
    assert!(calls.contains("-o ControlMaster=auto"), "{calls}");
    // 3600 scenario seconds at 1/60: a minute.
    assert!(calls.contains("-o ControlPersist=60"), "{calls}");
    assert!(calls.contains("-O exit"), "the refresh: {calls}");
    assert!(
        calls.contains("-O stop"),
        "the timeline's master stop: {calls}"
    );
    let calls = mux_age_run("stop").await;
    assert!(!calls.contains("-O exit"), "{calls}");
}

fn python_command(driver: &str) -> String {
    format!(
        "PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={} python3 {}",
        fixtures().join("fake-asyncssh").display(),
        drivers().join("python").join(driver).display()
    )
}

/// `burst` requests at once that overlap (the stand-in holds each until all were asked for):
/// the causes of those that failed.
async fn burst(program: &Program, first_id: u64, burst: u64) -> Vec<Cause> {
    let command = format!("hold {burst}");
    let results = futures_join(
        (first_id..first_id + burst)
            .map(|id| program.run(op(id, &command)))
            .collect(),
    )
    .await;
    results
        .into_iter()
        .filter_map(|result| result.err().map(|e| e.cause))
        .collect()
}

/// Poll every future to completion, concurrently on this task.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}

#[tokio::test]
async fn fresh_py_connects_per_call() {
    let trace = trace();
    let program = start(&python_command("fresh.py"), &trace).await;
    assert_eq!(program.name(), "python3 fresh.py");
    let ok = program.run(op(1, "ok")).await.expect("success");
    assert_eq!((ok.exit_status, ok.stdout_bytes), (0, 5));
    let exit = program.run(op(2, "exit 3")).await.expect("a remote exit");
    assert_eq!(exit.exit_status, 3);
    assert!(burst(&program, 10, 13).await.is_empty());
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
    assert_eq!(diagnostics.exit.as_deref(), Some("exit status: 0"));
}

#[tokio::test]
async fn cached_py_overruns_max_sessions_and_keeps_a_dead_connection() {
    let trace = trace();
    let program = start(&python_command("cached.py"), &trace).await;
    program
        .run(op(1, "ok"))
        .await
        .expect("the warm-up connects");
    let refused = burst(&program, 10, 13).await;
    assert_eq!(refused, [Cause::ChannelRefused; 3], "11th to 13th session");
    let lost = program.run(op(30, "lost")).await.expect_err("lost");
    assert_eq!(lost.cause, Cause::ConnectionLost);
    let after = program
        .run(op(31, "ok"))
        .await
        .expect_err("no liveness check");
    assert_eq!(after.cause, Cause::ConnectionClosed, "{after}");
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
}

#[tokio::test]
async fn pooled_py_stays_under_max_sessions_and_replaces_a_dead_connection() {
    let trace = trace();
    let program = start(&python_command("pooled.py"), &trace).await;
    assert!(burst(&program, 10, 13).await.is_empty());
    let lost = program.run(op(30, "lost")).await.expect_err("lost");
    assert_eq!(lost.cause, Cause::ConnectionLost);
    program
        .run(op(31, "ok"))
        .await
        .expect("a live connection serves it");
    let events = EventSink::new(40, trace.clone());
    let step = |host: &str, command: &str| JobStepRequest {
        name: "build".to_owned(),
        host: host.to_owned(),
        user: "root".to_owned(),
        command: command.to_owned(),
    };
    let report = program
        .job(
            JobRequest {
                id: 40,
                steps: vec![step("target", "ok"), step("target", "exit 2")],
                timeout: Duration::from_secs(30),
            },
            &events,
        )
        .await;
    assert!(!report.success);
    assert_eq!(
        report.failure,
        Some(sshrace_core::FailureClass::RemoteExit(2))
    );
    assert!(events.lost().is_empty(), "narrated before done");
    assert_eq!(events.delivered().len(), 3, "{:?}", events.delivered());
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
}
