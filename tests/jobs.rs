//! Job runners: `swallow` reports success for a job whose step failed and loses the events it
//! emits after DONE; `propagate` fails the job and delivers everything before DONE.
//! Incident: ../shared/seeds/003_1410e0a73453f877.txt

use std::sync::Arc;

use sshrace_core::{CommandSpec, Fault, StrategyParams};
use sshrace_sim::{World, WorldConfig};
use sshrace_strategy::{
    ConnectionPolicy, EventSink, Fresh, Job, JobReport, JobRunner, JobStep, Propagate, Swallow,
};
use sshrace_tests::{env, request, secs};

/// Install on one host: clone (5 s), then build (600 s); the host crashes during the build.
fn install(
    runner: Arc<dyn JobRunner>,
) -> sshrace_sim::SimOutcome<(JobReport, Vec<String>, Vec<String>)> {
    let config = WorldConfig::new(70).target("target").fault(
        secs(60),
        Fault::Crash {
            host: "target".into(),
        },
    );
    World::run(&config, move |ctx| async move {
        let env = env(&ctx);
        let policy: Arc<dyn ConnectionPolicy> =
            Arc::new(Fresh::new(env.clone(), &StrategyParams::default()));
        let job = Job {
            id: 1,
            steps: vec![
                JobStep {
                    name: "clone".into(),
                    request: request("target", &CommandSpec::new(11, secs(5))),
                },
                JobStep {
                    name: "build".into(),
                    request: request("target", &CommandSpec::new(12, secs(600))),
                },
            ],
        };
        let events = EventSink::new(1, env.trace.clone());
        let report = runner.run(policy, &job, &events).await;
        (report, events.delivered(), events.lost())
    })
    .unwrap()
}

#[test]
fn swallow_reports_success_for_a_failed_step_and_loses_events() {
    let outcome = install(Arc::new(Swallow));
    let (report, delivered, lost) = outcome.client.unwrap();
    assert!(report.success, "the job says it succeeded");
    assert!(
        !outcome.ledger.completed_successfully(12),
        "but the build never finished: silent failure"
    );
    assert!(outcome.ledger.completed_successfully(11));
    assert_eq!(lost.len(), 1, "the per-host result narrated after DONE");
    assert!(lost[0].contains("failed"));
    assert!(delivered.iter().all(|e| !e.contains("failed")));
}

#[test]
fn propagate_fails_the_job_and_delivers_every_event() {
    let outcome = install(Arc::new(Propagate));
    let (report, delivered, lost) = outcome.client.unwrap();
    assert!(!report.success);
    assert!(report.failure.is_some());
    assert!(lost.is_empty());
    assert!(delivered.iter().any(|e| e.contains("failed")));
}
