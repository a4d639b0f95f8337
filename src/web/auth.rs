//! Basic authentication against `basic_auth_users` (user: bcrypt hash), as exporter-toolkit.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), and Prometheus sends the same
//! credentials on every scrape, so:
//! - successes are cached: a bounded list of salted SHA-256 digests of user and password,
//!   scanned in constant time (a hit never tells how close a miss was); the cache belongs to
//!   one loaded config, so a reload that changes a password forgets the old one;
//! - checks that miss the cache run bcrypt on the blocking pool, at most as many at once as
//!   there are cores, and failed logins are rate-limited per client and user (the `throttle`
//!   module): a flood of guesses is answered 429 at once instead of queueing threads, and
//!   neither starves cached scrapes nor a user's first login;
//! - an unknown user is checked against a configured hash of the highest cost and then
//!   refused, so it takes as long as a wrong password: the answer and its timing do not tell
//!   whether the user exists. Failures are never cached, for the same reason.

use super::report::Report;
use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

/// How many successful (user, password) pairs are remembered; a few distinct scrapers per
/// exporter is the normal case, so this bound is never reached in practice.
const CACHE_SIZE: usize = 64;

/// The configured users and the cache of successful checks.
pub(crate) struct Users {
    hashes: HashMap<String, String>,
    /// The hash unknown users are checked against.
    dummy: String,
    /// Salts the cache digests, so they are useless outside this process.
    salt: [u8; 16],
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    digests: Vec<[u8; 32]>,
    /// The slot the next success replaces once the cache is full.
    next: usize,
}

/// What a check can answer without bcrypt.
pub(crate) enum Quick {
    /// A cached success.
    Allow,
    /// No usable `Authorization: Basic` header.
    Deny,
    /// bcrypt must decide: see [`Users::slow`].
    Slow(Credentials),
}

/// Credentials decoded from a header, with their cache digest.
pub(crate) struct Credentials {
    user: Vec<u8>,
    password: Vec<u8>,
    digest: [u8; 32],
}

impl Credentials {
    /// The user name as sent (not necessarily UTF-8, not necessarily configured).
    pub(crate) fn user(&self) -> &[u8] {
        &self.user
    }
}

impl Users {
    /// Checks every hash; `None` when there are no users (authentication off) or a problem
    /// was reported.
    pub(crate) fn new(users: BTreeMap<String, String>, report: &mut Report) -> Option<Users> {
        let before = report.count();
        let mut dummy: Option<(u32, &String)> = None;
        for (user, hash) in &users {
            let key = ["basic_auth_users", user.as_str()];
            if user.contains(':') {
                // Basic authentication splits at the first colon: this user could never log in.
                report.add(&key, format!("user name {user:?} contains ':'"));
            }
            match hash.parse::<bcrypt::HashParts>() {
                Ok(parts) if (4..=31).contains(&parts.get_cost()) => {
                    if dummy.is_none_or(|(cost, _)| parts.get_cost() > cost) {
                        dummy = Some((parts.get_cost(), hash));
                    }
                }
                Ok(parts) => report.add(
                    &key,
                    format!(
                        "bad bcrypt hash for user {user}: cost {} is outside 4 to 31",
                        parts.get_cost()
                    ),
                ),
                Err(e) => report.add(&key, format!("bad bcrypt hash for user {user}: {e}")),
            }
        }
        let dummy = dummy?.1.clone();
        if report.count() > before {
            return None;
        }
        Some(Users {
            hashes: users.into_iter().collect(),
            dummy,
            salt: rand::random(),
            cache: Mutex::default(),
        })
    }

    /// How many users are configured.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Answers from the header and the cache alone when it can.
    pub(crate) fn quick(&self, authorization: Option<&HeaderValue>) -> Quick {
        let Some((user, password)) = authorization.and_then(|h| basic(h.as_bytes())) else {
            return Quick::Deny;
        };
        let digest: [u8; 32] = Sha256::new()
            .chain_update(self.salt)
            // The length keeps ("ab", "c") and ("a", "bc") apart.
            .chain_update((user.len() as u64).to_le_bytes())
            .chain_update(&user)
            .chain_update(&password)
            .finalize()
            .into();
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // Every entry is compared, whatever matched: the time does not depend on the cache.
        let hit = cache
            .digests
            .iter()
            .fold(false, |hit, d| hit | ct_eq(d, &digest));
        if hit {
            return Quick::Allow;
        }
        Quick::Slow(Credentials {
            user,
            password,
            digest,
        })
    }

    /// Runs bcrypt for credentials [`Users::quick`] could not decide, and caches a success.
    pub(crate) fn slow(&self, creds: Credentials) -> bool {
        let known = std::str::from_utf8(&creds.user)
            .ok()
            .and_then(|u| self.hashes.get(u));
        let hash = known.unwrap_or(&self.dummy);
        // Bounded by the caller (the `throttle` module's permits), not here.
        let matched = bcrypt::verify(&creds.password, hash).unwrap_or(false);
        let ok = matched && known.is_some();
        if ok {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.digests.len() < CACHE_SIZE {
                cache.digests.push(creds.digest);
            } else {
                let slot = cache.next;
                cache.digests[slot] = creds.digest;
                cache.next = (slot + 1) % CACHE_SIZE;
            }
        }
        ok
    }
}

