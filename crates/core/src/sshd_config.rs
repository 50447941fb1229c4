use std::time::Duration;

/// sshd settings, named after their `sshd_config` counterparts. Defaults are OpenSSH 9.2's;
/// [`SshdConfig::for_profile`] gives another release's.
///
/// The simulated sshd enforces them; the container backend writes them into `sshd_config`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshdConfig {
    /// The OpenSSH release this sshd behaves like. Default [`OpenSshProfile::OpenSsh92`].
    pub profile: OpenSshProfile,
    /// `PerSourcePenalties` (OpenSSH 9.8 and later): `None` is `PerSourcePenalties no`, and
    /// what 9.2 does (it has no such feature).
    pub per_source_penalties: Option<PerSourcePenalties>,
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
            profile: OpenSshProfile::OpenSsh92,
            per_source_penalties: None,
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

impl SshdConfig {
    /// The defaults of `profile`: 9.2's are [`SshdConfig::default`]; 10.0 adds
    /// [`PerSourcePenalties::default`]. Every other setting has the same default in both.
    pub fn for_profile(profile: OpenSshProfile) -> Self {
        let mut config = Self::default();
        config.set_profile(profile);
        config
    }

    /// Behave like `profile`: set [`SshdConfig::profile`] and reset
    /// [`SshdConfig::per_source_penalties`] to that release's default. Other settings stay.
    pub fn set_profile(&mut self, profile: OpenSshProfile) {
        self.profile = profile;
        self.per_source_penalties = profile.per_source_penalties();
    }
}

/// An OpenSSH release the simulated sshd (and, with containers, the real one) behaves like.
/// Scenario files name it `profile = "openssh-9.2"` or `"openssh-10.0"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub enum OpenSshProfile {
    /// OpenSSH 9.2p1 (Debian bookworm): no PerSourcePenalties. The default.
    #[default]
    #[serde(rename = "openssh-9.2")]
    OpenSsh92,
    /// OpenSSH 10.0p2 (Debian trixie): PerSourcePenalties on by default.
    #[serde(rename = "openssh-10.0")]
    OpenSsh100,
}

impl OpenSshProfile {
    /// Every profile, oldest first.
    pub const ALL: [OpenSshProfile; 2] = [OpenSshProfile::OpenSsh92, OpenSshProfile::OpenSsh100];

    /// The name used in scenario files and on the command line: `"openssh-9.2"`,
    /// `"openssh-10.0"`.
    pub fn name(self) -> &'static str {
        match self {
            OpenSshProfile::OpenSsh92 => "openssh-9.2",
            OpenSshProfile::OpenSsh100 => "openssh-10.0",
        }
    }

    /// How many ClientAliveIntervals apart sshd probes a quiet client: 2 on 9.2 (its
    /// whole-second `now > last_client_time + interval` check skips every other poll timeout),
    /// 1 on 10.0. Measured against real sshd (docs/calibration.md, `client-alive-reap`).
    pub fn client_alive_period_factor(self) -> u32 {
        match self {
            OpenSshProfile::OpenSsh92 => 2,
            OpenSshProfile::OpenSsh100 => 1,
        }
    }

    /// The most a release adds, at random, to `LoginGraceTime`. OpenSSH 9.8 and later arm the
    /// grace timer with `setitimer` at `LoginGraceTime` plus a uniform draw below 4 s
    /// (`arc4random_uniform(4 * 1000000)` microseconds, sshd-session.c); 9.2 uses a plain
    /// `alarm(LoginGraceTime)`. Measured on the containers: a stalled client with
    /// LoginGraceTime 1, 2 or 4 s was closed 0.0 to 3.8 s after it on 10.0, exactly at it on 9.2.
    pub fn login_grace_jitter(self) -> Duration {
        match self {
            OpenSshProfile::OpenSsh92 => Duration::ZERO,
            OpenSshProfile::OpenSsh100 => Duration::from_secs(4),
        }
    }

    /// The profile named `name`: `"openssh-9.2"` or `"openssh-10.0"`, or the bare version
    /// (`"9.2"`, `"10.0"`) as `--openssh` takes it.
    pub fn from_name(name: &str) -> Option<Self> {
        let version = name.strip_prefix("openssh-").unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|profile| profile.version() == version)
    }

    /// The Debian suite that ships this release, whose packages the container images are built
    /// from: `"bookworm"` (9.2p1) or `"trixie"` (10.0p2).
    pub fn suite(self) -> &'static str {
        match self {
            OpenSshProfile::OpenSsh92 => "bookworm",
            OpenSshProfile::OpenSsh100 => "trixie",
        }
    }

    /// The release number: `"9.2"` or `"10.0"`.
    pub fn version(self) -> &'static str {
        match self {
            OpenSshProfile::OpenSsh92 => "9.2",
            OpenSshProfile::OpenSsh100 => "10.0",
        }
    }

    /// The identification string sshd sends: `SSH-2.0-OpenSSH_9.2p1` or `SSH-2.0-OpenSSH_10.0p2`
    /// (Debian's package versions), followed by ` sshrace`.
    pub fn server_id(self) -> &'static str {
        match self {
            OpenSshProfile::OpenSsh92 => "SSH-2.0-OpenSSH_9.2p1 sshrace",
            OpenSshProfile::OpenSsh100 => "SSH-2.0-OpenSSH_10.0p2 sshrace",
        }
    }

    /// This release's default `PerSourcePenalties`: none in 9.2 (the option arrived in 9.8),
    /// [`PerSourcePenalties::default`] in 10.0.
    pub fn per_source_penalties(self) -> Option<PerSourcePenalties> {
        match self {
            OpenSshProfile::OpenSsh92 => None,
            OpenSshProfile::OpenSsh100 => Some(PerSourcePenalties::default()),
        }
    }
}

