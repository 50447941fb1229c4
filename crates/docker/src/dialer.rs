//! russh over real TCP: a [`Dialer`] for [`sshrace_russh::RusshTransport`] that connects to the
//! address a shared [`AddressBook`] gives for a host (a target's published port, or its fault
//! proxy), and the run's client key.

use std::io;

use async_trait::async_trait;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
pub use sshrace_core::AddressBook;
use sshrace_russh::Dialer;
use tokio::net::TcpStream;

/// `sshrace_russh::Dialer` over tokio TCP to the address book's address (`TCP_NODELAY` set).
#[derive(Debug, Clone, Default)]
pub struct TcpDialer {
    /// Where each host is.
    pub book: AddressBook,
}

#[async_trait]
impl Dialer for TcpDialer {
    type Stream = TcpStream;

    async fn dial(&self, host: &str) -> io::Result<TcpStream> {
        let addr = self.book.get(host).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("ssh: Could not resolve hostname {host}: no address for it"),
            )
        })?;
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A run's client key, derived from `seed` (same seed, same key): an Ed25519 key as russh uses
/// it, its OpenSSH private key file text (`-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted,
/// for `ssh -i`), and its public half as one `authorized_keys` line
/// (`ssh-ed25519 AAAA... sshrace`).
pub fn generate_client_key(seed: u64) -> (PrivateKey, String, String) {
    let mut bytes = [0u8; 32];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&bytes));
    key.set_comment("sshrace");
    let private = key
        .to_openssh(LineEnding::LF)
        .expect("an Ed25519 key encodes as OpenSSH")
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .expect("an Ed25519 public key encodes as OpenSSH");
    (key, private, public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_key_is_deterministic_and_openssh_encoded() {
        let (key, private, public) = generate_client_key(7);
        let (_, again, _) = generate_client_key(7);
        let (_, other, _) = generate_client_key(8);
        assert_eq!(private, again);
        assert_ne!(private, other);
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(private.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
        assert!(public.ends_with(" sshrace"), "{public}");
        let parsed = PrivateKey::from_openssh(&private).expect("parses back");
        assert_eq!(parsed.public_key(), key.public_key());
    }

    #[test]
    fn address_book_is_shared_between_clones() {
        let book = AddressBook::default();
        let dialer = TcpDialer { book: book.clone() };
        book.set("target", "127.0.0.1:2222".parse().unwrap());
        assert_eq!(dialer.book.get("target"), book.get("target"));
        assert_eq!(book.get("other"), None);
    }
}
