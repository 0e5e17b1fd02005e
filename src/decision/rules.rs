//! The rules in their order, as pure stages over loaded values: free package (here) → viewer (a live
//! session, `session`, or the user the caller names) → entitlement (`entitlement`: a direct asset
//! grant, or a package entitlement whose window contains now, reaching the asset through the graph)
//! → region (`region`, or EU travel access).
//!
//! Each stage consumes the decision under way and either finishes it ([`Next::Decided`]) or hands
//! it to the next stage, so the order cannot be broken and the loader reads only what the next
//! stage needs. Nothing here touches the store, reads a clock or awaits: a store failure is the
//! loader's path (`unavailable`), never a rule's outcome.

use chrono::{DateTime, Utc};

use super::entitlement::{entitlement, Entitled, Holdings};
use super::outcome::{Decision, Denial, Grant, Rule, Trail};
use super::session::{live_session, SessionLookup};
use super::windows::Moment;
use crate::catalog::{AssetView, PlaybackSession};
use crate::ids::{AssetId, UserId};

/// What a stage leaves: the finished decision, or the decision under way for the next stage.
#[derive(Debug)]
pub enum Next<T> {
    Decided(Decision),
    Continue(T),
}

/// A decision no free package allowed: the viewer is needed next.
#[derive(Debug)]
pub struct NeedsViewer {
    trail: Trail,
}

/// A decision whose viewer is known: the viewer's [`Holdings`] are needed next.
#[derive(Debug)]
pub struct NeedsHoldings {
    trail: Trail,
    uid: UserId,
    country: Option<String>,
}

/// The decision before any rule when the asset's view could not be read.
pub fn unavailable(asset: &AssetId) -> Decision {
    Trail::new(asset.clone()).done(None, Err(Denial::StoreUnavailable))
}

/// The free-package rule: a free package among those containing the asset allows anyone (`named`,
/// the viewer when the caller names one, is then the grant's user and the decision's viewer).
pub fn free_package(
    asset: &AssetId,
    view: &AssetView,
    named: Option<&UserId>,
) -> Next<NeedsViewer> {
    let mut trail = Trail::new(asset.clone());
    if let Some(free) = view.containing.iter().find(|p| p.free) {
        trail.step(
            Rule::FreePackage,
            true,
            format!("free package {} contains asset {asset}", free.id),
        );
        let grant = Grant {
            uid: named.cloned(),
            package: Some(free.id.clone()),
            path: vec![free.id.clone()],
            ..Grant::default()
        };
        return Next::Decided(trail.done(named.cloned(), Ok(grant)));
    }
    trail.step(
        Rule::FreePackage,
        false,
        format!(
            "no free package contains asset {asset} ({} package(s) do)",
            view.containing.len()
        ),
    );
    Next::Continue(NeedsViewer { trail })
}

impl NeedsViewer {
    /// The session rule: the viewer is the user of a live session (the session is handed back).
    pub fn by_session(
        mut self,
        lookup: SessionLookup,
        now: DateTime<Utc>,
    ) -> Next<(NeedsHoldings, PlaybackSession)> {
        match live_session(&mut self.trail, lookup, now) {
            Ok(session) => Next::Continue((
                NeedsHoldings {
                    trail: self.trail,
                    uid: session.uid.clone(),
                    country: session.country.clone(),
                },
                session,
            )),
            Err(denial) => Next::Decided(self.trail.done(None, Err(denial))),
        }
    }

    /// The viewer is `uid`, named by the caller, in `country` when given.
    pub fn by_user(mut self, uid: &UserId, country: Option<&str>) -> NeedsHoldings {
        self.trail
            .step(Rule::Session, true, format!("the viewer is user {uid}"));
        NeedsHoldings {
            trail: self.trail,
            uid: uid.clone(),
            country: country.map(str::to_owned),
        }
    }

    /// The decision when the store could not say who the viewer is.
    pub fn unavailable(self) -> Decision {
        self.trail.done(None, Err(Denial::StoreUnavailable))
    }
}

impl NeedsHoldings {
    /// The viewer.
    pub fn uid(&self) -> &UserId {
        &self.uid
    }

    /// The asset the decision is about.
    pub fn asset(&self) -> &AssetId {
        self.trail.asset()
    }

