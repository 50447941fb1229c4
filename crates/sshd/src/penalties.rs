//! The PerSourcePenalties table of one sshd listener (OpenSSH 10.0), on the simulation's clock.
//!
//! A transcription of openssh-portable `srclimit.c` (`srclimit_penalise`,
//! `srclimit_penalty_check_allow`, `expire_penalties`) for one address family at a time; the
//! rules are stated on [`PerSourcePenalties`]. Times are the run's clock (`Duration` since the
//! start), where OpenSSH uses `monotime_double()`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use sshrace_core::PerSourcePenalties;

/// Why a connection earned a penalty: `sshd.c` `child_reap`'s mapping of the session
/// process's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PenaltyKind {
    /// Exit status `EXIT_AUTH_ATTEMPTED`: at least one authentication attempt failed.
    AuthFail,
    /// Exit status `EXIT_LOGIN_GRACE`: LoginGraceTime passed before authentication.
    GraceExceeded,
    /// Any other pre-authentication exit, e.g. the client left without trying a key.
    NoAuth,
}

impl PenaltyKind {
    /// The reason OpenSSH records and logs with the drop (`srclimit_penalise`).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            PenaltyKind::AuthFail => "penalty: failed authentication",
            PenaltyKind::GraceExceeded => "penalty: exceeded LoginGraceTime",
            PenaltyKind::NoAuth => "penalty: connections without attempting authentication",
        }
    }

    fn seconds(self, config: &PerSourcePenalties) -> Duration {
        match self {
            PenaltyKind::AuthFail => config.authfail,
            PenaltyKind::GraceExceeded => config.grace_exceeded,
            PenaltyKind::NoAuth => config.noauth,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    expiry: Duration,
    active: bool,
    reason: &'static str,
}

/// Penalised source blocks, each with its expiry (`struct penalty`).
#[derive(Debug)]
pub(crate) struct PenaltyTable {
    config: PerSourcePenalties,
    entries: BTreeMap<IpAddr, Entry>,
}

/// What [`PenaltyTable::penalise`] did, for the trace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Penalised {
    /// Seconds outstanding after this penalty.
    pub(crate) outstanding: Duration,
    /// Whether the entry now blocks new connections.
    pub(crate) active: bool,
    /// Whether this penalty is what made it active.
    pub(crate) activated: bool,
}

impl PenaltyTable {
    pub(crate) fn new(config: PerSourcePenalties) -> Self {
        Self {
            config,
            entries: BTreeMap::new(),
        }
    }

    /// `expire_penalties`: forget every entry with `expiry < now`.
    fn expire(&mut self, now: Duration) {
        self.entries.retain(|_, entry| entry.expiry >= now);
    }

