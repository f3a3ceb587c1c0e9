//! The edge: who may use the data services, and how often, decided in one place for both
//! protocols before a service runs (DESIGN.md, decision 11).
//!
//! One [`Edge`] per process holds what every core shares: the keyring (reloaded on SIGHUP),
//! the rate table and the connection table. Each core keeps an [`EdgeLocal`] beside it: its
//! copy of the current keyring and its cache of verified tokens, so a request on a hot path
//! touches no lock and verifies no signature it has verified before.
//!
//! Routes and stream services *declare* what they need ([`Need`]); [`EdgeLocal::authorize`]
//! decides, with these rules:
//! - with keys configured, a data request needs a valid token whose scopes allow it;
//! - without keys, *protected mode*: data requests are answered only for loopback clients,
//!   unless `auth.insecure_open` is set;
//! - rate limits ([`crate::limit`]) apply per route class or stream service, keyed by client
//!   address or token subject, across all cores.

mod access;
mod client;
mod clock;
mod counters;
mod denial;
mod http;
mod shed;

pub use access::{Access, Principal};
use clock::TurnClock;
pub use counters::{Counters, DenialKind};
pub use denial::{Denial, PROTECTED_MESSAGE};
pub use http::answer;
use shed::CoreLoad;
pub use shed::{PROBE_PERIOD, Shedder, rss_bytes};

use crate::auth::{AuthError, ClientScopes, Keyring, Need, Scopes, TokenCache, Verified};
use crate::limit::{
    ConnPermit, ConnRefusal, ConnTable, Decision, KeyKind, Pattern, RateTable, Rules,
};
use std::{
    cell::RefCell,
    net::IpAddr,
    path::PathBuf,
    rc::Rc,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// The edge's settings (`auth.*`, `limits.*`, `shed.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeConfig {
    /// Directory of public keys (`<kid>.pub`); `None`: no tokens, protected mode.
    pub keys: Option<PathBuf>,
    /// File of revoked token ids (`jti`), one per line.
    pub revoked: Option<PathBuf>,
    /// Clock skew allowed when checking `exp` and `iat`.
    pub leeway: Duration,
    /// Without keys, serve data to every client instead of loopback only.
    pub insecure_open: bool,
    /// Rate limits.
    pub rules: Rules,
    /// Connections one client address may hold across all cores (0: no limit).
    pub max_connections_per_ip: usize,
    /// Connections across all cores (0: no limit beyond each core's own).
    pub max_connections_total: usize,
    /// A core whose event loop runs this late sheds new work (zero: never).
    pub shed_queue_delay: Duration,
    /// Resident memory past which every core sheds new work (0: never).
    pub shed_memory: u64,
    /// Public routes and services (`/plaintext`, `/static/*`, `stream:echo`) that need a
    /// token anyway (any valid one; protected mode without keys).
    pub protect: Vec<Pattern>,
    /// File of TLS client-certificate identities and their scopes (`tls.client_scopes`).
    pub client_scopes: Option<PathBuf>,
}

/// The edge state every core shares.
pub struct Edge {
    config: EdgeConfig,
    keyring: RwLock<Option<Arc<Keyring>>>,
    /// Scopes by client-certificate identity, swapped with the keyring.
    clients: RwLock<Arc<ClientScopes>>,
    /// Bumped by every reload: cores refresh their keyring copy and forget cached tokens.
    generation: AtomicU64,
    rates: RateTable,
    conns: ConnTable,
    counters: Counters,
    shedder: Shedder,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("config", &self.config)
            .finish()
    }
}

impl Edge {
    /// The edge for `config`, loading its keys (an error names the file or directory).
    pub fn new(config: EdgeConfig) -> Result<Arc<Edge>, String> {
        let keyring = load_keyring(&config)?;
        let clients = load_clients(&config)?;
        Ok(Arc::new(Edge {
            clients: RwLock::new(Arc::new(clients)),
            rates: RateTable::new(&config.rules),
            conns: ConnTable::new(config.max_connections_per_ip, config.max_connections_total),
            shedder: Shedder::new(config.shed_queue_delay, config.shed_memory),
            keyring: RwLock::new(keyring.map(Arc::new)),
            generation: AtomicU64::new(1),
            counters: Counters::default(),
            config,
        }))
    }

    /// No keys, no limits: protected mode only (what a core uses if none is set).
    pub fn protected() -> Arc<Edge> {
        Edge::new(EdgeConfig::default()).expect("no keys to load")
    }

    /// Re-reads the keys, the revocation file and the client-certificate scopes (SIGHUP). On
    /// error the old ones stay, all of them.
    pub fn reload(&self) -> Result<usize, String> {
        let keyring = load_keyring(&self.config)?;
        let clients = load_clients(&self.config)?;
        let n = keyring.as_ref().map_or(0, Keyring::len);
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = keyring.map(Arc::new);
        *self.clients.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(clients);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(n)
    }

    /// The settings.
    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    /// Whether tokens are configured (otherwise protected mode or open).
    pub fn has_keys(&self) -> bool {
        self.config.keys.is_some()
    }

