//! Issue 19, interrupts on containers: SIGINT and SIGTERM remove the run's containers and its
//! folder `/tmp/sshrace-PID-N` (it holds the run's private key) before exiting 130 and 143;
//! after SIGKILL, `sshrace clean` removes both; `sshrace clean` leaves a live run's containers
//! alone. Each test sends a real signal to the binary.

mod common;

use common::{containers_of, folders_of};

use std::process::{Child, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;

static SERIAL: Mutex<()> = Mutex::new(());

/// A container run of three seeds, started; returns once its containers and folder exist.
fn start_container_run() -> Child {
    let child = common::command()
        .args([
            "run",
            "tests/scenarios/docker-deploy-recycle.toml",
            "--backend",
            "docker",
            "--seeds",
            "3",
            "--format",
            "csv",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshrace starts");
    let pid = child.id();
    let started = Instant::now();
    while containers_of(pid).is_empty() || folders_of(pid).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the run started no container"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

fn interrupted(sig: i32, code: i32, name: &str) {
    if !require_docker() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    let child = start_container_run();
    let pid = child.id();
    signal(&child, sig);
    let out: Output = child.wait_with_output().expect("sshrace ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {name}")),
        "{stderr}"
    );
    assert!(stderr.contains("rerun: sshrace run"), "{stderr}");
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "no container left"
    );
    assert_eq!(folders_of(pid), Vec::<String>::new(), "no folder left");
}

#[test]
fn sigint_removes_the_runs_containers_and_folder_and_exits_130() {
    interrupted(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_removes_the_runs_containers_and_folder_and_exits_143() {
    interrupted(libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn after_sigkill_clean_removes_containers_and_folder_but_spares_a_live_run() {
    if !require_docker() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    let mut child = start_container_run();
    let pid = child.id();
    // The run is alive: clean leaves its containers and folder.
    let out = common::command().arg("clean").output().expect("clean runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !containers_of(pid).is_empty(),
        "a live run's containers stay"
    );
    assert!(!folders_of(pid).is_empty(), "a live run's folder stays");
    signal(&child, libc::SIGKILL);
    child.wait().expect("killed");
    assert!(!containers_of(pid).is_empty(), "SIGKILL leaves them");
    let out = common::command().arg("clean").output().expect("clean runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "clean removed them"
    );
    assert_eq!(folders_of(pid), Vec::<String>::new(), "and the folder");
}
