//! Where each host is reached now, for the transports that dial a real network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Host name -> address book shared by a run's real-network transports (russh over TCP, the
/// OpenSSH client) and the runner, which updates it (after a restart, or to point a host at its
/// fault proxy). Clones share one book.
#[derive(Debug, Clone, Default)]
pub struct AddressBook(Arc<Mutex<BTreeMap<String, SocketAddr>>>);

impl AddressBook {
    /// Point `host` at `addr` (replacing what it had).
    pub fn set(&self, host: &str, addr: SocketAddr) {
        self.0
            .lock()
            .expect("address book lock")
            .insert(host.to_owned(), addr);
    }

    /// Where `host` is reached now, if known.
    pub fn get(&self, host: &str) -> Option<SocketAddr> {
        self.0.lock().expect("address book lock").get(host).copied()
    }
}