    /// The entitlement and region rules over the viewer's `holdings` at `at`.
    pub fn decide(self, view: &AssetView, holdings: Holdings<'_>, at: Moment) -> Decision {
        let NeedsHoldings {
            mut trail,
            uid,
            country,
        } = self;
        let outcome = match entitlement(&mut trail, view, holdings, &uid, at) {
            Err(denial) => Err(denial),
            Ok(Entitled::Asset) => Ok(Grant {
                uid: Some(uid.clone()),
                ..Grant::default()
            }),
            Ok(Entitled::Packages(reach)) => {
                super::region::rule(&mut trail, view, &reach, &uid, country.as_deref())
            }
        };
        trail.done(Some(uid), outcome)
    }

    /// The decision when the store could not say what the viewer holds.
    pub fn unavailable(self) -> Decision {
        self.trail
            .done(Some(self.uid), Err(Denial::StoreUnavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ConcurrencyPolicy;
    use crate::catalog::{AssetEntitlement, Entitlement};
    use crate::decision::fixtures::{deep_chain, moment, path, pid, session, step, t, uid, view};
    use crate::decision::Step;
    use crate::ids::RegionId;

    fn asset() -> AssetId {
        AssetId::parse("a1").unwrap()
    }

    fn ent(package: &str, start: i64, end: Option<i64>) -> Entitlement {
        Entitlement {
            uid: uid("u1"),
            package_id: pid(package),
            start: t(start),
            end: end.map(t),
            created_at: t(-10_000),
            modified_at: t(-10_000),
            concurrency_limit: None,
            concurrency_policy: None,
            origin_country: None,
            project_id: None,
            source_id: None,
            source_type: None,
        }
    }

    fn from_origin(mut e: Entitlement, country: &str) -> Entitlement {
        e.origin_country = Some(country.to_owned());
        e
    }

    fn direct(start: i64, end: Option<i64>) -> AssetEntitlement {
        AssetEntitlement {
            uid: uid("u1"),
            asset_id: asset(),
            start: t(start),
            end: end.map(t),
            created_at: t(-10_000),
            modified_at: t(-10_000),
        }
    }

    fn holds(entitlements: &[Entitlement]) -> Holdings<'_> {
        Holdings {
            entitlements,
            asset_grant: None,
        }
    }

    /// `entitlements` and the direct grant `grant`.
    fn holds_with<'a>(
        entitlements: &'a [Entitlement],
        grant: &'a AssetEntitlement,
    ) -> Holdings<'a> {
        Holdings {
            entitlements,
            asset_grant: Some(grant),
        }
    }

    /// Makes `package` free in `view`.
    fn free(mut view: AssetView, package: &str) -> AssetView {
        let id = pid(package);
        view.rules.get_mut(&id).unwrap().free = true;
        for p in view.containing.iter_mut().filter(|p| p.id == id) {
            p.free = true;
        }
        view
    }

    /// Gives `package` the region whitelist `regions` in `view`.
    fn whitelist(mut view: AssetView, package: &str, regions: &[&str]) -> AssetView {
        let id = pid(package);
        let regions: Vec<RegionId> = regions
            .iter()
            .map(|r| RegionId::parse(*r).unwrap())
            .collect();
        view.rules.get_mut(&id).unwrap().regions = regions.clone();
        for p in view.containing.iter_mut().filter(|p| p.id == id) {
            p.regions = regions.clone();
        }
        view
    }

    /// The explanation path: user u1 (in `country`) asks for a1.
    fn for_user(view: &AssetView, holdings: Holdings<'_>, country: Option<&str>) -> Decision {
        match free_package(&asset(), view, Some(&uid("u1"))) {
            Next::Decided(decision) => decision,
            Next::Continue(needs) => {
                needs
                    .by_user(&uid("u1"), country)
                    .decide(view, holdings, moment())
            }
        }
    }

    /// The SEES path: the cookie's `lookup` names the viewer.
    fn for_session(view: &AssetView, lookup: SessionLookup, holdings: Holdings<'_>) -> Decision {
        let needs = match free_package(&asset(), view, None) {
            Next::Decided(decision) => return decision,
            Next::Continue(needs) => needs,
        };
        match needs.by_session(lookup, t(0)) {
            Next::Decided(decision) => decision,
            Next::Continue((needs, _session)) => needs.decide(view, holdings, moment()),
        }
    }

    fn session_step(passed: bool, detail: &str) -> Step {
        step(Rule::Session, passed, detail)
    }

