//! What each fuzz target does with one input, shared by the libFuzzer targets (`fuzz_targets/`) and
//! the stable replay test (`tests/fuzz_corpus.rs`, which includes this file). Every function panics
//! only when an invariant breaks.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sees::admin::fuzzing::{parse_body, BodyKind};
use sees::admin::jwt::fuzzing::{sign_hs256, JwtHarness};
use sees::config::RecordFields;
use sees::expressplay::fuzzing::{error_response, token_response};
use sees::expressplay::{devices_for_cookie, DeviceLookup, UpstreamError};
use sees::keys::{parse_import, ImportFormat};
use sees::sees::{parse_request, EntitlementResponse};
use serde_json::Value;

/// The fixed "now" of the date checks (2027-01-15), so a corpus replays the same way every day.
pub const NOW: i64 = 1_800_000_000;

/// The public half of the RS256 fuzz issuer's key (its private half signed the RS256 seeds and was
/// thrown away).
pub const RS256_PUBLIC_PEM: &str = include_str!("../keys/rs256_public.pem");

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

/// The SEES request path: never panics; an accepted request answers with a response that serializes,
/// fits the response schema and echoes the request's `messageID` and a version no higher than ours.
pub fn sees_request(data: &[u8]) {
    static RESPONSE: OnceLock<Value> = OnceLock::new();
    let request = match parse_request(data) {
        Ok(request) => request,
        Err(rejection) => {
            assert!(rejection.version <= sees::sees::wire::PROTOCOL_VERSION);
            let denied = EntitlementResponse::denied(
                rejection.message_id,
                rejection.version,
                rejection.code,
                &rejection.detail,
            );
            assert!(serde_json::to_string(&denied).is_ok());
            return;
        }
    };
    let schema = RESPONSE.get_or_init(|| {
        serde_json::from_str(sees::sees::wire::RESPONSE_SCHEMA).expect("response schema")
    });
    let response = EntitlementResponse::allowed(&request, "https://fuzz.invalid/t".to_owned());
    let json = serde_json::to_value(&response).expect("an allowed response serializes");
    assert!(jsonschema::is_valid(schema, &json), "{json}");
    assert_eq!(json["messageID"], request.message_id.as_str());
    assert!(request.answer_version() >= 1);
    // The same bytes parse the same way.
    let again = parse_request(data).expect("parsing is deterministic");
    assert_eq!(again.message_id, request.message_id);
    assert_eq!(again.content_id, request.content_id);
}

/// Admin bodies: the first byte picks the body kind, the rest is the body; never panics.
pub fn admin_body(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let _ = parse_body(BodyKind::from_byte(*selector), body, now());
}

/// The secret the ExpressPlay error reader must remove in [`expressplay_token`].
const AUTHENTICATOR: &str = "FUZZAUTH0123456789abcdef";

/// ExpressPlay token answers: the first byte picks token (even) or error (odd) reading. A token URL
/// is an http(s) URL taken from the body; an error's text never holds the authenticator.
pub fn expressplay_token(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let body = String::from_utf8_lossy(rest);
    if selector % 2 == 0 {
        if let Ok(url) = token_response(&body) {
            // Schemes are case-insensitive (`HTTPS:` is an https URL).
            assert!(url.to_ascii_lowercase().starts_with("http"), "{url}");
            assert!(!url.chars().any(char::is_control), "{url:?}");
            assert!(body.contains(url.as_str()));
        }
        return;
    }
    let content_type = match selector % 6 {
        1 => "application/json",
        3 => "text/html; charset=utf-8",
        _ => "text/plain",
    };
    let status = 400 + u16::from(*selector);
    match error_response(status, content_type, &body, &[AUTHENTICATOR]) {
        UpstreamError::Rejected { text, .. } => {
            let lower = text.to_ascii_lowercase();
            assert!(
                !lower.contains(&AUTHENTICATOR.to_ascii_lowercase()),
                "the authenticator leaked: {text}"
            );
        }
        other => panic!("an error answer read as {other:?}"),
    }
}

/// Record service answers: never panics; a found device was logged under the cookie asked about.
pub fn expressplay_records(data: &[u8]) {
    let body = String::from_utf8_lossy(data);
    let fields = RecordFields::default();
    if let Ok(DeviceLookup::One(device)) = devices_for_cookie(&body, &fields, "fuzz-cookie") {
        assert!(body.contains(device.as_str()) || body.contains('\\'));
    }
}

/// Key import files: the first byte picks JSONL (even) or CSV (odd); never panics, and an accepted
/// file yields no more keys than it has lines.
pub fn key_import(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if selector % 2 == 0 {
        ImportFormat::Jsonl
    } else {
        ImportFormat::Csv
    };
    if let Ok(keys) = parse_import(text, format) {
        assert!(keys.len() <= text.lines().count() + 1);
    }
}

fn jwt_harness() -> &'static JwtHarness {
    static HARNESS: OnceLock<JwtHarness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        JwtHarness::new(RS256_PUBLIC_PEM, std::env::temp_dir()).expect("the fuzz issuers load")
    })
}

/// The JWT path. First byte even: the rest is a token as sent. Odd: the rest is `header\npayload`,
/// signed here with the HS256 fuzz secret so the claim checks behind the signature are reached.
/// Never panics.
pub fn jwt(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let harness = jwt_harness();
    let token = if selector % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let (header, payload) = rest.split_at(cut);
        sign_hs256(header, payload.get(1..).unwrap_or_default())
    };
    let _ = harness.check(&token, NOW);
}
