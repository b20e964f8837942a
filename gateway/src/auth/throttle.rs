//! Failed-login limits: after `max_failed_logins` failures within the
//! window for one user name, or from one client address, further attempts
//! are refused at once (28000) until the oldest failure leaves the window.
//!
//! Names are counted whether or not the user exists, so a lockout tells
//! nothing about existence; a successful login clears its name's count
//! (not its address's: one good account must not reset a password spray).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked keys, expired ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// Failure counts per user name and per client address.
#[derive(Debug)]
pub struct Throttle {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl Throttle {
    /// `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn keys(user: &str, addr: Option<IpAddr>) -> Vec<Key> {
        let mut keys = vec![Key::User(user.to_owned())];
        keys.extend(addr.map(Key::Address));
        keys
    }

    /// When a lockout covers this attempt: how long it has left.
    pub fn locked(&self, user: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.lock();
        let mut wait = None;
        for key in Self::keys(user, addr) {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.max {
                    let left = times
                        .front()
                        .map(|t| self.window.saturating_sub(now.duration_since(*t)))
                        .unwrap_or_default();
                    wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
                }
            }
        }
        wait
    }

    /// Count a failed attempt.
    pub fn failed(&self, user: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in Self::keys(user, addr) {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > self.max {
                times.pop_front();
            }
        }
    }

    /// A successful login clears its user name's failures.
    pub fn succeeded(&self, user: &str) {
        self.lock().remove(&Key::User(user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_name_after_the_limit_and_a_success_clears_it() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..2 {
            t.failed("alice", Some(a));
        }
        assert!(t.locked("alice", None).is_none());
        t.failed("alice", Some(a));
        assert!(t.locked("alice", None).is_some());
        // The address is locked for every name.
        assert!(t.locked("bob", Some(a)).is_some());
        assert!(t.locked("bob", None).is_none());
        t.succeeded("alice");
        assert!(t.locked("alice", None).is_none());
        assert!(
            t.locked("alice", Some(a)).is_some(),
            "the address stays counted"
        );
    }

    #[test]
    fn failures_leave_the_window() {
        let t = Throttle::new(1, Duration::from_millis(30));
        t.failed("u", None);
        assert!(t.locked("u", None).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.locked("u", None).is_none());
    }
}
