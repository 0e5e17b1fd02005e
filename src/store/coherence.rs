//! Cache coherence: the generations every in-process cache is stamped with, and how writes made by
//! any node reach them.
//!
//! Each cache entry (decision views, playback sessions, decrypted content keys) carries the
//! generations of its scope read *before* its rows were loaded, and is served only while they are
//! still current. A write bumps the generations of what it changed twice over:
//!
//! - in this process, when the write ends ([`Invalidation`], held across the write), so a node reads
//!   its own writes at once;
//! - on every node sharing a PostgreSQL store, through `NOTIFY` sent *inside* the writing transaction
//!   ([`Store::publish`](super::Store::publish)): a notification exists only if the write committed.
//!   The [`subscriber`](super::subscriber) of each node `LISTEN`s on a connection of its own and
//!   applies the payload here.
//!
//! Every publishing transaction also bumps one row, `sees_cache_generation`, and the payload carries
//! the new value: notifications arrive in commit order, so "applied up to G" means every write up to
//! G has been applied. `decision.consistency = "strict"` compares that with the row before each
//! decision (one primary-key read).
//!
//! Fail safe: on a shared store the caches are used only while subscribed. When the subscription is
//! lost (connection closed, heartbeat silent, queue overflow, a payload without a generation, the
//! store's generation unreadable by a strict check) every lookup goes to the store; on (re)subscribing every generation moves before caching resumes,
//! so nothing read before can be served after.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use metrics::{counter, gauge};
use tokio::sync::{watch, Notify};

use crate::ids::{ContentId, UserId};

/// The PostgreSQL channel the notifications travel on.
pub const CHANNEL: &str = "sees_cache";
/// The payload of a heartbeat (changes nothing).
pub(crate) const PING: &str = "ping";

/// Gauge: 1 while the caches are coherent with the shared store (subscribed, or a store nobody else
/// writes), 0 while every lookup goes to the store.
pub const SUBSCRIBED_METRIC: &str = "sees_cache_subscribed";
/// Counter: notifications received, by `kind` (`change`, `ping`, `malformed`).
pub const NOTIFICATIONS_METRIC: &str = "sees_cache_notifications_total";
/// Counter: subscriptions lost, by `reason` (`connection`, `silent`, `overflow`, `lagging`: a
/// payload without a generation, or a strict check that could not read the store's generation).
pub const LOST_METRIC: &str = "sees_cache_subscription_lost_total";
/// Counter: strict-consistency checks, by `result` (`current`, `waited`, `behind`, `error`).
pub const STRICT_METRIC: &str = "sees_cache_strict_checks_total";

/// Users, and separately content keys, are split into this many stripes, each with a generation.
const STRIPES: usize = 1024;
/// Separates the generation from the scopes, and scopes from each other. Identifiers never hold
/// control characters, so neither can appear inside a scope.
const RECORD: char = '\u{1e}';
const UNIT: char = '\u{1f}';
/// A payload stays below PostgreSQL's 8000-byte limit: longer lists become whole-scope changes.
const MAX_PAYLOAD_BYTES: usize = 7_000;
/// Above this many keys one write invalidates every cached key instead of naming each.
const MAX_NAMED_KEYS: usize = 64;

/// What a write changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Packages, their assets, rules or the graph (and, through cascades, anyone's entitlements).
    Catalogue,
    /// A playback session's state.
    Sessions,
    /// The entitlements or asset grants of one user.
    User(&'a UserId),
    /// One content key.
    Key(&'a ContentId),
    /// Every content key.
    AllKeys,
}

impl<'a> Change<'a> {
    /// The changes of one write to the keys `ids`: each key, or every key when there are many.
    pub fn keys(ids: impl ExactSizeIterator<Item = &'a ContentId>) -> Vec<Change<'a>> {
        if ids.len() > MAX_NAMED_KEYS {
            vec![Change::AllKeys]
        } else {
            ids.map(Change::Key).collect()
        }
    }
}

/// How decisions use the caches on a shared store (`decision.consistency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// A write on another node is seen once its notification is applied (milliseconds).
    Bounded,
    /// Each decision first checks, in one indexed read, that every committed write has been applied.
    Strict,
}

/// The generations, the subscription state and the strict-consistency watermark of one node.
pub struct Coherence {
    /// Whether other processes write the store (PostgreSQL): caches then need a subscription.
    shared: bool,
    subscribed: AtomicBool,
    hasher: RandomState,
    catalogue: AtomicU64,
    sessions: AtomicU64,
    users: Box<[AtomicU64]>,
    keys: Box<[AtomicU64]>,
    /// The store generation up to which every write has been applied here.
    applied: watch::Sender<i64>,
    /// `decision.consistency = "strict"`, and its `strict_wait_ms` (read on every decision: atomics).
    strict: AtomicBool,
    strict_wait_ms: AtomicU64,
    resubscribe: Notify,
}

impl std::fmt::Debug for Coherence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coherence")
            .field("shared", &self.shared)
            .field("subscribed", &self.subscribed.load(Ordering::Relaxed))
            .field("applied", &*self.applied.borrow())
            .finish_non_exhaustive()
    }
}

