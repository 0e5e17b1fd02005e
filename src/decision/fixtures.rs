//! Test fixtures shared by the decision rules' tests: times around a fixed instant, identifiers,
//! asset views, playback sessions and trail steps.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome::{Rule, Step};
use super::windows::Moment;
use crate::catalog::{AssetView, PackageRules, PlaybackSession};
use crate::ids::{PackageId, UserId};

/// `secs` seconds after (or before) the fixed instant the tests call now.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

/// Now is t(0), with 30 s of skew tolerance.
pub fn moment() -> Moment {
    Moment::new(t(0), Duration::from_secs(30))
}

pub fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

pub fn pid(s: &str) -> PackageId {
    PackageId::parse(s).unwrap()
}

pub fn path(ids: &[&str]) -> Vec<PackageId> {
    ids.iter().map(|s| pid(s)).collect()
}

/// A view of an asset contained in `leaves`, with child → parent `edges`; no package restricts
/// regions or is free.
pub fn view(leaves: &[&str], edges: &[(&str, &str)]) -> AssetView {
    let ancestor_edges: Vec<(PackageId, PackageId)> =
        edges.iter().map(|(c, p)| (pid(c), pid(p))).collect();
    let rules_of = |id: &PackageId| PackageRules {
        id: id.clone(),
        free: false,
        regions: Vec::new(),
        drm_policy: Default::default(),
    };
    let containing: Vec<PackageRules> = leaves.iter().map(|l| rules_of(&pid(l))).collect();
    let rules = leaves
        .iter()
        .map(|l| pid(l))
        .chain(ancestor_edges.iter().map(|(_, p)| p.clone()))
        .map(|id| (id.clone(), rules_of(&id)))
        .collect();
    AssetView {
        containing,
        ancestor_edges,
        rules,
    }
}

/// The chain p0 → p1 → … → p70 (each the parent of the next), where only p70 contains the asset.
pub fn deep_chain() -> AssetView {
    let names: Vec<String> = (0..=70).map(|i| format!("p{i}")).collect();
    let edges: Vec<(&str, &str)> = names
        .windows(2)
        .map(|w| (w[1].as_str(), w[0].as_str()))
        .collect();
    view(&["p70"], &edges)
}

/// A playback session of user u1, created an hour ago, in `country`, expiring at t(`expires`) and
/// revoked at t(`revoked`) when given.
pub fn session(country: Option<&str>, expires: i64, revoked: Option<i64>) -> PlaybackSession {
    PlaybackSession {
        uid: uid("u1"),
        device_id: None,
        country: country.map(str::to_owned),
        created_at: t(-3_600),
        expires_at: t(expires),
        revoked_at: revoked.map(t),
    }
}

pub fn step(rule: Rule, passed: bool, detail: &str) -> Step {
    Step {
        rule,
        passed,
        detail: detail.to_owned(),
    }
}
