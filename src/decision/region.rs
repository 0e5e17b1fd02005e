//! The region rule: every package on a path must admit the viewer's country, unless EU content
//! portability grants travel access. Pure: works on the package rules an [`AssetView`] already holds
//! and the paths the entitlement rule found.

use std::collections::HashMap;

use super::entitlement::Reach;
use super::outcome::{Denial, Grant, Rule, Trail};
use super::paths;
use crate::catalog::{AssetView, PackageRules};
use crate::ids::{PackageId, UserId};

/// Countries where EU content-portability (Regulation (EU) 2017/1128) lets a subscriber travelling from
/// another member state keep access: the EU and the EEA.
const PORTABILITY: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Whether every package on `path` admits `country`: a package without rules or with an empty
/// whitelist admits everyone; one with a whitelist admits only a known country on it (any case).
fn admits(
    rules: &HashMap<PackageId, PackageRules>,
    path: &[PackageId],
    country: Option<&str>,
) -> bool {
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
}

/// Whether an entitlement obtained in `origin` travels to `country`.
fn travels(origin: &str, country: &str) -> bool {
    let member = |c: &str| PORTABILITY.iter().any(|m| m.eq_ignore_ascii_case(c));
    member(origin) && member(country)
}

/// The region rule: the first path every package of which admits `country`, else the first path whose
/// entitlement was obtained in an EU/EEA country when `country` is one too (travel access).
pub fn rule(
    trail: &mut Trail,
    view: &AssetView,
    reach: &Reach<'_>,
    uid: &UserId,
    country: Option<&str>,
) -> Result<Grant, Denial> {
    if let Some(path) = reach
        .paths()
        .iter()
        .find(|p| admits(&view.rules, p, country))
    {
        trail.step(
            Rule::Region,
            true,
            match country {
                Some(c) => format!("{c} is admitted along {}", paths::describe(path)),
                None => "no package on the path restricts regions".to_owned(),
            },
        );
        return Ok(reach.grant(uid, path));
    }
    let travelling = country.and_then(|c| {
        reach.paths().iter().find_map(|path| {
            let origin = reach.entitlement_of(path)?.origin_country.clone()?;
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
                paths::describe(path)
            ),
        );
        return Ok(reach.grant(uid, path));
    }
    // `paths` is never empty here: the entitlement rule denies when it is.
    let first = reach.paths().first().map(Vec::as_slice).unwrap_or_default();
    trail.step(
        Rule::Region,
        false,
        format!(
            "{} is not in the region whitelist of {}",
            country.unwrap_or("an unknown country"),
            paths::describe(first)
        ),
    );
    Err(Denial::RegionNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::pid;
    use crate::ids::RegionId;

    fn rules(packages: &[(&str, &[&str])]) -> HashMap<PackageId, PackageRules> {
        packages
            .iter()
            .map(|(id, regions)| {
                let rules = PackageRules {
                    id: pid(id),
                    free: false,
                    regions: regions
                        .iter()
                        .map(|r| RegionId::parse(*r).unwrap())
                        .collect(),
                    drm_policy: Default::default(),
                };
                (pid(id), rules)
            })
            .collect()
    }

    #[test]
    fn an_empty_whitelist_admits_any_country_and_none() {
        let r = rules(&[("p", &[])]);
        assert!(admits(&r, &[pid("p")], Some("US")));
        assert!(admits(&r, &[pid("p")], None));
    }

    #[test]
    fn a_package_without_rules_admits_everyone() {
        assert!(admits(&rules(&[]), &[pid("p")], None));
    }

    #[test]
    fn a_whitelist_admits_its_countries_in_any_case() {
        let r = rules(&[("p", &["DE", "fr"])]);
        assert!(admits(&r, &[pid("p")], Some("de")));
        assert!(admits(&r, &[pid("p")], Some("FR")));
        assert!(!admits(&r, &[pid("p")], Some("US")));
    }

    #[test]
    fn a_whitelist_refuses_an_unknown_country() {
        let r = rules(&[("p", &["DE"])]);
        assert!(!admits(&r, &[pid("p")], None));
    }

    #[test]
    fn every_package_on_the_path_must_admit() {
        let r = rules(&[("top", &["DE"]), ("leaf", &["FR"])]);
        let path = [pid("top"), pid("leaf")];
        assert!(!admits(&r, &path, Some("DE")));
        assert!(!admits(&r, &path, Some("FR")));
        let r = rules(&[("top", &["DE", "FR"]), ("leaf", &["FR"])]);
        assert!(admits(&r, &path, Some("FR")));
    }

    #[test]
    fn portability_holds_between_eu_and_eea_members_only() {
        assert!(travels("DE", "FR"));
        assert!(travels("no", "it"), "EEA members, any case");
        assert!(travels("DE", "DE"));
        assert!(!travels("DE", "US"));
        assert!(!travels("US", "DE"));
        assert!(!travels("GB", "FR"), "no longer a member");
        assert!(!travels("CH", "FR"), "not in the EEA");
    }
}
