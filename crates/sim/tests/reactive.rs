//! The vendored turmoil's "sshrace patch" on reactive hosts (issue 21): a host marked
//! `Sim::set_reactive` is not run on steps that deliver nothing to it while none of its spawned
//! tasks is alive, and what it does and sees when it is run is what it would do and see had it
//! run every step.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A server that answers each line with its own clock: milliseconds since its software started.
async fn clock_server() -> turmoil::Result {
    let start = tokio::time::Instant::now();
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 80)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await?;
        let reply = format!("{}\n", start.elapsed().as_millis());
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The same server, but each connection is a spawned task that waits 5 s before answering (an
/// sshd's connection with a timer).
async fn slow_clock_server() -> turmoil::Result {
    let start = tokio::time::Instant::now();
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 80)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let reply = format!("{}\n", start.elapsed().as_millis());
            write.write_all(reply.as_bytes()).await?;
            Ok::<_, std::io::Error>(())
        });
    }
}

/// Connects to the server and returns the clock it answers with.
async fn ask_clock() -> Result<u128, Box<dyn std::error::Error>> {
    let stream = turmoil::net::TcpStream::connect(("server", 80)).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(b"now?\n").await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    Ok(line.trim().parse()?)
}

/// Asks `server` (reactive, or run every step) for its clock at each of `at` (milliseconds of
/// the client's): its answers, and the client's clock when each arrived.
fn ask_at<F, Fut>(
    server: F,
    reactive: bool,
    at: &'static [u64],
    duration: Duration,
) -> Vec<(u128, u128)>
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = turmoil::Result> + 'static,
{
    let mut sim = turmoil::Builder::new()
        .simulation_duration(duration)
        .tick_duration(Duration::from_millis(10))
        .min_message_latency(Duration::from_millis(3))
        .max_message_latency(Duration::from_millis(25))
        .rng_seed(21)
        .build();
    sim.host("server", server);
    if reactive {
        sim.set_reactive("server");
    }
    let answers = Rc::new(RefCell::new(Vec::new()));
    let client_answers = answers.clone();
    sim.client("client", async move {
        let start = tokio::time::Instant::now();
        for &at in at {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            let server = ask_clock().await?;
            client_answers
                .borrow_mut()
                .push((server, start.elapsed().as_millis()));
        }
        Ok(())
    });
    sim.run().expect("the simulation runs");
    answers.take()
}

/// The server sat out almost every step of an hour; its clock was caught up before each
/// request, so its answers are the ones it gives when run every step.
#[test]
fn a_reactive_host_answers_as_if_run_every_step() {
    let ask = |reactive| {
        ask_at(
            clock_server,
            reactive,
            &[500, 30_000, 3_600_000],
            Duration::from_secs(7_200),
        )
    };
    let every_step = ask(false);
    assert_eq!(every_step.len(), 3);
    assert!(
        every_step[2].0 >= 3_600_000,
        "the server's clock at the last request: {every_step:?}"
    );
    assert_eq!(ask(true), every_step);
}

/// While a spawned task waits on its timer the host runs every step, so the timer fires on time
/// though nothing is delivered to the host meanwhile.
#[test]
fn a_reactive_host_runs_while_a_spawned_task_is_alive() {
    let ask = |reactive| {
        ask_at(
            slow_clock_server,
            reactive,
            &[500, 30_000],
            Duration::from_secs(120),
        )
    };
    let every_step = ask(false);
    assert_eq!(every_step.len(), 2);
    assert!(
        every_step[0].0 >= 5_500,
        "the first answer waited its 5 s: {every_step:?}"
    );
    assert_eq!(ask(true), every_step);
}

/// A bounced reactive host restarts its software at once (it binds its listener again) though
/// nothing is delivered to it.
#[test]
fn a_bounced_reactive_host_runs_its_software_again() {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host("server", clock_server);
    sim.set_reactive("server");
    sim.client("client", async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let server = ask_clock().await?;
        // Bounced at 1 s: its software's clock started then.
        assert!(
            (8_900..=9_100).contains(&server),
            "server clock {server} ms"
        );
        Ok(())
    });
    for _ in 0..1_000 {
        sim.step().expect("a step");
    }
    sim.bounce("server");
    sim.run().expect("the client reaches the restarted server");
}
