//! shipit: deploys over SSH. The settings below are what its connection strategy runs with in
//! production; `tests/races.rs` runs that strategy through sshrace's race timelines.

use std::time::Duration;

/// Sessions open at once on one connection: below sshd's default MaxSessions (10).
pub const MAX_SESSIONS_PER_CONNECTION: usize = 8;

/// `ServerAliveInterval`: probe a quiet server this often, so a dead path is noticed.
pub const SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// `ConnectTimeout`: give up on a connection that has not authenticated by then.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
