//! The container backend's targets against real containers: sshd settings in effect, the
//! sshrace-cmd ledger read back through `Testbed::ledger`, faults (kill, pause, restart,
//! iptables), both OpenSSH versions, and `clean`. Skips with one line without Docker, except
//! under CI=true.

use sshrace_core::{ConnectionEnd, Ledger, SessionEnd, SshdConfig};
use sshrace_docker::clean::{clean, leftovers};
use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;
use sshrace_docker::target::{Firewall, TargetSpec, Testbed};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};
use tokio::process::{Child, Command};

/// A client key made with the host's ssh-keygen, in a temp dir that lives as long as this.
struct Client {
    dir: tempfile::TempDir,
    public: String,
}

impl Client {
    fn new() -> Client {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        let public = std::fs::read_to_string(dir.path().join("id.pub")).unwrap();
        Client { dir, public }
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("id")
    }

    fn ssh(&self, testbed: &Testbed, host: &str, user: &str, extra: &[&str]) -> Command {
        let addr = testbed.ssh_addr(host).unwrap();
        let mut command = Command::new("ssh");
        command
            .arg("-i")
            .arg(self.key())
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=3",
                "-p",
                &addr.port().to_string(),
                "-l",
                user,
            ])
            .args(extra)
            .arg("127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Run `command` to the end: (exit code, stdout, stderr).
    async fn run(
        &self,
        testbed: &Testbed,
        host: &str,
        user: &str,
        command: &str,
    ) -> (i32, String, String) {
        let output = self
            .ssh(testbed, host, user, &[])
            .arg(command)
            .output()
            .await
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn spawn(&self, testbed: &Testbed, host: &str, extra: &[&str], command: &str) -> Child {
        self.ssh(testbed, host, "deploy", extra)
            .arg(command)
            .spawn()
            .unwrap()
    }
}

fn image(version: OpenSshProfile) {
    let report = ensure_image(version, &mut |line| println!("image: {line}")).unwrap();
    println!("image {version}: {report:?}");
}

fn run_id(name: &str) -> String {
    format!("test-{name}-{}", std::process::id())
}

async fn sshd_t(testbed: &Testbed, host: &str) -> String {
    testbed.exec(host, &["sshd", "-T"]).await.unwrap()
}

fn session(ledger: &Ledger, op: u64) -> &sshrace_core::SessionRecord {
    ledger
        .sessions_of(op)
        .next()
        .unwrap_or_else(|| panic!("no session for op {op} in {ledger:#?}"))
}

async fn wait_for_ledger_line(testbed: &Testbed, host: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = testbed
            .exec(host, &["cat", "/var/lib/sshrace/ledger"])
            .await
            .unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_settings_ledger_and_faults() {
    if !require_docker() {
        return;
    }
    image(OpenSshProfile::OpenSsh92);
    let id = run_id("faults");
    let client = Client::new();
    let mut alpha = TargetSpec::new("alpha");
    alpha.identities = vec!["deploy".into()];
    alpha.sshd = SshdConfig {
        max_sessions: 3,
        login_grace_time: Duration::from_millis(6_600),
        client_alive_interval: Some(Duration::from_millis(2_400)),
        client_alive_count_max: 4,
        ..SshdConfig::default()
    };
    alpha.sshd.max_startups.start = 5;
    alpha.extra_sshd_config = vec!["MaxAuthTries 2".into()];
    let mut beta = TargetSpec::new("beta");
    beta.identities = vec!["deploy".into(), "mallory".into()];
    beta.sshd.revoked_identities = vec!["mallory".into()];

    let origin = SystemTime::now();
    let started = Instant::now();
    let testbed = Testbed::start(
        &id,
        OpenSshProfile::OpenSsh92,
        &[alpha, beta],
        &client.public,
    )
    .await
    .unwrap();
    println!("2 targets ready in {:?}", started.elapsed());
    assert_eq!(testbed.run_id(), id);
    assert_eq!(testbed.version(), OpenSshProfile::OpenSsh92);
    assert_eq!(
        testbed.ssh_addr("alpha").unwrap().ip().to_string(),
        "127.0.0.1"
    );

    // The custom settings are in effect; the defaults elsewhere.
    let t = sshd_t(&testbed, "alpha").await;
    for want in [
        "maxsessions 3",
        "logingracetime 7",
        "clientaliveinterval 2",
        "clientalivecountmax 4",
        "maxstartups 5:30:100",
        "maxauthtries 2",
        "loglevel VERBOSE",
    ] {
        assert!(t.lines().any(|l| l == want), "alpha lacks {want:?}:\n{t}");
    }
    let t = sshd_t(&testbed, "beta").await;
    assert!(t.lines().any(|l| l == "maxsessions 10"), "{t}");
    assert!(t.lines().any(|l| l == "clientaliveinterval 0"), "{t}");

    // A command runs and comes back with its exit code and output.
    let (code, out, _) = client
        .run(
            &testbed,
            "alpha",
            "deploy",
            "sshrace-cmd op=7 ms=300 exit=3 out=10 err=2 chunks=2",
        )
        .await;
    assert_eq!((code, out.len()), (3, 10));
    // The revoked identity has no account: authentication fails.
    let (code, _, err) = client.run(&testbed, "beta", "mallory", "true").await;
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("Permission denied"), "{err}");

    // (1) The client dies mid-command: the command is killed with its connection.
    let mut victim = client.spawn(&testbed, "alpha", &[], "sshrace-cmd op=8 ms=10000");
    wait_for_ledger_line(&testbed, "alpha", "op=8,").await;
    victim.kill().await.unwrap();
    // (2) A mux client dies: its channel is closed, the connection stays; the command dies at
    // its next write.
    let sock = client.dir.path().join("mux.sock");
    let sock_arg = format!("ControlPath={}", sock.display());
    let master = client
        .ssh(
            &testbed,
            "alpha",
            "deploy",
            &["-fNM", "-o", &sock_arg, "-o", "ControlPersist=yes"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(master.success());
    let mut channel = client.spawn(
        &testbed,
        "alpha",
        &["-o", &sock_arg],
        "sshrace-cmd op=9 ms=10000 out=200 chunks=100",
    );
    wait_for_ledger_line(&testbed, "alpha", "op=9,").await;
    let inflight = client.spawn(
        &testbed,
        "alpha",
        &["-o", &sock_arg],
        "sshrace-cmd op=10 ms=10000",
    );
    wait_for_ledger_line(&testbed, "alpha", "op=10,").await;
    channel.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // (3) `ssh -O exit` of the master with a command in flight: the connection goes.
    let exit = Command::new("ssh")
        .args(["-o", &sock_arg, "-O", "exit", "x"])
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(exit.success());
    let inflight = inflight.wait_with_output().await.unwrap();
    assert_eq!(inflight.status.code(), Some(255));
    // (4) docker kill with a command in flight.
    let crashed = client.spawn(&testbed, "beta", &[], "sshrace-cmd op=11 ms=10000");
    wait_for_ledger_line(&testbed, "beta", "op=11,").await;
    let old = testbed.ssh_addr("beta").unwrap();
    testbed.kill("beta").await.unwrap();
    let crashed = crashed.wait_with_output().await.unwrap();
    assert_eq!(crashed.status.code(), Some(255));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let ledger = testbed.ledger(origin, 1.0).await.unwrap();
    let ok = session(&ledger, 7);
    assert_eq!(ok.end, Some(SessionEnd::Exited(3)));
    assert_eq!(ok.host, "alpha");
    assert_eq!(ok.stdout_sent, 10);
    assert_eq!(
        ok.command.as_deref(),
        Some("sshrace-cmd op=7 ms=300 exit=3 out=10 err=2 chunks=2")
    );
    let ran = ok.ended_at.unwrap() - ok.opened_at;
    assert!(
        ran >= Duration::from_millis(290) && ran < Duration::from_secs(2),
        "{ran:?}"
    );
    let connection = &ledger.connections[ok.connection as usize];
    assert_eq!(connection.host, "alpha");
    assert!(connection.authenticated_at.unwrap() <= ok.opened_at);
    assert!(connection.accepted_at <= connection.authenticated_at.unwrap());
    assert_eq!(connection.end, Some(ConnectionEnd::ClientClosed));
    assert!(connection.ended_at.unwrap() >= ok.ended_at.unwrap());
    assert!(ok.opened_at < started.elapsed());

    assert_eq!(
        session(&ledger, 8).end,
        Some(SessionEnd::KilledConnectionLost),
        "{ledger:#?}"
    );
    let closed = session(&ledger, 9);
    assert_eq!(closed.end, Some(SessionEnd::ClosedByClient), "{ledger:#?}");
    let exited = session(&ledger, 10);
    assert_eq!(
        exited.end,
        Some(SessionEnd::KilledConnectionLost),
        "{ledger:#?}"
    );
    // 9 and 10 shared the master's connection, as channels 0 and 1.
    assert_eq!(closed.connection, exited.connection);
    assert_eq!((closed.channel, exited.channel), (0, 1));
    let crash = session(&ledger, 11);
    assert_eq!(
        crash.end,
        Some(SessionEnd::KilledHostCrashed),
        "{ledger:#?}"
    );
    assert_eq!(
        ledger.connections[crash.connection as usize].end,
        Some(ConnectionEnd::HostCrashed)
    );
    assert!(
        ledger
            .connections
            .iter()
            .any(|c| c.host == "beta" && c.end == Some(ConnectionEnd::AuthFailed)),
        "{ledger:#?}"
    );
    assert!(ledger.peak_unauthenticated["alpha"] >= 1);
    assert_eq!(ledger.peak_sessions_per_connection["alpha"], 2);

    // Restart: same container, new port, works, the ledger survives.
    let started = Instant::now();
    testbed.restart("beta").await.unwrap();
    println!("restart ready in {:?}", started.elapsed());
    let new = testbed.ssh_addr("beta").unwrap();
    assert_ne!(old.port(), new.port());
    let (code, _, err) = client
        .run(&testbed, "beta", "deploy", "sshrace-cmd op=12 ms=0")
        .await;
    assert_eq!(code, 0, "{err}");
    let ledger = testbed.ledger(origin, 60.0).await.unwrap();
    assert_eq!(
        session(&ledger, 11).end,
        Some(SessionEnd::KilledHostCrashed)
    );
    assert_eq!(session(&ledger, 12).end, Some(SessionEnd::Exited(0)));
    assert!(
        session(&ledger, 12).opened_at > session(&ledger, 11).opened_at + Duration::from_secs(5)
    );

    // Pause: new clients time out in the banner exchange; unpause: they get in again.
    testbed.pause("alpha").await.unwrap();
    let (code, _, err) = client.run(&testbed, "alpha", "deploy", "true").await;
    assert_eq!(code, 255);
    assert!(err.contains("timed out"), "{err}");
    testbed.unpause("alpha").await.unwrap();
    assert_eq!(client.run(&testbed, "alpha", "deploy", "true").await.0, 0);

    // iptables: Drop (timeout), Reset (fast failure), Clear (works again).
    testbed
        .iptables(
            "alpha",
            Firewall::Drop {
                inbound: true,
                outbound: false,
            },
        )
        .await
        .unwrap();
    let (code, _, err) = client.run(&testbed, "alpha", "deploy", "true").await;
    assert_eq!(code, 255);
    assert!(err.contains("timed out"), "{err}");
    testbed.iptables("alpha", Firewall::Reset).await.unwrap();
    let t = Instant::now();
    let (code, _, err) = client.run(&testbed, "alpha", "deploy", "true").await;
    assert_eq!(code, 255, "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{:?} {err}",
        t.elapsed()
    );
    testbed.iptables("alpha", Firewall::Clear).await.unwrap();
    assert_eq!(client.run(&testbed, "alpha", "deploy", "true").await.0, 0);
    assert!(
        testbed
            .sshd_log("alpha")
            .await
            .unwrap()
            .contains("Accepted publickey")
    );

    testbed.shutdown().await;
    assert_eq!(leftovers(Some(&id)).unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_openssh_versions_start() {
    if !require_docker() {
        return;
    }
    let client = Client::new();
    for version in OpenSshProfile::ALL {
        image(version);
        // Cached: nothing to build the second time.
        let report = ensure_image(version, &mut |_| {}).unwrap();
        assert!(!report.base_built && !report.target_built, "{report:?}");
        let id = run_id(&format!("v{}", version.version()));
        let mut spec = TargetSpec::new("target");
        spec.identities = vec!["deploy".into()];
        let started = Instant::now();
        let origin = SystemTime::now();
        let testbed = Testbed::start(&id, version, &[spec], &client.public)
            .await
            .unwrap();
        println!("{version} ready in {:?}", started.elapsed());
        let (code, out, err) = client
            .run(&testbed, "target", "deploy", "sshrace-cmd op=1 ms=0 out=3")
            .await;
        assert_eq!((code, out.as_str()), (0, "xxx"), "{err}");
        let ledger = testbed.ledger(origin, 1.0).await.unwrap();
        let ran = session(&ledger, 1);
        assert_eq!(ran.end, Some(SessionEnd::Exited(0)), "{ledger:#?}");
        assert_eq!(ran.stdout_sent, 3);
        let connection = &ledger.connections[ran.connection as usize];
        assert!(connection.authenticated_at.is_some(), "{ledger:#?}");
        let sshd = testbed
            .exec("target", &["sh", "-c", "ssh -V 2>&1"])
            .await
            .unwrap();
        assert!(
            sshd.contains(&format!("OpenSSH_{}", version.version())),
            "{sshd}"
        );
        testbed.shutdown().await;
        assert!(leftovers(Some(&id)).unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_what_a_leaked_testbed_left() {
    if !require_docker() {
        return;
    }
    image(OpenSshProfile::OpenSsh92);
    let id = run_id("leak");
    let client = Client::new();
    let testbed = Testbed::start(
        &id,
        OpenSshProfile::OpenSsh92,
        &[TargetSpec::new("target")],
        &client.public,
    )
    .await
    .unwrap();
    std::mem::forget(testbed);
    assert_eq!(leftovers(Some(&id)).unwrap().len(), 1);
    assert_eq!(clean(Some(&id)).unwrap(), 1);
    assert!(leftovers(Some(&id)).unwrap().is_empty());
    assert_eq!(clean(Some(&id)).unwrap(), 0);
}

/// `docker logs --timestamps` of `host` (what `Testbed::ledger` reads).
fn timestamped_log(testbed: &Testbed, host: &str) -> String {
    let output = std::process::Command::new("docker")
        .args(["logs", "--timestamps", testbed.container_id(host).unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Captures the fixtures of `tests/ledger_fixtures.rs` (see tests/fixtures/README.md) into
/// `<dir>/openssh-<version>/<example>.{sshd.log,ledger}` and prints what the clients saw and
/// when it ran `docker kill`. Run by hand:
/// `SSHRACE_CAPTURE=dir cargo test -p sshrace-docker --test targets -- --ignored --nocapture capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes fixture material; run by hand with SSHRACE_CAPTURE=dir"]
async fn capture_fixture_material() {
    let dir = PathBuf::from(std::env::var("SSHRACE_CAPTURE").expect("SSHRACE_CAPTURE=dir"));
    std::fs::create_dir_all(&dir).unwrap();
    let client = Client::new();
    for version in OpenSshProfile::ALL {
        image(version);
        let v = version.version();
        let version_dir = dir.join(format!("openssh-{v}"));
        std::fs::create_dir_all(&version_dir).unwrap();
        let save = |testbed: &Testbed, example: &str, notes: &str| {
            let log = timestamped_log(testbed, "target");
            std::fs::write(version_dir.join(format!("{example}.sshd.log")), log).unwrap();
            let cp = std::process::Command::new("docker")
                .args([
                    "cp",
                    &format!(
                        "{}:/var/lib/sshrace/ledger",
                        testbed.container_id("target").unwrap()
                    ),
                ])
                .arg(version_dir.join(format!("{example}.ledger")))
                .status()
                .unwrap();
            assert!(cp.success());
            println!("{version} {example}:\n{notes}");
        };

        // Commands: one plain with exit 3 and output, two channels on one mux connection,
        // a third refused by MaxSessions 2, then one in flight at docker kill.
        let mut spec = TargetSpec::new("target");
        spec.identities = vec!["deploy".into()];
        spec.sshd.max_sessions = 2;
        let id = run_id(&format!("capture-commands-{v}"));
        let testbed = Testbed::start(&id, version, &[spec], &client.public)
            .await
            .unwrap();
        let mut notes = String::new();
        let (code, out, err) = client
            .run(
                &testbed,
                "target",
                "deploy",
                "sshrace-cmd op=1 ms=200 exit=3 out=10 chunks=2",
            )
            .await;
        assert_eq!((code, out.len()), (3, 10), "{err}");
        let sock = client.dir.path().join(format!("mux-{v}.sock"));
        let sock_arg = format!("ControlPath={}", sock.display());
        let master = client
            .ssh(
                &testbed,
                "target",
                "deploy",
                &["-fNM", "-o", &sock_arg, "-o", "ControlPersist=yes"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(master.success());
        let two = client.spawn(
            &testbed,
            "target",
            &["-o", &sock_arg],
            "sshrace-cmd op=2 ms=1500 out=5",
        );
        wait_for_ledger_line(&testbed, "target", "op=2,").await;
        let three = client.spawn(
            &testbed,
            "target",
            &["-o", &sock_arg],
            "sshrace-cmd op=3 ms=1000",
        );
        wait_for_ledger_line(&testbed, "target", "op=3,").await;
        let four = client
            .spawn(
                &testbed,
                "target",
                &["-o", &sock_arg],
                "sshrace-cmd op=4 ms=0",
            )
            .wait_with_output()
            .await
            .unwrap();
        notes.push_str(&format!(
            "op 4 (MaxSessions 2): exit {:?}, stderr {:?}\n",
            four.status.code(),
            String::from_utf8_lossy(&four.stderr)
        ));
        for (op, child) in [(2, two), (3, three)] {
            let out = child.wait_with_output().await.unwrap();
            notes.push_str(&format!("op {op}: exit {:?}\n", out.status.code()));
        }
        let exit = Command::new("ssh")
            .args(["-o", &sock_arg, "-O", "exit", "x"])
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(exit.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let crashed = client.spawn(&testbed, "target", &[], "sshrace-cmd op=5 ms=10000");
        wait_for_ledger_line(&testbed, "target", "op=5,").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = SystemTime::now();
        testbed.kill("target").await.unwrap();
        notes.push_str(&format!(
            "docker kill at {:?} (unix ns)\n",
            before
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = crashed.wait_with_output().await;
        save(&testbed, "commands", &notes);
        testbed.shutdown().await;

        // Before authentication: MaxStartups 1:100:1 and LoginGraceTime 1. A silent TCP
        // connection holds the one startup (a second is dropped) and is closed 2.3 s later;
        // one closes before the key exchange; an unknown user fails; then a login.
        let mut spec = TargetSpec::new("target");
        spec.identities = vec!["deploy".into()];
        spec.sshd.max_startups.start = 1;
        spec.sshd.max_startups.rate = 100;
        spec.sshd.max_startups.full = 1;
        spec.sshd.login_grace_time = Duration::from_secs(1);
        let id = run_id(&format!("capture-preauth-{v}"));
        let testbed = Testbed::start(&id, version, &[spec], &client.public)
            .await
            .unwrap();
        let addr = testbed.ssh_addr("target").unwrap();
        let held = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (code, _, err) = client.run(&testbed, "target", "deploy", "true").await;
        let mut notes = format!("second while one held: exit {code}, {err:?}\n");
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(tokio::net::TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (code, _, err) = client.run(&testbed, "target", "mallory", "true").await;
        notes.push_str(&format!("mallory: exit {code}, {err:?}\n"));
        let (code, _, err) = client
            .run(&testbed, "target", "deploy", "sshrace-cmd op=6 ms=0")
            .await;
        notes.push_str(&format!("deploy after: exit {code}, {err:?}\n"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        save(&testbed, "preauth", &notes);
        testbed.shutdown().await;
    }
}
