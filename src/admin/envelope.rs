//! The OEM response envelope: every body carries `requestID` and `timestamp`; errors carry the HTTP
//! status, a numeric `code` from the admin table and a message. Handlers return `ApiOk`/`ApiError`;
//! the `envelope` middleware adds the envelope fields and also wraps axum's own refusals (unknown
//! route, wrong method) so that nothing leaves in another shape.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::errors::AdminCode;

/// An admin API error: the code, and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: AdminCode,
    pub message: String,
}

impl ApiError {
    /// An error with `code` and a specific message.
    pub fn new(code: AdminCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An error with the code's own summary as the message.
    pub fn plain(code: AdminCode) -> Self {
        Self::new(code, code.summary())
    }
}

/// 400 / 1011: a field, or a path parameter, is missing, has the wrong type or is not valid.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(AdminCode::InvalidField, message)
}

/// 400 / 1017: a query parameter is not valid.
pub fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(AdminCode::InvalidQuery, message)
}

/// A body to send inside the envelope, with its status.
#[derive(Debug, Clone)]
pub struct ApiOk {
    pub status: StatusCode,
    pub body: Map<String, Value>,
}

impl ApiOk {
    /// 200 with `body` (a JSON object; anything else is wrapped as `{"result": …}`).
    pub fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    /// 201 with `body`.
    pub fn created(body: Value) -> Self {
        Self::with_status(StatusCode::CREATED, body)
    }

    /// 200 with a `message`, as the spec's delete answers have it.
    pub fn message(text: impl Into<String>) -> Self {
        Self::ok(json!({ "message": text.into() }))
    }

    /// 200 with the message `<what> was successfully deleted.`
    pub fn deleted(what: impl std::fmt::Display) -> Self {
        Self::message(format!("{what} was successfully deleted."))
    }

    fn with_status(status: StatusCode, body: Value) -> Self {
        let body = match body {
            Value::Object(map) => map,
            other => Map::from_iter([("result".to_owned(), other)]),
        };
        Self { status, body }
    }
}

/// Marks a response the envelope middleware passes through untouched (the OpenAPI document).
#[derive(Clone, Copy, Debug)]
pub struct Raw;

/// Marks a response whose body the envelope middleware still has to write.
#[derive(Clone)]
struct Pending(Map<String, Value>);

impl IntoResponse for ApiOk {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(Pending(self.body));
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": {
                "status": self.code.status(),
                "code": self.code.number(),
                "message": self.message,
            }
        });
        let mut response = status.into_response();
        if let Value::Object(map) = body {
            response.extensions_mut().insert(Pending(map));
        }
        response
    }
}

/// The `requestID` of the answer, in request extensions for the layers inside the envelope.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The admin error code an answer carries (or will carry, once the envelope has wrapped it).
pub fn error_number(response: &Response) -> Option<u32> {
    match response.extensions().get::<Pending>() {
        Some(Pending(body)) => body
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        None if response.extensions().get::<Raw>().is_none() && !response.status().is_success() => {
            Some(code_for_status(response.status()).number())
        }
        None => None,
    }
}

/// The admin code of a refusal that carries no admin error (axum's own).
fn code_for_status(status: StatusCode) -> AdminCode {
    match status {
        StatusCode::NOT_FOUND => AdminCode::NoSuchRoute,
        StatusCode::METHOD_NOT_ALLOWED => AdminCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => AdminCode::BodyTooLarge,
        s if s.is_client_error() => AdminCode::InvalidQuery,
        _ => AdminCode::Internal,
    }
}