/// A generation to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bump {
    Catalogue,
    Sessions,
    User(usize),
    Key(usize),
    AllUsers,
    AllKeys,
    Everything,
}

/// Why a payload could not be applied as it stands (everything was invalidated instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("no generation before the scopes")]
    NoGeneration,
    #[error("unknown scope {0:?}")]
    UnknownScope(String),
}

impl Coherence {
    /// The generations of a node; `shared` when other nodes may write the store (caches wait for a
    /// subscription).
    pub fn new(shared: bool) -> Self {
        let coherence = Self {
            shared,
            subscribed: AtomicBool::new(!shared),
            hasher: RandomState::new(),
            catalogue: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            users: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            keys: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            applied: watch::Sender::new(0),
            strict: AtomicBool::new(false),
            strict_wait_ms: AtomicU64::new(50),
            resubscribe: Notify::new(),
        };
        gauge!(SUBSCRIBED_METRIC).set(if shared { 0.0 } else { 1.0 });
        coherence
    }

    /// Whether caches may be used now: the store is this process's own, or the node is subscribed;
    /// and the current task is not running [`uncached`].
    pub fn caching(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && !bypassed()
    }

    /// Whether other nodes may write the store.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// Sets how decisions use the caches; `strict_wait` bounds how long a strict check waits for a
    /// notification before the node drops to uncached answers.
    pub fn set_consistency(&self, consistency: Consistency, strict_wait: Duration) {
        let wait_ms = u64::try_from(strict_wait.as_millis()).unwrap_or(u64::MAX);
        self.strict_wait_ms.store(wait_ms, Ordering::Relaxed);
        self.strict
            .store(consistency == Consistency::Strict, Ordering::Release);
    }

    /// The catalogue generation.
    pub fn catalogue(&self) -> u64 {
        self.catalogue.load(Ordering::Acquire)
    }