    /// Counters for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Rate-table keys admitted untracked because the table was full.
    pub fn rate_table_full(&self) -> u64 {
        self.rates.table_full()
    }

    /// The shedding state shared by the cores.
    pub fn shedder(&self) -> &Shedder {
        &self.shedder
    }

    /// A new connection from `peer`: a permit that holds its place in the connection limits,
    /// or why it is refused.
    pub fn admit_connection(&self, peer: Option<IpAddr>) -> Result<Option<ConnPermit>, Denial> {
        let Some(ip) = peer else { return Ok(None) };
        match self.conns.try_acquire(ip) {
            Ok(permit) => Ok(Some(permit)),
            Err(refusal) => {
                self.counters
                    .connection_refused(matches!(refusal, ConnRefusal::PerIp));
                Err(Denial::Overloaded)
            }
        }
    }

    pub(crate) fn client_scopes(&self, identity: &str) -> Option<Arc<Scopes>> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(identity)
            .cloned()
    }

    fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn load_clients(config: &EdgeConfig) -> Result<ClientScopes, String> {
    config
        .client_scopes
        .as_deref()
        .map_or_else(|| Ok(ClientScopes::default()), ClientScopes::load)
}

fn load_keyring(config: &EdgeConfig) -> Result<Option<Keyring>, String> {
    let Some(dir) = &config.keys else {
        return Ok(None);
    };
    Keyring::load(dir, config.revoked.as_deref())
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// One core's side of the edge: its keyring copy and its verified-token cache.
pub struct EdgeLocal {
    edge: Arc<Edge>,
    keyring: RefCell<(u64, Option<Arc<Keyring>>)>,
    cache: RefCell<TokenCache>,
    load: CoreLoad,
    /// Token and rate-limit times, computed once per loop turn.
    clock: TurnClock,
    /// The admin listener's view: tokens and scopes as everywhere, but no connection limits,
    /// rate limits or shedding, so an operator can still look while the workers are flooded.
    admin: bool,
}

impl EdgeLocal {
    /// This core's view of `edge`.
    pub fn new(edge: Arc<Edge>) -> Rc<EdgeLocal> {
        Self::build(edge, false)
    }

    /// The admin listener's view of `edge`: the same tokens, none of the limits.
    pub fn for_admin(edge: Arc<Edge>) -> Rc<EdgeLocal> {
        Self::build(edge, true)
    }

    fn build(edge: Arc<Edge>, admin: bool) -> Rc<EdgeLocal> {
        Rc::new(EdgeLocal {
            admin,
            edge,
            keyring: RefCell::new((0, None)),
            cache: RefCell::new(TokenCache::default()),
            load: CoreLoad::default(),
            clock: TurnClock::default(),
        })
    }

    fn unix_now(&self) -> u64 {
        self.clock.get().unix
    }

    /// Whether this core sheds new work now (its loop ran late, or memory is past the
    /// threshold).
    pub fn shedding(&self, now: std::time::Instant) -> bool {
        !self.admin && self.load.shedding(&self.edge.shedder, now)
    }

    /// A new connection from `peer`: its place in the connection limits (none on the admin
    /// listener), or why it is refused.
    pub fn admit_connection(&self, peer: Option<IpAddr>) -> Result<Option<ConnPermit>, Denial> {
        if self.admin {
            return Ok(None);
        }
        self.edge.admit_connection(peer)
    }

    /// Whether new connections must be refused now; counts the refusal.
    pub fn shed_connection(&self, now: std::time::Instant) -> bool {
        let shed = self.shedding(now);
        if shed {
            self.edge.counters.connection_shed();
        }
        shed
    }

    /// Measures this core's event loop until the task is dropped (spawned once per core when
    /// shedding is configured).
    pub async fn probe(self: Rc<Self>, core: usize) {
        loop {
            // From the real time: the loop's cached clock may be a long turn old.
            let planned = std::time::Instant::now() + PROBE_PERIOD;
            ringwire_reactor::time::sleep_until(planned).await;
            // The real time, not the loop's cached clock: the lateness is the point.
            let ran = std::time::Instant::now();
            self.load.probe(&self.edge.shedder, core, planned, ran);
        }
    }

    /// Refuses a request when the core sheds (counted).
    pub fn check_load(&self, now: std::time::Instant) -> Result<(), Denial> {
        if self.shedding(now) {
            self.edge.counters.denied(DenialKind::Overloaded);
            Err(Denial::Overloaded)
        } else {
            Ok(())
        }
    }

    /// The shared edge.
    pub fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Runs `f` on the current keyring and its generation (refreshed after a reload) without
    /// touching the shared `Arc`'s count: the per-request path.
    fn with_keyring<R>(&self, f: impl FnOnce(u64, Option<&Arc<Keyring>>) -> R) -> R {
        let generation = self.edge.generation.load(Ordering::Acquire);
        let stale = self.keyring.borrow().0 != generation;
        if stale {
            *self.keyring.borrow_mut() = (generation, self.edge.keyring());
        }
        let mine = self.keyring.borrow();
        f(mine.0, mine.1.as_ref())
    }

    /// Who presents `token` (the bytes after `Bearer `), verified once per core and kept in
    /// the cache while it stays valid.
    pub fn principal(&self, token: Option<&[u8]>) -> Principal {
        let Some(token) = token else {
            return Principal::Anonymous;
        };
        let leeway = self.edge.config.leeway.as_secs();
        let now = self.unix_now();
        let verified = self.with_keyring(|generation, keyring| {
            // No keys: a token means nothing; protected mode decides.
            let keyring = keyring?;
            let cached = self
                .cache
                .borrow_mut()
                .get_or_verify(keyring, generation, token, now, leeway);
            Some((generation, cached))
        });
        let Some((generation, verified)) = verified else {
            return Principal::Anonymous;
        };
        match verified {
            Ok(v) => Principal::Token {
                verified: v,
                generation,
            },
            Err(e) => {
                log_refused(&e);
                Principal::Invalid
            }
        }
    }

    /// Whether `principal`, connected from `peer`, may do `need`.
    pub fn authorize(
        &self,
        peer: Option<IpAddr>,
        principal: &Principal,
        need: Need<'_>,
    ) -> Result<(), Denial> {
        let result = self.decide(peer, principal, need);
        if let Err(d) = result {
            self.edge.counters.denied(d.kind());
        }
        result
    }

    fn decide(
        &self,
        peer: Option<IpAddr>,
        principal: &Principal,
        need: Need<'_>,
    ) -> Result<(), Denial> {
        if let Principal::Client {
            identity,
            scopes,
            generation,
        } = principal
        {
            return self.decide_client(identity, scopes, *generation, need);
        }
        if !self.edge.has_keys() {
            return if self.edge.config.insecure_open || peer.is_some_and(is_loopback) {
                Ok(())
            } else {
                Err(Denial::ProtectedMode)
            };
        }
        match principal {
            Principal::Anonymous | Principal::Client { .. } => Err(Denial::MissingToken),
            Principal::Invalid => Err(Denial::InvalidToken),
            Principal::Token {
                verified,
                generation,
            } => {
                if !self.still_valid(verified, *generation) {
                    Err(Denial::InvalidToken)
                } else if verified.scopes.allows(need) {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                }
            }
        }
    }

    /// A token verified earlier (at a stream's handshake) is still good: not expired since,
    /// and not revoked or unsigned by a reload since.
    fn still_valid(&self, verified: &Rc<Verified>, verified_under: u64) -> bool {
        let leeway = self.edge.config.leeway.as_secs();
        if verified.exp.saturating_add(leeway) <= self.unix_now() {
            return false;
        }
        // Nothing reloaded since it was verified: the keys and revocations it passed stand.
        self.with_keyring(|generation, keyring| {
            generation == verified_under || keyring.is_some_and(|k| k.still_valid(verified))
        })
    }

    /// The rate limits of `rules` (from [`Rules::for_path`] or [`Rules::for_service`]) for
    /// this client. Every matching rule must admit.
    pub fn rate(
        &self,
        rules: impl Iterator<Item = (u16, KeyKind)>,
        peer: Option<IpAddr>,
        principal: &Principal,
    ) -> Result<(), Denial> {
        let now = self.clock.get().mono_ns;
        // No address (a socket that lost its peer): counted together, under the unspecified one.
        let ip = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let decision = self
            .edge
            .rates
            .check_all(rules, ip, principal.subject(), now);
        if let Decision::Deny { retry_after } = decision {
            let d = Denial::RateLimited(retry_after);
            self.edge.counters.denied(d.kind());
            return Err(d);
        }
        Ok(())
    }

    /// The rules of the HTTP route at `path`, if any limit one.
    pub fn http_rules<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (u16, KeyKind)> + 'a {
        self.edge
            .config
            .rules
            .for_path(path)
            .map(|(i, r)| (i, r.key))
    }

    /// Whether a request for `path` needs a token though its route is public
    /// (`auth.protect`).
    pub fn protects_path(&self, path: &str) -> bool {
        let p = &self.edge.config.protect;
        !p.is_empty() && p.iter().any(|pat| pat.matches_path(path))
    }

    /// Whether opening stream service `name` needs a token though it is public.
    pub fn protects_service(&self, name: &str) -> bool {
        self.edge
            .config
            .protect
            .iter()
            .any(|p| p.matches_service(name))
    }

    /// Whether any rate limit is configured.
    pub fn has_rules(&self) -> bool {
        !self.admin && !self.edge.config.rules.is_empty()
    }

    /// The rules of stream service `name`.
    pub fn service_rules<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (u16, KeyKind)> + 'a {
        self.edge
            .config
            .rules
            .for_service(name)
            .map(|(i, r)| (i, r.key))
    }
}

fn log_refused(e: &AuthError) {
    tracing::info!(target: "ringwire::auth", "token refused: {e}");
}
