//! The decision: may this viewer play this asset now? The rules over the catalogue are evaluated here
//! and only here — by the SEES endpoint (viewer named by a playback-session cookie) and by the
//! explanation routes (viewer named by a user id) — and each rule adds a step to the trail that
//! explains the answer. No HTTP here.
//!
//! Order: a free package contains the asset → a live session names the user → the user holds an
//! entitlement whose window contains now (± the clock-skew tolerance) to a package that contains the
//! asset directly or through the package graph, or a direct asset grant → every package on that path
//! admits the session's country. The first rule that fails decides the denial.

pub mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{
    AssetView, Catalog, CatalogError, Entitlement, PlaybackSession, PlaybackSessions,
};
use crate::ids::{AssetId, CustomerCookie, PackageId, UserId};

/// The rule a step of the trail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    FreePackage,
    Session,
    Entitlement,
    Region,
}

/// One step of the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub rule: Rule,
    pub passed: bool,
    pub detail: String,
}

/// Why the answer is no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    SessionRequired,
    SessionUnknown,
    SessionExpired,
    NotEntitled,
    EntitlementExpired,
    EntitlementNotYetValid,
    RegionNotAllowed,
    StoreUnavailable,
}

/// What allowed the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The user, when a session or the caller named one (free packages need none).
    pub uid: Option<UserId>,
    /// The package whose entitlement (or freeness) allows; `None` for a direct asset grant.
    pub package: Option<PackageId>,
    /// Entitled package → … → the package that contains the asset.
    pub path: Vec<PackageId>,
    /// The entitlement's own concurrency limit (monetization entitlements carry one).
    pub concurrency_limit: Option<u32>,
    /// The entitlement's own concurrency policy, when it sets one.
    pub concurrency_policy: Option<crate::catalog::ConcurrencyPolicy>,
    /// Who holds the stream this playback opens (the session's device, or the session): SEES path only.
    #[serde(skip)]
    pub holder: Option<String>,
}

/// Countries where EU content-portability (Regulation (EU) 2017/1128) lets a subscriber travelling from
/// another member state keep access: the EU and the EEA.
const PORTABILITY: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Whether an entitlement obtained in `origin` travels to `country`.
fn travels(origin: &str, country: &str) -> bool {
    let member = |c: &str| PORTABILITY.iter().any(|m| m.eq_ignore_ascii_case(c));
    member(origin) && member(country)
}

/// The answer and its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub asset: AssetId,
    /// The user the decision was about, once known (also on a denial after the session rule).
    pub viewer: Option<UserId>,
    pub trail: Vec<Step>,
    pub outcome: Result<Grant, Denial>,
}

impl Decision {
    /// Whether the viewer may play.
    pub fn allowed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The last failed step's detail (for `errorText`).
    pub fn why(&self) -> String {
        self.trail
            .iter()
            .rev()
            .find(|s| !s.passed)
            .map(|s| s.detail.clone())
            .unwrap_or_default()
    }
}

/// Evaluates the rules.
#[derive(Debug, Clone)]
pub struct Decider {
    catalog: Catalog,
    sessions: PlaybackSessions,
    skew: Duration,
}

struct Trail {
    asset: AssetId,
    steps: Vec<Step>,
}

impl Trail {
    fn step(&mut self, rule: Rule, passed: bool, detail: impl Into<String>) {
        self.steps.push(Step {
            rule,
            passed,
            detail: detail.into(),
        });
    }

    fn done(self, outcome: Result<Grant, Denial>) -> Decision {
        Decision {
            asset: self.asset,
            viewer: None,
            trail: self.steps,
            outcome,
        }
    }
}

impl Decider {
    /// Rules over `catalog` and `sessions`; windows are checked with `skew` tolerance.
    pub fn new(catalog: Catalog, sessions: PlaybackSessions, skew: Duration) -> Self {
        Self {
            catalog,
            sessions,
            skew,
        }
    }

    /// Under `decision.consistency = "strict"` on a shared store, whether the caches reflect every
    /// write committed before now (`false`: decide with `store::coherence::uncached`); `true`
    /// otherwise.
    pub async fn ensure_current(&self) -> bool {
        self.catalog.ensure_current().await
    }