    /// The playback-session generation.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Acquire)
    }

    /// The generation of `uid`'s stripe.
    pub fn user(&self, uid: &UserId) -> u64 {
        self.users[self.stripe(uid.as_str())].load(Ordering::Acquire)
    }

    /// The generation of `id`'s key stripe.
    pub fn key(&self, id: &ContentId) -> u64 {
        self.keys[self.stripe(id.as_str())].load(Ordering::Acquire)
    }

    fn stripe(&self, id: &str) -> usize {
        (self.hasher.hash_one(id) % STRIPES as u64) as usize
    }

    fn bump_for(&self, scope: Scope<'_>) -> Bump {
        match scope {
            Scope::Catalogue => Bump::Catalogue,
            Scope::Sessions => Bump::Sessions,
            Scope::User(uid) => Bump::User(self.stripe(uid)),
            Scope::Key(id) => Bump::Key(self.stripe(id)),
            Scope::AllUsers => Bump::AllUsers,
            Scope::AllKeys => Bump::AllKeys,
        }
    }

    fn bump(&self, bump: Bump) {
        let all = |stripes: &[AtomicU64]| {
            for stripe in stripes {
                stripe.fetch_add(1, Ordering::AcqRel);
            }
        };
        match bump {
            Bump::Catalogue => {
                self.catalogue.fetch_add(1, Ordering::AcqRel);
            }
            Bump::Sessions => {
                self.sessions.fetch_add(1, Ordering::AcqRel);
            }
            Bump::User(stripe) => {
                self.users[stripe].fetch_add(1, Ordering::AcqRel);
            }
            Bump::Key(stripe) => {
                self.keys[stripe].fetch_add(1, Ordering::AcqRel);
            }
            Bump::AllUsers => all(&self.users),
            Bump::AllKeys => all(&self.keys),
            Bump::Everything => {
                self.catalogue.fetch_add(1, Ordering::AcqRel);
                self.sessions.fetch_add(1, Ordering::AcqRel);
                all(&self.users);
                all(&self.keys);
            }
        }
    }

    /// Moves the generations `changes` cover (a write of this process ended).
    pub fn apply(&self, changes: &[Change<'_>]) {
        for &change in changes {
            self.bump(self.bump_for(change.into()));
        }
    }

    /// A guard that applies `changes` when dropped: hold it across a write, so nothing read before
    /// the write ends is served after it (committed, failed or abandoned alike).
    pub fn invalidation<'a>(&'a self, changes: &[Change<'_>]) -> Invalidation<'a> {
        Invalidation {
            coherence: self,
            bumps: changes.iter().map(|&c| self.bump_for(c.into())).collect(),
        }
    }

    /// Applies a notification's payload: the scopes it names move and the applied watermark
    /// advances to its generation. A payload that cannot be read as it stands moves every
    /// generation (never a stale answer), and is reported.
    pub fn apply_payload(&self, payload: &str) -> Result<(), PayloadError> {
        if payload == PING {
            counter!(NOTIFICATIONS_METRIC, "kind" => "ping").increment(1);
            return Ok(());
        }
        let parsed = parse_payload(payload);
        let generation = match &parsed {
            Ok((generation, bumps)) => {
                for &bump in bumps {
                    self.bump(self.bump_for(bump));
                }
                counter!(NOTIFICATIONS_METRIC, "kind" => "change").increment(1);
                Some(*generation)
            }
            Err((generation, _)) => {
                self.bump(Bump::Everything);
                counter!(NOTIFICATIONS_METRIC, "kind" => "malformed").increment(1);
                *generation
            }
        };
        match generation {
            Some(generation) => self.advance(generation),
            // Nothing says how far this notification goes: only a fresh subscription can.
            None => self.request_resubscribe(),
        }
        parsed.map(|_| ()).map_err(|(_, e)| e)
    }

    fn advance(&self, generation: i64) {
        self.applied.send_if_modified(|applied| {
            let moved = generation > *applied;
            *applied = (*applied).max(generation);
            moved
        });
    }

    /// The store generation up to which every write has been applied here.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Subscribed again with the store at `generation` (read after `LISTEN`): every generation moves,
    /// then caching resumes.
    pub(crate) fn subscribed_at(&self, generation: i64) {
        self.bump(Bump::Everything);
        self.advance(generation);
        self.subscribed.store(true, Ordering::Release);
        gauge!(SUBSCRIBED_METRIC).set(1.0);
    }

    /// The subscription is gone: every lookup goes to the store until the next one.
    pub(crate) fn unsubscribed(&self, reason: &'static str) {
        if !self.shared {
            return;
        }
        let was = self.subscribed.swap(false, Ordering::AcqRel);
        gauge!(SUBSCRIBED_METRIC).set(0.0);
        if was {
            counter!(LOST_METRIC, "reason" => reason).increment(1);
            tracing::warn!(
                reason,
                "cache coherence: not subscribed to the store's notifications; caches are off until it is"
            );
        }
    }

    /// Asks the subscriber to drop its connection and subscribe again.
    fn request_resubscribe(&self) {
        self.unsubscribed("lagging");
        self.resubscribe.notify_one();
    }

    /// Completes when something asked for a fresh subscription.
    pub(crate) async fn resubscribe_requested(&self) {
        self.resubscribe.notified().await;
    }

    /// Under strict consistency on a shared store, whether the caches reflect every write committed
    /// before now: reads the store's generation (`read`: the one indexed query, `None` when it
    /// failed) and waits up to `decision.strict_wait_ms` for the notifications still on their way.
    /// `false`: the decision must run [`uncached`] (notifications late, or the generation unreadable,
    /// which also starts a new subscription). Always `true` otherwise.
    pub async fn ensure_current<F>(&self, read: F) -> bool
    where
        F: std::future::Future<Output = Option<i64>>,
    {
        if !self.shared || !self.strict.load(Ordering::Acquire) || !self.caching() {
            return true;
        }
        let wait = Duration::from_millis(self.strict_wait_ms.load(Ordering::Relaxed));
        let Some(target) = read.await else {
            counter!(STRICT_METRIC, "result" => "error").increment(1);
            tracing::warn!("strict consistency: cannot read the store's generation");
            self.request_resubscribe();
            return false;
        };
        if self.applied() >= target {
            counter!(STRICT_METRIC, "result" => "current").increment(1);
            return true;
        }
        let mut applied = self.applied.subscribe();
        let caught_up = tokio::time::timeout(wait, applied.wait_for(|g| *g >= target)).await;
        if matches!(caught_up, Ok(Ok(_))) {
            counter!(STRICT_METRIC, "result" => "waited").increment(1);
            true
        } else {
            counter!(STRICT_METRIC, "result" => "behind").increment(1);
            tracing::debug!(
                applied = self.applied(),
                target,
                "strict consistency: notifications late; this decision is uncached"
            );
            false
        }
    }
}

tokio::task_local! {
    /// Set while a decision must not use the caches.
    static UNCACHED: ();
}

/// Runs `work` with every cache bypassed (reads go to the store, nothing is kept).
pub async fn uncached<F: std::future::Future>(work: F) -> F::Output {
    UNCACHED.scope((), work).await
}

fn bypassed() -> bool {
    UNCACHED.try_with(|()| ()).is_ok()
}

/// Held by a write; moves the generations it covers when dropped.
#[must_use = "the invalidation happens when the guard is dropped at the end of the write"]
pub struct Invalidation<'a> {
    coherence: &'a Coherence,
    bumps: Vec<Bump>,
}

