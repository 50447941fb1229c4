//! The driver protocol against small fake programs (tests/fixtures/): a correct driver, replies
//! out of order, every violation, a program that dies, one that never answers, and jobs.
//! No assertion is about wall time: a silent program is bounded by the test's own short timeout.

use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Cause, FailureClass, FixedClock, Trace, WorkspaceStatus};
use sshrace_driver::{
    JobRequest, JobStepRequest, OpPurpose, OpRequest, Options, Program, TargetInfo, ViolationKind,
};
use sshrace_strategy::{EventSink, MasterCommand};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

fn trace() -> Trace {
    Trace::new(Arc::new(FixedClock::default()))
}

fn options() -> Options {
    Options {
        shutdown_wait: Duration::from_millis(500),
        ..Options::default()
    }
}

async fn start(command: &str, trace: &Trace) -> Program {
    Program::start_with(
        command,
        &std::env::temp_dir(),
        &targets(),
        trace.clone(),
        options(),
    )
    .await
    .expect("the program starts")
}

async fn scripted(trace: &Trace) -> Program {
    let command = format!("python3 {}", fixture("scripted.py").display());
    start(&command, trace).await
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

/// A short bound for operations a program never answers.
const SHORT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_correct_driver_replies_with_exit_status_and_bytes() {
    let trace = trace();
    let program = scripted(&trace).await;
    assert_eq!(program.name(), "python3 scripted.py");
    let ok = program.run(op(5, "ok")).await.expect("success");
    assert_eq!(
        (ok.exit_status, ok.stdout_bytes, ok.stderr_bytes),
        (0, 5, 0)
    );
    let exit = program.run(op(6, "exit 3")).await.expect("a remote exit");
    assert_eq!((exit.exit_status, exit.stderr_bytes), (3, 1));
    program.control("target", &WorkspaceStatus::running()).await;
    program.refresh("target").await;
    program.master("target", MasterCommand::Stop).await;
    // A request after them: once it is answered, they were read.
    program.run(op(7, "ok")).await.expect("success");
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
    assert!(!diagnostics.killed, "{diagnostics:?}");
    assert!(
        diagnostics
            .stderr_tail
            .contains("hello with 1 targets, time scale 1.0"),
        "{diagnostics:?}"
    );
    for said in [
        "control target CONNECTED",
        "refresh target",
        "master target stop",
    ] {
        assert!(diagnostics.stderr_tail.contains(said), "{diagnostics:?}");
    }
    assert_eq!(diagnostics.exit.as_deref(), Some("exit status: 0"));
}

#[tokio::test]
async fn concurrent_replies_out_of_order_reach_their_own_operation() {
    let trace = trace();
    let program = Arc::new(scripted(&trace).await);
    let mut tasks = Vec::new();
    for id in [11, 12, 13] {
        let program = program.clone();
        tasks.push(tokio::spawn(
            async move { program.run(op(id, "hold 3")).await },
        ));
    }
    for (task, id) in tasks.into_iter().zip([11u64, 12, 13]) {
        let result = task.await.expect("task").expect("success");
        assert_eq!(result.stdout_bytes, id * 10);
    }
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
}

#[tokio::test]
async fn errors_are_classified_as_ssh_stderr() {
    let trace = trace();
    let program = scripted(&trace).await;
    let banner = program
        .run(op(
            1,
            "error kex_exchange_identification: Connection closed by remote host",
        ))
        .await
        .expect_err("an ssh failure");
    assert_eq!(banner.cause, Cause::ClosedBeforeBanner);
    let exited = program
        .run(op(
            2,
            "error Connection to 127.0.0.1 closed by remote host.",
        ))
        .await
        .expect_err("an ssh failure");
    assert_eq!(exited.cause, Cause::ConnectionLost);
    let other = program
        .run(op(3, "error TypeError: unexpected thing"))
        .await
        .expect_err("a failure");
    assert_eq!(other.cause, Cause::ConnectionLost);
    assert!(other.message.contains("unexpected thing"), "{other}");
    let named = program
        .run(op(4, "cause connection-closed SSH connection closed"))
        .await
        .expect_err("a failure");
    assert_eq!(named.cause, Cause::ConnectionClosed);
    assert_eq!(named.message, "SSH connection closed");
    let unknown = program
        .run(op(5, "cause bad-cause open failed"))
        .await
        .expect_err("a failure");
    assert_eq!(unknown.cause, Cause::ChannelRefused);
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::Malformed),
        1,
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn garbage_lines_are_violations_and_the_reply_still_counts() {
    let trace = trace();
    let program = scripted(&trace).await;
    let result = program.run(op(1, "garbage")).await.expect("the reply");
    assert_eq!(result.exit_status, 0);
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::Malformed),
        3,
        "{diagnostics:?}"
    );
    assert_eq!(diagnostics.violation_count, 3);
    let text = trace.render();
    assert!(
        text.contains("protocol violation (malformed): not a protocol message"),
        "{text}"
    );
    assert!(text.contains("unknown message type \"bogus\""), "{text}");
    assert!(text.contains("a reply without an id"), "{text}");
}

