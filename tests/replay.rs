//! Replaying one run: its timeline is a reviewed snapshot, and its Chrome trace-event export
//! has the shape Perfetto and `chrome://tracing` read and is the same byte for byte every time.

use std::collections::BTreeMap;

use serde_json::Value;
use sshrace_runner::{ChromeTrace, Registry, RunResult, builtin_scenarios, run_one};

fn replay(name: &str, strategy: &str, seed: u64) -> RunResult {
    let scenario = builtin_scenarios()
        .iter()
        .find(|b| b.name == name)
        .expect("built-in")
        .parse()
        .expect("parses");
    let spec = Registry::new()
        .resolve(&scenario, strategy, &Default::default())
        .expect("resolves");
    run_one(&scenario, &spec, seed, true).expect("runs")
}

fn chrome(result: &RunResult) -> String {
    let trace = result.trace.as_ref().expect("kept");
    ChromeTrace::from_events(&trace.events())
        .with("seed", result.seed.to_string())
        .to_json()
}

/// `sshrace replay max-sessions-one-master --strategy cached --seed 3`: one cached connection,
/// 13 parallel commands, sessions 11 to 13 refused by MaxSessions 10 and reported as exit 255.
#[test]
fn timeline_of_max_sessions_one_master_cached_seed_3() {
    let result = replay("max-sessions-one-master", "cached", 3);
    let timeline = result.trace.as_ref().expect("kept").render();
    insta::with_settings!({
        description => "sshrace replay max-sessions-one-master --strategy cached --seed 3: \
            sessions 0.11-0.13 refused by MaxSessions 10, ops 12-14 get exit 255",
    }, {
        insta::assert_snapshot!(timeline);
    });
}

/// Spans on one thread must nest (a viewer draws them as a stack), so check every pair.
fn assert_nested(spans: &[&Value]) {
    let mut by_thread: BTreeMap<(u64, u64), Vec<(u64, u64)>> = BTreeMap::new();
    for span in spans {
        let key = (span["pid"].as_u64().unwrap(), span["tid"].as_u64().unwrap());
        let start = span["ts"].as_u64().unwrap();
        by_thread
            .entry(key)
            .or_default()
            .push((start, start + span["dur"].as_u64().unwrap()));
    }
    for (thread, spans) in by_thread {
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                let disjoint = a.1 <= b.0 || b.1 <= a.0;
                let nested = (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1);
                assert!(disjoint || nested, "{thread:?}: {a:?} and {b:?} overlap");
            }
        }
    }
}

#[test]
fn chrome_trace_has_the_trace_event_shape() {
    // A crash and restart under a master: killed sessions, lost connections, global faults.
    let result = replay("stale-master-after-crash", "mux-exit", 0);
    let document: Value = serde_json::from_str(&chrome(&result)).expect("valid JSON");
    let events = document["traceEvents"]
        .as_array()
        .expect("traceEvents array");
    assert!(!events.is_empty());
    for event in events {
        for key in ["name", "ph", "ts", "pid", "tid"] {
            assert!(event.get(key).is_some(), "{key} missing in {event}");
        }
        assert!(event["ts"].is_u64() && event["pid"].is_u64() && event["tid"].is_u64());
        match event["ph"].as_str().unwrap() {
            "X" => assert!(event["dur"].is_u64(), "{event}"),
            "i" => assert!(matches!(event["s"].as_str(), Some("t" | "g")), "{event}"),
            "M" => {
                assert!(event["args"]["name"].is_string() || event["args"]["sort_index"].is_u64())
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_nested(&spans);
    let named = |prefix: &str| {
        spans
            .iter()
            .filter(|s| s["name"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    assert!(
        named("session ") > 0 && named("command of op ") > 0,
        "server spans"
    );
    assert!(
        named("connection #") > 0 && named("op ") > 0,
        "connection and operation spans"
    );
    let faults: Vec<&str> = events
        .iter()
        .filter(|e| e["s"] == "g")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(faults.iter().any(|f| f.starts_with("crash")), "{faults:?}");
    let processes: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(
        processes.contains(&"client")
            && processes.contains(&"target")
            && processes.contains(&"fault")
    );
    assert_eq!(document["displayTimeUnit"], "ms");
}

#[test]
fn chrome_trace_is_the_same_byte_for_byte_on_replay() {
    let first = chrome(&replay("max-sessions-one-master", "mux-exit", 1));
    let second = chrome(&replay("max-sessions-one-master", "mux-exit", 1));
    assert_eq!(first, second);
}
