//! Reading ExpressPlay's answers: a `text/uri-list` token URL on success (for PlayReady, a JSON
//! license acquisition URL and token made into one URL), an error in JSON or HTML otherwise. The
//! error JSON's field names are not published, so parsing is defensive: several names are tried,
//! then the status and the body text are used.

use std::time::Duration;

/// The longest upstream text carried into an `errorText`.
const MAX_TEXT: usize = 200;

/// Why no token came back. Never carries the authenticator, key material or the request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The connection could not be made: ExpressPlay never saw the request (retryable).
    #[error("cannot connect to ExpressPlay: {0}")]
    Connect(String),
    /// The connection broke after the request was sent.
    #[error("the connection to ExpressPlay broke: {0}")]
    Transport(String),
    #[error("ExpressPlay did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The request's upstream budget was spent before this call could start.
    #[error("the upstream time budget of this request is spent")]
    BudgetSpent,
    /// The service's circuit breaker is open.
    #[error("ExpressPlay calls are suspended after repeated failures (circuit open)")]
    CircuitOpen,
    /// The cap on calls in flight is reached.
    #[error("too many ExpressPlay calls in flight")]
    Busy,
    #[error("ExpressPlay error {}: {text} (HTTP {status})", code.map_or("?".to_owned(), |c| c.to_string()))]
    Rejected {
        status: u16,
        code: Option<i64>,
        text: String,
    },
    #[error("ExpressPlay's answer could not be read: {0}")]
    BadResponse(String),
}

impl UpstreamError {
    /// Failures ExpressPlay cannot have acted on, worth another attempt: connect errors and the
    /// gateway statuses 502, 503 and 504.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Connect(_) => true,
            UpstreamError::Rejected { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Failures that say the service is unhealthy (they count towards opening its breaker); a
    /// refusal of our parameters (4xx) says it is working.
    pub fn is_service_failure(&self) -> bool {
        match self {
            UpstreamError::Connect(_)
            | UpstreamError::Transport(_)
            | UpstreamError::Timeout(_)
            | UpstreamError::BadResponse(_) => true,
            UpstreamError::Rejected { status, .. } => *status >= 500,
            UpstreamError::BudgetSpent | UpstreamError::CircuitOpen | UpstreamError::Busy => false,
        }
    }
}

/// The token URL of a 200 answer: the first line of the `text/uri-list` body that is not a comment.
/// A line with a control character is refused: the URL parser would skip it, but the line itself is
/// what the license server gets.
pub(crate) fn token_url_from_body(body: &str) -> Result<String, UpstreamError> {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| UpstreamError::BadResponse("empty body".to_owned()))?;
    // A space would end the URL in any client that reads it (and the URL parser would encode it
    // away rather than refuse it): a token URL has neither spaces nor control characters.
    if line.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UpstreamError::BadResponse(
            "the body's URL has control characters or spaces".to_owned(),
        ));
    }
    match reqwest::Url::parse(line) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(line.to_owned()),
        _ => Err(UpstreamError::BadResponse(
            "the body is not an http(s) URL".to_owned(),
        )),
    }
}

