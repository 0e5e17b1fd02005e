//! The SEES wire format: parsing an Entitlement Request (JSON → the spec's JSON Schema → the prose's
//! rules → a typed request) and the Entitlement Response.
//!
//! Rejections describe what is wrong by field name and rule, never by quoting the value (a cookie can
//! be a credential).

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;

use crate::ids::{ContentId, CustomerCookie, IdError, MessageId};

use super::errors::ErrorCode;

/// The protocol version sees speaks.
pub const PROTOCOL_VERSION: i64 = 1;

/// The request schema, as published but for the `version` relaxation.
pub const REQUEST_SCHEMA: &str = include_str!("entitlement_request.schema.json");
/// The response schema, with the published `required` defect mended.
pub const RESPONSE_SCHEMA: &str = include_str!("entitlement_response.schema.json");

static REQUEST_SCHEMA_VALUE: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(REQUEST_SCHEMA).expect("the request schema is JSON"));
static REQUEST_VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::validator_for(&REQUEST_SCHEMA_VALUE).expect("the request schema is a valid schema")
});

/// What the license server wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// 1: a time-bound token.
    TimeBased,
    /// 2: a registration token bound to the cookie.
    DeviceRegistration,
    /// 3: a token bound to the device registered under the cookie.
    DeviceBound,
}

/// A valid Entitlement Request.
#[derive(Debug, Clone)]
pub struct EntitlementRequest {
    pub message_id: MessageId,
    pub version: i64,
    pub request_type: RequestType,
    pub content_id: ContentId,
    pub customer_cookie: Option<CustomerCookie>,
}

impl EntitlementRequest {
    /// The version to answer with: ours, or the request's when that is lower.
    pub fn answer_version(&self) -> i64 {
        self.version.min(PROTOCOL_VERSION)
    }
}

/// A request that cannot be served as sent, with what is needed to answer it in the protocol's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ErrorCode,
    /// What exactly is wrong (field and rule).
    pub detail: String,
    /// The request's `messageID` when it could be read as a string, else empty.
    pub message_id: String,
    /// The version to answer with (never above the request's, when it had one).
    pub version: i64,
}

/// Parses and validates a request body.
pub fn parse_request(body: &[u8]) -> Result<EntitlementRequest, Rejection> {
    let document: Value = serde_json::from_slice(body).map_err(|e| Rejection {
        code: ErrorCode::MalformedJson,
        detail: format!(
            "{} at line {} column {}",
            json_category(&e),
            e.line(),
            e.column()
        ),
        message_id: String::new(),
        version: PROTOCOL_VERSION,
    })?;
    let message_id = document
        .get("messageID")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let version = answer_version_for(document.get("version"));
    let reject = |code: ErrorCode, detail: String| Rejection {
        code,
        detail,
        message_id: message_id.clone(),
        version,
    };

    if let Some(error) = REQUEST_VALIDATOR.iter_errors(&document).next() {
        return Err(reject(
            ErrorCode::SchemaViolation,
            describe_schema_error(&error),
        ));
    }
    let field = |name: &str| document.get(name);

    let message_id_value = MessageId::parse(message_id.clone())
        .map_err(|e| reject(ErrorCode::InvalidMessageId, format!("messageID {e}")))?;
    let request_version = parse_version(field("version")).ok_or_else(|| {
        reject(
            ErrorCode::InvalidVersion,
            "version must be at least 1".to_owned(),
        )
    })?;
    let request_type = match field("requestType").map(integral) {
        None => RequestType::TimeBased,
        Some(Some(1)) => RequestType::TimeBased,
        Some(Some(2)) => RequestType::DeviceRegistration,
        Some(Some(3)) => RequestType::DeviceBound,
        Some(_) => return Err(reject(ErrorCode::InvalidRequestType, String::new())),
    };
    let content_id = ContentId::parse(
        field("contentID")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .map_err(|e| reject(ErrorCode::InvalidContentId, format!("contentID {e}")))?;
    let customer_cookie = match field("customerCookie").and_then(Value::as_str) {
        None | Some("") => None,
        Some(raw) => Some(CustomerCookie::parse(raw).map_err(|e: IdError| {
            reject(
                ErrorCode::InvalidCustomerCookie,
                format!("customerCookie {e}"),
            )
        })?),
    };
    if request_type != RequestType::TimeBased && customer_cookie.is_none() {
        return Err(reject(ErrorCode::CookieRequired, String::new()));
    }
    Ok(EntitlementRequest {
        message_id: message_id_value,
        version: request_version,
        request_type,
        content_id,
        customer_cookie,
    })
}

/// An integer from a JSON number (`1` or `1.0`).
fn integral(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

/// A positive version from an integer or a numeric string.
fn parse_version(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    let version = integral(value).or_else(|| value.as_str()?.parse::<u32>().ok().map(i64::from))?;
    (version >= 1 && version <= i64::from(u32::MAX)).then_some(version)
}

/// The version to answer a request with, even an invalid one: ours, or the request's when lower.
fn answer_version_for(value: Option<&Value>) -> i64 {
    let requested = value.and_then(|v| integral(v).or_else(|| v.as_str()?.trim().parse().ok()));
    requested.map_or(PROTOCOL_VERSION, |v| v.min(PROTOCOL_VERSION))
}

fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "the JSON document ends early",
        serde_json::error::Category::Syntax => "JSON syntax error",
        _ => "the body is not JSON",
    }
}