#[tokio::test]
async fn an_unknown_id_is_a_violation() {
    let trace = trace();
    let program = scripted(&trace).await;
    program.run(op(1, "unknown")).await.expect("the reply");
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::UnknownId),
        1,
        "{diagnostics:?}"
    );
    assert_eq!(diagnostics.violation_count, 1);
}

#[tokio::test]
async fn a_duplicate_reply_is_a_violation_and_the_first_reply_counts() {
    let trace = trace();
    let program = scripted(&trace).await;
    let result = program.run(op(1, "dup")).await.expect("the first reply");
    assert_eq!((result.exit_status, result.stdout_bytes), (0, 1));
    // A request after it: its reply comes after the duplicate, so the duplicate was read.
    program.run(op(2, "ok")).await.expect("success");
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::Duplicate),
        1,
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn a_line_over_the_bound_is_skipped() {
    let trace = trace();
    let program = scripted(&trace).await;
    program
        .run(op(1, "long"))
        .await
        .expect("the reply after it");
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::LineTooLong),
        1,
        "{diagnostics:?}"
    );
    assert!(diagnostics.violations[0].detail.contains("100000 bytes"));
}

#[tokio::test]
async fn replies_of_the_other_form_fail_their_operation() {
    let trace = trace();
    let program = scripted(&trace).await;
    let error = program
        .run(op(1, "job-form"))
        .await
        .expect_err("a job's reply to a command");
    assert_eq!(error.cause, Cause::ClosedLocally);
    assert!(error.message.contains("job's reply"), "{error}");
    let events = EventSink::new(2, trace.clone());
    let report = program
        .job(
            JobRequest {
                id: 2,
                steps: vec![JobStepRequest {
                    name: "clone".to_owned(),
                    host: "target".to_owned(),
                    user: "root".to_owned(),
                    command: "job-as-command".to_owned(),
                }],
                timeout: Duration::from_secs(30),
            },
            &events,
        )
        .await;
    assert!(!report.success);
    assert_eq!(
        report.failure,
        Some(FailureClass::Transport(Cause::ClosedLocally))
    );
    let diagnostics = program.shutdown().await;
    assert_eq!(
        diagnostics.count(ViolationKind::WrongForm),
        2,
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn a_job_streams_events_and_those_after_done_are_lost() {
    let trace = trace();
    let program = scripted(&trace).await;
    let events = EventSink::new(4, trace.clone());
    let step = |name: &str, host: &str| JobStepRequest {
        name: name.to_owned(),
        host: host.to_owned(),
        user: "root".to_owned(),
        command: "sshrace-cmd op=4".to_owned(),
    };
    let report = program
        .job(
            JobRequest {
                id: 4,
                steps: vec![step("clone", "a"), step("build", "a"), step("clone", "b")],
                timeout: Duration::from_secs(30),
            },
            &events,
        )
        .await;
    assert!(report.success);
    assert_eq!(report.failure, None);
    assert_eq!(
        events.delivered(),
        ["a: clone started", "a: build started", "b: clone started"]
    );
    assert_eq!(events.lost(), ["narrated after done"]);
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
}

#[tokio::test]
async fn a_program_that_exits_early_fails_what_is_in_flight_at_once() {
    let trace = trace();
    let program = start(&fixture("exits_early.sh").display().to_string(), &trace).await;
    let error = program
        .run(op(1, "anything"))
        .await
        .expect_err("no reply from a dead program");
    assert_eq!(error.cause, Cause::ClosedLocally);
    assert!(error.message.contains("exit status: 3"), "{error}");
    assert!(error.message.contains("crashed on purpose"), "{error}");
    // Later requests fail at once too.
    let again = program.run(op(2, "anything")).await.expect_err("refused");
    assert_eq!(again.cause, Cause::ClosedLocally);
    let events = EventSink::new(3, trace.clone());
    let report = program
        .job(
            JobRequest {
                id: 3,
                steps: Vec::new(),
                timeout: Duration::from_secs(1),
            },
            &events,
        )
        .await;
    assert_eq!(
        report.failure,
        Some(FailureClass::Transport(Cause::ClosedLocally))
    );
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.exit.as_deref(), Some("exit status: 3"));
    assert!(diagnostics.stderr_tail.contains("crashed on purpose"));
}

#[tokio::test]
async fn a_program_that_dies_mid_run_fails_the_waiting_operations() {
    let trace = trace();
    let program = scripted(&trace).await;
    let mut waiting = pin!(program.run(op(1, "hold 2")));
    // One poll sends it (a timeout polls its future before its timer), before the request
    // that kills the program.
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut waiting)
            .await
            .is_err()
    );
    let died = program.run(op(2, "die")).await.expect_err("it died");
    assert!(died.message.contains("exit status: 3"), "{died}");
    let held = waiting.await.expect_err("it died");
    assert_eq!(held.cause, Cause::ClosedLocally);
    assert!(held.message.contains("giving up"), "{held}");
}