/// Compares two digests without an early exit.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold back into a short-circuit compare.
    std::hint::black_box(diff) == 0
}

/// The user and password of an `Authorization: Basic` value (RFC 7617), as bytes: neither
/// needs to be UTF-8. `None` for any other scheme or a malformed value.
fn basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.trim_ascii();
    let split = value.iter().position(|b| *b == b' ')?;
    let (scheme, encoded) = value.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim_ascii())?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Standard base64 with optional padding; `None` for anything else.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let body = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    if body.len() % 4 == 1 || (body.len() != s.len() && s.len() % 4 != 0) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(pairs: &[(&str, &str)]) -> Users {
        let mut report = Report {
            text: "",
            problems: Vec::new(),
        };
        let map = pairs
            .iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).unwrap()))
            .collect();
        let u = Users::new(map, &mut report).expect("valid users");
        assert!(report.problems.is_empty());
        u
    }

    fn header(user: &str, password: &str) -> HeaderValue {
        let raw = format!("{user}:{password}");
        HeaderValue::from_str(&format!("Basic {}", encode(raw.as_bytes()))).unwrap()
    }

    // A test-only encoder, so the decoder is checked against an independent implementation.
    fn encode(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &c)| n | (u32::from(c) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    fn check(u: &Users, h: Option<&HeaderValue>) -> bool {
        match u.quick(h) {
            Quick::Allow => true,
            Quick::Deny => false,
            Quick::Slow(c) => u.slow(c),
        }
    }

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "alice:s3cret:with:colons",
            "ü",
        ] {
            assert_eq!(
                base64_decode(encode(s.as_bytes()).as_bytes()).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_decode(b"YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode(b"YQ").unwrap(), b"a");
        assert!(base64_decode(b"YQ=").is_none());
        assert!(base64_decode(b"Y").is_none());
        assert!(base64_decode(b"YW*j").is_none());
    }

    #[test]
    fn basic_header_parsing() {
        assert_eq!(
            basic(b"basic  YWxpY2U6cDpx"),
            Some((b"alice".to_vec(), b"p:q".to_vec()))
        );
        assert_eq!(basic(b"Bearer YWxpY2U6cA=="), None);
        assert_eq!(basic(b"Basic YWxpY2U="), None, "no colon");
        assert_eq!(basic(b"Basic"), None);
    }

    #[test]
    fn right_password_passes_and_is_cached() {
        let u = users(&[("alice", "pw"), ("bob", "other")]);
        let h = header("alice", "pw");
        assert!(matches!(u.quick(Some(&h)), Quick::Slow(_)));
        assert!(check(&u, Some(&h)));
        assert!(matches!(u.quick(Some(&h)), Quick::Allow));
        // Another user's password, and a wrong one, are refused and not cached.
        for h in [
            header("alice", "other"),
            header("alice", "PW"),
            header("carol", "pw"),
        ] {
            assert!(!check(&u, Some(&h)));
            assert!(matches!(u.quick(Some(&h)), Quick::Slow(_)));
        }
        assert!(!check(&u, None));
        assert!(!check(&u, Some(&HeaderValue::from_static("Basic !!!"))));
    }

    #[test]
    fn cache_is_bounded() {
        let u = users(&[("alice", "pw")]);
        let mut cache = u.cache.lock().unwrap();
        for i in 0..CACHE_SIZE {
            cache.digests.push([i as u8; 32]);
        }
        drop(cache);
        assert!(check(&u, Some(&header("alice", "pw"))));
        let cache = u.cache.lock().unwrap();
        assert_eq!(cache.digests.len(), CACHE_SIZE);
        assert_eq!(cache.next, 1);
        drop(cache);
        assert!(matches!(
            u.quick(Some(&header("alice", "pw"))),
            Quick::Allow
        ));
    }

    #[test]
    fn unknown_users_take_the_costliest_hash() {
        let mut report = Report {
            text: "",
            problems: Vec::new(),
        };
        let cheap = bcrypt::hash("a", 4).unwrap();
        let dear = bcrypt::hash("b", 5).unwrap();
        let map = [("a".to_string(), cheap), ("b".to_string(), dear.clone())].into();
        assert_eq!(Users::new(map, &mut report).unwrap().dummy, dear);
    }

    #[test]
    fn bad_hashes_and_names_are_reported() {
        let mut report = Report {
            text: "",
            problems: Vec::new(),
        };
        let good = bcrypt::hash("x", 4).unwrap();
        let map = [
            ("alice".to_string(), "$2y$10$short".to_string()),
            ("bo:b".to_string(), good.clone()),
            ("carol".to_string(), good.replacen("$04$", "$03$", 1)),
        ]
        .into();
        assert!(Users::new(map, &mut report).is_none());
        let msgs: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].starts_with("basic_auth_users.alice: bad bcrypt hash for user alice"));
        assert!(msgs[1].contains("contains ':'"));
        assert!(msgs[2].contains("cost 3"));
        assert!(
            Users::new(BTreeMap::new(), &mut report).is_none(),
            "no users: no auth"
        );
    }
}