/// A schema violation in words: the field and the rule, never the value.
fn describe_schema_error(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path().to_string();
    let field = path.trim_start_matches('/');
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            format!("missing required field {property}")
        }
        jsonschema::error::ValidationErrorKind::Type { .. } if field.is_empty() => {
            "the body must be a JSON object".to_owned()
        }
        jsonschema::error::ValidationErrorKind::Type { .. } => {
            let expected = REQUEST_SCHEMA_VALUE["properties"][field]["type"].clone();
            let expected = match expected {
                Value::String(one) => one,
                Value::Array(many) => many
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                _ => "another type".to_owned(),
            };
            format!("{field} must be of type {expected}")
        }
        jsonschema::error::ValidationErrorKind::Pattern { .. } => {
            format!("{field} must be made of digits")
        }
        other => format!("{field} breaks the schema's {} rule", other.keyword()),
    }
}

/// The Entitlement Response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementResponse {
    #[serde(rename = "messageID")]
    pub message_id: String,
    pub version: i64,
    #[serde(rename = "isAllowed")]
    pub is_allowed: bool,
    /// The token URL; empty when denied.
    #[serde(rename = "epTokenURL")]
    pub ep_token_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    #[serde(rename = "errorText", skip_serializing_if = "Option::is_none")]
    pub error_text: Option<String>,
}

impl EntitlementResponse {
    /// An allowed answer carrying `token_url`.
    pub fn allowed(request: &EntitlementRequest, token_url: String) -> Self {
        Self {
            message_id: request.message_id.as_str().to_owned(),
            version: request.answer_version(),
            is_allowed: true,
            ep_token_url: token_url,
            error: None,
            error_text: None,
        }
    }