/// The PlayReady token URL of a 200 answer. ExpressPlay documents a JSON body
/// `{"licenseAcquisitionUrl": ..., "token": ...}` (whatever its content type says: `application/json`,
/// `text/plain` or even `text/uri-list`); it becomes one URL, the license acquisition URL with
/// `ExpressPlayToken=<token, percent-encoded>` added to its query (after `?`, or `&` when it already has
/// one). A body that is not JSON is read as a `text/uri-list` token URL and kept as is.
///
/// The license acquisition URL must be http(s) with no control characters or whitespace; the token
/// must be non-empty with none either. Errors never quote the body.
pub(crate) fn playready_url_from_body(body: &str) -> Result<String, UpstreamError> {
    let bad = |why: &str| UpstreamError::BadResponse(format!("PlayReady answer: {why}"));
    if !body.trim_start().starts_with('{') {
        return token_url_from_body(body);
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| bad("the body is not valid JSON"))?;
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    let (Some(la_url), Some(token)) = (field("licenseAcquisitionUrl"), field("token")) else {
        return Err(bad(
            "no licenseAcquisitionUrl and token strings in the JSON body",
        ));
    };
    let unsafe_char = |c: char| c.is_control() || c.is_whitespace();
    if la_url.chars().any(unsafe_char) {
        return Err(bad(
            "the licenseAcquisitionUrl has control characters or whitespace",
        ));
    }
    let mut url = match reqwest::Url::parse(la_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
        _ => return Err(bad("the licenseAcquisitionUrl is not an http(s) URL")),
    };
    if token.is_empty() || token.chars().any(unsafe_char) {
        return Err(bad(
            "the token is empty or has control characters or whitespace",
        ));
    }
    url.query_pairs_mut().append_pair("ExpressPlayToken", token);
    Ok(url.into())
}

/// An error answer: ExpressPlay's code and text when they can be found, else the status and body text.
/// Every string in `secrets` is removed from the text.
pub(crate) fn rejection(
    status: u16,
    content_type: &str,
    body: &str,
    secrets: &[&str],
) -> UpstreamError {
    let (code, text) = if content_type.contains("json") || body.trim_start().starts_with('{') {
        from_json(body).unwrap_or_else(|| (find_code(body), body.to_owned()))
    } else if content_type.contains("html") || body.trim_start().starts_with('<') {
        let text = strip_tags(body);
        (find_code(&text), text)
    } else {
        (find_code(body), body.to_owned())
    };
    let mut text = scrub(&text, secrets);
    if text.is_empty() {
        text = format!("HTTP {status} without explanation");
    }
    UpstreamError::Rejected { status, code, text }
}

fn from_json(body: &str) -> Option<(Option<i64>, String)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object()?;
    let inner = object.get("error").and_then(|e| e.as_object());
    let lookup = |names: &[&str]| {
        names.iter().find_map(|name| {
            object
                .get(*name)
                .or_else(|| inner.and_then(|i| i.get(*name)))
                .filter(|v| !v.is_null())
        })
    };
    let code = lookup(&["errorCode", "code", "error", "errorNumber", "errorNo"]).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let text = lookup(&[
        "errorText",
        "errorMessage",
        "message",
        "text",
        "description",
        "error_description",
    ])
    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    .unwrap_or_default();
    Some((code, text))
}

/// The first ExpressPlay-style error number (`-` and four digits) in `text`.
fn find_code(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let digits = bytes.get(i + 1..i + 5)?;
        let bounded = bytes.get(i + 5).is_none_or(|b| !b.is_ascii_digit());
        (bytes[i] == b'-' && digits.iter().all(u8::is_ascii_digit) && bounded)
            .then(|| text[i..i + 5].parse().ok())
            .flatten()
    })
}

/// Text content of an HTML page: tags dropped, whitespace collapsed, `<title>` skipped when a body exists.
fn strip_tags(html: &str) -> String {
    let without_title = match (html.find("<title>"), html.find("</title>")) {
        (Some(start), Some(end)) if end > start && html.contains("<body") => {
            format!("{}{}", &html[..start], &html[end + "</title>".len()..])
        }
        _ => html.to_owned(),
    };
    let mut text = String::with_capacity(without_title.len());
    let mut in_tag = false;
    for c in without_title.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line, bounded, with every secret replaced.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        clean = replace_ignore_ascii_case(&clean, secret, "[redacted]");
    }
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    match clean.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