    /// The SEES path: the viewer is the user of the playback session `cookie` names.
    pub async fn for_cookie(
        &self,
        asset: &AssetId,
        cookie: Option<&CustomerCookie>,
        now: DateTime<Utc>,
    ) -> Decision {
        let mut trail = Trail {
            asset: asset.clone(),
            steps: Vec::new(),
        };
        let containing = match self.free_package(asset, &mut trail).await {
            Ok(Ok(grant)) => return trail.done(Ok(grant)),
            Ok(Err(containing)) => containing,
            Err(e) => return store_failure(trail, e),
        };
        let session = match self.live_session(cookie, now, &mut trail).await {
            Ok(Ok(session)) => session,
            Ok(Err(denial)) => return trail.done(Err(denial)),
            Err(e) => return store_failure(trail, e),
        };
        let mut decision = self
            .entitlement_and_region(
                trail,
                containing,
                &session.uid,
                session.country.as_deref(),
                now,
            )
            .await;
        if let (Ok(grant), Some(cookie)) = (&mut decision.outcome, cookie) {
            grant.holder = Some(self.sessions.stream_holder(&session, cookie));
        }
        decision
    }

    /// The explanation path: the viewer is `uid`, in `country` when given.
    pub async fn for_user(
        &self,
        asset: &AssetId,
        uid: &UserId,
        country: Option<&str>,
        now: DateTime<Utc>,
    ) -> Decision {
        let mut trail = Trail {
            asset: asset.clone(),
            steps: Vec::new(),
        };
        let containing = match self.free_package(asset, &mut trail).await {
            Ok(Ok(grant)) => {
                let mut decision = trail.done(Ok(Grant {
                    uid: Some(uid.clone()),
                    ..grant
                }));
                decision.viewer = Some(uid.clone());
                return decision;
            }
            Ok(Err(containing)) => containing,
            Err(e) => return store_failure(trail, e),
        };
        trail.step(Rule::Session, true, format!("the viewer is user {uid}"));
        self.entitlement_and_region(trail, containing, uid, country, now)
            .await
    }