    /// A denial: `isAllowed` false, no token, the number and its explanation.
    pub fn denied(message_id: String, version: i64, code: ErrorCode, detail: &str) -> Self {
        let error_text = if detail.is_empty() {
            code.summary().to_owned()
        } else {
            format!("{}: {detail}", code.summary())
        };
        Self {
            message_id,
            version,
            is_allowed: false,
            ep_token_url: String::new(),
            error: Some(code.number()),
            error_text: Some(error_text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(body: &str) -> Rejection {
        parse_request(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn a_full_request_parses() {
        let request = parse_request(
            br#"{"messageID":"m-1","version":1,"requestType":1,"contentID":"c-1","customerCookie":"abc"}"#,
        )
        .unwrap();
        assert_eq!(request.message_id.as_str(), "m-1");
        assert_eq!(request.request_type, RequestType::TimeBased);
        assert_eq!(request.content_id.as_str(), "c-1");
        assert_eq!(request.customer_cookie.unwrap().expose(), "abc");
    }

    #[test]
    fn defaults_and_relaxations() {
        let request = parse_request(
            br#"{"messageID":"m","version":"1","contentID":"c","customerCookie":""}"#,
        )
        .unwrap();
        assert_eq!(request.request_type, RequestType::TimeBased);
        assert_eq!(request.version, 1);
        assert!(request.customer_cookie.is_none());
        let newer =
            parse_request(br#"{"messageID":"m","version":7,"contentID":"c","extra":[1]}"#).unwrap();
        assert_eq!(newer.answer_version(), 1);
        let float =
            parse_request(br#"{"messageID":"m","version":1.0,"requestType":3.0,"contentID":"c","customerCookie":"k"}"#)
                .unwrap();
        assert_eq!(float.request_type, RequestType::DeviceBound);
    }

    #[test]
    fn every_rule_has_its_number_and_echoes_the_message_id() {
        let cases: &[(&str, ErrorCode)] = &[
            ("{", ErrorCode::MalformedJson),
            ("", ErrorCode::MalformedJson),
            ("\u{feff}{}", ErrorCode::MalformedJson),
            ("[1]", ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","contentID":"c"}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":1}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":true,"contentID":"c"}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":"abc","contentID":"c"}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":1,"contentID":7}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":1,"contentID":"c","requestType":"1"}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":1,"contentID":"c","customerCookie":5}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"","version":1,"contentID":"c"}"#, ErrorCode::InvalidMessageId),
            ("{\"messageID\":\"m\\u0000\",\"version\":1,\"contentID\":\"c\"}", ErrorCode::InvalidMessageId),
            (r#"{"messageID":"m","version":0,"contentID":"c"}"#, ErrorCode::InvalidVersion),
            (r#"{"messageID":"m","version":-1,"contentID":"c"}"#, ErrorCode::InvalidVersion),
            (r#"{"messageID":"m","version":"0","contentID":"c"}"#, ErrorCode::InvalidVersion),
            (r#"{"messageID":"m","version":1.5,"contentID":"c"}"#, ErrorCode::SchemaViolation),
            (r#"{"messageID":"m","version":"99999999999","contentID":"c"}"#, ErrorCode::InvalidVersion),
            (r#"{"messageID":"m","version":1,"contentID":"c","requestType":4}"#, ErrorCode::InvalidRequestType),
            (r#"{"messageID":"m","version":1,"contentID":"c","requestType":0}"#, ErrorCode::InvalidRequestType),
            (r#"{"messageID":"m","version":1,"contentID":""}"#, ErrorCode::InvalidContentId),
            ("{\"messageID\":\"m\",\"version\":1,\"contentID\":\"c\\u0007\"}", ErrorCode::InvalidContentId),
            (
                r#"{"messageID":"m","version":1,"contentID":"c","customerCookie":"123456789012345678901234567890123"}"#,
                ErrorCode::InvalidCustomerCookie,
            ),
            ("{\"messageID\":\"m\",\"version\":1,\"contentID\":\"c\",\"customerCookie\":\"a\\nb\"}", ErrorCode::InvalidCustomerCookie),
            (r#"{"messageID":"m","version":1,"contentID":"c","requestType":2}"#, ErrorCode::CookieRequired),
            (r#"{"messageID":"m","version":1,"contentID":"c","requestType":3,"customerCookie":""}"#, ErrorCode::CookieRequired),
        ];
        for (body, code) in cases {
            let rejection = reject(body);
            assert_eq!(rejection.code, *code, "{body}: {}", rejection.detail);
            if body.contains(r#""messageID":"m""#) {
                assert_eq!(rejection.message_id, "m", "{body}");
            }
        }
        assert_eq!(
            reject(&format!(
                r#"{{"messageID":"{}","version":1,"contentID":"c"}}"#,
                "x".repeat(129)
            ))
            .code,
            ErrorCode::InvalidMessageId
        );
        assert_eq!(
            reject(&format!(
                r#"{{"messageID":"m","version":1,"contentID":"{}"}}"#,
                "x".repeat(257)
            ))
            .code,
            ErrorCode::InvalidContentId
        );
    }

    #[test]
    fn rejections_name_the_field_but_never_quote_the_cookie() {
        let rejection = reject(
            r#"{"messageID":"m","version":1,"contentID":"c","customerCookie":"secret-cookie-value-that-is-way-too-long"}"#,
        );
        assert!(
            rejection.detail.contains("customerCookie"),
            "{}",
            rejection.detail
        );
        assert!(
            !rejection.detail.contains("secret-cookie"),
            "{}",
            rejection.detail
        );
        let typed = reject(r#"{"messageID":"m","version":"abc","contentID":"c"}"#);
        assert_eq!(typed.detail, "version must be made of digits");
        let missing = reject(r#"{"version":1,"contentID":"c"}"#);
        assert_eq!(missing.detail, "missing required field \"messageID\"");
        assert_eq!(
            reject(r#"{"messageID":"m","version":true,"contentID":"c"}"#).detail,
            "version must be of type integer or string"
        );
    }

    #[test]
    fn answer_version_never_exceeds_the_requests() {
        assert_eq!(
            reject(r#"{"messageID":"m","version":0,"contentID":""}"#).version,
            0
        );
        assert_eq!(
            reject(r#"{"messageID":"m","version":"abc","contentID":""}"#).version,
            1
        );
        assert_eq!(
            reject(r#"{"messageID":"m","version":5,"contentID":""}"#).version,
            1
        );
    }

    #[test]
    fn responses_match_the_response_schema() {
        let schema: Value = serde_json::from_str(RESPONSE_SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let request = parse_request(br#"{"messageID":"m","version":1,"contentID":"c"}"#).unwrap();
        let allowed =
            serde_json::to_value(EntitlementResponse::allowed(&request, "https://t/x".into()))
                .unwrap();
        let denied = serde_json::to_value(EntitlementResponse::denied(
            "m".into(),
            1,
            ErrorCode::UnknownContent,
            "",
        ))
        .unwrap();
        assert!(validator.is_valid(&allowed), "{allowed}");
        assert!(validator.is_valid(&denied), "{denied}");
        assert_eq!(denied["epTokenURL"], "");
        assert_eq!(denied["error"], 2001);
        assert!(allowed.get("error").is_none());
        assert!(!validator.is_valid(&serde_json::json!({"messageID": "m"})));
    }
}
