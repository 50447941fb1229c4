//! Every timeline fault the container backend supports, applied to real containers and observed
//! by a strategy, each checked on the simulation too with the same
//! expectation: pause/resume (`docker pause`), crash/restart (`docker kill`, start, new port),
//! partition (iptables DROP in the container), NAT idle drops and latency (the userspace fault
//! proxy). Control-plane faults are covered by docker_incidents (agent flap).

use std::sync::Mutex;
use std::time::Duration;

use sshrace_core::{Cause, Outcome};
use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;
use sshrace_docker::{Client, DockerRun, plan_docker, run_docker};
use sshrace_runner::scaled_params;
use sshrace_runner::{Registry, RunResult, run_one};
use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

static SERIAL: Mutex<()> = Mutex::new(());

fn scenario(name: &str, body: &str) -> Scenario {
    let text = format!(
        "description = \"{name}\"\nstrategies = [\"fresh\"]\n[[host]]\nname = \"target\"\n{body}"
    );
    Scenario::from_str(&text, &format!("{name}.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The run on the simulation (seed 0) and, when Docker is here, on containers at `scale`.
fn both(scenario: &Scenario, strategy: &str, client: Client, scale: f64) -> Vec<RunResult> {
    let sim_spec = Registry::new()
        .resolve(scenario, strategy, &Default::default())
        .unwrap();
    let mut results = vec![run_one(scenario, &sim_spec, 0, false).unwrap()];
    if require_docker() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (spec, options) = on_containers(scenario, strategy, client, scale);
        results.push(run_docker(scenario, &spec, 0, &options, false).unwrap());
        assert_no_leftovers();
    }
    results
}

/// The image, the strategy at `scale` and the run settings for `scenario` on OpenSSH 9.2.
fn on_containers(
    scenario: &Scenario,
    strategy: &str,
    client: Client,
    scale: f64,
) -> (StrategySpec, DockerRun) {
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    let scale = plan_docker(scenario, Some(scale)).expect("runs on containers");
    let spec = Registry::new()
        .resolve(scenario, strategy, &scaled_params(scale))
        .unwrap();
    let options = DockerRun {
        openssh: OpenSshProfile::OpenSsh92,
        time_scale: scale,
        client,
    };
    (spec, options)
}

fn assert_no_leftovers() {
    let left = sshrace_docker::clean::leftovers_of_this_process().unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// Outcome of each operation by workload item name.
fn by_item(run: &RunResult, item: &str) -> Vec<Outcome> {
    run.operations
        .iter()
        .filter(|(r, _)| r.workload == item)
        .map(|(_, o)| *o)
        .collect()
}

fn label(run: &RunResult) -> String {
    format!(
        "{} backend: {:?}",
        run.backend,
        run.operations
            .iter()
            .map(|(r, o)| format!("{} {}", r.workload, o.key()))
            .collect::<Vec<_>>()
    )
}

#[test]
fn a_paused_sshd_times_out_new_clients_and_answers_again_after_resume() {
    let s = scenario(
        "pause",
        "[sim]\nduration_ms = 40_000\ntick_ms = 10\n\
         [[workload]]\nname = \"during\"\nhost = \"target\"\nat_ms = 5_000\nduration_ms = 500\ntimeout_ms = 30_000\n\
         [[workload]]\nname = \"after\"\nhost = \"target\"\nat_ms = 30_000\nduration_ms = 500\ntimeout_ms = 9_000\n\
         [[timeline]]\nat_ms = 2_000\nfault = \"pause\"\nhost = \"target\"\n\
         [[timeline]]\nat_ms = 25_000\nfault = \"resume\"\nhost = \"target\"\n",
    );
    for run in both(&s, "fresh", Client::OpenSsh, 0.2) {
        assert_eq!(
            by_item(&run, "during"),
            vec![Outcome::Transport(Cause::ConnectTimeout)],
            "{}",
            label(&run)
        );
        assert_eq!(
            by_item(&run, "after"),
            vec![Outcome::Success],
            "{}",
            label(&run)
        );
    }
}

/// A 20 s session from 1 s, `timeline` from 8 s, one short command at 30 s: on both backends
/// the session dies with its host and the later command is served.
fn session_dies_and_the_host_serves_again(name: &str, timeline: &str) {
    let s = scenario(
        name,
        &format!(
            "[sim]\nduration_ms = 40_000\ntick_ms = 10\n\
             [[workload]]\nname = \"killed\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 20_000\ntimeout_ms = 30_000\n\
             [[workload]]\nname = \"after\"\nhost = \"target\"\nat_ms = 30_000\nduration_ms = 500\ntimeout_ms = 9_000\n\
             {timeline}"
        ),
    );
    for run in both(&s, "fresh", Client::OpenSsh, 0.2) {
        assert_eq!(
            by_item(&run, "killed"),
            vec![Outcome::Transport(Cause::ConnectionLost)],
            "{}",
            label(&run)
        );
        assert_eq!(
            by_item(&run, "after"),
            vec![Outcome::Success],
            "{}",
            label(&run)
        );
    }
}

#[test]
fn a_crashed_host_kills_its_sessions_and_serves_again_after_restart() {
    session_dies_and_the_host_serves_again(
        "crash",
        "[[timeline]]\nat_ms = 8_000\nfault = \"crash\"\nhost = \"target\"\n\
         [[timeline]]\nat_ms = 20_000\nfault = \"restart\"\nhost = \"target\"\n",
    );
}

/// `restart` of a running host bounces it, as an sshd restart under load does (the simulation's
/// turmoil bounce; on containers `docker kill`, wait for it to stop, start): its sessions die and
/// it serves again. Found by the first full docker matrix: `docker start` on the running
/// container did nothing, so sshd-restart-under-load never restarted anything on containers.
#[test]
fn a_restart_of_a_running_host_bounces_it() {
    session_dies_and_the_host_serves_again(
        "bounce",
        "[[timeline]]\nat_ms = 8_000\nfault = \"restart\"\nhost = \"target\"\n",
    );
}

#[test]
fn a_partition_is_found_by_keepalives_and_not_without_them() {
    // iptables DROP both ways inside the container: the session stalls, half-open. With
    // ServerAliveInterval 2 s x 3 the client gives up about 6-8 s later; without keepalives
    // the operation hits its deadline.
    let s = scenario(
        "partition",
        "[sim]\nduration_ms = 40_000\ntick_ms = 10\n\
         [strategy.fresh-keepalive]\nbase = \"pool\"\nkeepalive_interval_ms = 2_000\nkeepalive_count = 3\n\
         [[workload]]\nname = \"session\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 30_000\ntimeout_ms = 36_000\n\
         [[timeline]]\nat_ms = 5_000\nfault = \"partition\"\na = \"client\"\nb = \"target\"\n",
    );
    for run in both(&s, "fresh-keepalive", Client::Russh, 0.5) {
        assert_eq!(
            by_item(&run, "session"),
            vec![Outcome::Transport(Cause::KeepaliveTimeout)],
            "{}",
            label(&run)
        );
        let (record, _) = &run.operations[0];
        let detected = record
            .finished
            .unwrap()
            .saturating_sub(Duration::from_secs(5));
        assert!(
            detected >= Duration::from_secs(5) && detected <= Duration::from_secs(12),
            "keepalive found the partition {detected:?} after it began: {}",
            label(&run)
        );
    }
    for run in both(&s, "fresh", Client::Russh, 0.5) {
        assert_eq!(
            by_item(&run, "session"),
            vec![Outcome::Timeout],
            "{}",
            label(&run)
        );
    }
}

#[test]
fn a_nat_forgets_a_quiet_flow_unless_keepalives_keep_it() {
    // The proxy drops flows idle for 10 s: a 20 s silent command's exit status never arrives
    // on a connection without keepalives; keepalives every 4 s keep the flow alive.
    let s = scenario(
        "nat",
        "[sim]\nduration_ms = 40_000\ntick_ms = 10\n\
         [strategy.pool-keepalive]\nbase = \"pool\"\nkeepalive_interval_ms = 4_000\n\
         [[workload]]\nname = \"quiet\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 20_000\ntimeout_ms = 30_000\n\
         [[timeline]]\nat_ms = 0\nfault = \"nat-idle-timeout\"\nidle_ms = 10_000\n",
    );
    for run in both(&s, "fresh", Client::Russh, 0.5) {
        assert_eq!(
            by_item(&run, "quiet"),
            vec![Outcome::Timeout],
            "{}",
            label(&run)
        );
    }
    for run in both(&s, "pool-keepalive", Client::Russh, 0.5) {
        assert_eq!(
            by_item(&run, "quiet"),
            vec![Outcome::Success],
            "{}",
            label(&run)
        );
    }
}

#[test]
fn latency_on_the_path_slows_every_round_trip() {
    let plain = scenario(
        "fast",
        "[sim]\nduration_ms = 20_000\ntick_ms = 10\n\
         [[workload]]\nname = \"op\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 1_000\ntimeout_ms = 15_000\n",
    );
    let slow = scenario(
        "slow",
        "[sim]\nduration_ms = 20_000\ntick_ms = 10\n\
         [[workload]]\nname = \"op\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 1_000\ntimeout_ms = 15_000\n\
         [[timeline]]\nat_ms = 0\nfault = \"latency\"\na = \"client\"\nb = \"target\"\nbase_ms = 400\n",
    );
    let took = |run: &RunResult| {
        let (record, outcome) = &run.operations[0];
        assert_eq!(*outcome, Outcome::Success, "{}", label(run));
        record.finished.unwrap() - record.started
    };
    let fast: Vec<Duration> = both(&plain, "fresh", Client::Russh, 0.5)
        .iter()
        .map(took)
        .collect();
    let slowed: Vec<Duration> = both(&slow, "fresh", Client::Russh, 0.5)
        .iter()
        .map(took)
        .collect();
    for (fast, slowed) in fast.iter().zip(&slowed) {
        // A connect, key exchange, auth and exec take several round trips of 800 ms each.
        assert!(
            *slowed >= *fast + Duration::from_millis(2_400),
            "400 ms one-way latency added only {:?} ({fast:?} -> {slowed:?})",
            slowed.saturating_sub(*fast)
        );
    }
}

// Two container runs at once, as `--jobs 2` makes them, each with its own seed (its own key and
// its own targets). They once shared the ssh client's workdir: the second run's key replaced
// the first's, and both used `c0.sock`, so one run's sessions failed to authenticate or reached
// the other run's target (auth failures and silent failures in a parallel matrix). Each run's
// every command must succeed, by its own containers' ledger.
#[test]
fn two_container_runs_at_once_keep_to_their_own_key_and_targets() {
    let s = scenario(
        "parallel",
        "[sim]\nduration_ms = 14_000\ntick_ms = 10\n\
         [[workload]]\nname = \"calls\"\nhost = \"target\"\nevery_ms = 1_000\nstart_ms = 1_000\nuntil_ms = 10_000\n\
         duration_ms = 300\ntimeout_ms = 4_000\n",
    );
    if !require_docker() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (spec, options) = on_containers(&s, "fresh", Client::OpenSsh, 1.0);
    let runs: Vec<RunResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|seed| {
                let (s, spec, options) = (&s, &spec, &options);
                scope.spawn(move || run_docker(s, spec, seed, options, false).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_no_leftovers();
    for run in &runs {
        let calls = by_item(run, "calls");
        assert!(calls.len() >= 9, "seed {}: {}", run.seed, label(run));
        assert!(
            calls.iter().all(|o| *o == Outcome::Success),
            "seed {}: {}",
            run.seed,
            label(run)
        );
    }
}