    fn entitlement_step(passed: bool, detail: &str) -> Step {
        step(Rule::Entitlement, passed, detail)
    }

    fn region_step(passed: bool, detail: &str) -> Step {
        step(Rule::Region, passed, detail)
    }

    fn not_free(count: usize) -> Step {
        step(
            Rule::FreePackage,
            false,
            &format!("no free package contains asset a1 ({count} package(s) do)"),
        )
    }

    fn viewer_u1() -> Step {
        session_step(true, "the viewer is user u1")
    }

    fn granted(path_ids: &[&str]) -> Grant {
        let path = path(path_ids);
        Grant {
            uid: Some(uid("u1")),
            package: path.first().cloned(),
            path,
            ..Grant::default()
        }
    }

    // --- free packages ---

    #[test]
    fn a_free_package_allows_anyone_without_a_session() {
        let v = free(view(&["free", "paid"], &[]), "free");
        let d = for_session(&v, SessionLookup::NoCookie, holds(&[]));
        assert_eq!(
            d,
            Decision {
                asset: asset(),
                viewer: None,
                trail: vec![step(
                    Rule::FreePackage,
                    true,
                    "free package free contains asset a1"
                )],
                outcome: Ok(Grant {
                    package: Some(pid("free")),
                    path: path(&["free"]),
                    ..Grant::default()
                }),
            }
        );
        assert_eq!(d.why(), "");
    }

    #[test]
    fn a_free_package_names_the_user_the_caller_named() {
        let v = free(view(&["free"], &[]), "free");
        let d = for_user(&v, holds(&[]), Some("US"));
        assert_eq!(d.viewer, Some(uid("u1")));
        assert_eq!(
            d.outcome,
            Ok(Grant {
                uid: Some(uid("u1")),
                package: Some(pid("free")),
                path: path(&["free"]),
                ..Grant::default()
            })
        );
        assert_eq!(d.trail.len(), 1);
    }

    #[test]
    fn the_first_free_package_in_view_order_allows() {
        let v = free(free(view(&["f1", "f2"], &[]), "f2"), "f1");
        let d = for_session(&v, SessionLookup::NoCookie, holds(&[]));
        assert_eq!(d.outcome.unwrap().package, Some(pid("f1")));
    }

    #[test]
    fn a_free_parent_does_not_make_its_children_free() {
        // Only packages that contain the asset are looked at for freeness.
        let v = free(view(&["leaf"], &[("leaf", "top")]), "top");
        let d = for_user(&v, holds(&[]), None);
        assert_eq!(d.trail[0], not_free(1));
        assert_eq!(d.outcome, Err(Denial::NotEntitled));
    }

    #[test]
    fn an_asset_in_no_package_is_not_entitled() {
        let v = AssetView::default();
        let d = for_user(&v, holds(&[ent("p1", -100, None)]), None);
        assert_eq!(
            d.trail,
            vec![
                not_free(0),
                viewer_u1(),
                entitlement_step(
                    false,
                    "user u1 holds no entitlement to a package containing asset a1"
                ),
            ]
        );
        assert_eq!(d.outcome, Err(Denial::NotEntitled));
        assert_eq!(d.viewer, Some(uid("u1")));
    }

    // --- sessions ---

    #[test]
    fn without_a_cookie_a_session_is_required() {
        let v = view(&["p1", "p2"], &[]);
        let d = for_session(&v, SessionLookup::NoCookie, holds(&[]));
        assert_eq!(
            d,
            Decision {
                asset: asset(),
                viewer: None,
                trail: vec![
                    not_free(2),
                    session_step(false, "no customerCookie: a playback session is required"),
                ],
                outcome: Err(Denial::SessionRequired),
            }
        );
        assert_eq!(d.why(), "no customerCookie: a playback session is required");
    }

    #[test]
    fn a_cookie_naming_no_session_is_unknown() {
        let d = for_session(&view(&["p1"], &[]), SessionLookup::Unknown, holds(&[]));
        assert_eq!(
            d.trail[1],
            session_step(false, "the customerCookie names no playback session")
        );
        assert_eq!(d.outcome, Err(Denial::SessionUnknown));
        assert_eq!(d.viewer, None);
    }

