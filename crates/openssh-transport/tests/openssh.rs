//! The OpenSSH client transport and russh-over-TCP against a real sshd in a container.
//! Skipped (one printed line) when `docker` is not usable, failed when `CI=true`.

/// A throwaway sshd container (main will switch these tests to the `Testbed`).
mod fixture {
    use std::net::SocketAddr;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Removes the container on drop, even when the test panics.
    pub struct Sshd {
        pub id: String,
        pub addr: SocketAddr,
    }

    impl Drop for Sshd {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
        }
    }

    fn docker_usable() -> bool {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success())
            && Command::new("docker")
                .args(["image", "inspect", "sshrace-base:bookworm"])
                .output()
                .is_ok_and(|o| o.status.success())
    }

    /// Start sshd (OpenSSH 9.2) trusting `public_key` for root, with extra sshd_config lines.
    /// `None` (after one printed line) when docker is not usable and CI is not set.
    pub fn start(test: &str, public_key: &str, extra_config: &str) -> Option<Sshd> {
        if !docker_usable() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("docker is not usable (CI=true): cannot run {test}");
            }
            println!("skipped {test}: docker (with image sshrace-base:bookworm) is not usable");
            return None;
        }
        let script = "mkdir -p /run/sshd && ssh-keygen -A >/dev/null && mkdir -p /root/.ssh \
             && echo \"$KEY\" > /root/.ssh/authorized_keys && printf '%b' \"$EXTRA\" >> /etc/ssh/sshd_config \
             && exec /usr/sbin/sshd -D -e";
        let output = Command::new("docker")
            .args([
                "run",
                "-d",
                "--label",
                "sshrace=1",
                "--label",
                "sshrace.run=dev-b",
                "-e",
                &format!("KEY={public_key}"),
                "-e",
                &format!("EXTRA={extra_config}"),
                "-p",
                "127.0.0.1::22",
                "sshrace-base:bookworm",
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("docker run");
        assert!(
            output.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let mut sshd = Sshd {
            id,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = Command::new("docker")
                .args(["logs", &sshd.id])
                .output()
                .expect("docker logs");
            if String::from_utf8_lossy(&logs.stderr).contains("Server listening") {
                break;
            }
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = Command::new("docker")
            .args(["port", &sshd.id, "22/tcp"])
            .output()
            .expect("docker port");
        let text = String::from_utf8_lossy(&port.stdout);
        let first = text.lines().next().expect("a published port").trim();
        sshd.addr = first.parse().expect("ip:port");
        Some(sshd)
    }
}

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sshrace_core::{Cause, ConnectOptions, FixedClock, SessionEvent, Trace, Transport};
use sshrace_docker::dialer::{AddressBook, TcpDialer, generate_client_key};
use sshrace_docker::proxy::FaultProxy;
use sshrace_openssh::OpenSshTransport;
use sshrace_russh::RusshTransport;

fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Some(Duration::from_secs(10)),
        identity: "root".to_owned(),
        ..ConnectOptions::default()
    }
}

struct Setup {
    _sshd: fixture::Sshd,
    transport: OpenSshTransport,
    book: AddressBook,
    trace: Trace,
    workdir: std::path::PathBuf,
}

fn setup(test: &str, extra_config: &str) -> Option<Setup> {
    let (_, private, public) = generate_client_key(1);
    let sshd = fixture::start(test, &public, extra_config)?;
    let book = AddressBook::default();
    book.set("target", sshd.addr);
    let trace = Trace::new(Arc::new(FixedClock::default()));
    let workdir = OpenSshTransport::temp_workdir().unwrap();
    let transport =
        OpenSshTransport::new(book.clone(), &private, workdir.clone(), trace.clone()).unwrap();
    Some(Setup {
        _sshd: sshd,
        transport,
        book,
        trace,
        workdir,
    })
}