    /// Only the session rule (device registrations need a known viewer, not an entitlement).
    pub async fn session_only(
        &self,
        cookie: Option<&CustomerCookie>,
        now: DateTime<Utc>,
    ) -> Result<UserId, (Denial, String)> {
        let mut trail = Trail {
            asset: AssetId::parse("-").expect("a valid placeholder"),
            steps: Vec::new(),
        };
        match self.live_session(cookie, now, &mut trail).await {
            Ok(Ok(session)) => Ok(session.uid),
            Ok(Err(denial)) => Err((denial, trail.done(Err(denial)).why())),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                Err((Denial::StoreUnavailable, String::new()))
            }
        }
    }

    /// The free-package rule: a grant, or what the catalogue says about the asset.
    async fn free_package(
        &self,
        asset: &AssetId,
        trail: &mut Trail,
    ) -> Result<Result<Grant, Arc<AssetView>>, CatalogError> {
        let view = self.catalog.asset_view(asset).await?;
        if let Some(free) = view.containing.iter().find(|p| p.free) {
            trail.step(
                Rule::FreePackage,
                true,
                format!("free package {} contains asset {asset}", free.id),
            );
            return Ok(Ok(Grant {
                package: Some(free.id.clone()),
                path: vec![free.id.clone()],
                ..Grant::default()
            }));
        }
        trail.step(
            Rule::FreePackage,
            false,
            format!(
                "no free package contains asset {asset} ({} package(s) do)",
                view.containing.len()
            ),
        );
        Ok(Err(view))
    }

    async fn live_session(
        &self,
        cookie: Option<&CustomerCookie>,
        now: DateTime<Utc>,
        trail: &mut Trail,
    ) -> Result<Result<PlaybackSession, Denial>, CatalogError> {
        let Some(cookie) = cookie else {
            trail.step(
                Rule::Session,
                false,
                "no customerCookie: a playback session is required",
            );
            return Ok(Err(Denial::SessionRequired));
        };
        match self.sessions.resolve(cookie).await? {
            None => {
                trail.step(
                    Rule::Session,
                    false,
                    "the customerCookie names no playback session",
                );
                Ok(Err(Denial::SessionUnknown))
            }
            Some(session) if !session.is_live(now) => {
                let detail = match session.revoked_at {
                    Some(at) => format!("the playback session was revoked at {}", at.to_rfc3339()),
                    None => format!(
                        "the playback session expired at {}",
                        session.expires_at.to_rfc3339()
                    ),
                };
                trail.step(Rule::Session, false, detail);
                Ok(Err(Denial::SessionExpired))
            }
            Some(session) => {
                trail.step(
                    Rule::Session,
                    true,
                    format!(
                        "live session of user {}{}",
                        session.uid,
                        session
                            .country
                            .as_deref()
                            .map(|c| format!(" in {c}"))
                            .unwrap_or_default()
                    ),
                );
                Ok(Ok(session))
            }
        }
    }

    async fn entitlement_and_region(
        &self,
        mut trail: Trail,
        containing: Arc<AssetView>,
        uid: &UserId,
        country: Option<&str>,
        now: DateTime<Utc>,
    ) -> Decision {
        let mut decision = match self
            .entitlement_paths(&mut trail, containing, uid, country, now)
            .await
        {
            Ok(outcome) => trail.done(outcome),
            Err(e) => store_failure(trail, e),
        };
        decision.viewer = Some(uid.clone());
        decision
    }

    async fn entitlement_paths(
        &self,
        trail: &mut Trail,
        view: Arc<AssetView>,
        uid: &UserId,
        country: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<Grant, Denial>, CatalogError> {
        let skew = chrono::Duration::from_std(self.skew).unwrap_or_default();
        let asset = trail.asset.clone();
        let user = self.catalog.user_view(uid).await?;
        // A direct asset grant, active within the tolerance.
        if let Some(grant) = self.catalog.asset_grant_in(&user, uid, &asset).await? {
            if grant.start - skew <= now && grant.end.is_none_or(|end| now < end + skew) {
                trail.step(
                    Rule::Entitlement,
                    true,
                    format!(
                        "user {uid} holds a direct grant to asset {}",
                        grant.asset_id
                    ),
                );
                return Ok(Ok(Grant {
                    uid: Some(uid.clone()),
                    ..Grant::default()
                }));
            }
        }
        // Packages that contain the asset, and their ancestors (child → parents edges).
        let leaves: Vec<&PackageId> = view.containing.iter().map(|p| &p.id).collect();
        let edges = &view.ancestor_edges;
        let candidates: BTreeSet<&PackageId> = leaves
            .iter()
            .copied()
            .chain(edges.iter().map(|(_, p)| p))
            .collect();
        let held: Vec<&Entitlement> = user
            .entitlements
            .iter()
            .filter(|e| candidates.contains(&e.package_id))
            .collect();
        if held.is_empty() {
            trail.step(
                Rule::Entitlement,
                false,
                format!("user {uid} holds no entitlement to a package containing asset {asset}"),
            );
            return Ok(Err(Denial::NotEntitled));
        }
        let active: Vec<_> = held
            .iter()
            .filter(|e| e.start - skew <= now && e.end.is_none_or(|end| now < end + skew))
            .collect();
        if active.is_empty() {
            let future = held.iter().any(|e| e.start - skew > now);
            let (denial, word) = if future {
                (Denial::EntitlementNotYetValid, "is not valid yet")
            } else {
                (Denial::EntitlementExpired, "has expired")
            };
            let which = held
                .iter()
                .map(|e| e.package_id.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            trail.step(
                Rule::Entitlement,
                false,
                format!("user {uid}'s entitlement ({which}) {word}"),
            );
            return Ok(Err(denial));
        }
        // For each active entitlement, the paths down to a package that contains the asset.
        let leaf_set: BTreeSet<&PackageId> = leaves.iter().copied().collect();
        let mut children: BTreeMap<&PackageId, Vec<&PackageId>> = BTreeMap::new();
        for (child, parent) in edges {
            children.entry(parent).or_default().push(child);
        }
        let mut paths: Vec<Vec<PackageId>> = Vec::new();
        for entitlement in &active {
            collect_paths(
                &entitlement.package_id,
                &children,
                &leaf_set,
                &mut vec![],
                &mut paths,
            );
        }
        let Some(first) = paths.first() else {
            trail.step(
                Rule::Entitlement,
                false,
                format!("user {uid}'s entitlements reach no package containing asset {asset}"),
            );
            return Ok(Err(Denial::NotEntitled));
        };
        trail.step(
            Rule::Entitlement,
            true,
            format!("user {uid} is entitled through {}", describe(first)),
        );
        // Region: every package on the path must admit the country.
        let rules = &view.rules;
        let admits = |path: &Vec<PackageId>| {
            path.iter().all(|id| {
                rules.get(id).is_none_or(|r| {
                    r.regions.is_empty()
                        || country.is_some_and(|c| {
                            r.regions
                                .iter()
                                .any(|region| region.as_str().eq_ignore_ascii_case(c))
                        })
                })
            })
        };
        let entitlement_of =
            |path: &[PackageId]| active.iter().find(|e| path.first() == Some(&e.package_id));
        let grant = |path: &Vec<PackageId>| Grant {
            uid: Some(uid.clone()),
            package: path.first().cloned(),
            path: path.clone(),
            concurrency_limit: entitlement_of(path).and_then(|e| e.concurrency_limit),
            concurrency_policy: entitlement_of(path).and_then(|e| e.concurrency_policy),
            holder: None,
        };
        if let Some(path) = paths.iter().find(|p| admits(p)) {
            trail.step(
                Rule::Region,
                true,
                match country {
                    Some(c) => format!("{c} is admitted along {}", describe(path)),
                    None => "no package on the path restricts regions".to_owned(),
                },
            );
            return Ok(Ok(grant(path)));
        }
        // Travel access: an entitlement obtained in an EU/EEA country keeps working in another one.
        let travelling = country.and_then(|c| {
            paths.iter().find_map(|path| {
                let origin = active
                    .iter()
                    .find(|e| path.first() == Some(&e.package_id))
                    .and_then(|e| e.origin_country.clone())?;
                travels(&origin, c).then_some((path, origin))
            })
        });
        if let Some((path, origin)) = travelling {
            trail.step(
                Rule::Region,
                true,
                format!(
                    "{} is outside the whitelist of {}, but the entitlement was obtained in {origin}: EU \
                     portability grants travel access",
                    country.unwrap_or_default(),
                    describe(path)
                ),
            );
            return Ok(Ok(grant(path)));
        }
        trail.step(
            Rule::Region,
            false,
            format!(
                "{} is not in the region whitelist of {}",
                country.unwrap_or("an unknown country"),
                describe(first)
            ),
        );
        Ok(Err(Denial::RegionNotAllowed))
    }
}

/// Every path from `from` down to a package in `leaves` (depth is bounded by the graph limit).
fn collect_paths(
    from: &PackageId,
    children: &BTreeMap<&PackageId, Vec<&PackageId>>,
    leaves: &BTreeSet<&PackageId>,
    prefix: &mut Vec<PackageId>,
    out: &mut Vec<Vec<PackageId>>,
) {
    if prefix.contains(from) || prefix.len() > 64 {
        return;
    }
    prefix.push(from.clone());
    if leaves.contains(from) {
        out.push(prefix.clone());
    }
    for child in children.get(from).into_iter().flatten() {
        collect_paths(child, children, leaves, prefix, out);
    }
    prefix.pop();
}

fn describe(path: &[PackageId]) -> String {
    let names: Vec<&str> = path.iter().map(PackageId::as_str).collect();
    match names.len() {
        1 => format!("package {}", names[0]),
        _ => format!("packages {}", names.join(" → ")),
    }
}

fn store_failure(trail: Trail, e: CatalogError) -> Decision {
    tracing::error!(error = %e, "catalogue read failed during a decision");
    trail.done(Err(Denial::StoreUnavailable))
}
