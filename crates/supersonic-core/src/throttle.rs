//! The throttle keeps remotes from being hammered (seed 000): a sliding-window limit of remote
//! operations per hour, and exponential backoff with jitter after consecutive failures, reset on
//! success. Time and randomness are inputs, so it is pure and tested without sleeps. While the
//! throttle blocks, local commits go on; only the remote step waits.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// Width of the rate-limit window (the seed's "per hour").
pub const WINDOW: Duration = Duration::from_secs(3600);
/// Jitter applied to each backoff delay (±20 %): spreads the retries of devices that failed
/// together (a remote that went down for everyone) so they do not return in lockstep.
pub const JITTER: f64 = 0.2;

/// The throttle's knobs (from `sync:`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Remote operations allowed per sliding hour.
    pub max_per_hour: u32,
    /// Whether failures back off.
    pub backoff_enabled: bool,
    /// First backoff delay.
    pub backoff_initial: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
}

/// Whether a remote operation may run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Wait until `until`.
    Blocked {
        /// Why (`rate limit: 20 operations in the last hour`, `backoff after 3 failures`).
        reason: String,
        /// When it will be allowed.
        until: SystemTime,
    },
}

/// Sliding window + backoff state of one folder.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Throttle {
    window: VecDeque<SystemTime>,
    consecutive_failures: u32,
    backoff_until: Option<SystemTime>,
}

impl Throttle {
    /// Returns whether a remote operation may run at `now`.
    pub fn check(&mut self, limits: &Limits, now: SystemTime) -> Verdict {
        self.expire(now);
        if let Some(until) = self.backoff_until.filter(|u| *u > now) {
            return Verdict::Blocked {
                reason: format!(
                    "backoff after {} consecutive failure{}",
                    self.consecutive_failures,
                    if self.consecutive_failures == 1 { "" } else { "s" }
                ),
                until,
            };
        }
        if self.window.len() >= limits.max_per_hour as usize {
            let oldest = *self.window.front().expect("window is non-empty");
            return Verdict::Blocked {
                reason: format!(
                    "rate limit: {} remote operations in the last hour (max_per_hour {})",
                    self.window.len(),
                    limits.max_per_hour
                ),
                until: oldest + WINDOW,
            };
        }
        Verdict::Allowed
    }

    /// Records that a remote operation started at `now`.
    pub fn record_attempt(&mut self, now: SystemTime) {
        self.window.push_back(now);
    }

    /// Records a success: the backoff resets.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.backoff_until = None;
    }

    /// Records a failure at `now`; `unit` in `[0, 1)` is the random draw for jitter. Returns the
    /// backoff delay chosen (none when backoff is disabled).
    pub fn record_failure(
        &mut self,
        limits: &Limits,
        now: SystemTime,
        unit: f64,
    ) -> Option<Duration> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if !limits.backoff_enabled {
            return None;
        }
        let delay = backoff_delay(limits, self.consecutive_failures, unit);
        self.backoff_until = Some(now + delay);
        Some(delay)
    }

    /// Returns when the backoff ends, if one is running.
    pub fn backoff_until(&self) -> Option<SystemTime> {
        self.backoff_until
    }

    /// Returns the number of consecutive failures.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Returns the number of remote operations in the window ending at `now`.
    pub fn ops_in_window(&mut self, now: SystemTime) -> usize {
        self.expire(now);
        self.window.len()
    }

    /// Clears backoff (the user asked to retry now).
    pub fn clear_backoff(&mut self) {
        self.backoff_until = None;
    }

    fn expire(&mut self, now: SystemTime) {
        while let Some(t) = self.window.front() {
            if now.duration_since(*t).unwrap_or_default() >= WINDOW {
                self.window.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Returns the backoff delay after `failures` consecutive failures: `initial * 2^(n-1)`, capped
/// at `max`, times a jitter factor in `[1-JITTER, 1+JITTER)` from `unit`, capped again.
pub fn backoff_delay(limits: &Limits, failures: u32, unit: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = limits.backoff_initial.saturating_mul(1u32 << exp).min(limits.backoff_max);
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
    base.mul_f64(factor).min(limits.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_per_hour: 3,
            backoff_enabled: true,
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let l = limits();
        let mid = 0.5; // no jitter
        let delays: Vec<u64> = (1..=8).map(|n| backoff_delay(&l, n, mid).as_secs()).collect();
        assert_eq!(delays, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert!(backoff_delay(&l, 1, 0.0).as_secs() >= 48, "jitter stays within 20 %");
        assert!(backoff_delay(&l, 1, 0.999).as_secs() <= 72);
    }

    #[test]
    fn sliding_window_blocks_until_oldest_expires() {
        let l = limits();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut t = Throttle::default();
        for i in 0..3 {
            assert_eq!(t.check(&l, t0 + Duration::from_secs(i)), Verdict::Allowed);
            t.record_attempt(t0 + Duration::from_secs(i));
        }
        match t.check(&l, t0 + Duration::from_secs(10)) {
            Verdict::Blocked { until, .. } => assert_eq!(until, t0 + WINDOW),
            v => panic!("fourth op within the hour must be blocked, got {v:?}"),
        }
        assert_eq!(t.check(&l, t0 + WINDOW + Duration::from_secs(1)), Verdict::Allowed);
    }

    #[test]
    fn success_resets_backoff() {
        let l = limits();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut t = Throttle::default();
        t.record_failure(&l, t0, 0.5);
        t.record_failure(&l, t0, 0.5);
        assert!(matches!(t.check(&l, t0 + Duration::from_secs(100)), Verdict::Blocked { .. }));
        t.record_success();
        assert_eq!(t.check(&l, t0 + Duration::from_secs(100)), Verdict::Allowed);
        assert_eq!(t.consecutive_failures(), 0);
    }
}
