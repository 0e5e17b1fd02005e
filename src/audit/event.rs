//! One audit event: what happened, to whom, with what answer, and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Kind {
    /// An Entitlement Request answered by the SEES endpoint.
    SeesDecision,
    /// A POST, PUT, PATCH or DELETE on the admin API, refused ones included.
    AdminWrite,
    /// A content key answered to a packager over SPEKE (one event per key), or a refused SPEKE
    /// request. Never the key itself.
    KeyIssue,
}

impl Kind {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SeesDecision => "sees-decision",
            Kind::AdminWrite => "admin-write",
            Kind::KeyIssue => "key-issue",
        }
    }

    /// The inverse of `as_str`.
    pub fn parse(raw: &str) -> Option<Kind> {
        [Kind::SeesDecision, Kind::AdminWrite, Kind::KeyIssue]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// Played / the write was applied.
    Allowed,
    /// Refused by a rule, a limit, the caller's rights or the request's shape.
    Denied,
    /// Could not be answered properly: upstream, store or internal failure.
    Error,
}

impl AuditOutcome {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Error => "error",
        }
    }

    /// The inverse of `as_str`.
    pub fn parse(raw: &str) -> Option<AuditOutcome> {
        [
            AuditOutcome::Allowed,
            AuditOutcome::Denied,
            AuditOutcome::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }

    /// The outcome of a SEES answer with error number `error` (0 = allowed; 4000 and up are upstream,
    /// store and internal failures).
    pub fn of_sees(error: i32) -> AuditOutcome {
        match error {
            0 => AuditOutcome::Allowed,
            n if n >= 4000 => AuditOutcome::Error,
            _ => AuditOutcome::Denied,
        }
    }

    /// The outcome of an admin answer with HTTP `status`.
    pub fn of_status(status: u16) -> AuditOutcome {
        match status {
            200..=399 => AuditOutcome::Allowed,
            500.. => AuditOutcome::Error,
            _ => AuditOutcome::Denied,
        }
    }
}

/// One step of a decision trail: the rule, whether it passed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailStep {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

impl From<&crate::decision::Step> for TrailStep {
    fn from(step: &crate::decision::Step) -> Self {
        TrailStep {
            rule: step.rule.as_str().to_owned(),
            passed: step.passed,
            detail: step.detail.clone(),
        }
    }
}

/// One audit event. Fields that do not apply to the kind are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// A UUID (version 7: time-ordered, so the table's key grows at its end).
    pub id: String,
    /// When it was answered (UTC; RFC 3339 with milliseconds and `Z` in JSON).
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    pub kind: Kind,
    pub outcome: AuditOutcome,
    /// The SEES error number, or the admin error code; `None` when allowed.
    pub error: Option<i64>,
    /// SEES: the client certificate's subject (RFC 4514).
    pub client_subject: Option<String>,
    /// SEES: the client certificate's serial number (hex).
    pub client_serial: Option<String>,
    /// Admin: who called (`token NAME (ROLE)` or `end-user ID`), never the token itself.
    pub caller: Option<String>,
    /// SEES: the request's messageID.
    pub message_id: Option<String>,
    /// Admin: the answer's requestID.
    pub request_id: Option<String>,
    pub content_id: Option<String>,
    pub user: Option<String>,
    pub asset: Option<String>,
    /// Admin: the HTTP method.
    pub method: Option<String>,
    /// Admin: the matched route template (never the raw path, which may hold a session cookie).
    pub route: Option<String>,
    /// Admin: the HTTP status of the answer.
    pub status: Option<u16>,
    /// SEES and entitlement tokens: the DRM the token was asked for (`fairplay`, `widevine`,
    /// `playready`).
    pub drm: Option<String>,
    /// SEES: the catalogue decision's steps (empty in open mode or when no decision was reached).
    pub trail: Vec<TrailStep>,
}

impl AuditEvent {
    /// An event of `kind` at `time`, every optional field empty.
    pub fn new(kind: Kind, time: DateTime<Utc>, outcome: AuditOutcome) -> Self {
        AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            time,
            kind,
            outcome,
            error: None,
            client_subject: None,
            client_serial: None,
            caller: None,
            message_id: None,
            request_id: None,
            content_id: None,
            user: None,
            asset: None,
            method: None,
            route: None,
            status: None,
            drm: None,
            trail: Vec::new(),
        }
    }
}

fn rfc3339_millis<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_error_numbers_and_statuses() {
        assert_eq!(AuditOutcome::of_sees(0), AuditOutcome::Allowed);
        assert_eq!(AuditOutcome::of_sees(2001), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_sees(4001), AuditOutcome::Error);
        assert_eq!(AuditOutcome::of_sees(5001), AuditOutcome::Error);
        assert_eq!(AuditOutcome::of_status(201), AuditOutcome::Allowed);
        assert_eq!(AuditOutcome::of_status(403), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(503), AuditOutcome::Error);
        for kind in [Kind::SeesDecision, Kind::AdminWrite, Kind::KeyIssue] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}