/// The pid of the master process whose control socket is in `workdir` (found in /proc).
fn master_pid(workdir: &Path) -> u32 {
    let needle = format!("{}/c", workdir.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "-M") && args.iter().any(|a| a.starts_with(&needle)) {
            return pid;
        }
    }
    panic!("no master process for {}", workdir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_exec_return_exit_code_and_stdout_bytes() {
    let Some(s) = setup("connect_and_exec", "") else {
        return;
    };
    let started = Instant::now();
    let connection = s.transport.connect("target", &options()).await.unwrap();
    let connect_time = started.elapsed();
    let started = Instant::now();
    let mut session = connection.exec("printf hello; exit 3").await.unwrap();
    let mut stdout = 0;
    let exit = loop {
        match session.next().await.expect("an event").unwrap() {
            SessionEvent::Stdout(n) => stdout += n,
            SessionEvent::Stderr(n) => panic!("unexpected stderr: {n} bytes"),
            SessionEvent::Exit(code) => break code,
        }
    };
    let mux_exec = started.elapsed();
    assert_eq!((exit, stdout), (3, 5));
    assert!(session.next().await.is_none());
    drop(session);
    assert_eq!(connection.open_sessions(), 0);
    let result = connection
        .exec("echo oops >&2; exit 0")
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!((result.exit_status, result.stderr_bytes), (0, 5));
    // A direct connection for comparison: a fresh master + exec.
    let started = Instant::now();
    let direct = s.transport.connect("target", &options()).await.unwrap();
    direct.exec("true").await.unwrap().wait().await.unwrap();
    let direct_exec = started.elapsed();
    println!(
        "measured: master connect {connect_time:?}, exec over mux {mux_exec:?}, connect+exec {direct_exec:?}"
    );
    connection.check().await.unwrap();
    let text = s.trace.render();
    assert!(text.contains("c0: connect to target"), "{text}");
    assert!(text.contains("c0: authenticated to target"), "{text}");
    s.transport.shutdown().await;
    assert!(connection.is_closed() && direct.is_closed());
    let _ = &s.book;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_kills_a_session_in_flight_with_255() {
    let Some(s) = setup("close_kills", "") else {
        return;
    };
    let connection = s.transport.connect("target", &options()).await.unwrap();
    let session = connection.exec("sleep 3").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    connection.close().await;
    let error = session.wait().await.expect_err("ssh -O exit kills it");
    println!(
        "measured: -O exit -> session error in {:?}",
        started.elapsed()
    );
    // As in the simulation: a session on a master we closed is closed locally (exit 255).
    assert_eq!(error.cause, Cause::ClosedLocally, "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(connection.is_closed());
    let refused = connection.exec("true").await.err().expect("closed");
    assert_eq!(refused.cause, Cause::ConnectionClosed);
    assert!(s.trace.render().contains("c0: closed (exit)"));
    s.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_lets_the_session_finish_then_the_master_exits() {
    let Some(s) = setup("drain", "") else {
        return;
    };
    let connection = s.transport.connect("target", &options()).await.unwrap();
    let session = connection.exec("sleep 2; echo done").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    connection.drain().await;
    assert!(!connection.is_closed(), "still serving its session");
    let refused = connection.exec("true").await.err().expect("draining");
    assert_eq!(refused.cause, Cause::ConnectionClosed);
    let result = session.wait().await.unwrap();
    assert_eq!((result.exit_status, result.stdout_bytes), (0, 5));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !connection.is_closed() {
        assert!(
            Instant::now() < deadline,
            "master did not exit after draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.trace.render().contains("c0: closed (drained)"));
    s.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_check_and_its_sessions() {
    let Some(s) = setup("killed_master", "") else {
        return;
    };
    let connection = s.transport.connect("target", &options()).await.unwrap();
    connection.check().await.unwrap();
    let session = connection.exec("sleep 3").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = master_pid(&s.workdir);
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let error = session.wait().await.expect_err("255 from ssh");
    assert_eq!(error.cause, Cause::ConnectionLost, "{error}");
    assert!(connection.check().await.is_err());
    assert!(connection.is_closed());
    assert!(s.trace.render().contains("c0: lost:"));
    s.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_refusal_falls_back_to_direct_in_ssh() {
    let Some(s) = setup("max_sessions", "MaxSessions 2\n") else {
        return;
    };
    let connection = s.transport.connect("target", &options()).await.unwrap();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(connection.exec("sleep 1; echo ok").await.unwrap());
    }
    assert_eq!(connection.open_sessions(), 3);
    for session in sessions {
        let result = session.wait().await.unwrap();
        assert_eq!((result.exit_status, result.stdout_bytes), (0, 3));
        // ssh's "Session open refused" / known-hosts lines are not the remote's stderr.
        assert_eq!(result.stderr_bytes, 0);
    }
    s.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn russh_and_openssh_through_the_proxy_and_a_blackhole_keepalive_timeout() {
    let (key, private, public) = generate_client_key(2);
    let Some(sshd) = fixture::start("proxy_keepalive", &public, "") else {
        return;
    };
    let proxy = FaultProxy::start("target", sshd.addr).await.unwrap();
    let book = AddressBook::default();
    book.set("target", proxy.addr());
    let trace = Trace::new(Arc::new(FixedClock::default()));
    let russh = RusshTransport::with_key(
        TcpDialer { book: book.clone() },
        "client",
        trace.clone(),
        key,
    );
    let workdir = OpenSshTransport::temp_workdir().unwrap();
    let openssh = OpenSshTransport::new(book.clone(), &private, workdir, trace.clone()).unwrap();
    let options = ConnectOptions {
        server_alive_interval: Some(Duration::from_secs(1)),
        server_alive_count_max: 2,
        ..options()
    };
    let started = Instant::now();
    let r = russh.connect("target", &options).await.unwrap();
    let russh_connect = started.elapsed();
    let started = Instant::now();
    let result = r.exec("printf hi").await.unwrap().wait().await.unwrap();
    let russh_exec = started.elapsed();
    assert_eq!((result.exit_status, result.stdout_bytes), (0, 2));
    let o = openssh.connect("target", &options).await.unwrap();
    let result = o.exec("printf hi").await.unwrap().wait().await.unwrap();
    assert_eq!((result.exit_status, result.stdout_bytes), (0, 2));
    println!("measured: russh via proxy connect {russh_connect:?}, exec {russh_exec:?}");
    assert_eq!(proxy.live_connections(), 2);
    let r_session = r.exec("sleep 20").await.unwrap();
    let o_session = o.exec("sleep 20").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.blackhole(true, true);
    let started = Instant::now();
    let (r_result, o_result) = tokio::join!(r_session.wait(), o_session.wait());
    let r_error = r_result.expect_err("russh keepalive gives up");
    let o_error = o_result.expect_err("ssh keepalive gives up");
    println!(
        "measured: keepalive 1 s x 2 under a blackhole -> both failed after {:?}",
        started.elapsed()
    );
    assert_eq!(r_error.cause, Cause::KeepaliveTimeout, "{r_error}");
    assert_eq!(o_error.cause, Cause::KeepaliveTimeout, "{o_error}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(r.is_closed() && o.is_closed());
    proxy.heal();
    openssh.shutdown().await;
    proxy.shutdown().await;
}

/// `ssh` processes still running for `workdir` (masters, backgrounded ones included).
fn ssh_processes(workdir: &Path) -> usize {
    let needle = workdir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle.as_str()))
        })
        .count()
}

/// ControlPersist is OpenSSH's own: the master backgrounds itself, stays while a session runs,
/// exits by itself once idle (on its whole-second clock: between N-1 and N s), and the
/// transport sees it go; shutdown kills a backgrounded master that is still up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_persist_is_the_masters_own() {
    let Some(s) = setup("control_persist", "") else {
        return;
    };
    let persisted = |secs| ConnectOptions {
        control_persist: Some(Duration::from_secs(secs)),
        ..options()
    };
    let connection = s.transport.connect("target", &persisted(2)).await.unwrap();
    // Longer than ControlPersist: the master stays for its session.
    let result = connection
        .exec("sleep 3; echo done")
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!((result.exit_status, result.stdout_bytes), (0, 5));
    let idle = Instant::now();
    connection
        .check()
        .await
        .expect("still up right after its session");
    while !connection.is_closed() {
        assert!(
            idle.elapsed() < Duration::from_secs(5),
            "the master did not exit by itself"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = idle.elapsed();
    println!("ControlPersist 2 s ended {after:?} after the last session");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(3000),
        "ControlPersist 2 s ended {after:?} after the last session"
    );
    let refused = connection.exec("true").await.err().expect("exited");
    assert_eq!(refused.cause, Cause::ConnectionClosed);
    assert!(
        s.trace
            .render()
            .contains("c0: closed (ControlPersist 2s idle)"),
        "{}",
        s.trace.render()
    );
    // A master that is still persisting at the end is killed by shutdown, not left behind.
    let second = s
        .transport
        .connect("target", &persisted(3600))
        .await
        .unwrap();
    second.check().await.unwrap();
    assert!(
        ssh_processes(&s.workdir) >= 1,
        "the backgrounded master runs"
    );
    s.transport.shutdown().await;
    assert!(second.is_closed());
    let deadline = Instant::now() + Duration::from_secs(2);
    while ssh_processes(&s.workdir) > 0 {
        assert!(
            Instant::now() < deadline,
            "a backgrounded master outlived shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
