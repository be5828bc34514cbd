//! What stands between a password guesser and argon2: every path that checks a password (token
//! obtain, the dashboard login by REST or server function, HTTP Basic) asks here first.
//! - Failures are counted per account (the email given) and per client address: 5 in a minute
//!   block an account for a minute, 20 an address (an office behind one NAT address shares it;
//!   20 a minute is still far too slow to spray passwords over many accounts); each further
//!   failure within an hour of the last doubles the block (up to an hour). A blocked key is answered 429 with `Retry-After`, without running
//!   argon2 (so a block also costs the server nothing). A success clears its account's count,
//!   not its address's (a guesser's own valid account must not reset the guessing address).
//! - At most as many argon2 runs at once as the machine has cores; a request that cannot get
//!   one within a second, or finds too many already waiting, is answered 503 with
//!   `Retry-After` instead of piling up without bound.
//!
//! Per process and in memory: a restart forgets the counts (documented in docs/API.md).
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{Error, Result};

/// Failures allowed within [`WINDOW`] before an account, or an address, is blocked.
const ACCOUNT_FAILURES: u32 = 5;
const ADDRESS_FAILURES: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);
/// The first block; each later one (a failure within [`MEMORY`] of the last) doubles it.
const FIRST_BLOCK: Duration = Duration::from_secs(60);
const LONGEST_BLOCK: Duration = Duration::from_secs(3600);
/// How long a key's failures are remembered.
const MEMORY: Duration = Duration::from_secs(3600);
/// Most keys remembered; beyond it the ones idle longest are forgotten first.
const MAX_KEYS: usize = 100_000;
/// How long a password check waits for an argon2 slot, and how many may wait.
const SLOT_WAIT: Duration = Duration::from_secs(1);
const MAX_WAITING: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone)]
struct Record {
    window_start: Instant,
    in_window: u32,
    /// Blocks so far (each doubles the next).
    blocks: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

pub struct LoginGuard {
    records: Mutex<HashMap<Key, Record>>,
    slots: Semaphore,
    waiting: AtomicUsize,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_slots(cores)
    }
}

/// A password check allowed to run: holds one argon2 slot until dropped.
pub struct Attempt<'a> {
    _slot: SemaphorePermit<'a>,
}

impl LoginGuard {
    pub fn with_slots(slots: usize) -> Self {
        Self {
            records: Mutex::default(),
            slots: Semaphore::new(slots.max(1)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Refuses (429) while the account or the address is blocked; else waits for an argon2
    /// slot (503 when none frees up in time).
    pub async fn admit(&self, email: &str, from: IpAddr) -> Result<Attempt<'_>> {
        self.check_blocks(&[account(email), Key::Address(from)], Instant::now())?;
        Ok(Attempt {
            _slot: self.slot().await?,
        })
    }

    /// [`admit`](Self::admit) for a check with no client address to count (a password change).
    pub async fn admit_account(&self, email: &str) -> Result<Attempt<'_>> {
        self.check_blocks(&[account(email)], Instant::now())?;
        Ok(Attempt {
            _slot: self.slot().await?,
        })
    }

    /// An argon2 slot for a password hash (a user's new password): not throttled, but bounded.
    pub async fn slot(&self) -> Result<SemaphorePermit<'_>> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(p);
        }
        let busy = || Error::Unavailable {
            retry_after: 1,
            message: "Too many password checks at once; try again in a second.".into(),
        };
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let got = tokio::time::timeout(SLOT_WAIT, self.slots.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(Ok(p)) => Ok(p),
            _ => Err(busy()),
        }
    }

    fn check_blocks(&self, keys: &[Key], now: Instant) -> Result<()> {
        let records = self.records.lock().expect("login guard lock");
        let wait = keys
            .iter()
            .filter_map(|k| records.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(w) => Err(Error::TooManyRequests {
                retry_after: w.as_secs() + u64::from(w.subsec_nanos() > 0),
                message: format!(
                    "Too many failed logins; try again in {} s.",
                    w.as_secs().max(1)
                ),
            }),
            None => Ok(()),
        }
    }

    /// Records a wrong password (or an unknown account) for both keys.
    pub fn failed(&self, email: &str, from: IpAddr) {
        self.failed_at(&[account(email), Key::Address(from)], Instant::now());
    }

    /// Records a wrong password for the account alone.
    pub fn failed_account(&self, email: &str) {
        self.failed_at(&[account(email)], Instant::now());
    }

    fn failed_at(&self, keys: &[Key], now: Instant) {
        let mut records = self.records.lock().expect("login guard lock");
        if records.len() >= MAX_KEYS {
            forget_idle(&mut records, now);
        }
        for key in keys {
            let r = records.entry(key.clone()).or_insert(Record {
                window_start: now,
                in_window: 0,
                blocks: 0,
                blocked_until: None,
                last_failure: now,
            });
            let repeat_offender = r.blocks > 0 && now - r.last_failure < MEMORY;
            if !repeat_offender && now - r.window_start >= WINDOW {
                r.window_start = now;
                r.in_window = 0;
                r.blocks = 0;
            }
            r.in_window += 1;
            r.last_failure = now;
            let allowed = match key {
                Key::Account(_) => ACCOUNT_FAILURES,
                Key::Address(_) => ADDRESS_FAILURES,
            };
            if repeat_offender || r.in_window >= allowed {
                let block = FIRST_BLOCK
                    .saturating_mul(1 << r.blocks.min(10))
                    .min(LONGEST_BLOCK);
                r.blocked_until = Some(now + block);
                r.blocks += 1;
            }
        }
    }

    /// A right password: the account starts afresh.
    pub fn succeeded(&self, email: &str) {
        self.records
            .lock()
            .expect("login guard lock")
            .remove(&account(email));
    }
}