    #[test]
    fn an_expired_session_says_when_it_expired() {
        let lookup = SessionLookup::Found(session(Some("DE"), -1, None));
        let d = for_session(&view(&["p1"], &[]), lookup, holds(&[]));
        assert_eq!(
            d.trail[1],
            session_step(
                false,
                "the playback session expired at 2027-01-15T07:59:59+00:00"
            )
        );
        assert_eq!(d.outcome, Err(Denial::SessionExpired));
        assert_eq!(d.viewer, None);
    }

    #[test]
    fn a_session_expiring_now_is_expired_without_skew() {
        let lookup = SessionLookup::Found(session(None, 0, None));
        let d = for_session(&view(&["p1"], &[]), lookup, holds(&[]));
        assert_eq!(d.outcome, Err(Denial::SessionExpired));
    }

    #[test]
    fn a_revoked_session_says_when_it_was_revoked() {
        let lookup = SessionLookup::Found(session(None, 3_600, Some(-5)));
        let d = for_session(&view(&["p1"], &[]), lookup, holds(&[]));
        assert_eq!(
            d.why(),
            "the playback session was revoked at 2027-01-15T07:59:55+00:00"
        );
        assert_eq!(d.outcome, Err(Denial::SessionExpired));
    }

    #[test]
    fn a_live_session_names_its_user_and_country() {
        let v = view(&["p1"], &[]);
        let e = [ent("p1", -100, None)];
        let d = for_session(
            &v,
            SessionLookup::Found(session(Some("DE"), 60, None)),
            holds(&e),
        );
        assert_eq!(
            d,
            Decision {
                asset: asset(),
                viewer: Some(uid("u1")),
                trail: vec![
                    not_free(1),
                    session_step(true, "live session of user u1 in DE"),
                    entitlement_step(true, "user u1 is entitled through package p1"),
                    region_step(true, "DE is admitted along package p1"),
                ],
                outcome: Ok(granted(&["p1"])),
            }
        );
        let d = for_session(&v, SessionLookup::Found(session(None, 60, None)), holds(&e));
        assert_eq!(d.trail[1], session_step(true, "live session of user u1"));
        assert_eq!(
            d.trail[3],
            region_step(true, "no package on the path restricts regions")
        );
    }

    #[test]
    fn the_session_rule_hands_back_the_live_session() {
        let Next::Continue(needs) = free_package(&asset(), &view(&["p1"], &[]), None) else {
            panic!("p1 is not free");
        };
        let found = session(Some("FR"), 60, None);
        let Next::Continue((needs, back)) =
            needs.by_session(SessionLookup::Found(found.clone()), t(0))
        else {
            panic!("the session is live");
        };
        assert_eq!(back, found);
        assert_eq!(needs.uid(), &uid("u1"));
        assert_eq!(needs.asset(), &asset());
    }

    // --- direct asset grants ---

    #[test]
    fn an_active_direct_grant_allows_without_a_package_or_region() {
        let v = whitelist(view(&["p1"], &[]), "p1", &["DE"]);
        let grant = direct(-100, None);
        let holdings = holds_with(&[], &grant);
        let d = for_user(&v, holdings, Some("US"));
        assert_eq!(
            d.trail,
            vec![
                not_free(1),
                viewer_u1(),
                entitlement_step(true, "user u1 holds a direct grant to asset a1"),
            ]
        );
        assert_eq!(
            d.outcome,
            Ok(Grant {
                uid: Some(uid("u1")),
                ..Grant::default()
            })
        );
    }

    #[test]
    fn a_direct_grant_counts_within_the_skew_at_both_edges() {
        let v = view(&["p1"], &[]);
        for (start, end) in [(30, None), (-100, Some(-29))] {
            let grant = direct(start, end);
            let holdings = holds_with(&[], &grant);
            let d = for_user(&v, holdings, None);
            assert!(d.allowed(), "{start} {end:?}: {:?}", d.trail);
        }
    }

    #[test]
    fn an_inactive_direct_grant_falls_through_to_the_packages() {
        let v = view(&["p1"], &[]);
        for (start, end) in [(31, None), (-100, Some(-30))] {
            let grant = direct(start, end);
            let holdings = holds_with(&[], &grant);
            let d = for_user(&v, holdings, None);
            assert_eq!(d.outcome, Err(Denial::NotEntitled), "{start} {end:?}");
            let e = [ent("p1", -100, None)];
            let holdings = holds_with(&e, &grant);
            assert_eq!(for_user(&v, holdings, None).outcome, Ok(granted(&["p1"])));
        }
    }