    /// `srclimit_penalty_check_allow`: `Err(reason)` if a new connection from `source` must be
    /// dropped at `now`.
    pub(crate) fn check_allow(
        &mut self,
        source: IpAddr,
        now: Duration,
    ) -> Result<(), &'static str> {
        if self.config.exempt.contains(&source) {
            return Ok(());
        }
        self.expire(now);
        match self.entries.get(&self.config.source_block(source)) {
            Some(entry) if entry.active => Err(entry.reason),
            _ => Ok(()),
        }
    }

    /// `srclimit_penalise`: charge `kind` to `source` at `now`. `None` if exempt or the
    /// penalty is zero.
    pub(crate) fn penalise(
        &mut self,
        source: IpAddr,
        kind: PenaltyKind,
        now: Duration,
    ) -> Option<Penalised> {
        if self.config.exempt.contains(&source) {
            return None;
        }
        let seconds = kind.seconds(&self.config);
        if seconds.is_zero() {
            return None;
        }
        self.expire(now);
        let (min, max) = (self.config.min, self.config.max);
        let block = self.config.source_block(source);
        let reason = kind.reason();
        let Some(entry) = self.entries.get_mut(&block) else {
            // A new entry is active only if this one penalty exceeds `min`.
            let active = seconds > min;
            self.entries.insert(
                block,
                Entry {
                    expiry: now + seconds,
                    active,
                    reason,
                },
            );
            return Some(Penalised {
                outstanding: seconds,
                active,
                activated: active,
            });
        };
        // An existing entry accumulates, up to `max` outstanding, and activates above `min`.
        entry.expiry += seconds;
        if entry.expiry.saturating_sub(now) > max {
            entry.expiry = now + max;
        }
        let outstanding = entry.expiry.saturating_sub(now);
        let activated = !entry.active && outstanding > min;
        if activated {
            entry.active = true;
        }
        entry.reason = reason;
        Some(Penalised {
            outstanding,
            active: entry.active,
            activated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn source() -> IpAddr {
        IpAddr::from([192, 168, 0, 1])
    }

    #[test]
    fn four_quick_auth_failures_activate_and_the_block_lasts_until_expiry() {
        let mut table = PenaltyTable::new(PerSourcePenalties::default());
        // 5, then 10 - 0.1, then 15 - 0.2 (not above 15): still deferred.
        for (i, at) in [0.0, 0.1, 0.2].into_iter().enumerate() {
            let p = table
                .penalise(source(), PenaltyKind::AuthFail, secs(at))
                .unwrap();
            assert!(!p.active, "failure {i}");
            assert_eq!(table.check_allow(source(), secs(at)), Ok(()));
        }
        // Fourth: 20 - 0.3 = 19.7 > 15, active until t = 20.
        let p = table
            .penalise(source(), PenaltyKind::AuthFail, secs(0.3))
            .unwrap();
        assert!(p.active && p.activated);
        assert_eq!(p.outstanding, secs(19.7));
        assert_eq!(
            table.check_allow(source(), secs(0.4)),
            Err("penalty: failed authentication")
        );
        assert!(
            table.check_allow(source(), secs(20.0)).is_err(),
            "expiry >= now blocks"
        );
        assert_eq!(table.check_allow(source(), secs(20.001)), Ok(()));
        // Expired means forgotten: the next failure starts a new, deferred entry.
        let p = table
            .penalise(source(), PenaltyKind::AuthFail, secs(21.0))
            .unwrap();
        assert!(!p.active);
    }

    #[test]
    fn slow_failures_decay_and_never_activate() {
        // One failure per 5 s adds exactly what decays: 5 s outstanding, never above 15.
        let mut table = PenaltyTable::new(PerSourcePenalties::default());
        for i in 0..100 {
            let p = table
                .penalise(source(), PenaltyKind::AuthFail, secs(f64::from(i) * 5.0))
                .unwrap();
            assert!(!p.active);
        }
    }

    #[test]
    fn outstanding_penalty_is_capped_at_max() {
        let mut table = PenaltyTable::new(PerSourcePenalties::default());
        for _ in 0..1000 {
            table.penalise(source(), PenaltyKind::AuthFail, secs(1.0));
        }
        let p = table
            .penalise(source(), PenaltyKind::AuthFail, secs(1.0))
            .unwrap();
        assert_eq!(p.outstanding, secs(600.0));
        assert!(table.check_allow(source(), secs(601.0)).is_err());
        assert!(table.check_allow(source(), secs(601.001)).is_ok());
    }

    #[test]
    fn a_single_penalty_above_min_is_active_at_once_and_exempt_sources_never_are() {
        let config = PerSourcePenalties {
            grace_exceeded: secs(20.0),
            exempt: vec![IpAddr::from([10, 0, 0, 9])],
            ..PerSourcePenalties::default()
        };
        let mut table = PenaltyTable::new(config);
        let p = table
            .penalise(source(), PenaltyKind::GraceExceeded, secs(0.0))
            .unwrap();
        assert!(p.active);
        assert_eq!(
            table.check_allow(source(), secs(1.0)),
            Err("penalty: exceeded LoginGraceTime")
        );
        let exempt = IpAddr::from([10, 0, 0, 9]);
        assert!(
            table
                .penalise(exempt, PenaltyKind::GraceExceeded, secs(0.0))
                .is_none()
        );
        assert!(table.check_allow(exempt, secs(1.0)).is_ok());
    }

    #[test]
    fn sources_in_one_net_block_share_an_entry() {
        let config = PerSourcePenalties {
            ipv4_mask_bits: 24,
            grace_exceeded: secs(20.0),
            ..PerSourcePenalties::default()
        };
        let mut table = PenaltyTable::new(config);
        table.penalise(source(), PenaltyKind::GraceExceeded, secs(0.0));
        assert!(
            table
                .check_allow(IpAddr::from([192, 168, 0, 77]), secs(1.0))
                .is_err()
        );
        assert!(
            table
                .check_allow(IpAddr::from([192, 168, 1, 1]), secs(1.0))
                .is_ok()
        );
    }
}