/// Adds `requestID` and `timestamp` to every answer and turns axum's own refusals into admin errors.
pub async fn envelope(mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "admin",
        request_id = %request_id,
        method = %request.method(),
        path = ?loggable_path(request.uri().path())
    );
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    if response.extensions().get::<Raw>().is_some() {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let body = match parts.extensions.remove::<Pending>() {
        Some(Pending(body)) => body,
        None => {
            let code = code_for_status(parts.status);
            parts.status = StatusCode::from_u16(code.status()).unwrap_or(parts.status);
            let error = ApiError::plain(code).into_response();
            let (error_parts, _) = error.into_parts();
            error_parts
                .extensions
                .get::<Pending>()
                .map(|p| p.0.clone())
                .unwrap_or_default()
        }
    };
    let mut map = Map::new();
    map.insert("requestID".to_owned(), Value::String(request_id));
    map.insert("timestamp".to_owned(), Value::String(rfc3339(Utc::now())));
    map.extend(body);
    let bytes = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    parts.headers.remove(header::CONTENT_LENGTH);
    span.in_scope(|| {
        if parts.status.is_server_error() {
            tracing::warn!(status = parts.status.as_u16(), "admin request failed");
        } else {
            tracing::info!(status = parts.status.as_u16(), "admin request answered");
        }
    });
    Response::from_parts(parts, Body::from(bytes))
}

/// The request path as logs may show it: a playback-session cookie in the path is a credential, and
/// so is a segment shaped like an admin API token (a client that misplaced its token).
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const SESSIONS: &str = "/oem/v1/admin/playback-sessions/";
    if path.starts_with(SESSIONS) && path.len() > SESSIONS.len() {
        return "/oem/v1/admin/playback-sessions/[redacted]".into();
    }
    if path
        .split('/')
        .any(|segment| segment.starts_with(super::credentials::TOKEN_PREFIX))
    {
        let segments: Vec<&str> = path
            .split('/')
            .map(|segment| {
                if segment.starts_with(super::credentials::TOKEN_PREFIX) {
                    "[redacted]"
                } else {
                    segment
                }
            })
            .collect();
        return segments.join("/").into();
    }
    path.into()
}

/// Times on the wire: RFC 3339 in UTC with `Z`, fractional seconds only when there are any.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 timestamp (any offset; stored in UTC).
pub fn parse_date(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::new(
                AdminCode::InvalidDate,
                format!("{field} must be an RFC 3339 timestamp such as 2018-02-01T01:00:00Z"),
            )
        })
}

/// A JSON body, read under the size cap and decoded into `T` (whose unknown fields are refused).
pub struct AdminJson<T>(pub T);

/// The size cap of admin bodies, put in request extensions by the admin router.
#[derive(Debug, Clone, Copy)]
pub struct BodyCap(pub usize);

impl<T: DeserializeOwned> AdminJson<T> {
    /// The body of `request`, read and decoded now: for handlers that check the caller's role first,
    /// so that a caller without it learns nothing about what the body should look like.
    pub async fn read(request: Request) -> Result<T, ApiError> {
        let AdminJson(value) = AdminJson::<T>::from_request(request, &()).await?;
        Ok(value)
    }
}

impl<S, T> FromRequest<S> for AdminJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let cap = request
            .extensions()
            .get::<BodyCap>()
            .map_or(1024 * 1024, |c| c.0);
        let bytes = match Limited::new(request.into_body(), cap).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(ApiError::plain(AdminCode::BodyTooLarge))
            }
            Err(_) => {
                return Err(ApiError::new(
                    AdminCode::MalformedJson,
                    "the body could not be read",
                ))
            }
        };
        decode_body(&bytes).map(AdminJson)
    }
}

/// A body already read, decoded as `T` the way [`AdminJson`] does: only a JSON object, unknown fields
/// refused (1012), anything else that does not fit 1011 or 1010.
pub fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a JSON array into a struct by position: only an object is a body here.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<Value>(bytes).is_ok() {
        return Err(ApiError::new(
            AdminCode::InvalidField,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(json_error)
}

/// A serde_json error as an admin error.
fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    let where_ = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            AdminCode::MalformedJson,
            format!("the body is not JSON ({where_})"),
        ),
        Category::Data if text.starts_with("unknown field") => {
            let field = text.split('`').nth(1).unwrap_or("?");
            ApiError::new(
                AdminCode::UnknownField,
                format!("unknown field `{field}` ({where_})"),
            )
        }
        Category::Data => {
            let reason = text.split(" at line").next().unwrap_or(&text).to_owned();
            ApiError::new(AdminCode::InvalidField, reason)
        }
    }
}

/// `count`/`skip` paging: `count` defaults to 20 and is clamped to 0..=max; `skip` to 0..=1e9.
/// Negative values clamp to 0; non-numbers are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub count: u32,
    pub skip: u32,
}