impl Drop for Invalidation<'_> {
    fn drop(&mut self) {
        for &bump in &self.bumps {
            self.coherence.bump(bump);
        }
    }
}

/// A scope named in a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    Catalogue,
    Sessions,
    User(&'a str),
    Key(&'a str),
    AllUsers,
    AllKeys,
}

impl<'a> From<Change<'a>> for Scope<'a> {
    fn from(change: Change<'a>) -> Self {
        match change {
            Change::Catalogue => Scope::Catalogue,
            Change::Sessions => Scope::Sessions,
            Change::User(uid) => Scope::User(uid.as_str()),
            Change::Key(id) => Scope::Key(id.as_str()),
            Change::AllKeys => Scope::AllKeys,
        }
    }
}

impl Scope<'_> {
    fn write(self, out: &mut String) {
        match self {
            Scope::Catalogue => out.push('c'),
            Scope::Sessions => out.push('s'),
            Scope::User(uid) => {
                out.push_str("u:");
                out.push_str(uid);
            }
            Scope::Key(id) => {
                out.push_str("k:");
                out.push_str(id);
            }
            Scope::AllUsers => out.push('U'),
            Scope::AllKeys => out.push('K'),
        }
    }

    fn parse(raw: &str) -> Option<Scope<'_>> {
        Some(match raw {
            "c" => Scope::Catalogue,
            "s" => Scope::Sessions,
            "U" => Scope::AllUsers,
            "K" => Scope::AllKeys,
            _ => {
                if let Some(uid) = raw.strip_prefix("u:").filter(|s| !s.is_empty()) {
                    Scope::User(uid)
                } else if let Some(id) = raw.strip_prefix("k:").filter(|s| !s.is_empty()) {
                    Scope::Key(id)
                } else {
                    return None;
                }
            }
        })
    }
}

