//! The vendored turmoil's "sshrace patch" on ephemeral ports (issue 19): a connect that is
//! refused or dropped before its SYN-ACK frees its port, and exhaustion is an error, never a
//! panic.

use std::time::Duration;

fn sim() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(3_600))
        .build()
}

/// A gate polling at 5 ms a control host that does not answer timed out 16,384 connects in under
/// two simulated minutes, and each held its port until the run ended: "ports exhausted".
#[test]
fn timed_out_connects_free_their_ports() {
    let mut sim = sim();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 22)).await?;
        loop {
            let _ = listener.accept().await?;
        }
    });
    sim.client("client", async {
        turmoil::hold("client", "server");
        for _ in 0..40_000 {
            let connect = turmoil::net::TcpStream::connect(("server", 22));
            let timed_out = tokio::time::timeout(Duration::from_millis(5), connect).await;
            assert!(
                timed_out.is_err(),
                "a partitioned connect does not complete"
            );
        }
        Ok(())
    });
    sim.run()
        .expect("40,000 timed-out connects, more than the 16,384 ephemeral ports");
}

#[test]
fn refused_connects_free_their_ports() {
    let mut sim = sim();
    sim.host("server", || async {
        // Nothing listens on 22: every SYN is refused.
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async {
        for _ in 0..40_000 {
            let refused = turmoil::net::TcpStream::connect(("server", 22)).await;
            assert!(refused.is_err());
        }
        Ok(())
    });
    sim.run().expect("40,000 refused connects");
}

#[test]
fn port_exhaustion_is_an_error_not_a_panic() {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(60))
        .ephemeral_ports(50_000..=50_099)
        .build();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 22)).await?;
        let mut held = Vec::new();
        loop {
            held.push(listener.accept().await?);
        }
    });
    sim.client("client", async {
        let mut open = Vec::new();
        for _ in 0..100 {
            open.push(turmoil::net::TcpStream::connect(("server", 22)).await?);
        }
        let error = turmoil::net::TcpStream::connect(("server", 22))
            .await
            .expect_err("the 101st connect finds no port");
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains("ports exhausted"), "{error}");
        drop(open);
        Ok(())
    });
    sim.run().expect("exhaustion is an error for the caller");
}
