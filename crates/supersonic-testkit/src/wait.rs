//! Waiting for an expected outcome with a generous bound, instead of sleeping.

use std::time::{Duration, Instant};

/// Interval between two evaluations of a [`wait_until`] condition.
///
/// Short enough that a test is not slowed down noticeably, long enough that polling a condition
/// which runs `git` does not keep a core busy.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `condition` every 50 ms until it returns true.
///
/// The condition is evaluated once more right at the deadline, so a condition that becomes true
/// while the last interval elapses still counts.
///
/// # Panics
///
/// Panics with `what` and the elapsed time when `condition` is still false after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        let past_deadline = start.elapsed() >= timeout;
        if condition() {
            return;
        }
        if past_deadline {
            panic!("timed out after {:.1?} waiting for {what}", start.elapsed());
        }
        std::thread::sleep(POLL_INTERVAL.min(timeout.saturating_sub(start.elapsed())));
    }
}
