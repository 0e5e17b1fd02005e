//! Admin routes: the package graph (OEM "Package Graphs - v1"): add and remove a child package, list a
//! package's direct parents or children. Changing the graph needs the admin role; reading it, reader.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json, Value};

use super::auth::{Access, Caller};
use super::envelope::{ApiError, ApiOk};
use super::errors::AdminCode;
use super::packages::{package_json, PackageView};
use super::AdminState;
use crate::catalog::Package;
use crate::ids::PackageId;

/// The graphs routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route(
            "/oem/v1/packages/{parentID}/child/{childID}",
            put(add_child).delete(remove_child),
        )
        .route("/oem/v1/packages/{childID}/parents", get(parents))
        .route("/oem/v1/packages/{parentID}/children", get(children))
}

/// `PUT /oem/v1/packages/{parentID}/child/{childID}` (idempotent).
async fn add_child(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(edge): Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    let (parent, child) = edge_to_change(&caller, edge)?;
    let added = state
        .catalog
        .add_child(&parent, &child, state.clock.now())
        .await?;
    let message = if added {
        format!("Package {child} was added as a child of {parent}.")
    } else {
        format!("Package {child} is already a child of {parent}.")
    };
    Ok(edge_answer(message, &parent, &child))
}

/// `DELETE /oem/v1/packages/{parentID}/child/{childID}`: succeeds whenever both packages exist.
async fn remove_child(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(edge): Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    let (parent, child) = edge_to_change(&caller, edge)?;
    let removed = state.catalog.remove_child(&parent, &child).await?;
    let message = if removed {
        format!("Package {child} was removed from the children of {parent}.")
    } else {
        format!("Package {child} was not a child of {parent}; nothing to remove.")
    };
    Ok(edge_answer(message, &parent, &child))
}

/// `GET /oem/v1/packages/{childID}/parents`: the direct parents.
async fn parents(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(child): Path<String>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let child = package_id("childID", child)?;
    Ok(listing(&state.catalog.parents(&child).await?))
}

/// `GET /oem/v1/packages/{parentID}/children`: the direct children.
async fn children(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(parent): Path<String>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let parent = package_id("parentID", parent)?;
    Ok(listing(&state.catalog.children(&parent).await?))
}

/// The parent and child of an edge the caller may change (admin role first, then the IDs).
fn edge_to_change(
    caller: &Caller,
    (parent, child): (String, String),
) -> Result<(PackageId, PackageId), ApiError> {
    caller.allow(Access::CatalogWrite)?;
    Ok((
        package_id("parentID", parent)?,
        package_id("childID", child)?,
    ))
}

fn edge_answer(message: String, parent: &PackageId, child: &PackageId) -> ApiOk {
    ApiOk::ok(json!({ "message": message, "parentID": parent, "childID": child }))
}

fn listing(packages: &[Package]) -> ApiOk {
    let packages: Vec<Value> = packages
        .iter()
        .map(|p| package_json(p, PackageView::default()))
        .collect();
    ApiOk::ok(json!({ "packages": packages }))
}

fn package_id(name: &str, raw: String) -> Result<PackageId, ApiError> {
    PackageId::parse(raw).map_err(|e| ApiError::new(AdminCode::InvalidField, format!("{name} {e}")))
}
