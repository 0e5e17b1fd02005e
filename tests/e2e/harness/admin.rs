//! The admin side of a test: the one world every admin area starts from (a server on a clock the
//! test moves, with an admin, a support and a reader token), its calls that check the envelope of
//! every answer, and the assertions on the admin answer shape.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sees::admin::tokens::Role;
use sees::catalog::PlaybackSessions;
use sees::clock::FixedClock;
use sees::config::Settings;
use sees::ids::UserId;
use serde_json::Value;

use super::server::{spawn_at, TestServer};

/// A server on a [`FixedClock`] started at `t0`, and a token of each staff role.
pub struct AdminWorld {
    pub server: TestServer,
    pub clock: Arc<FixedClock>,
    /// Where the clock started; [`AdminWorld::at`] moves it relative to this.
    pub t0: DateTime<Utc>,
    pub admin: String,
    pub support: String,
    pub reader: String,
}

impl AdminWorld {
    /// A world at `t0` on the default test settings.
    pub async fn start(t0: DateTime<Utc>) -> AdminWorld {
        AdminWorld::start_with(t0, |_| {}).await
    }

    /// A world at `t0` on test settings adjusted by `adjust`.
    pub async fn start_with(t0: DateTime<Utc>, adjust: impl FnOnce(&mut Settings)) -> AdminWorld {
        let (server, clock) = spawn_at(t0, adjust).await;
        let admin = server.admin_token(Role::Admin).await;
        let support = server.admin_token(Role::Support).await;
        let reader = server.admin_token(Role::Reader).await;
        AdminWorld {
            server,
            clock,
            t0,
            admin,
            support,
            reader,
        }
    }

    /// Moves the clock to `t0 + seconds`.
    pub fn at(&self, seconds: i64) {
        self.clock.set(self.t0 + chrono::Duration::seconds(seconds));
    }

    /// Moves the clock to `t0 + millis`.
    pub fn at_ms(&self, millis: i64) {
        self.clock
            .set(self.t0 + chrono::Duration::milliseconds(millis));
    }

    /// An admin call; checks the envelope of every answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin, method, path, body).await
    }

    /// A call with `token`; checks the envelope of every answer.
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, answer) = self.server.admin(method, path, Some(token), body).await;
        assert_envelope(&answer);
        (status, answer)
    }

    /// An admin call with a raw body; checks the envelope.
    pub async fn raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let url = format!("http://{}{path}", self.server.admin_addr);
        let response = reqwest::Client::new()
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .bearer_auth(&self.admin)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_envelope(&answer);
        (status, answer)
    }

    /// A playback session for `uid` (optionally in `country`), opened on the store directly at the
    /// clock's time; its cookie.
    pub async fn session(&self, uid: &str, country: Option<&str>) -> String {
        use sees::clock::Clock;
        let stores = sees::app::open_stores(&self.server.settings).await.unwrap();
        let sessions = PlaybackSessions::new(stores.store.clone(), stores.master.clone());
        let (cookie, _) = sessions
            .open(
                &UserId::parse(uid).unwrap(),
                None,
                country,
                Duration::from_secs(3600),
                self.clock.now(),
            )
            .await
            .unwrap();
        stores.store.close().await;
        cookie.expose().to_owned()
    }
}

/// Asserts the admin envelope: a UUID `requestID` and an RFC 3339 `timestamp`.
pub fn assert_envelope(answer: &Value) {
    let id = answer["requestID"].as_str().expect("requestID");
    assert_eq!(id.len(), 36, "{answer}");
    let at = answer["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{answer}");
}

/// Asserts an admin error answer: the HTTP status, the `code`, a message, the envelope.
pub fn assert_error(status: u16, answer: &Value, expected_status: u16, code: u64) {
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (expected_status, Some(code)),
        "{answer}"
    );
    assert_eq!(answer["error"]["status"], expected_status, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    assert_envelope(answer);
}

/// Declares `struct $name(AdminWorld)`, dereferencing to the world: an area's own type for the
/// helpers only that area needs, on the one shared world.
macro_rules! admin_area {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        struct $name($crate::harness::AdminWorld);

        impl std::ops::Deref for $name {
            type Target = $crate::harness::AdminWorld;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}
pub(crate) use admin_area;
