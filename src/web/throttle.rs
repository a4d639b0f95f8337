//! Keeps password guessing from taking the exporter down: bounds the bcrypt checks that run
//! at once, and rate-limits failed logins per client.
//!
//! - At most as many bcrypt checks run at once as the machine has cores. A check takes a
//!   permit *before* it goes to the blocking pool; without one the client gets 429 at once
//!   (or after a bounded wait, below), so a flood holds neither threads nor memory.
//! - Failed logins are counted in token buckets: one per (client address, user name), a
//!   burst of [`PAIR_BURST`] then one per second, and one per client address, a burst of
//!   [`ADDRESS_BURST`] then [`ADDRESS_RATE`] per second. A check takes a token from both
//!   before bcrypt runs and gives them back when the password was right; a client with an
//!   empty bucket gets 429 at once, without bcrypt.
//! - A check from a client with no recent failure for that user (its pair bucket is full)
//!   has priority: it may queue for a permit for [`PRIORITY_WAIT`] (the queue is first come,
//!   first served, so it gets the next permit released), and one permit (when there are two
//!   or more) is kept for such checks. A check from a client that failed recently only takes
//!   a permit that is free within [`PERMIT_WAIT`], and never the kept one.
//!
//! Why per (address, user): the flood and the legitimate users often share an address (a
//! NAT, a proxy, Prometheus on the same host), and guessing one user's password must neither
//! lock the others out nor make them queue behind the guesses: a first login waits for one
//! running check at most, then its own. Guessing many user names from one address is what
//! the per-address bucket bounds (about [`ADDRESS_RATE`] checks a second after its burst),
//! which can delay a first login from that same address, by design; guesses from many
//! addresses are bounded by the permits alone. Unknown users are counted like known ones, so
//! a 429 does not tell whether a user exists. IPv6 clients are counted per /64.
//!
//! Cached successes never come here (see the `auth` module): scrapes with the credentials
//! Prometheus already used take no permit and no token.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Failed logins one client may make for one user before it is slowed down.
pub const PAIR_BURST: f64 = 10.0;
/// Failed logins a second one client may make for one user after its burst.
pub const PAIR_RATE: f64 = 1.0;
/// Failed logins one client address may make, all users together, before it is slowed down.
pub const ADDRESS_BURST: f64 = 50.0;
/// Failed logins a second one client address may make after its burst.
pub const ADDRESS_RATE: f64 = 5.0;
/// How long a check from a client that failed recently waits for a free bcrypt slot.
pub const PERMIT_WAIT: Duration = Duration::from_millis(20);
/// How long a check from a client without recent failures may queue for a bcrypt slot.
pub const PRIORITY_WAIT: Duration = Duration::from_secs(1);
/// Buckets remembered per kind; past it, full buckets are forgotten, then the stalest.
const MAX_BUCKETS: usize = 10_000;

/// The bcrypt permits and the failed-login buckets. One per server: reloading the web
/// config keeps both.
pub struct Throttle {
    /// Every bcrypt check holds one.
    permits: Arc<Semaphore>,
    /// Checks from clients that failed recently hold one too: one fewer than `permits`.
    suspect: Arc<Semaphore>,
    buckets: Mutex<Buckets>,
    /// Keys user names; random per process, so nobody can aim at a bucket collision.
    hasher: RandomState,
}

#[derive(Default)]
struct Buckets {
    pairs: HashMap<(IpAddr, u64), Bucket>,
    addresses: HashMap<IpAddr, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The tokens a check took; give them back with [`Throttle::settle`].
#[derive(Debug)]
pub struct Ticket {
    address: IpAddr,
    pair: (IpAddr, u64),
    /// No recent failure from this client for this user: the check has priority.
    clean: bool,
}

/// The right to run one bcrypt check; held until it ends.
#[derive(Debug)]
pub struct Permit {
    _check: OwnedSemaphorePermit,
    _suspect: Option<OwnedSemaphorePermit>,
}

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failed logins from this client: retry after this many seconds.
    RateLimited(u64),
    /// Every bcrypt slot is busy: retry in a second.
    Busy,
}

