//! The bench's workloads run and count what they should (no timing assertions: the targets
//! live in `sshrace bench`).

use std::time::Duration;

use sshrace_sim::speed;

#[test]
fn bare_handshakes_connect_and_exec_exits_zero() {
    let measured = speed::bare_handshakes(3).expect("runtime");
    assert_eq!(measured.handshakes, 3);
    assert_eq!(measured.exits_ok, 3);
    assert!(measured.per_handshake() <= measured.per_handshake_and_exec());
}

#[test]
fn idle_floor_steps_the_whole_duration_with_no_traffic() {
    let hour = Duration::from_secs(3600);
    let tick = Duration::from_millis(100);
    let floor = speed::idle_floor(hour, tick).expect("runs");
    assert_eq!(floor.client, Some(()));
    assert!(floor.elapsed >= hour, "{:?}", floor.elapsed);
    assert!(floor.ledger.connections.is_empty());
    let idle = speed::idle_timeline(hour, tick).expect("runs");
    assert_eq!(idle.client, Some(1), "the hour's one command");
    assert!(idle.steps >= floor.steps);
}