impl std::fmt::Display for OpenSshProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `PerSourcePenalties`, as OpenSSH 10.0 enforces it (openssh-portable `srclimit.c`, `sshd.c`).
///
/// **Accrual** (`srclimit.c` `srclimit_penalise`): when an unauthenticated connection's
/// session process exits, the listener (`sshd.c` `child_reap`) maps its exit status to a
/// penalty: LoginGraceTime exceeded ([`PerSourcePenalties::grace_exceeded`]), at least one
/// failed authentication attempt ([`PerSourcePenalties::authfail`], exit status
/// `EXIT_AUTH_ATTEMPTED` set by `cleanup_exit` in `sshd-session.c`), a crash
/// ([`PerSourcePenalties::crash`]), any other pre-auth exit such as the client leaving without
/// trying a key ([`PerSourcePenalties::noauth`]). A connection that authenticated is no longer
/// tracked (`server_accept_loop`: the child's "auth done" byte calls `child_close(.., 1, ..)`),
/// so it never earns a penalty, and a connection dropped at accept (MaxStartups, or a penalty)
/// never had a child, so it earns none either. For a source with no entry, a new one expires
/// `now + secs` and is **active** only if `secs > min`. For an existing entry the seconds add
/// to its expiry, capped at `now + max`, and it becomes active once `expiry - now > min`.
///
/// **Effect** (`srclimit.c` `srclimit_penalty_check_allow`, called first in `sshd.c`
/// `drop_connection`, before MaxStartups is considered): a new connection whose source has an
/// active, unexpired entry (`expiry >= now`) is closed at once, before the banner; sshd writes
/// a best-effort `Not allowed at this time` line and logs `drop connection #N from [addr]:port
/// ... penalty: failed authentication`. An OpenSSH client reports `kex_exchange_identification:
/// Connection closed by remote host` (exit 255). Entries are removed once `expiry < now`
/// (`expire_penalties`); an inactive entry never blocks.
///
/// Sources are addresses masked to `PerSourceNetBlockSize` (default `32:128`: one address). The
/// table lives in the listener process, so a restart of sshd forgets it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PerSourcePenalties {
    /// `crash:`, for a session process that crashed before authentication. Default 90 s.
    pub crash: Duration,
    /// `authfail:`, for a connection that ended after a failed authentication attempt.
    /// Default 5 s.
    pub authfail: Duration,
    /// `noauth:`, for a connection that ended without attempting authentication. Default 1 s.
    pub noauth: Duration,
    /// `grace-exceeded:`, for a connection closed by LoginGraceTime. Default 10 s.
    pub grace_exceeded: Duration,
    /// `max:`, the most penalty a source can have outstanding. Default 600 s.
    pub max: Duration,
    /// `min:`, outstanding penalty above which it is enforced. Default 15 s.
    pub min: Duration,
    /// `PerSourcePenaltyExemptList`: sources never penalised (exact addresses here; OpenSSH
    /// takes address/mask patterns). Default empty.
    pub exempt: Vec<std::net::IpAddr>,
    /// `PerSourceNetBlockSize` for IPv4: sources are addresses masked to this many bits.
    /// Default 32.
    pub ipv4_mask_bits: u8,
    /// `PerSourceNetBlockSize` for IPv6. Default 128.
    pub ipv6_mask_bits: u8,
}

impl Default for PerSourcePenalties {
    /// OpenSSH 10.0's defaults: `crash:90 authfail:5 noauth:1 grace-exceeded:10 max:600 min:15`,
    /// no exempt list, `PerSourceNetBlockSize 32:128`.
    fn default() -> Self {
        Self {
            crash: Duration::from_secs(90),
            authfail: Duration::from_secs(5),
            noauth: Duration::from_secs(1),
            grace_exceeded: Duration::from_secs(10),
            max: Duration::from_secs(600),
            min: Duration::from_secs(15),
            exempt: Vec::new(),
            ipv4_mask_bits: 32,
            ipv6_mask_bits: 128,
        }
    }
}

impl PerSourcePenalties {
    /// The penalty table key for `address`: masked to the net block size.
    pub fn source_block(&self, address: std::net::IpAddr) -> std::net::IpAddr {
        use std::net::IpAddr;
        match address {
            IpAddr::V4(v4) => {
                let bits = u32::from(self.ipv4_mask_bits.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u32::from(self.ipv6_mask_bits.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
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