    // --- entitlements and their windows ---

    #[test]
    fn an_entitlement_to_another_package_does_not_entitle() {
        let v = view(&["p1"], &[("p1", "top")]);
        let d = for_user(&v, holds(&[ent("elsewhere", -100, None)]), None);
        assert_eq!(
            d.why(),
            "user u1 holds no entitlement to a package containing asset a1"
        );
        assert_eq!(d.outcome, Err(Denial::NotEntitled));
    }

    #[test]
    fn an_entitlement_past_its_end_and_the_skew_has_expired() {
        let v = view(&["p1", "p2"], &[]);
        let d = for_user(
            &v,
            holds(&[ent("p1", -100, Some(-30)), ent("p2", -100, Some(-31))]),
            None,
        );
        assert_eq!(
            d.trail,
            vec![
                not_free(2),
                viewer_u1(),
                entitlement_step(false, "user u1's entitlement (p1, p2) has expired"),
            ]
        );
        assert_eq!(d.outcome, Err(Denial::EntitlementExpired));
        assert_eq!(d.viewer, Some(uid("u1")));
    }

    #[test]
    fn an_entitlement_before_its_start_and_the_skew_is_not_valid_yet() {
        let v = view(&["p1"], &[]);
        let d = for_user(&v, holds(&[ent("p1", 31, None)]), None);
        assert_eq!(d.why(), "user u1's entitlement (p1) is not valid yet");
        assert_eq!(d.outcome, Err(Denial::EntitlementNotYetValid));
    }

    #[test]
    fn one_future_entitlement_among_expired_ones_makes_it_not_valid_yet() {
        let v = view(&["p1", "p2"], &[]);
        let d = for_user(
            &v,
            holds(&[ent("p2", -100, Some(-50)), ent("p1", 100, Some(200))]),
            None,
        );
        assert_eq!(d.why(), "user u1's entitlement (p2, p1) is not valid yet");
        assert_eq!(d.outcome, Err(Denial::EntitlementNotYetValid));
    }

    #[test]
    fn an_entitlement_counts_within_the_skew_at_both_edges() {
        let v = view(&["p1"], &[]);
        for e in [
            ent("p1", 30, None),
            ent("p1", -100, Some(-29)),
            ent("p1", 0, Some(1)),
        ] {
            let d = for_user(&v, holds(std::slice::from_ref(&e)), None);
            assert_eq!(d.outcome, Ok(granted(&["p1"])), "{e:?}");
        }
    }

    #[test]
    fn an_inactive_entitlement_is_passed_over_for_an_active_one() {
        let v = view(&["p1", "p2"], &[]);
        let d = for_user(
            &v,
            holds(&[ent("p1", -100, Some(-50)), ent("p2", -100, None)]),
            None,
        );
        assert_eq!(
            d.trail[2],
            entitlement_step(true, "user u1 is entitled through package p2")
        );
        assert_eq!(d.outcome, Ok(granted(&["p2"])));
    }

    // --- graph paths ---

    #[test]
    fn an_entitlement_to_an_ancestor_reaches_the_asset_through_the_graph() {
        let v = view(&["leaf"], &[("leaf", "mid"), ("mid", "top")]);
        let d = for_user(&v, holds(&[ent("top", -100, None)]), None);
        assert_eq!(
            d.trail,
            vec![
                not_free(1),
                viewer_u1(),
                entitlement_step(
                    true,
                    "user u1 is entitled through packages top → mid → leaf"
                ),
                region_step(true, "no package on the path restricts regions"),
            ]
        );
        assert_eq!(d.outcome, Ok(granted(&["top", "mid", "leaf"])));
    }

    #[test]
    fn an_entitlement_beyond_the_depth_limit_reaches_nothing() {
        let v = deep_chain();
        let d = for_user(&v, holds(&[ent("p0", -100, None)]), None);
        assert_eq!(
            d.trail[2],
            entitlement_step(
                false,
                "user u1's entitlements reach no package containing asset a1"
            )
        );
        assert_eq!(d.outcome, Err(Denial::NotEntitled));
    }

    #[test]
    fn of_several_paths_the_first_in_entitlement_order_is_named() {
        let v = view(&["x", "y"], &[("y", "top")]);
        let e = [ent("top", -100, None), ent("x", -100, None)];
        let d = for_user(&v, holds(&e), None);
        assert!(d.allowed());
        assert_eq!(
            d.trail[2],
            entitlement_step(true, "user u1 is entitled through packages top → y")
        );
        assert_eq!(d.outcome, Ok(granted(&["top", "y"])));
    }

