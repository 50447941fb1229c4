//! The nemesis: applies a timeline's network and host faults to a run's containers and fault
//! proxies (the runner applies the control-plane ones itself).

use std::collections::BTreeMap;
use std::sync::Mutex;

use sshrace_core::{Fault, StallLog, StalledConnection, Trace};
use sshrace_russh::stall;

use crate::dialer::{AddressBook, TcpDialer};
use crate::error::DockerError;
use crate::proxy::FaultProxy;
use crate::target::{Firewall, Testbed};

/// The faults of one run, and the stalled clients it started.
pub(crate) struct Nemesis {
    book: AddressBook,
    trace: Trace,
    stalls: StallLog,
    stall_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Nemesis {
    pub(crate) fn new(book: AddressBook, trace: Trace) -> Nemesis {
        Nemesis {
            book,
            trace,
            stalls: StallLog::default(),
            stall_tasks: Mutex::new(Vec::new()),
        }
    }

    /// Apply `fault` to `testbed` and its `proxies` now.
    pub(crate) async fn apply(
        &self,
        testbed: &Testbed,
        proxies: &BTreeMap<String, FaultProxy>,
        fault: &Fault,
    ) -> Result<(), String> {
        let e = |e: DockerError| e.to_string();
        let target_of = |a: &String, b: &String| {
            if proxies.contains_key(a) {
                a.clone()
            } else {
                b.clone()
            }
        };
        match fault {
            Fault::Partition { a, b } | Fault::Heal { a, b } => {
                let rule = if matches!(fault, Fault::Heal { .. }) {
                    Firewall::Clear
                } else {
                    Firewall::Drop {
                        inbound: true,
                        outbound: true,
                    }
                };
                testbed.iptables(&target_of(a, b), rule).await.map_err(e)
            }
            Fault::PartitionOneWay { from, to } => {
                let inbound = proxies.contains_key(to);
                let target = if inbound { to } else { from };
                testbed
                    .iptables(
                        target,
                        Firewall::Drop {
                            inbound,
                            outbound: !inbound,
                        },
                    )
                    .await
                    .map_err(e)
            }
            Fault::Crash { host } => testbed.kill(host).await.map_err(e),
            Fault::Restart { host } => {
                testbed.restart(host).await.map_err(e)?;
                let addr = testbed
                    .ssh_addr(host)
                    .ok_or_else(|| format!("no port for {host} after restart"))?;
                if let Some(proxy) = proxies.get(host) {
                    proxy.set_upstream(addr);
                }
                Ok(())
            }
            Fault::StalledClients { host, count } => {
                // Through the fault proxy, as every client connects.
                let mut tasks = self.stall_tasks.lock().expect("stall tasks lock");
                let first = tasks.len() as u32;
                for number in first..first + count {
                    let dialer = TcpDialer {
                        book: self.book.clone(),
                    };
                    let (host, log, trace) =
                        (host.clone(), self.stalls.clone(), self.trace.clone());
                    tasks.push(tokio::spawn(async move {
                        stall(&dialer, &host, number, &log, &trace).await;
                    }));
                }
                Ok(())
            }
            Fault::Pause { host } => testbed.pause(host).await.map_err(e),
            Fault::Resume { host } => testbed.unpause(host).await.map_err(e),
            Fault::NatIdleTimeout { idle } => {
                for proxy in proxies.values() {
                    proxy.set_nat_idle(*idle);
                }
                Ok(())
            }
            Fault::Latency { a, b, base, jitter } => {
                if let Some(proxy) = proxies.get(&target_of(a, b)) {
                    proxy.set_latency(*base, *jitter, 0);
                }
                Ok(())
            }
            Fault::ControlPlane { .. } => {
                Err("a control-plane fault is the runner's to apply".to_owned())
            }
        }
    }

    /// Close every stalled client's connection; what they saw, in start order.
    pub(crate) fn stop_stalled(&self) -> Vec<StalledConnection> {
        for task in self.stall_tasks.lock().expect("stall tasks lock").drain(..) {
            task.abort();
        }
        self.stalls.snapshot()
    }
}