/// The scopes part of a payload for `changes` (the generation is prepended in SQL): every change
/// named, unless that would be too long or too many keys, when whole scopes replace the names.
pub(crate) fn encode_scopes(changes: &[Change<'_>]) -> String {
    let keys = changes
        .iter()
        .filter(|c| matches!(c, Change::Key(_)))
        .count();
    let named = join_scopes(changes, false, keys > MAX_NAMED_KEYS);
    if named.len() <= MAX_PAYLOAD_BYTES {
        return named;
    }
    join_scopes(changes, true, true)
}

/// `changes` as scopes, users and keys each named or whole; whole scopes once.
fn join_scopes(changes: &[Change<'_>], whole_users: bool, whole_keys: bool) -> String {
    let mut scopes: Vec<Scope<'_>> = Vec::with_capacity(changes.len());
    for &change in changes {
        let scope = match Scope::from(change) {
            Scope::User(_) if whole_users => Scope::AllUsers,
            Scope::Key(_) if whole_keys => Scope::AllKeys,
            scope => scope,
        };
        let named = matches!(scope, Scope::User(_) | Scope::Key(_));
        if named || !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let mut out = String::new();
    for (i, scope) in scopes.into_iter().enumerate() {
        if i > 0 {
            out.push(UNIT);
        }
        scope.write(&mut out);
    }
    out
}

/// The generation and scopes of a payload; on failure, the generation when it could be read.
#[allow(clippy::type_complexity)]
fn parse_payload(payload: &str) -> Result<(i64, Vec<Scope<'_>>), (Option<i64>, PayloadError)> {
    let Some((generation, scopes)) = payload.split_once(RECORD) else {
        return Err((None, PayloadError::NoGeneration));
    };
    let generation: i64 = generation
        .parse()
        .map_err(|_| (None, PayloadError::NoGeneration))?;
    scopes
        .split(UNIT)
        .map(|raw| {
            Scope::parse(raw).ok_or_else(|| {
                let shown: String = raw.chars().take(40).collect();
                (Some(generation), PayloadError::UnknownScope(shown))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|scopes| (generation, scopes))
}

/// The payload separator between the generation and the scopes, for the SQL that prepends it.
pub(crate) const GENERATION_SEPARATOR: char = RECORD;

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> UserId {
        UserId::parse(s.to_owned()).unwrap()
    }

    fn cid(s: &str) -> ContentId {
        ContentId::parse(s.to_owned()).unwrap()
    }

    fn payload(generation: i64, changes: &[Change<'_>]) -> String {
        format!("{generation}{RECORD}{}", encode_scopes(changes))
    }

    #[test]
    fn a_payload_moves_exactly_what_it_names() {
        let hub = Coherence::new(true);
        let (alice, bob) = (uid("alice"), uid("bob"));
        let (before_alice, before_catalogue) = (hub.user(&alice), hub.catalogue());
        hub.apply_payload(&payload(7, &[Change::User(&alice)]))
            .unwrap();
        assert_eq!(hub.user(&alice), before_alice + 1);
        assert_eq!(hub.catalogue(), before_catalogue);
        assert_eq!(hub.applied(), 7);
        if hub.stripe("alice") != hub.stripe("bob") {
            assert_eq!(hub.user(&bob), 0);
        }
    }

    #[test]
    fn names_with_separators_of_every_other_kind_round_trip() {
        let hub = Coherence::new(true);
        let odd = uid("a:b;d|e u:x k:y");
        let key = cid("urn:uuid:1,2");
        let text = payload(
            3,
            &[Change::User(&odd), Change::Key(&key), Change::Catalogue],
        );
        let (generation, scopes) = parse_payload(&text).unwrap();
        assert_eq!(generation, 3);
        assert_eq!(
            scopes,
            [
                Scope::User("a:b;d|e u:x k:y"),
                Scope::Key("urn:uuid:1,2"),
                Scope::Catalogue
            ]
        );
        let before = hub.key(&key);
        hub.apply_payload(&text).unwrap();
        assert_eq!(hub.key(&key), before + 1);
    }

    #[test]
    fn a_malformed_or_unknown_payload_moves_everything() {
        let hub = Coherence::new(true);
        let alice = uid("alice");
        let key = cid("k");
        for bad in ["12\u{1e}x:what", "12\u{1e}", "garbage", "\u{1e}c"] {
            let (u, k, c, s) = (
                hub.user(&alice),
                hub.key(&key),
                hub.catalogue(),
                hub.sessions(),
            );
            assert!(hub.apply_payload(bad).is_err(), "{bad:?}");
            assert!(hub.user(&alice) > u && hub.key(&key) > k, "{bad:?}");
            assert!(hub.catalogue() > c && hub.sessions() > s, "{bad:?}");
        }
        // The one whose generation could be read advanced the watermark.
        assert_eq!(hub.applied(), 12);
    }

    #[test]
    fn a_payload_without_a_generation_asks_for_a_new_subscription() {
        let hub = Coherence::new(true);
        hub.subscribed_at(1);
        assert!(hub.caching());
        let _ = hub.apply_payload("garbage");
        assert!(
            !hub.caching(),
            "cannot tell how far it goes: uncached until resubscribed"
        );
    }

    #[test]
    fn a_ping_changes_nothing() {
        let hub = Coherence::new(true);
        let c = hub.catalogue();
        hub.apply_payload(PING).unwrap();
        assert_eq!(hub.catalogue(), c);
        assert_eq!(hub.applied(), 0);
    }

    #[test]
    fn long_lists_become_whole_scopes_within_the_size_limit() {
        let users: Vec<UserId> = (0..2_000).map(|i| uid(&format!("user-{i:05}"))).collect();
        let keys: Vec<ContentId> = (0..100).map(|i| cid(&format!("content-{i}"))).collect();
        let mut changes: Vec<Change<'_>> = users.iter().map(Change::User).collect();
        changes.extend(keys.iter().map(Change::Key));
        changes.push(Change::Sessions);
        let scopes = encode_scopes(&changes);
        assert!(scopes.len() < 100, "{} bytes", scopes.len());
        let text = format!("1{RECORD}{scopes}");
        let (_, parsed) = parse_payload(&text).unwrap();
        assert_eq!(parsed, [Scope::AllUsers, Scope::AllKeys, Scope::Sessions]);

        let few: Vec<Change<'_>> = keys[..3].iter().map(Change::Key).collect();
        assert_eq!(encode_scopes(&few).matches("k:").count(), 3);
        let many: Vec<Change<'_>> = keys.iter().map(Change::Key).collect();
        assert_eq!(encode_scopes(&many), "K");
    }

    #[test]
    fn the_watermark_only_moves_forward() {
        let hub = Coherence::new(true);
        hub.apply_payload(&payload(9, &[Change::Catalogue]))
            .unwrap();
        hub.apply_payload(&payload(4, &[Change::Catalogue]))
            .unwrap();
        assert_eq!(hub.applied(), 9);
    }

    #[test]
    fn a_shared_store_caches_only_while_subscribed_and_resubscribing_moves_everything() {
        let own = Coherence::new(false);
        assert!(own.caching());
        own.unsubscribed("connection");
        assert!(own.caching(), "nobody else writes an unshared store");

        let hub = Coherence::new(true);
        assert!(!hub.caching(), "not before the first subscription");
        let alice = uid("alice");
        hub.subscribed_at(5);
        assert!(hub.caching());
        assert_eq!(hub.applied(), 5);
        let (u, c) = (hub.user(&alice), hub.catalogue());
        hub.unsubscribed("connection");
        assert!(!hub.caching());
        hub.subscribed_at(6);
        assert!(hub.user(&alice) > u && hub.catalogue() > c);
    }

    #[test]
    fn an_invalidation_moves_its_scopes_when_dropped() {
        let hub = Coherence::new(false);
        let alice = uid("alice");
        let before = hub.user(&alice);
        let guard = hub.invalidation(&[Change::User(&alice)]);
        assert_eq!(hub.user(&alice), before);
        drop(guard);
        assert_eq!(hub.user(&alice), before + 1);
    }

    #[tokio::test]
    async fn strict_checks_wait_for_late_notifications_then_go_uncached() {
        let hub = std::sync::Arc::new(Coherence::new(true));
        hub.set_consistency(Consistency::Strict, Duration::from_millis(200));
        hub.subscribed_at(10);
        assert!(hub.ensure_current(async { Some(10) }).await, "current");

        let late = std::sync::Arc::clone(&hub);
        let notifier = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            late.apply_payload(&payload(11, &[Change::Catalogue]))
                .unwrap();
        });
        assert!(
            hub.ensure_current(async { Some(11) }).await,
            "caught up while waiting"
        );
        notifier.await.unwrap();

        assert!(
            !hub.ensure_current(async { Some(12) }).await,
            "never caught up: this decision is uncached"
        );
        assert!(hub.caching(), "the node keeps its caches");
        assert!(!uncached(async { hub.caching() }).await);

        assert!(!hub.ensure_current(async { None }).await);
        assert!(!hub.caching(), "an unreadable generation: subscribe again");
    }
}