fn replace_ignore_ascii_case(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut rest = 0;
    while let Some(found) = lower[rest..].find(&needle) {
        out.push_str(&haystack[rest..rest + found]);
        out.push_str(with);
        rest += found + needle.len();
    }
    out.push_str(&haystack[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_is_the_first_uri_line() {
        assert_eq!(
            token_url_from_body(
                "# comment\r\nhttps://fp.example/hms/fp/rights/?ExpressPlayToken=abc\r\n"
            )
            .unwrap(),
            "https://fp.example/hms/fp/rights/?ExpressPlayToken=abc"
        );
        assert!(token_url_from_body("").is_err());
        assert!(token_url_from_body("{\"token\":\"x\"}").is_err());
        assert!(token_url_from_body("ftp://x/y").is_err());
    }

    /// Found by the `expressplay_token` fuzz target: the URL parser skips leading and trailing C0
    /// controls and inner tabs, so these lines parsed, and the raw line (NUL included) became the
    /// token URL sent to the license server.
    #[test]
    fn token_urls_with_control_characters_are_refused() {
        for body in [
            "\0https://fressplay#g\0",
            "\u{1}https://fp.example/t",
            "https://fp.example/t\u{7f}",
            "https://fp.ex\tample/t",
        ] {
            assert!(
                matches!(
                    token_url_from_body(body),
                    Err(UpstreamError::BadResponse(_))
                ),
                "{body:?}"
            );
        }
    }

    const LA: &str = "https://expressplay-licensing.axprod.net/LicensingService.ashx";

    #[test]
    fn playready_json_answers_become_one_url() {
        let body = format!(r#"{{"licenseAcquisitionUrl":"{LA}","token":"AbC+/x=="}}"#);
        assert_eq!(
            playready_url_from_body(&body).unwrap(),
            format!("{LA}?ExpressPlayToken=AbC%2B%2Fx%3D%3D")
        );
        // Whitespace around the JSON, other fields, another order.
        let body = format!(
            "\r\n {{\"token\": \"T0k\", \"extra\": 1, \"licenseAcquisitionUrl\": \"{LA}?a=b\"}}\n"
        );
        assert_eq!(
            playready_url_from_body(&body).unwrap(),
            format!("{LA}?a=b&ExpressPlayToken=T0k")
        );
        // An empty query gets no stray `&`; a fragment stays last.
        let body = r#"{"licenseAcquisitionUrl":"http://127.0.0.1:9/pr?","token":"t"}"#;
        assert_eq!(
            playready_url_from_body(body).unwrap(),
            "http://127.0.0.1:9/pr?ExpressPlayToken=t"
        );
        let body = r#"{"licenseAcquisitionUrl":"https://la.example/pr#f","token":"t"}"#;
        assert_eq!(
            playready_url_from_body(body).unwrap(),
            "https://la.example/pr?ExpressPlayToken=t#f"
        );
        // A token that would end the parameter or start another is encoded.
        let body = r#"{"licenseAcquisitionUrl":"https://la.example/pr","token":"a&b=c#d%"}"#;
        assert_eq!(
            playready_url_from_body(body).unwrap(),
            "https://la.example/pr?ExpressPlayToken=a%26b%3Dc%23d%25"
        );
    }

    #[test]
    fn playready_uri_list_answers_are_kept_as_is() {
        let url = "https://pr.example/hms/pr/rights/?ExpressPlayToken=abc";
        assert_eq!(
            playready_url_from_body(&format!("# comment\r\n{url}\r\n")).unwrap(),
            url
        );
    }

    #[test]
    fn hostile_playready_answers_are_refused_without_quoting_them() {
        let secret = "00112233445566778899aabbccddeeff";
        let long = "x".repeat(100_000);
        let deep = "[".repeat(10_000);
        let hostile: Vec<String> = vec![
            String::new(),
            "   ".to_owned(),
            "{".to_owned(),
            format!("{{\"error\":\"{secret}\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\"}}"),
            format!("{{\"token\":\"{secret}\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":\"\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":42}}"),
            format!("{{\"licenseAcquisitionUrl\":null,\"token\":\"{secret}\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":\"a\\u0000b\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":\"a\\r\\nSet-Cookie: x\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":\"a b\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"\\u0000{LA}\",\"token\":\"t\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\\t\",\"token\":\"t\"}}"),
            format!("{{\"licenseAcquisitionUrl\":\" {LA}\",\"token\":\"t\"}}"),
            r#"{"licenseAcquisitionUrl":"javascript:alert(1)","token":"t"}"#.to_owned(),
            r#"{"licenseAcquisitionUrl":"ftp://la.example/pr","token":"t"}"#.to_owned(),
            r#"{"licenseAcquisitionUrl":"/relative/pr","token":"t"}"#.to_owned(),
            r#"{"licenseAcquisitionUrl":"https://","token":"t"}"#.to_owned(),
            r#"["https://la.example/pr","t"]"#.to_owned(),
            format!("{{\"licenseAcquisitionUrl\":\"{LA}\",\"token\":\"{long}\""),
            format!("{{\"licenseAcquisitionUrl\":{deep}"),
            format!("not a url {secret}"),
            "\u{1}https://la.example/pr".to_owned(),
            "ftp://la.example/pr".to_owned(),
        ];
        for body in &hostile {
            match playready_url_from_body(body) {
                Err(UpstreamError::BadResponse(why)) => {
                    assert!(!why.contains(secret), "{why}");
                    assert!(why.len() < 120, "{why}");
                }
                other => panic!("{:?}: {other:?}", body.get(..80.min(body.len()))),
            }
        }
    }

    #[test]
    fn json_errors_under_several_field_names() {
        for body in [
            r#"{"errorCode":-2018,"errorText":"Authenticator invalid"}"#,
            r#"{"code":"-2018","message":"Authenticator invalid"}"#,
            r#"{"error":{"code":-2018,"message":"Authenticator invalid"}}"#,
        ] {
            assert_eq!(
                rejection(401, "application/json", body, &[]),
                UpstreamError::Rejected {
                    status: 401,
                    code: Some(-2018),
                    text: "Authenticator invalid".to_owned()
                },
                "{body}"
            );
        }
        let odd = rejection(400, "application/json", r#"{"weird":true}"#, &[]);
        assert!(
            matches!(odd, UpstreamError::Rejected { code: None, ref text, .. } if text == "HTTP 400 without explanation"),
            "{odd:?}"
        );
    }

    #[test]
    fn html_errors_and_plain_text() {
        let page = "<html><head><title>400 Bad Request</title></head><body><h1>Error -2027</h1>\n<p>Content key must be 32 hex digits</p></body></html>";
        assert_eq!(
            rejection(400, "text/html; charset=utf-8", page, &[]),
            UpstreamError::Rejected {
                status: 400,
                code: Some(-2027),
                text: "Error -2027 Content key must be 32 hex digits".to_owned()
            }
        );
        let proxy = rejection(502, "text/plain", "Bad gateway", &[]);
        assert_eq!(
            proxy.to_string(),
            "ExpressPlay error ?: Bad gateway (HTTP 502)"
        );
        assert_eq!(find_code("year 2024 and -20195 and -6008."), Some(-6008));
    }

    #[test]
    fn secrets_are_scrubbed_and_text_bounded() {
        let key = "00112233445566778899AABBCCDDEEFF";
        let body = format!(
            r#"{{"errorCode":-2005,"errorText":"bad key {} from 1,{key}"}}"#,
            key.to_lowercase()
        );
        let err = rejection(400, "application/json", &body, &[key]);
        let shown = err.to_string();
        assert!(
            !shown.to_lowercase().contains(&key.to_lowercase()),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
        let long = rejection(500, "text/plain", &"x".repeat(1000), &[]);
        assert!(
            matches!(long, UpstreamError::Rejected { ref text, .. } if text.chars().count() == MAX_TEXT + 1)
        );
    }
}