impl Default for Throttle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Throttle::new(cores)
    }
}

impl Throttle {
    /// At most `checks` bcrypt checks at once (at least one).
    pub fn new(checks: usize) -> Throttle {
        let checks = checks.max(1);
        Throttle {
            permits: Arc::new(Semaphore::new(checks)),
            suspect: Arc::new(Semaphore::new((checks - 1).max(1))),
            buckets: Mutex::default(),
            hasher: RandomState::new(),
        }
    }

    /// Takes a token for a check of `user` from `client`, or says how long to wait.
    pub fn admit(&self, client: IpAddr, user: &[u8]) -> Result<Ticket, Refused> {
        let address = bucket_address(client);
        let pair = (address, self.hasher.hash_one(user));
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let b = &mut *b;
        let p = take(&mut b.pairs, pair, PAIR_BURST, PAIR_RATE, now);
        let a = take(&mut b.addresses, address, ADDRESS_BURST, ADDRESS_RATE, now);
        match (p, a) {
            (Ok(clean), Ok(_)) => Ok(Ticket {
                address,
                pair,
                clean,
            }),
            (p, a) => {
                // Give back what was taken: a refused check costs nothing.
                if p.is_ok() {
                    give(&mut b.pairs, &pair, PAIR_BURST);
                }
                if a.is_ok() {
                    give(&mut b.addresses, &address, ADDRESS_BURST);
                }
                let wait = p.err().max(a.err()).unwrap_or(1);
                Err(Refused::RateLimited(wait))
            }
        }
    }

    /// A bcrypt slot for the check of `ticket`: see the module's documentation for who
    /// waits how long.
    pub async fn permit(&self, ticket: &Ticket) -> Result<Permit, Refused> {
        if ticket.clean {
            let check = acquire(&self.permits, PRIORITY_WAIT).await?;
            return Ok(Permit {
                _check: check,
                _suspect: None,
            });
        }
        let suspect = acquire(&self.suspect, Duration::ZERO).await?;
        let check = acquire(&self.permits, PERMIT_WAIT).await?;
        Ok(Permit {
            _check: check,
            _suspect: Some(suspect),
        })
    }

    /// Ends a check: a right password (or a check that never ran) gives its tokens back, a
    /// wrong one keeps them spent.
    pub fn settle(&self, ticket: Ticket, give_back: bool) {
        if !give_back {
            return;
        }
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        give(&mut b.pairs, &ticket.pair, PAIR_BURST);
        give(&mut b.addresses, &ticket.address, ADDRESS_BURST);
    }
}

/// The address a client is counted under: IPv4 (mapped ones included) as is, IPv6 by /64.
fn bucket_address(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            IpAddr::from(s)
        }
        v4 => v4,
    }
}

/// A permit from `semaphore`, waiting `wait` at most (after the ones queued before).
async fn acquire(
    semaphore: &Arc<Semaphore>,
    wait: Duration,
) -> Result<OwnedSemaphorePermit, Refused> {
    if let Ok(p) = semaphore.clone().try_acquire_owned() {
        return Ok(p);
    }
    if wait.is_zero() {
        return Err(Refused::Busy);
    }
    match tokio::time::timeout(wait, semaphore.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        _ => Err(Refused::Busy),
    }
}

/// Takes one token from `key`'s bucket (refilled at `rate` a second up to `burst`) and says
/// whether the bucket was full, or returns the whole seconds until a token is there.
fn take<K: Hash + Eq + Copy>(
    map: &mut HashMap<K, Bucket>,
    key: K,
    burst: f64,
    rate: f64,
    now: Instant,
) -> Result<bool, u64> {
    if !map.contains_key(&key) && map.len() >= MAX_BUCKETS {
        make_room(map, burst, rate, now);
    }
    let b = map.entry(key).or_insert(Bucket {
        tokens: burst,
        at: now,
    });
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate).min(burst);
    b.at = now;
    if b.tokens >= 1.0 {
        let full = b.tokens >= burst;
        b.tokens -= 1.0;
        Ok(full)
    } else {
        Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
    }
}

