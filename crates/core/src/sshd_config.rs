use std::time::Duration;

/// sshd settings, named after their `sshd_config` counterparts. Defaults are OpenSSH 9.2's.
///
/// The simulated sshd enforces them; the container backend writes them into `sshd_config`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshdConfig {
    /// `MaxStartups`, default `10:30:100`.
    pub max_startups: MaxStartups,
    /// `MaxSessions`: session channels per connection, default 10.
    pub max_sessions: u32,
    /// `LoginGraceTime`: a connection not authenticated after this is closed. Default 120 s.
    pub login_grace_time: Duration,
    /// `ClientAliveInterval`: probe a quiet client after this long. Default `None` (0, off).
    pub client_alive_interval: Option<Duration>,
    /// `ClientAliveCountMax`: unanswered probes before disconnecting. Default 3.
    pub client_alive_count_max: u32,
    /// Simulated server time one handshake (key exchange, authentication) costs. Default 2 ms.
    pub handshake_cost: Duration,
    /// Handshakes the server works on at once (its cores). Default 2.
    pub handshake_workers: u32,
    /// Identities (login names) whose key is revoked: their authentication fails.
    pub revoked_identities: Vec<String>,
}

impl Default for SshdConfig {
    fn default() -> Self {
        Self {
            max_startups: MaxStartups::default(),
            max_sessions: 10,
            login_grace_time: Duration::from_secs(120),
            client_alive_interval: None,
            client_alive_count_max: 3,
            handshake_cost: Duration::from_millis(2),
            handshake_workers: 2,
            revoked_identities: Vec::new(),
        }
    }
}

/// `MaxStartups start:rate:full`: with `n` unauthenticated connections, a new one is never
/// dropped below `start`, always at `full` or more, and in between with
/// [`MaxStartups::drop_percent`] percent probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MaxStartups {
    /// Unauthenticated connections below which nothing is dropped (default 10).
    pub start: u32,
    /// Drop probability in percent at `start` (default 30).
    pub rate: u32,
    /// Unauthenticated connections at which everything is dropped (default 100).
    pub full: u32,
}

impl Default for MaxStartups {
    fn default() -> Self {
        Self {
            start: 10,
            rate: 30,
            full: 100,
        }
    }
}

impl MaxStartups {
    /// Percent chance that a new connection is dropped when `startups` connections are already
    /// unauthenticated, exactly as OpenSSH's `should_drop_connection` computes it (integer
    /// arithmetic): `rate + (100 - rate) * (startups - start) / (full - start)`.
    pub fn drop_percent(&self, startups: u32) -> u32 {
        if startups < self.start {
            return 0;
        }
        if startups >= self.full || self.rate >= 100 {
            return 100;
        }
        let span = self.full - self.start;
        self.rate + (100 - self.rate) * (startups - self.start) / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_percent_follows_openssh_formula() {
        let m = MaxStartups::default();
        assert_eq!(m.drop_percent(0), 0);
        assert_eq!(m.drop_percent(9), 0);
        assert_eq!(m.drop_percent(10), 30);
        // 30 + 70 * 45 / 90 = 65
        assert_eq!(m.drop_percent(55), 65);
        // 30 + 70 * 89 / 90 = 30 + 69 (integer division)
        assert_eq!(m.drop_percent(99), 99);
        assert_eq!(m.drop_percent(100), 100);
        assert_eq!(m.drop_percent(500), 100);
    }
}
