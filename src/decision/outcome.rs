//! What a decision answers: the outcome ([`Grant`] or [`Denial`]) and the trail of [`Step`]s that
//! explains it. Plain values only — the rules fill them, the front ends translate them; nothing here
//! reads the store or knows a wire number.

use serde::Serialize;

use crate::ids::{AssetId, PackageId, UserId};

/// The rule a step of the trail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    FreePackage,
    Session,
    Entitlement,
    Region,
}

impl Rule {
    /// The rule's name, as serialized (`free-package`, `session`, `entitlement`, `region`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FreePackage => "free-package",
            Rule::Session => "session",
            Rule::Entitlement => "entitlement",
            Rule::Region => "region",
        }
    }
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
    /// The DRM policies of the packages that grant the asset (the entitled or free package and the
    /// path to the one that contains it), those that set one, in path order.
    #[serde(skip)]
    pub policies: std::sync::Arc<[(PackageId, crate::drm::DrmPolicy)]>,
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

/// The steps taken so far for one asset.
#[derive(Debug)]
pub(super) struct Trail {
    asset: AssetId,
    steps: Vec<Step>,
}

impl Trail {
    /// An empty trail about `asset`.
    pub(super) fn new(asset: AssetId) -> Self {
        Self {
            asset,
            steps: Vec::new(),
        }
    }

    /// The asset the trail is about.
    pub(super) fn asset(&self) -> &AssetId {
        &self.asset
    }

    /// Records that `rule` passed or failed, and why.
    pub(super) fn step(&mut self, rule: Rule, passed: bool, detail: impl Into<String>) {
        self.steps.push(Step {
            rule,
            passed,
            detail: detail.into(),
        });
    }

    /// The decision: this trail and `outcome`, about `viewer`.
    pub(super) fn done(self, viewer: Option<UserId>, outcome: Result<Grant, Denial>) -> Decision {
        Decision {
            asset: self.asset,
            viewer,
            trail: self.steps,
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_their_serialized_names() {
        for rule in [
            Rule::FreePackage,
            Rule::Session,
            Rule::Entitlement,
            Rule::Region,
        ] {
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
    }
    use crate::decision::fixtures::step;

    fn decision(trail: Vec<Step>, outcome: Result<Grant, Denial>) -> Decision {
        Decision {
            asset: AssetId::parse("a1").unwrap(),
            viewer: None,
            trail,
            outcome,
        }
    }

    #[test]
    fn why_is_the_last_failed_step() {
        let d = decision(
            vec![
                step(Rule::FreePackage, false, "first"),
                step(Rule::Session, true, "live"),
                step(Rule::Entitlement, false, "second"),
                step(Rule::Region, true, "passed after"),
            ],
            Err(Denial::NotEntitled),
        );
        assert_eq!(d.why(), "second");
        assert!(!d.allowed());
    }

    #[test]
    fn why_is_empty_when_nothing_failed() {
        let d = decision(
            vec![step(Rule::FreePackage, true, "free")],
            Ok(Grant::default()),
        );
        assert_eq!(d.why(), "");
        assert!(d.allowed());
        assert_eq!(decision(vec![], Err(Denial::StoreUnavailable)).why(), "");
    }

    #[test]
    fn rules_serialize_in_kebab_case() {
        let names: Vec<String> = [
            Rule::FreePackage,
            Rule::Session,
            Rule::Entitlement,
            Rule::Region,
        ]
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"free-package\"",
                "\"session\"",
                "\"entitlement\"",
                "\"region\""
            ]
        );
    }

    #[test]
    fn the_holder_is_never_serialized() {
        let grant = Grant {
            holder: Some("device-1".to_owned()),
            ..Grant::default()
        };
        let json = serde_json::to_value(&grant).unwrap();
        assert!(json.get("holder").is_none(), "{json}");
    }
}