    // --- region and travel ---

    #[test]
    fn a_country_outside_the_whitelist_is_refused() {
        let v = whitelist(view(&["p1"], &[]), "p1", &["DE", "AT"]);
        let d = for_user(&v, holds(&[ent("p1", -100, None)]), Some("US"));
        assert_eq!(
            d.trail,
            vec![
                not_free(1),
                viewer_u1(),
                entitlement_step(true, "user u1 is entitled through package p1"),
                region_step(false, "US is not in the region whitelist of package p1"),
            ]
        );
        assert_eq!(d.outcome, Err(Denial::RegionNotAllowed));
        assert_eq!(d.viewer, Some(uid("u1")));
        assert_eq!(d.why(), "US is not in the region whitelist of package p1");
    }

    #[test]
    fn an_unknown_country_is_refused_by_a_whitelist() {
        let v = whitelist(view(&["p1"], &[]), "p1", &["DE"]);
        let d = for_user(&v, holds(&[ent("p1", -100, None)]), None);
        assert_eq!(
            d.why(),
            "an unknown country is not in the region whitelist of package p1"
        );
        assert_eq!(d.outcome, Err(Denial::RegionNotAllowed));
    }

    #[test]
    fn a_whitelist_on_the_parent_applies_along_the_path() {
        let v = whitelist(view(&["leaf"], &[("leaf", "top")]), "top", &["DE"]);
        let e = [ent("top", -100, None)];
        let d = for_user(&v, holds(&e), Some("de"));
        assert_eq!(
            d.trail[3],
            region_step(true, "de is admitted along packages top → leaf")
        );
        let d = for_user(&v, holds(&e), Some("FR"));
        assert_eq!(
            d.why(),
            "FR is not in the region whitelist of packages top → leaf"
        );
    }

    #[test]
    fn the_first_path_admitting_the_country_is_chosen() {
        // x restricts to FR; top → y does not restrict.
        let v = whitelist(view(&["x", "y"], &[("y", "top")]), "x", &["FR"]);
        let e = [ent("x", -100, None), ent("top", -100, None)];
        let d = for_user(&v, holds(&e), Some("DE"));
        assert_eq!(
            d.trail[2..],
            [
                entitlement_step(true, "user u1 is entitled through package x"),
                region_step(true, "DE is admitted along packages top → y"),
            ]
        );
        assert_eq!(d.outcome, Ok(granted(&["top", "y"])));
    }

    #[test]
    fn a_refusal_names_the_first_path() {
        let v = whitelist(
            whitelist(view(&["x", "y"], &[("y", "top")]), "x", &["FR"]),
            "y",
            &["FR"],
        );
        let e = [ent("top", -100, None), ent("x", -100, None)];
        let d = for_user(&v, holds(&e), Some("DE"));
        assert_eq!(
            d.why(),
            "DE is not in the region whitelist of packages top → y"
        );
    }

    #[test]
    fn an_entitlement_obtained_in_the_eu_travels_within_it() {
        let v = whitelist(view(&["p1"], &[]), "p1", &["DE"]);
        let e = [from_origin(ent("p1", -100, None), "DE")];
        let d = for_user(&v, holds(&e), Some("FR"));
        assert_eq!(
            d.trail[3],
            region_step(
                true,
                "FR is outside the whitelist of package p1, but the entitlement was obtained in DE: \
                 EU portability grants travel access"
            )
        );
        assert_eq!(d.outcome, Ok(granted(&["p1"])));
        assert_eq!(
            d.why(),
            "no free package contains asset a1 (1 package(s) do)",
            "why() is the last failed step, even when allowed"
        );
    }

    #[test]
    fn travel_access_needs_both_countries_in_the_eu_or_eea() {
        let v = whitelist(view(&["p1"], &[]), "p1", &["DE"]);
        let outside = [from_origin(ent("p1", -100, None), "US")];
        let d = for_user(&v, holds(&outside), Some("FR"));
        assert_eq!(d.outcome, Err(Denial::RegionNotAllowed));
        assert_eq!(d.why(), "FR is not in the region whitelist of package p1");
        let inside = [from_origin(ent("p1", -100, None), "DE")];
        let d = for_user(&v, holds(&inside), Some("US"));
        assert_eq!(d.outcome, Err(Denial::RegionNotAllowed));
        let d = for_user(&v, holds(&inside), None);
        assert_eq!(
            d.why(),
            "an unknown country is not in the region whitelist of package p1"
        );
        let unknown_origin = [ent("p1", -100, None)];
        let d = for_user(&v, holds(&unknown_origin), Some("FR"));
        assert_eq!(d.outcome, Err(Denial::RegionNotAllowed));
    }

