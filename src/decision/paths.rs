//! Graph paths: from a package the viewer is entitled to, down the package graph (parent → child) to a
//! package that contains the asset. Pure: works on the edges an [`AssetView`] already holds.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::AssetView;
use crate::ids::PackageId;

/// Paths longer than this many packages are not followed (the graph limit keeps real ones shorter).
const MAX_PREFIX: usize = 64;

/// The packages an entitlement may name to reach the asset: those that contain it and their ancestors.
pub fn candidates(view: &AssetView) -> BTreeSet<&PackageId> {
    view.containing
        .iter()
        .map(|p| &p.id)
        .chain(view.ancestor_edges.iter().map(|(_, parent)| parent))
        .collect()
}

/// Every path from each of `roots`, in the order given, down to a package that contains the asset;
/// within one root, depth first with children in edge order. A package already on the path is not
/// entered again (cycles end there).
pub fn paths_from<'a>(
    roots: impl IntoIterator<Item = &'a PackageId>,
    view: &AssetView,
) -> Vec<Vec<PackageId>> {
    let leaves: BTreeSet<&PackageId> = view.containing.iter().map(|p| &p.id).collect();
    let mut children: BTreeMap<&PackageId, Vec<&PackageId>> = BTreeMap::new();
    for (child, parent) in &view.ancestor_edges {
        children.entry(parent).or_default().push(child);
    }
    let mut paths = Vec::new();
    for root in roots {
        collect(root, &children, &leaves, &mut Vec::new(), &mut paths);
    }
    paths
}

/// Every path from `from` down to a package in `leaves` (depth is bounded by the graph limit).
fn collect(
    from: &PackageId,
    children: &BTreeMap<&PackageId, Vec<&PackageId>>,
    leaves: &BTreeSet<&PackageId>,
    prefix: &mut Vec<PackageId>,
    out: &mut Vec<Vec<PackageId>>,
) {
    if prefix.contains(from) || prefix.len() > MAX_PREFIX {
        return;
    }
    prefix.push(from.clone());
    if leaves.contains(from) {
        out.push(prefix.clone());
    }
    for child in children.get(from).into_iter().flatten() {
        collect(child, children, leaves, prefix, out);
    }
    prefix.pop();
}

/// `package P` for a path of one, `packages P → C → …` for a longer one.
pub fn describe(path: &[PackageId]) -> String {
    let names: Vec<&str> = path.iter().map(PackageId::as_str).collect();
    match names.len() {
        1 => format!("package {}", names[0]),
        _ => format!("packages {}", names.join(" → ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::{deep_chain, path, pid, view};

    #[test]
    fn a_package_containing_the_asset_is_a_path_of_one() {
        let v = view(&["p1"], &[]);
        assert_eq!(paths_from([&pid("p1")], &v), vec![path(&["p1"])]);
    }

    #[test]
    fn a_package_outside_the_view_reaches_nothing() {
        let v = view(&["p1"], &[]);
        assert!(paths_from([&pid("other")], &v).is_empty());
    }

    #[test]
    fn paths_run_from_the_parent_down_to_the_containing_package() {
        let v = view(&["leaf"], &[("leaf", "mid"), ("mid", "top")]);
        assert_eq!(
            paths_from([&pid("top")], &v),
            vec![path(&["top", "mid", "leaf"])]
        );
        assert_eq!(paths_from([&pid("mid")], &v), vec![path(&["mid", "leaf"])]);
    }

    #[test]
    fn a_containing_package_with_containing_children_yields_itself_first() {
        // "top" contains the asset itself and through its child "leaf".
        let v = view(&["leaf", "top"], &[("leaf", "top")]);
        assert_eq!(
            paths_from([&pid("top")], &v),
            vec![path(&["top"]), path(&["top", "leaf"])]
        );
    }

    #[test]
    fn several_paths_come_in_edge_order_per_root_and_root_order() {
        let v = view(&["a", "b"], &[("b", "top"), ("a", "top"), ("a", "other")]);
        assert_eq!(
            paths_from([&pid("top"), &pid("other")], &v),
            vec![
                path(&["top", "b"]),
                path(&["top", "a"]),
                path(&["other", "a"])
            ]
        );
        assert_eq!(
            paths_from([&pid("other"), &pid("top")], &v),
            vec![
                path(&["other", "a"]),
                path(&["top", "b"]),
                path(&["top", "a"])
            ]
        );
    }

    #[test]
    fn a_cycle_is_not_followed_round_again() {
        // x → y → x (a cycle the store refuses, but the rule must still end) and y contains the asset.
        let v = view(&["y"], &[("y", "x"), ("x", "y")]);
        assert_eq!(paths_from([&pid("x")], &v), vec![path(&["x", "y"])]);
        assert_eq!(paths_from([&pid("y")], &v), vec![path(&["y"])]);
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_cut() {
        // p0 → p1 → … → p70, where only p70 contains the asset.
        let v = deep_chain();
        assert!(paths_from([&pid("p0")], &v).is_empty());
        // 65 packages (p6 … p70) is the longest path followed.
        assert_eq!(paths_from([&pid("p6")], &v)[0].len(), 65);
        assert!(paths_from([&pid("p5")], &v).is_empty());
    }

    #[test]
    fn candidates_are_the_containing_packages_and_their_ancestors() {
        let v = view(&["leaf"], &[("leaf", "mid"), ("mid", "top")]);
        let got: Vec<&str> = candidates(&v).into_iter().map(PackageId::as_str).collect();
        assert_eq!(got, ["leaf", "mid", "top"]);
    }

    #[test]
    fn describe_names_one_package_or_the_chain() {
        assert_eq!(describe(&path(&["p1"])), "package p1");
        assert_eq!(describe(&path(&["a", "b", "c"])), "packages a → b → c");
    }
}
