//! The audit table: batch inserts, retention pruning, and filtered reads, newest first. Portable SQL
//! over SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::event::{AuditEvent, AuditOutcome, Kind, TrailStep};
use crate::store::{from_unix_millis, unix_millis, Backend, Store, StoreError};

/// What `query` selects; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub content: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    pub outcome: Option<AuditOutcome>,
    pub kind: Option<Kind>,
    /// At most this many events (the newest).
    pub limit: u32,
}

/// Columns of one event row, in the order `insert` binds them.
const COLUMNS: usize = 18;
/// Rows per `INSERT` statement (17 parameters each: far below both backends' limits).
const ROWS_PER_STATEMENT: usize = 64;

/// Writes `events` in one transaction, `ROWS_PER_STATEMENT` rows per statement. The commit is not
/// flushed to disk before it returns ([`Store::ephemeral_pool`]): the events waited in memory before
/// this call anyway, so a power cut could lose the last moments of them either way; a crash of sees
/// cannot lose a committed one.
pub(super) async fn insert(store: &Store, events: &[AuditEvent]) -> Result<(), StoreError> {
    let mut tx = store.begin_write_ephemeral().await?;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_statement(store.backend(), chunk.len());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for event in chunk {
            let trail = serde_json::to_string(&event.trail).unwrap_or_else(|_| "[]".to_owned());
            query = query
                .bind(event.id.as_str())
                .bind(unix_millis(event.time))
                .bind(event.kind.as_str())
                .bind(event.outcome.as_str())
                .bind(event.error)
                .bind(event.client_subject.as_deref())
                .bind(event.client_serial.as_deref())
                .bind(event.caller.as_deref())
                .bind(event.message_id.as_deref())
                .bind(event.request_id.as_deref())
                .bind(event.content_id.as_deref())
                .bind(event.user.as_deref())
                .bind(event.asset.as_deref())
                .bind(event.method.as_deref())
                .bind(event.route.as_deref())
                .bind(event.status.map(i64::from))
                .bind(event.drm.as_deref())
                .bind(trail);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `INSERT INTO audit_events … VALUES (…), (…)…` for `rows` rows, with the backend's placeholders.
fn insert_statement(backend: Backend, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (id, at, kind, outcome, error, client, serial, caller, message_id, \
         request_id, content_id, user_id, asset_id, method, route, status, drm, trail) VALUES ",
    );
    sql.push_str(&crate::store::value_rows(backend, rows, COLUMNS));
    sql
}

/// Deletes the events older than `before`; how many.
pub async fn prune(store: &Store, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(unix_millis(before))
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

/// The events `filter` selects, newest first.
pub async fn query(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut times: Vec<i64> = Vec::new();
    // Text parameters first ($1…), then times; the numbering follows the bind order below.
    for (column, value) in [
        ("user_id", filter.user.clone()),
        ("content_id", filter.content.clone()),
        ("outcome", filter.outcome.map(|o| o.as_str().to_owned())),
        ("kind", filter.kind.map(|k| k.as_str().to_owned())),
    ] {
        if let Some(value) = value {
            texts.push(value);
            conditions.push(format!("{column} = ${}", texts.len()));
        }
    }
    for (op, at) in [(">=", filter.since), ("<", filter.until)] {
        if let Some(at) = at {
            times.push(unix_millis(at));
            conditions.push(format!("at {op} ${}", texts.len() + times.len()));
        }
    }
    let mut sql =
        "SELECT id, at, kind, outcome, error, client, serial, caller, message_id, request_id, \
                   content_id, user_id, asset_id, method, route, status, drm, trail FROM audit_events"
            .to_owned();
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY at DESC, id DESC LIMIT {}",
        filter.limit.max(1)
    ));
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for text in texts {
        statement = statement.bind(text);
    }
    for at in times {
        statement = statement.bind(at);
    }
    let rows = statement.fetch_all(store.pool()).await?;
    rows.iter().map(event_from_row).collect()
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    let kind: String = row.try_get("kind")?;
    let outcome: String = row.try_get("outcome")?;
    let trail: String = row.try_get("trail")?;
    let decode = |what: &str, raw: &str| {
        StoreError::Database(sqlx::Error::Decode(
            format!("audit_events.{what}: {raw:?}").into(),
        ))
    };
    Ok(AuditEvent {
        id: row.try_get("id")?,
        time: from_unix_millis(row.try_get("at")?),
        kind: Kind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
        outcome: AuditOutcome::parse(&outcome).ok_or_else(|| decode("outcome", &outcome))?,
        error: row.try_get("error")?,
        client_subject: row.try_get("client")?,
        client_serial: row.try_get("serial")?,
        caller: row.try_get("caller")?,
        message_id: row.try_get("message_id")?,
        request_id: row.try_get("request_id")?,
        content_id: row.try_get("content_id")?,
        user: row.try_get("user_id")?,
        asset: row.try_get("asset_id")?,
        method: row.try_get("method")?,
        route: row.try_get("route")?,
        status: row
            .try_get::<Option<i64>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        drm: row.try_get("drm")?,
        trail: serde_json::from_str::<Vec<TrailStep>>(&trail).map_err(|_| decode("trail", ""))?,
    })
}