/// Gives one token back to `key`'s bucket.
fn give<K: Hash + Eq>(map: &mut HashMap<K, Bucket>, key: &K, burst: f64) {
    if let Some(b) = map.get_mut(key) {
        b.tokens = (b.tokens + 1.0).min(burst);
    }
}

/// Forgets the buckets that have refilled (they are as good as new), and when that is not
/// enough, the one left alone the longest.
fn make_room<K: Hash + Eq + Copy>(
    map: &mut HashMap<K, Bucket>,
    burst: f64,
    rate: f64,
    now: Instant,
) {
    map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
    if map.len() >= MAX_BUCKETS {
        if let Some(stalest) = map.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k) {
            map.remove(&stalest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_rate_per_client_and_user() {
        let t = Throttle::new(1);
        let me = ip("127.0.0.1");
        for _ in 0..PAIR_BURST as usize {
            let ticket = t.admit(me, b"alice").unwrap();
            t.settle(ticket, false);
        }
        assert_eq!(t.admit(me, b"alice").unwrap_err(), Refused::RateLimited(1));
        // Another user from the same address, and the same user elsewhere, are not slowed.
        t.settle(t.admit(me, b"bob").unwrap(), true);
        t.settle(t.admit(ip("10.0.0.1"), b"alice").unwrap(), false);
        // Successes give their token back.
        for _ in 0..100 {
            t.settle(t.admit(me, b"bob").unwrap(), true);
        }
    }

    #[test]
    fn many_user_names_from_one_address_hit_the_address_bucket() {
        let t = Throttle::new(1);
        let me = ip("192.0.2.7");
        let mut admitted = 0;
        for i in 0..1000 {
            match t.admit(me, format!("user{i}").as_bytes()) {
                Ok(ticket) => {
                    admitted += 1;
                    t.settle(ticket, false);
                }
                Err(Refused::RateLimited(s)) => assert!(s >= 1),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(admitted, ADDRESS_BURST as usize);
        // A refused check took nothing from its pair bucket.
        let pair = (me, t.hasher.hash_one(b"user999".as_slice()));
        assert_eq!(t.buckets.lock().unwrap().pairs[&pair].tokens, PAIR_BURST);
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            bucket_address(ip("2001:db8:1:2:3:4:5:6")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(bucket_address(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn the_bucket_maps_are_bounded() {
        let mut map = HashMap::new();
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS as u64 + 10) {
            let _ = take(&mut map, i, 2.0, 1.0, t0);
        }
        assert!(map.len() <= MAX_BUCKETS);
    }

    #[tokio::test]
    async fn clients_without_failures_have_priority() {
        let t = Throttle::new(2);
        let me = ip("127.0.0.1");
        // A guesser: one failure, then it is suspect and may hold one permit only.
        t.settle(t.admit(me, b"alice").unwrap(), false);
        let guess = t.admit(me, b"alice").unwrap();
        assert!(!guess.clean);
        let held = t.permit(&guess).await.unwrap();
        let start = std::time::Instant::now();
        assert_eq!(t.permit(&guess).await.unwrap_err(), Refused::Busy);
        assert!(start.elapsed() < Duration::from_millis(500));
        // A first login still finds the kept permit, at once.
        let first = t.admit(me, b"bob").unwrap();
        assert!(first.clean);
        let bob = t.permit(&first).await.unwrap();
        // Both busy: the next first login queues, and gets the next permit released.
        let carol = t.admit(me, b"carol").unwrap();
        let (waiting, ()) = tokio::join!(t.permit(&carol), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
        });
        assert!(waiting.is_ok());
        drop(bob);
    }
}