#[tokio::test]
async fn a_command_that_does_not_exist_fails_each_operation() {
    let trace = trace();
    let program = start("/nonexistent/driver --flag", &trace).await;
    let error = program.run(op(1, "ok")).await.expect_err("no program");
    assert_eq!(error.cause, Cause::ClosedLocally);
    assert!(error.message.contains("exit status: 127"), "{error}");
}

#[tokio::test]
async fn a_program_that_never_replies_is_bounded_by_the_caller_and_killed_at_shutdown() {
    let trace = trace();
    let program = start(&fixture("never_replies.sh").display().to_string(), &trace).await;
    let mut request = op(1, "ok");
    request.timeout = SHORT;
    let waited = tokio::time::timeout(SHORT, program.run(request)).await;
    assert!(waited.is_err(), "no reply: the caller's deadline fires");
    assert!(
        trace
            .render()
            .contains("no reply for 1 before its deadline"),
        "{}",
        trace.render()
    );
    let diagnostics = program.shutdown().await;
    assert!(diagnostics.killed, "{diagnostics:?}");
    assert!(
        diagnostics
            .exit
            .as_deref()
            .is_some_and(|e| e.contains("signal")),
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn a_reply_after_the_deadline_is_late_not_a_violation() {
    let trace = trace();
    let program = scripted(&trace).await;
    let waited = tokio::time::timeout(SHORT, program.run(op(1, "late"))).await;
    assert!(waited.is_err());
    // The cancel went out before this request, so the late reply comes before its reply.
    program.run(op(2, "ok")).await.expect("success");
    let diagnostics = program.shutdown().await;
    assert_eq!(diagnostics.late_messages, 1, "{diagnostics:?}");
    assert_eq!(diagnostics.violation_count, 0, "{diagnostics:?}");
}

#[tokio::test]
async fn requests_over_the_bound_and_reused_ids_fail_at_once() {
    let trace = trace();
    let program = Program::start_with(
        &format!("python3 {}", fixture("scripted.py").display()),
        &std::env::temp_dir(),
        &targets(),
        trace.clone(),
        Options {
            max_outstanding: 2,
            ..options()
        },
    )
    .await
    .expect("starts");
    let mut first = pin!(program.run(op(1, "silent")));
    let mut second = pin!(program.run(op(2, "silent")));
    // One poll registers each (a timeout polls its future before its timer).
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut first)
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut second)
            .await
            .is_err()
    );
    let over = program.run(op(3, "ok")).await.expect_err("over the bound");
    assert!(over.message.contains("in flight"), "{over}");
    let reused = program.run(op(1, "ok")).await.expect_err("id in flight");
    assert!(reused.message.contains("already in flight"), "{reused}");
    // Shutdown fails what is still in flight.
    let diagnostics = program.shutdown().await;
    let first = first.await.expect_err("shut down");
    assert!(first.message.contains("shut down"), "{first}");
    assert_eq!(diagnostics.violation_count, 0);
    let after = program.run(op(4, "ok")).await.expect_err("shut down");
    assert!(after.message.contains("shut down"), "{after}");
}