    #[test]
    fn travel_takes_the_first_path_whose_entitlement_travels() {
        let v = whitelist(
            whitelist(view(&["p1", "p2"], &[]), "p1", &["DE"]),
            "p2",
            &["DE"],
        );
        let mut p2 = from_origin(ent("p2", -100, None), "AT");
        p2.concurrency_limit = Some(2);
        let e = [ent("p1", -100, None), p2];
        let d = for_user(&v, holds(&e), Some("FR"));
        assert!(d.allowed(), "{:?}", d.trail);
        assert_eq!(
            d.trail[3].detail,
            "FR is outside the whitelist of package p2, but the entitlement was obtained in AT: EU \
             portability grants travel access"
        );
        assert_eq!(
            d.outcome,
            Ok(Grant {
                concurrency_limit: Some(2),
                ..granted(&["p2"])
            })
        );
    }

    // --- limits carried into the grant ---

    #[test]
    fn the_grant_carries_the_limits_of_the_entitlement_its_path_starts_from() {
        let v = whitelist(view(&["x", "y"], &[("y", "top")]), "x", &["FR"]);
        let mut x = ent("x", -100, None);
        x.concurrency_limit = Some(1);
        x.concurrency_policy = Some(ConcurrencyPolicy::BlockNew);
        let mut top = ent("top", -100, None);
        top.concurrency_limit = Some(3);
        top.concurrency_policy = Some(ConcurrencyPolicy::EvictOldest);
        let e = [x, top];
        let d = for_user(&v, holds(&e), Some("FR"));
        assert_eq!(
            d.outcome,
            Ok(Grant {
                concurrency_limit: Some(1),
                concurrency_policy: Some(ConcurrencyPolicy::BlockNew),
                ..granted(&["x"])
            })
        );
        let d = for_user(&v, holds(&e), Some("DE"));
        assert_eq!(
            d.outcome,
            Ok(Grant {
                concurrency_limit: Some(3),
                concurrency_policy: Some(ConcurrencyPolicy::EvictOldest),
                ..granted(&["top", "y"])
            })
        );
    }

    #[test]
    fn an_entitlement_without_limits_grants_none() {
        let v = view(&["p1"], &[]);
        let d = for_user(&v, holds(&[ent("p1", -100, None)]), None);
        let grant = d.outcome.unwrap();
        assert_eq!(grant.concurrency_limit, None);
        assert_eq!(grant.concurrency_policy, None);
        assert_eq!(grant.holder, None, "the holder is the loader's to add");
    }

    // --- store failures keep the trail so far ---

    #[test]
    fn an_unreadable_asset_is_unavailable_with_an_empty_trail() {
        assert_eq!(
            unavailable(&asset()),
            Decision {
                asset: asset(),
                viewer: None,
                trail: vec![],
                outcome: Err(Denial::StoreUnavailable),
            }
        );
    }

    #[test]
    fn a_failure_after_a_rule_keeps_its_step_and_the_viewer() {
        let v = view(&["p1"], &[]);
        let Next::Continue(needs) = free_package(&asset(), &v, None) else {
            panic!("p1 is not free");
        };
        let d = needs.unavailable();
        assert_eq!(d.trail, vec![not_free(1)]);
        assert_eq!((d.viewer, d.outcome), (None, Err(Denial::StoreUnavailable)));

        let Next::Continue(needs) = free_package(&asset(), &v, None) else {
            panic!("p1 is not free");
        };
        let d = needs.by_user(&uid("u1"), Some("DE")).unavailable();
        assert_eq!(d.trail, vec![not_free(1), viewer_u1()]);
        assert_eq!(d.viewer, Some(uid("u1")));
        assert_eq!(d.outcome, Err(Denial::StoreUnavailable));
        assert_eq!(
            d.why(),
            "no free package contains asset a1 (1 package(s) do)"
        );
    }
}