fn account(email: &str) -> Key {
    Key::Account(email.trim().to_lowercase())
}

/// Drops what is no longer remembered, then (still too many) the keys idle longest.
fn forget_idle(records: &mut HashMap<Key, Record>, now: Instant) {
    records.retain(|_, r| now - r.last_failure < MEMORY);
    if records.len() >= MAX_KEYS {
        let mut by_age: Vec<(Instant, Key)> = records
            .iter()
            .map(|(k, r)| (r.last_failure, k.clone()))
            .collect();
        by_age.sort_by_key(|(t, _)| *t);
        for (_, k) in by_age.into_iter().take(MAX_KEYS / 10) {
            records.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn blocked(g: &LoginGuard, email: &str, from: IpAddr, now: Instant) -> Option<u64> {
        match g.check_blocks(&[account(email), Key::Address(from)], now) {
            Err(Error::TooManyRequests { retry_after, .. }) => Some(retry_after),
            _ => None,
        }
    }

    fn fail(g: &LoginGuard, email: &str, from: IpAddr, t: Instant) {
        g.failed_at(&[account(email), Key::Address(from)], t);
    }

    #[test]
    fn five_failures_a_minute_block_an_account_then_backoff_doubles() {
        let g = LoginGuard::with_slots(1);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for i in 0..4 {
            fail(&g, "a@x.org", A, at(i));
            assert_eq!(blocked(&g, "a@x.org", A, at(i)), None);
        }
        fail(&g, "a@x.org", A, at(4));
        assert_eq!(blocked(&g, "a@x.org", A, at(4)), Some(60));
        // The account from another address too; the address itself only for that account.
        assert!(blocked(&g, "a@x.org", B, at(5)).is_some());
        assert_eq!(blocked(&g, "b@x.org", A, at(5)), None);
        // After the block one more failure blocks again, twice as long.
        assert_eq!(blocked(&g, "a@x.org", B, at(70)), None);
        fail(&g, "a@x.org", B, at(70));
        assert_eq!(blocked(&g, "a@x.org", B, at(70)), Some(120));
        // A success clears the account.
        g.succeeded("A@x.org");
        assert_eq!(blocked(&g, "a@x.org", B, at(71)), None);
    }

    #[test]
    fn twenty_failures_a_minute_block_an_address_for_every_account() {
        let g = LoginGuard::with_slots(1);
        let t0 = Instant::now();
        for i in 0..20 {
            // A different account each time: password spraying.
            let t = t0 + Duration::from_secs(i);
            assert_eq!(blocked(&g, &format!("u{i}@x.org"), A, t), None);
            fail(&g, &format!("u{i}@x.org"), A, t);
        }
        let t = t0 + Duration::from_secs(20);
        assert_eq!(blocked(&g, "new@x.org", A, t), Some(59));
        assert_eq!(blocked(&g, "new@x.org", B, t), None);
        // A success of one account does not clear the address.
        g.succeeded("u1@x.org");
        assert!(blocked(&g, "new@x.org", A, t).is_some());
    }

    #[test]
    fn slow_failures_never_block() {
        let g = LoginGuard::with_slots(1);
        let t0 = Instant::now();
        for i in 0..20 {
            let t = t0 + Duration::from_secs(61 * i);
            fail(&g, "a@x.org", A, t);
            assert_eq!(blocked(&g, "a@x.org", A, t), None, "failure {i}");
        }
    }

    #[tokio::test]
    async fn argon2_slots_are_bounded() {
        let g = LoginGuard::with_slots(1);
        let first = g.slot().await.unwrap();
        let t = Instant::now();
        let second = g.slot().await;
        assert!(matches!(second, Err(Error::Unavailable { .. })));
        assert!(t.elapsed() >= SLOT_WAIT);
        drop(first);
        assert!(g.slot().await.is_ok());
    }
}
