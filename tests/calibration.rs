//! The calibration suite at a small run count: for each deterministic behaviour the
//! simulation and real OpenSSH must agree (kill vs drain, the 11th session, a crash, a paused
//! sshd, the ServerAlive and ClientAlive times, LoginGraceTime and the ControlPersist expiry within their tolerance), and
//! for the statistical ones (MaxStartups at 80 parallel connections, authenticating or stalled)
//! their 95% intervals must overlap. Needs Docker (skips without it,
//! fails without it under CI=true). The full table: `sshrace calibrate` (docs/calibration.md).

use sshrace_docker::calibrate::{calibrate_probe, markdown, probes};
use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;

/// One probe set at a time: both tests use this process's containers and timings matter.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn agree(ids: &[&str], runs: u64) {
    if !require_docker() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    let rows: Vec<_> = probes()
        .iter()
        .filter(|p| ids.contains(&p.id))
        .map(|p| calibrate_probe(p, OpenSshProfile::OpenSsh92, runs, true).unwrap())
        .collect();
    assert_eq!(rows.len(), ids.len(), "every probe named exists");
    let left = sshrace_docker::clean::leftovers_of_this_process().unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    for row in &rows {
        assert_eq!(row.agree, Some(true), "\n{}", markdown(&rows));
    }
}

#[test]
fn deterministic_behaviours_agree_with_real_openssh() {
    agree(
        &[
            "mux-exit-kills",
            "mux-stop-drains",
            "max-sessions-11th",
            "crash-mid-session",
            "pause-banner-timeout",
            "keepalive-blackhole",
            "client-alive-reap",
            "login-grace",
            "control-persist-expiry",
        ],
        1,
    );
}

#[test]
fn max_startups_drop_fraction_at_80_overlaps_real_openssh() {
    agree(&["max-startups-80"], 2);
}

#[test]
fn max_startups_with_stalled_clients_at_80_overlaps_real_openssh() {
    agree(&["stalled-80"], 2);
}
