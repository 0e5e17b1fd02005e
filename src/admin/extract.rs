//! Typed path and query extractors for the admin routes: each parses what it reads and answers a bad
//! path in the admin error shape (400 / 1011, naming the parameter; a bad query string 400 / 1017), so
//! no handler converts an axum rejection by hand. A handler that checks the caller's role before looking at the path takes
//! `Result<AdminPath<P>, ApiError>` and uses `?` after the check; the answer is the same either way.
//!
//! Never echoes a credential from the path (the playback-session cookie).

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;

use super::envelope::{bad_query, invalid, ApiError};
use crate::ids::{AssetId, BillingPlanId, CustomerCookie, DeviceId, PackageId, ProductId, UserId};

/// One path parameter: its name in messages and how its value is parsed.
pub trait PathParam {
    /// The name the route gives the parameter.
    const NAME: &'static str;
    /// What the parameter parses into.
    type Value;
    /// The value, or why the text is not one.
    fn parse(raw: String) -> Result<Self::Value, String>;
    /// The message for a path whose parameter cannot be read (not UTF-8 once percent-decoded).
    fn unreadable(e: &PathRejection) -> String {
        format!("{}: {e}", Self::NAME)
    }
}

/// A route's one path parameter, parsed as `P` says.
#[derive(Debug)]
pub struct AdminPath<P: PathParam>(pub P::Value);

impl<S, P> FromRequestParts<S> for AdminPath<P>
where
    S: Send + Sync,
    P: PathParam,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid(P::unreadable(&e)))?;
        parse::<P>(raw).map(AdminPath)
    }
}

/// A route's two path parameters, parsed as `A` and `B` say.
#[derive(Debug)]
pub struct AdminPath2<A: PathParam, B: PathParam>(pub A::Value, pub B::Value);

impl<S, A, B> FromRequestParts<S> for AdminPath2<A, B>
where
    S: Send + Sync,
    A: PathParam,
    B: PathParam,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid(format!("path: {e}")))?;
        Ok(AdminPath2(parse::<A>(a)?, parse::<B>(b)?))
    }
}

/// The query string as (key, value) pairs, in order; one that cannot be read is 400 / 1017.
#[derive(Debug)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(pairs)| QueryPairs(pairs))
            .map_err(|e| bad_query(format!("the query string cannot be read: {e}")))
    }
}

fn parse<P: PathParam>(raw: String) -> Result<P::Value, ApiError> {
    P::parse(raw).map_err(|e| invalid(format!("{} {e}", P::NAME)))
}

/// Declares a parameter marker: `name!(Marker, Value, "name")`.
macro_rules! path_param {
    ($(#[$doc:meta])* $marker:ident, $value:ty, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $marker {}

        impl PathParam for $marker {
            const NAME: &'static str = $name;
            type Value = $value;
            fn parse(raw: String) -> Result<$value, String> {
                <$value>::parse(raw).map_err(|e| e.to_string())
            }
        }
    };
}

path_param!(
    /// `{userid}`: the user of the `/oem/v1/admin/users/…` routes.
    Userid,
    UserId,
    "userid"
);
path_param!(
    /// `{packageID}`.
    PackageParam,
    PackageId,
    "packageID"
);
path_param!(
    /// `{billingPlanID}`.
    BillingPlanParam,
    BillingPlanId,
    "billingPlanID"
);
path_param!(
    /// `{productID}`.
    ProductParam,
    ProductId,
    "productID"
);
path_param!(
    /// `{assetID}`.
    AssetParam,
    AssetId,
    "assetID"
);
path_param!(
    /// `{deviceID}`.
    DeviceParam,
    DeviceId,
    "deviceID"
);
path_param!(
    /// `{user_id}` of the monetization routes.
    MonetizationUser,
    UserId,
    "user_id"
);
path_param!(
    /// `{offer_id}` of the monetization routes (a package).
    Offer,
    PackageId,
    "offer_id"
);

/// `{cookie}`: a playback-session cookie, a credential, so a bad one is never quoted back.
#[derive(Debug)]
pub enum CookieParam {}

impl PathParam for CookieParam {
    const NAME: &'static str = "cookie";
    type Value = CustomerCookie;

    fn parse(raw: String) -> Result<CustomerCookie, String> {
        CustomerCookie::parse(raw).map_err(|e| e.to_string())
    }

    fn unreadable(_: &PathRejection) -> String {
        // The rejection's text may quote the value.
        "cookie is not valid percent-encoded UTF-8".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// The answer of a route that echoes what the extractor gave or refused.
    async fn answer(uri: &str) -> (StatusCode, String) {
        async fn one(path: Result<AdminPath<Userid>, ApiError>) -> axum::response::Response {
            match path {
                Ok(AdminPath(uid)) => uid.to_string().into_response(),
                Err(e) => (StatusCode::BAD_REQUEST, e.message).into_response(),
            }
        }
        async fn two(
            path: Result<AdminPath2<Userid, DeviceParam>, ApiError>,
        ) -> axum::response::Response {
            match path {
                Ok(AdminPath2(uid, device)) => format!("{uid}/{device}").into_response(),
                Err(e) => (StatusCode::BAD_REQUEST, e.message).into_response(),
            }
        }
        async fn cookie(path: Result<AdminPath<CookieParam>, ApiError>) -> String {
            match path {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.message,
            }
        }
        // Paths in constants: tests/openapi.rs reads `.route("…"` calls under src/admin as the API.
        const ONE: &str = "/u/{userid}";
        const TWO: &str = "/u/{userid}/d/{deviceID}";
        const COOKIE: &str = "/c/{cookie}";
        let app = Router::new()
            .route(ONE, get(one))
            .route(TWO, get(two))
            .route(COOKIE, get(cookie));
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn parameters_are_parsed_and_refusals_name_them() {
        assert_eq!(answer("/u/alice").await.1, "alice");
        assert_eq!(answer("/u/alice/d/dev-1").await.1, "alice/dev-1");
        let (status, message) = answer("/u/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("userid: "), "{message}");
        let (_, message) = answer("/u/a%01b").await;
        assert!(message.starts_with("userid "), "{message}");
        let (_, message) = answer("/u/%FF/d/x").await;
        assert!(message.starts_with("path: "), "{message}");
        let (_, message) = answer("/u/alice/d/bad%20id").await;
        assert!(message.starts_with("deviceID "), "{message}");
    }

    #[tokio::test]
    async fn bad_cookies_are_not_quoted() {
        assert_eq!(
            answer("/c/%FFsecret").await.1,
            "cookie is not valid percent-encoded UTF-8"
        );
        let (_, message) = answer("/c/a%01b").await;
        assert!(message.starts_with("cookie "), "{message}");
    }
}
