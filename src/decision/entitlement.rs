//! The entitlement rule: an active direct grant to the asset, else an active entitlement to a package
//! that contains the asset or is an ancestor of one, with the paths it reaches the asset by. Pure:
//! works on the viewer's loaded [`Holdings`] and the asset's view.

use super::outcome::{Denial, Grant, Rule, Trail};
use super::paths;
use super::windows::{Moment, Position};
use crate::catalog::{AssetEntitlement, AssetView, Entitlement};
use crate::ids::{PackageId, UserId};

/// What the entitlement rule reads about the viewer.
#[derive(Debug, Clone, Copy)]
pub struct Holdings<'a> {
    /// Every package entitlement, active or not, in the catalogue's order.
    pub entitlements: &'a [Entitlement],
    /// The direct grant to the asset, active or not.
    pub asset_grant: Option<&'a AssetEntitlement>,
}

/// What the entitlement rule found.
pub enum Entitled<'h> {
    /// A direct grant to the asset: no package, no region rule.
    Asset,
    /// Active package entitlements and the paths they reach the asset by.
    Packages(Reach<'h>),
}

/// The paths from the viewer's active entitlements down to the asset, in entitlement then graph order.
pub struct Reach<'h> {
    paths: Vec<Vec<PackageId>>,
    active: Vec<&'h Entitlement>,
}

impl Reach<'_> {
    /// Every path, in entitlement then graph order (never empty).
    pub fn paths(&self) -> &[Vec<PackageId>] {
        &self.paths
    }

    /// The active entitlement a path starts from.
    pub fn entitlement_of(&self, path: &[PackageId]) -> Option<&Entitlement> {
        self.active
            .iter()
            .copied()
            .find(|e| path.first() == Some(&e.package_id))
    }

    /// The grant along `path` to `uid`, with the limits of the entitlement it starts from.
    pub fn grant(&self, uid: &UserId, path: &[PackageId]) -> Grant {
        let entitlement = self.entitlement_of(path);
        Grant {
            uid: Some(uid.clone()),
            package: path.first().cloned(),
            path: path.to_vec(),
            concurrency_limit: entitlement.and_then(|e| e.concurrency_limit),
            concurrency_policy: entitlement.and_then(|e| e.concurrency_policy),
            ..Grant::default()
        }
    }
}

/// The entitlement rule: an active direct grant, else an active entitlement to a package that
/// contains the asset or is an ancestor of one.
pub fn entitlement<'h>(
    trail: &mut Trail,
    view: &AssetView,
    holdings: Holdings<'h>,
    uid: &UserId,
    at: Moment,
) -> Result<Entitled<'h>, Denial> {
    let asset = trail.asset().clone();
    if let Some(grant) = holdings.asset_grant {
        if at.within(grant.start, grant.end) {
            trail.step(
                Rule::Entitlement,
                true,
                format!(
                    "user {uid} holds a direct grant to asset {}",
                    grant.asset_id
                ),
            );
            return Ok(Entitled::Asset);
        }
    }
    let candidates = paths::candidates(view);
    let held: Vec<&Entitlement> = holdings
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
        return Err(Denial::NotEntitled);
    }
    let active: Vec<&Entitlement> = held
        .iter()
        .copied()
        .filter(|e| at.within(e.start, e.end))
        .collect();
    if active.is_empty() {
        let future = held
            .iter()
            .any(|e| at.position(e.start, e.end) == Position::NotYet);
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
        return Err(denial);
    }
    let paths = paths::paths_from(active.iter().map(|e| &e.package_id), view);
    let Some(first) = paths.first() else {
        trail.step(
            Rule::Entitlement,
            false,
            format!("user {uid}'s entitlements reach no package containing asset {asset}"),
        );
        return Err(Denial::NotEntitled);
    };
    trail.step(
        Rule::Entitlement,
        true,
        format!("user {uid} is entitled through {}", paths::describe(first)),
    );
    Ok(Entitled::Packages(Reach { paths, active }))
}
