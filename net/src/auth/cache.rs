//! A per-core cache of verified tokens, so a client that presents the same token on every
//! request pays for one Ed25519 verification, not one per request.

use super::{AuthError, Keyring, Verified};
use std::collections::HashMap;
use std::rc::Rc;

/// Hashes a token by its last eight bytes and its length. Only verified tokens are ever
/// stored, and their last bytes are Ed25519 signature (base64): random, and not choosable by
/// anyone without a signing key. A forged token that collides on purpose finds only verified
/// tokens in its bucket and is then compared byte for byte, so collisions cost a comparison,
/// never a wrong answer. Hashing the whole token with SipHash cost more than the rest of the
/// check (perf/compare with auth on).
#[derive(Debug, Default, Clone, Copy)]
pub struct TailHash;

impl std::hash::BuildHasher for TailHash {
    type Hasher = Tail;
    fn build_hasher(&self) -> Tail {
        Tail(0)
    }
}

/// The hasher of [`TailHash`].
#[derive(Debug)]
pub struct Tail(u64);

impl std::hash::Hasher for Tail {
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(8);
        let mut last = [0u8; 8];
        last[..n].copy_from_slice(&bytes[bytes.len() - n..]);
        self.0 = (self.0.rotate_left(17) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(17) ^ n as u64).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// An odd multiplier that spreads bits (the 64-bit golden ratio).
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// The most tokens one core's cache holds. When full, expired entries go first, then all.
pub const CACHE_CAPACITY: usize = 1024;

/// Verified tokens by their exact bytes, for one core (not `Send`: each core has its own).
///
/// An entry is only ever valid for the keyring generation it was verified under: a reload
/// (new keys, a new revocation list) bumps the generation and empties the cache. Expiry is
/// re-checked on every hit. Failed tokens are not cached.
#[derive(Debug)]
pub struct TokenCache {
    generation: u64,
    entries: HashMap<Box<[u8]>, Rc<Verified>, TailHash>,
    capacity: usize,
}

impl Default for TokenCache {
    fn default() -> TokenCache {
        TokenCache::with_capacity(CACHE_CAPACITY)
    }
}

impl TokenCache {
    /// An empty cache of [`CACHE_CAPACITY`] entries.
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    fn with_capacity(capacity: usize) -> TokenCache {
        TokenCache {
            generation: 0,
            entries: HashMap::default(),
            capacity,
        }
    }

    /// How many verified tokens it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verified token for `token`: from the cache if these exact bytes were verified under
    /// `generation` and have not expired at `now`, else from [`Keyring::verify`].
    pub fn get_or_verify(
        &mut self,
        keyring: &Keyring,
        generation: u64,
        token: &[u8],
        now: u64,
        leeway: u64,
    ) -> Result<Rc<Verified>, AuthError> {
        if generation != self.generation {
            self.entries.clear();
            self.generation = generation;
        }
        let live = |v: &Verified| v.exp.saturating_add(leeway) > now;
        if let Some(v) = self.entries.get(token) {
            if live(v) {
                return Ok(Rc::clone(v));
            }
            self.entries.remove(token);
            return Err(AuthError::Expired);
        }
        let verified = Rc::new(keyring.verify(token, now, leeway)?);
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, v| live(v));
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(token.into(), Rc::clone(&verified));
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Claims, SigningKey, sign};

    const NOW: u64 = 1_000_000;

    fn setup() -> (Keyring, SigningKey) {
        let key = SigningKey::from_bytes(&[5; 32]);
        (
            Keyring::with_keys([("k".into(), key.verifying_key())], []),
            key,
        )
    }

    fn token(key: &SigningKey, sub: &str, ttl: u64) -> String {
        sign(
            &Claims::issue(sub, vec!["admin".into()], NOW, ttl),
            key,
            "k",
        )
    }

    #[test]
    fn a_hit_returns_the_same_verified_token() {
        let (ring, key) = setup();
        let mut cache = TokenCache::new();
        let t = token(&key, "a", 60);
        let first = cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 5).unwrap();
        let again = cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 5).unwrap();
        assert!(Rc::ptr_eq(&first, &again), "the second lookup is a hit");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_changed_byte_misses_and_is_verified() {
        let (ring, key) = setup();
        let mut cache = TokenCache::new();
        let t = token(&key, "a", 60);
        cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 5).unwrap();
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            cache.get_or_verify(&ring, 1, &bad, NOW, 5),
            Err(AuthError::BadSignature)
        );
        assert_eq!(cache.len(), 1, "failures are not cached");
    }

    #[test]
    fn an_older_generation_misses() {
        let (ring, key) = setup();
        let mut cache = TokenCache::new();
        let t = token(&key, "a", 60);
        cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 5).unwrap();
        // Reloaded with the token's jti revoked: the cached entry must not answer.
        let jti = crate::auth::decode(t.as_bytes()).unwrap().claims.jti;
        let reloaded = Keyring::with_keys([("k".into(), key.verifying_key())], [jti]);
        assert_eq!(
            cache.get_or_verify(&reloaded, 2, t.as_bytes(), NOW, 5),
            Err(AuthError::Revoked)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn expiry_is_rechecked_on_a_hit() {
        let (ring, key) = setup();
        let mut cache = TokenCache::new();
        let t = token(&key, "a", 60);
        cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 5).unwrap();
        assert!(
            cache
                .get_or_verify(&ring, 1, t.as_bytes(), NOW + 64, 5)
                .is_ok()
        );
        assert_eq!(
            cache.get_or_verify(&ring, 1, t.as_bytes(), NOW + 65, 5),
            Err(AuthError::Expired)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn it_stays_bounded_and_drops_expired_entries_first() {
        let (ring, key) = setup();
        const CAP: usize = 8;
        let mut cache = TokenCache::with_capacity(CAP);
        let short = token(&key, "short", 1);
        cache
            .get_or_verify(&ring, 1, short.as_bytes(), NOW, 0)
            .unwrap();
        let long: Vec<String> = (0..CAP)
            .map(|i| token(&key, &format!("u{i}"), 3600))
            .collect();
        for t in &long[..CAP - 1] {
            cache.get_or_verify(&ring, 1, t.as_bytes(), NOW, 0).unwrap();
        }
        assert_eq!(cache.len(), CAP);
        // Full: the expired one makes room, the live ones stay.
        let last = &long[CAP - 1];
        cache
            .get_or_verify(&ring, 1, last.as_bytes(), NOW + 10, 0)
            .unwrap();
        assert_eq!(cache.len(), CAP);
        for t in &long {
            let hit = cache
                .get_or_verify(&ring, 1, t.as_bytes(), NOW + 10, 0)
                .unwrap();
            assert_eq!(cache.len(), CAP, "{} was still cached", hit.sub);
        }
        // Full of live entries: it empties rather than grows.
        let extra = token(&key, "extra", 3600);
        cache
            .get_or_verify(&ring, 1, extra.as_bytes(), NOW + 10, 0)
            .unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(TokenCache::new().capacity, CACHE_CAPACITY);
    }
}
