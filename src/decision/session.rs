//! The session rule: the request's `customerCookie` must name a playback session that is neither
//! revoked nor expired. Pure: works on what the store returned for the cookie and the given `now`.

use chrono::{DateTime, Utc};

use super::outcome::{Denial, Rule, Trail};
use crate::catalog::PlaybackSession;
use crate::ids::{AssetId, UserId};

/// What the store holds for the request's `customerCookie`.
#[derive(Debug)]
pub enum SessionLookup {
    /// The request carries no cookie.
    NoCookie,
    /// The cookie names no playback session.
    Unknown,
    /// The session the cookie names, live or not.
    Found(PlaybackSession),
}

/// Only the session rule (device registrations need a known viewer, not an entitlement): the user,
/// or the denial and its explanation.
pub fn session_only(lookup: SessionLookup, now: DateTime<Utc>) -> Result<UserId, (Denial, String)> {
    let mut trail = Trail::new(AssetId::parse("-").expect("a valid placeholder"));
    match live_session(&mut trail, lookup, now) {
        Ok(session) => Ok(session.uid),
        Err(denial) => Err((denial, trail.done(None, Err(denial)).why())),
    }
}

/// The session rule: a cookie naming a session that is neither revoked nor expired at `now`.
pub fn live_session(
    trail: &mut Trail,
    lookup: SessionLookup,
    now: DateTime<Utc>,
) -> Result<PlaybackSession, Denial> {
    match lookup {
        SessionLookup::NoCookie => {
            trail.step(
                Rule::Session,
                false,
                "no customerCookie: a playback session is required",
            );
            Err(Denial::SessionRequired)
        }
        SessionLookup::Unknown => {
            trail.step(
                Rule::Session,
                false,
                "the customerCookie names no playback session",
            );
            Err(Denial::SessionUnknown)
        }
        SessionLookup::Found(session) if !session.is_live(now) => {
            let detail = match session.revoked_at {
                Some(at) => format!("the playback session was revoked at {}", at.to_rfc3339()),
                None => format!(
                    "the playback session expired at {}",
                    session.expires_at.to_rfc3339()
                ),
            };
            trail.step(Rule::Session, false, detail);
            Err(Denial::SessionExpired)
        }
        SessionLookup::Found(session) => {
            trail.step(
                Rule::Session,
                true,
                format!(
                    "live session of user {}{}",
                    session.uid,
                    session
                        .country
                        .as_deref()
                        .map(|c| format!(" in {c}"))
                        .unwrap_or_default()
                ),
            );
            Ok(session)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::{session, t, uid};

    #[test]
    fn a_live_session_passes_and_is_handed_back() {
        let mut trail = Trail::new(AssetId::parse("a1").unwrap());
        let live = session(Some("DE"), 1, None);
        assert_eq!(
            live_session(&mut trail, SessionLookup::Found(live.clone()), t(0)),
            Ok(live)
        );
        let decision = trail.done(None, Err(Denial::NotEntitled));
        assert_eq!(decision.trail.len(), 1);
        assert!(decision.trail[0].passed);
        assert_eq!(decision.trail[0].detail, "live session of user u1 in DE");
    }

    #[test]
    fn revocation_is_named_before_expiry() {
        let mut trail = Trail::new(AssetId::parse("a1").unwrap());
        let both = session(None, -10, Some(-20));
        assert_eq!(
            live_session(&mut trail, SessionLookup::Found(both), t(0)),
            Err(Denial::SessionExpired)
        );
        assert_eq!(
            trail.done(None, Err(Denial::SessionExpired)).why(),
            "the playback session was revoked at 2027-01-15T07:59:40+00:00"
        );
    }

    #[test]
    fn session_only_answers_the_user_or_the_denial_and_why() {
        assert_eq!(
            session_only(SessionLookup::Found(session(None, 60, None)), t(0)),
            Ok(uid("u1"))
        );
        assert_eq!(
            session_only(SessionLookup::NoCookie, t(0)),
            Err((
                Denial::SessionRequired,
                "no customerCookie: a playback session is required".to_owned()
            ))
        );
        assert_eq!(
            session_only(SessionLookup::Unknown, t(0)),
            Err((
                Denial::SessionUnknown,
                "the customerCookie names no playback session".to_owned()
            ))
        );
        assert_eq!(
            session_only(SessionLookup::Found(session(None, 0, None)), t(0)),
            Err((
                Denial::SessionExpired,
                "the playback session expired at 2027-01-15T08:00:00+00:00".to_owned()
            ))
        );
    }
}
