//! The package graph: parent → child edges. A user entitled to a package is also entitled to every
//! package below it (OEM "Package Graphs - v1").
//!
//! The graph stays acyclic and no chain is longer than `graph_max_depth` edges: `add_child` checks
//! both and inserts the edge in one transaction, serialised against other graph writers (PostgreSQL:
//! a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE`, which takes the write lock up front),
//! so two concurrent inserts cannot each pass the checks and together close a cycle. Walks are
//! iterative, one query per level, and bounded by `graph_max_depth` levels.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::ids::PackageId;
use crate::store::coherence::Change;
use crate::store::{unix_millis, LockKey};

use super::{Catalog, CatalogError, Package};

/// The advisory lock every package-graph writer takes on PostgreSQL ("SEESGRPH").
const GRAPH_LOCK_KEY: i64 = 0x5345_4553_4752_5048;

/// At most this many identifiers per `IN (…)` list (well under SQLite's and PostgreSQL's limits on
/// bound parameters).
pub(super) const IN_CHUNK: usize = 500;

/// Which way a walk follows the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From a package to its parents.
    Up,
    /// From a package to its children.
    Down,
}

impl Catalog {
    /// Makes `child` a child of `parent`; true when the edge is new. Both must exist
    /// (`PackageNotFound` names the missing one); an existing edge is left alone (false); an edge from a package to itself or to one
    /// of its ancestors is a `Cycle`; an edge that would make a chain of more than `graph_max_depth`
    /// edges is `TooDeep`.
    pub async fn add_child(
        &self,
        parent: &PackageId,
        child: &PackageId,
        now: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        let _invalidation = self.catalogue_write();
        let mut tx = self
            .store()
            .begin_locked(LockKey::Whole(GRAPH_LOCK_KEY))
            .await?;
        for id in [parent, child] {
            if !package_exists(&mut tx, id).await? {
                return Err(CatalogError::PackageNotFound(id.clone()));
            }
        }
        if edge_exists(&mut tx, parent, child).await? {
            tx.commit().await?;
            return Ok(false);
        }
        let cycle = || CatalogError::Cycle {
            parent: parent.clone(),
            child: child.clone(),
        };
        if parent == child {
            return Err(cycle());
        }
        let max = self.graph_max_depth;
        let up = walk(&mut tx, parent, Direction::Up, max).await?;
        if up.reached.contains(child.as_str()) {
            return Err(cycle());
        }
        let down = walk(&mut tx, child, Direction::Down, max).await?;
        let edges = u64::from(up.longest) + 1 + u64::from(down.longest);
        if edges > u64::from(max) {
            return Err(CatalogError::TooDeep {
                edges: u32::try_from(edges).unwrap_or(u32::MAX),
                max,
            });
        }
        sqlx::query(
            "INSERT INTO package_edges (parent_id, child_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(parent.as_str())
        .bind(child.as_str())
        .bind(unix_millis(now))
        .execute(&mut *tx)
        .await?;
        self.store().publish(&mut tx, &[Change::Catalogue]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the edge `parent` → `child`; true when there was one. Both packages must exist (the
    /// spec: the call succeeds as long as both exist, edge or not).
    pub async fn remove_child(
        &self,
        parent: &PackageId,
        child: &PackageId,
    ) -> Result<bool, CatalogError> {
        let _invalidation = self.catalogue_write();
        let mut tx = self.store().begin_write().await?;
        for id in [parent, child] {
            if !package_exists(&mut tx, id).await? {
                return Err(CatalogError::PackageNotFound(id.clone()));
            }
        }
        let result =
            sqlx::query("DELETE FROM package_edges WHERE parent_id = $1 AND child_id = $2")
                .bind(parent.as_str())
                .bind(child.as_str())
                .execute(&mut *tx)
                .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        self.store().publish(&mut tx, &[Change::Catalogue]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The direct parents of `id`, by ID.
    pub async fn parents(&self, id: &PackageId) -> Result<Vec<Package>, CatalogError> {
        self.neighbour_packages(id, Direction::Up).await
    }

    /// The direct children of `id`, by ID.
    pub async fn children(&self, id: &PackageId) -> Result<Vec<Package>, CatalogError> {
        self.neighbour_packages(id, Direction::Down).await
    }

    /// `roots` and every package below them in the graph (iterative, at most `graph_max_depth`
    /// levels: no chain is longer).
    pub async fn descendants(
        &self,
        roots: &[PackageId],
    ) -> Result<BTreeSet<PackageId>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut seen: BTreeSet<String> = roots.iter().map(|r| r.as_str().to_owned()).collect();
        let mut frontier: Vec<String> = seen.iter().cloned().collect();
        for _ in 0..self.graph_max_depth {
            if frontier.is_empty() {
                break;
            }
            let next = neighbours(&mut conn, &frontier, Direction::Down).await?;
            frontier = next
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
        }
        Ok(seen
            .into_iter()
            .filter_map(|id| PackageId::parse(id).ok())
            .collect())
    }

    /// The ancestors of `leaves` (up to `graph_max_depth` levels) as child → parents edges: one
    /// indexed query per level, for the decision's trail.
    pub async fn ancestor_edges(
        &self,
        leaves: &[PackageId],
    ) -> Result<Vec<(PackageId, PackageId)>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut seen: BTreeSet<String> = leaves.iter().map(|l| l.as_str().to_owned()).collect();
        let mut frontier: Vec<String> = seen.iter().cloned().collect();
        let mut edges = Vec::new();
        for _ in 0..self.graph_max_depth {
            if frontier.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for chunk in frontier.chunks(IN_CHUNK) {
                let sql = format!(
                    "SELECT child_id, parent_id FROM package_edges WHERE child_id IN ({})",
                    placeholders(1, chunk.len())
                );
                let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                for (child, parent) in query.fetch_all(&mut *conn).await? {
                    if seen.insert(parent.clone()) {
                        next.push(parent.clone());
                    }
                    if let (Ok(child), Ok(parent)) =
                        (PackageId::parse(child), PackageId::parse(parent))
                    {
                        edges.push((child, parent));
                    }
                }
            }
            frontier = next;
        }
        Ok(edges)
    }

    async fn neighbour_packages(
        &self,
        id: &PackageId,
        direction: Direction,
    ) -> Result<Vec<Package>, CatalogError> {
        let ids = {
            let mut conn = self.store().pool().acquire().await?;
            if !package_exists(&mut conn, id).await? {
                return Err(CatalogError::PackageNotFound(id.clone()));
            }
            neighbours(&mut conn, &[id.as_str().to_owned()], direction).await?
        };
        let ids: Vec<PackageId> = ids
            .into_iter()
            .filter_map(|id| PackageId::parse(id).ok())
            .collect();
        self.packages_by_ids(&ids).await
    }
}

/// Whether the package `id` exists.
pub(super) async fn package_exists(
    conn: &mut AnyConnection,
    id: &PackageId,
) -> Result<bool, CatalogError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM packages WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

async fn edge_exists(
    conn: &mut AnyConnection,
    parent: &PackageId,
    child: &PackageId,
) -> Result<bool, CatalogError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM package_edges WHERE parent_id = $1 AND child_id = $2")
            .bind(parent.as_str())
            .bind(child.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.is_some())
}

/// The direct neighbours of `ids` in `direction`, sorted and without duplicates.
async fn neighbours(
    conn: &mut AnyConnection,
    ids: &[String],
    direction: Direction,
) -> Result<BTreeSet<String>, CatalogError> {
    let (select, filter) = match direction {
        Direction::Up => ("parent_id", "child_id"),
        Direction::Down => ("child_id", "parent_id"),
    };
    let mut found = BTreeSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        // Only placeholders and the two fixed column names above go into the text.
        let sql = format!(
            "SELECT {select} FROM package_edges WHERE {filter} IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        found.extend(query.fetch_all(&mut *conn).await?.into_iter().map(|(v,)| v));
    }
    Ok(found)
}

/// `$first, …, $(first + n - 1)`: the placeholders of an `IN (…)` list.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a walk from one package found.
struct Walk {
    /// The longest chain from the start, in edges (`limit + 1` when the walk stopped there).
    longest: u32,
    /// Every package reached (the start excluded unless a cycle leads back to it).
    reached: BTreeSet<String>,
}

/// Follows the edges from `start` level by level: level k holds the packages at the end of a chain
/// of k edges, so the last non-empty level is the longest chain (the graph is acyclic). Stops after
/// `limit + 1` levels: anything that deep is too deep already (and a cycle, which the checks never
/// let in, cannot make it loop).
async fn walk(
    conn: &mut AnyConnection,
    start: &PackageId,
    direction: Direction,
    limit: u32,
) -> Result<Walk, CatalogError> {
    let mut frontier = vec![start.as_str().to_owned()];
    let mut reached = BTreeSet::new();
    let mut longest = 0;
    while longest <= limit {
        let next = neighbours(conn, &frontier, direction).await?;
        if next.is_empty() {
            break;
        }
        longest += 1;
        reached.extend(next.iter().cloned());
        frontier = next.into_iter().collect();
    }
    Ok(Walk { longest, reached })
}