impl Paging {
    /// Paging from optional raw query values.
    pub fn parse(count: Option<&str>, skip: Option<&str>, max: u32) -> Result<Paging, ApiError> {
        let number = |name: &str, raw: Option<&str>, default: i64| -> Result<i64, ApiError> {
            match raw.map(str::trim) {
                None | Some("") => Ok(default),
                Some(raw) => raw.parse::<i64>().map_err(|_| {
                    ApiError::new(
                        AdminCode::InvalidQuery,
                        format!("{name} must be an integer"),
                    )
                }),
            }
        };
        let count = number("count", count, 20)?.clamp(0, i64::from(max));
        let skip = number("skip", skip, 0)?.clamp(0, 1_000_000_000);
        Ok(Paging {
            count: count as u32,
            skip: skip as u32,
        })
    }

    /// The `metadata` object of a listing.
    pub fn metadata(&self, returned: usize, total: u64) -> Value {
        json!({ "count": returned, "skip": self.skip, "totalCount": total })
    }

    /// 200 with one page of a listing: `items` under `key`, then its `metadata`.
    pub fn answer<T: serde::Serialize>(&self, key: &str, items: &[T], total: u64) -> ApiOk {
        let mut body = Map::new();
        body.insert(key.to_owned(), json!(items));
        body.insert("metadata".to_owned(), self.metadata(items.len(), total));
        ApiOk::ok(Value::Object(body))
    }
}

/// Refuses a body list longer than `max`.
pub fn check_list_len<T>(field: &str, list: &[T], max: usize) -> Result<(), ApiError> {
    if list.len() > max {
        return Err(ApiError::new(
            AdminCode::ListTooLong,
            format!("{field} has {} entries (at most {max})", list.len()),
        ));
    }
    Ok(())
}

/// A PUT body's field replaces the stored value whole when the body has it.
pub fn replace_if_given<T>(stored: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *stored = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_in_paths_are_not_logged() {
        assert_eq!(
            loggable_path("/oem/v1/admin/playback-sessions/AbCdEf0123456789AbCdEf0123456789"),
            "/oem/v1/admin/playback-sessions/[redacted]"
        );
        assert_eq!(
            loggable_path("/oem/v1/user/packages"),
            "/oem/v1/user/packages"
        );
        assert_eq!(
            loggable_path("/oem/v1/admin/sees_AbCdEf0123456789/x"),
            "/oem/v1/admin/[redacted]/x"
        );
    }

    #[test]
    fn paging_clamps_and_refuses_garbage() {
        assert_eq!(
            Paging::parse(None, None, 500).unwrap(),
            Paging { count: 20, skip: 0 }
        );
        assert_eq!(
            Paging::parse(Some("-5"), Some("-1"), 500).unwrap(),
            Paging { count: 0, skip: 0 }
        );
        assert_eq!(
            Paging::parse(Some("99999999999"), Some("99999999999"), 500).unwrap(),
            Paging {
                count: 500,
                skip: 1_000_000_000
            }
        );
        assert_eq!(
            Paging::parse(Some("ten"), None, 500).unwrap_err().code,
            AdminCode::InvalidQuery
        );
    }

    #[test]
    fn dates_and_json_errors() {
        assert!(parse_date("startDate", "2018-02-01T01:00:00Z").is_ok());
        assert!(parse_date("startDate", "2018-02-01T01:00:00+02:00").is_ok());
        assert_eq!(
            parse_date("startDate", "2018-02-01").unwrap_err().code,
            AdminCode::InvalidDate
        );
        assert_eq!(
            rfc3339(parse_date("x", "2018-06-01T18:25:58Z").unwrap()),
            "2018-06-01T18:25:58Z"
        );

        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            id: String,
        }
        let code = |raw: &str| json_error(serde_json::from_str::<Body>(raw).unwrap_err()).code;
        assert_eq!(code("{"), AdminCode::MalformedJson);
        assert_eq!(code(r#"{"id":"a","idd":1}"#), AdminCode::UnknownField);
        assert_eq!(code(r#"{"id":5}"#), AdminCode::InvalidField);
        assert_eq!(code("{}"), AdminCode::InvalidField);
    }
}
