//! Tests of the simulator: the rules without HTTP, then the service over real HTTP.

use super::*;
use chrono::TimeDelta;

const AUTH: &str = "1000,0123456789abcdef0123456789ABCDEF";
const KEY: &str = "00112233445566778899aabbccddeeff";
const IV: &str = "ffeeddccbbaa99887766554433221100";

/// Request parameters as name/value pairs.
type Pairs<'a> = Vec<(&'static str, &'a str)>;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customerAuthenticator", AUTH),
        ("contentKey", KEY),
        ("iv", IV),
    ]
}

fn with<'a>(overrides: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
    let mut all = good();
    for (k, v) in overrides {
        all.retain(|(name, _)| name != k);
        all.push((k, v));
    }
    all
}

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    good().into_iter().filter(|(k, _)| *k != name).collect()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

// ----- pure validation -----

#[test]
fn error_format_parsing() {
    assert_eq!(parse_error_format(None), Ok(ErrorFormat::Html));
    assert_eq!(parse_error_format(Some("html")), Ok(ErrorFormat::Html));
    assert_eq!(parse_error_format(Some("json")), Ok(ErrorFormat::Json));
    for bad in ["JSON", "xml", "", " json"] {
        assert_eq!(
            parse_error_format(Some(bad)),
            Err(TokenError::InvalidErrorFormat)
        );
    }
}

#[test]
fn authenticator_validation() {
    assert_eq!(
        check_authenticator(None, &[]),
        Err(TokenError::AuthenticatorMissing)
    );
    assert_eq!(
        check_authenticator(Some(""), &[]),
        Err(TokenError::AuthenticatorMissing)
    );
    assert_eq!(check_authenticator(Some(AUTH), &[]), Ok(()));
    for bad in [
        "1000",
        ",0123456789abcdef0123456789abcdef",
        "10a0,0123456789abcdef0123456789abcdef",
        "1000,0123456789abcdef0123456789abcde",
        "1000,0123456789abcdef0123456789abcdeg",
        "1000 0123456789abcdef0123456789abcdef",
        "1000,0123456789abcdef0123456789abcdef,1",
    ] {
        assert_eq!(
            check_authenticator(Some(bad), &[]),
            Err(TokenError::AuthenticatorInvalid),
            "{bad}"
        );
    }
    let accepted = vec![AUTH.to_owned()];
    assert_eq!(check_authenticator(Some(AUTH), &accepted), Ok(()));
    assert_eq!(
        check_authenticator(Some("7,0123456789abcdef0123456789abcdef"), &accepted),
        Err(TokenError::AuthenticatorInvalid)
    );
}

#[test]
fn content_key_and_iv_validation() {
    assert_eq!(check_content_key(None), Err(TokenError::ContentKeyMissing));
    assert_eq!(check_content_key(Some(KEY)), Ok(()));
    assert_eq!(
        check_content_key(Some(&KEY[1..])),
        Err(TokenError::ContentKeyMalformed)
    );
    assert_eq!(
        check_content_key(Some("zz112233445566778899aabbccddeeff")),
        Err(TokenError::ContentKeyMalformed)
    );
    assert_eq!(check_iv(Some(IV)), Ok(()));
    assert_eq!(check_iv(None), Err(TokenError::InvalidIv));
    assert_eq!(check_iv(Some("")), Err(TokenError::InvalidIv));
    assert_eq!(
        check_iv(Some(&format!("{IV}00"))),
        Err(TokenError::InvalidIv)
    );
}

#[test]
fn rental_duration_validation() {
    assert_eq!(parse_rental_duration(None), Ok(0));
    assert_eq!(parse_rental_duration(Some("0")), Ok(0));
    assert_eq!(parse_rental_duration(Some("86400")), Ok(86_400));
    assert_eq!(parse_rental_duration(Some("4294967295")), Ok(u32::MAX));
    for bad in [
        "",
        "-1",
        "+5",
        " 5",
        "4294967296",
        "1.5",
        "abc",
        "99999999999999999999",
    ] {
        assert_eq!(
            parse_rental_duration(Some(bad)),
            Err(TokenError::InvalidRentalDuration),
            "{bad}"
        );
    }
}

#[test]
fn expiration_relative() {
    let n = now();
    assert_eq!(parse_expiration(None, n), Ok(n + TimeDelta::days(30)));
    assert_eq!(
        parse_expiration(Some("+60"), n),
        Ok(n + TimeDelta::seconds(60))
    );
    assert_eq!(
        parse_expiration(Some("+2592000"), n),
        Ok(n + TimeDelta::days(30))
    );
    for bad in [
        "+0",
        "+2592001",
        "+",
        "+-5",
        "++5",
        "60",
        "+6 0",
        "+99999999999999999999999",
    ] {
        assert_eq!(
            parse_expiration(Some(bad), n),
            Err(TokenError::InvalidExpiration),
            "{bad}"
        );
    }
}

#[test]
fn expiration_unencoded_plus_arrives_as_space_and_is_rejected() {
    assert_eq!(
        parse_expiration(Some(" 60"), now()),
        Err(TokenError::InvalidExpiration)
    );
}

#[test]
fn expiration_absolute() {
    let n = now();
    let ok = parse_expiration(Some("2024-01-02T12:01:10Z"), n).unwrap();
    assert_eq!(
        ok.to_rfc3339_opts(SecondsFormat::Secs, true),
        "2024-01-02T12:01:10Z"
    );
    assert!(parse_expiration(Some("2024-01-02T12:01:10.250Z"), n).is_ok());
    assert!(parse_expiration(Some("2024-01-31T00:00:00Z"), n).is_ok());
    for bad in [
        "2024-01-31T00:00:01Z",      // beyond 30 days
        "2024-01-01T00:00:00Z",      // not in the future
        "2023-12-31T23:59:59Z",      // past
        "2024-01-02T12:01:10+00:00", // not the Z designator
        "2024-01-02T12:01:10z",
        "2024-01-02t12:01:10Z",
        "2024-01-02 12:01:10Z",
        "2024-01-02",
        "tomorrow",
        "",
    ] {
        assert_eq!(
            parse_expiration(Some(bad), n),
            Err(TokenError::InvalidExpiration),
            "{bad}"
        );
    }
}

#[test]
fn cookie_validation() {
    assert_eq!(check_cookie(None), Ok(None));
    assert_eq!(check_cookie(Some("")), Ok(None));
    let max = "c".repeat(32);
    assert_eq!(check_cookie(Some(&max)), Ok(Some(max.clone())));
    assert_eq!(
        check_cookie(Some(&"é".repeat(32))).map(|c| c.is_some()),
        Ok(true)
    );
    assert_eq!(
        check_cookie(Some(&"c".repeat(33))),
        Err(TokenError::InvalidCookie)
    );
}

#[test]
fn validation_order_and_codes() {
    let n = now();
    let long_cookie = "x".repeat(40);
    let cases: Vec<(Pairs, i64, u16)> = vec![
        (with(&[("errorFormat", "xml")]), -3004, 400),
        (without("customerAuthenticator"), -2017, 401),
        (with(&[("customerAuthenticator", "1,2")]), -2018, 401),
        (without("contentKey"), -2005, 400),
        (with(&[("contentKey", "0011")]), -2027, 400),
        (without("iv"), -6003, 400),
        (with(&[("rentalDuration", "-1")]), -6007, 400),
        (with(&[("expirationTime", " 60")]), -2002, 400),
        (with(&[("cookie", long_cookie.as_str())]), -2033, 400),
        // Earlier checks win: bad format and bad authenticator together → -3004.
        (
            vec![("errorFormat", "xml"), ("contentKey", "bad")],
            -3004,
            400,
        ),
        (vec![("contentKey", "bad")], -2017, 401),
        (with(&[("contentKey", "bad"), ("iv", "bad")]), -2027, 400),
    ];
    for (pairs, code, status) in cases {
        let err = validate(&params(&pairs), &[], n).unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            (code, status),
            "{pairs:?}"
        );
    }
}

#[test]
fn valid_request_keeps_restrictions_but_no_key_material() {
    let pairs = with(&[
        ("rentalDuration", "3600"),
        ("expirationTime", "+600"),
        ("cookie", "cookie-1"),
        ("deviceId", "dev-9"),
        ("kid", "whatever"),
        ("fpExtension", "x"),
    ]);
    let valid = validate(&params(&pairs), &[], now()).unwrap();
    assert_eq!(
        valid,
        ValidRequest {
            error_format: ErrorFormat::Html,
            expiration: now() + TimeDelta::seconds(600),
            rental_duration: 3600,
            cookie: Some("cookie-1".to_owned()),
            device_id: Some("dev-9".to_owned()),
        }
    );
    assert!(!format!("{valid:?}").contains(KEY));
}

#[test]
fn form_decoding_turns_plus_into_space_and_keeps_the_first_value() {
    let body = "a=%2B1&b=+1&c=x y#z&d=%zz&e=caf\u{e9}&f=50%&a=second";
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    let got = first_wins(pairs);
    assert_eq!(got["a"], "+1");
    assert_eq!(got["b"], " 1");
    assert_eq!(got["c"], "x y#z");
    assert_eq!(got["d"], "%zz");
    assert_eq!(got["e"], "caf\u{e9}");
    assert_eq!(got["f"], "50%");
}

#[tokio::test]
async fn html_error_page_escapes_text() {
    let reply = ErrorReply::from(&ForcedError {
        status: 502,
        code: -1,
        text: "<b>&'\"".to_owned(),
    });
    let resp = reply.render(ErrorFormat::Html);
    assert_eq!(resp.status(), 502);
    let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Error -1</h1>\
             <p>&lt;b&gt;&amp;&#39;&quot;</p></body></html>"
    );
}

// ----- over HTTP -----

async fn start() -> Simulator {
    Simulator::start(SimConfig::default()).await.unwrap()
}

async fn get(sim: &Simulator, pairs: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .get(sim.token_url())
        .query(pairs)
        .send()
        .await
        .unwrap()
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn json_error(resp: reqwest::Response) -> (u16, i64, String) {
    let status = resp.status().as_u16();
    assert_eq!(content_type(&resp), "application/json");
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    (
        status,
        body["errorCode"].as_i64().unwrap(),
        body["errorText"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn success_with_encoded_plus_gives_uri_list() {
    let sim = start().await;
    let resp = get(
        &sim,
        &with(&[
            ("expirationTime", "+3600"),
            ("cookie", "abc"),
            ("deviceId", "d1"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/uri-list");
    let body = resp.text().await.unwrap();
    let prefix = format!("http://{}/hms/fp/rights/?ExpressPlayToken=", sim.addr());
    let token = body.strip_prefix(&prefix).expect(&body);
    assert_eq!(token.len(), 43);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(sim.issued_tokens(), 1);
    let issued = sim.issued_token(token).unwrap();
    assert_eq!(issued.cookie.as_deref(), Some("abc"));
    assert_eq!(issued.device_id.as_deref(), Some("d1"));
    assert_eq!(issued.rental_duration, 0);
    let exp = DateTime::parse_from_rfc3339(&issued.expiration).unwrap();
    assert_eq!(
        exp.signed_duration_since(issued.issued_at),
        TimeDelta::seconds(3600)
    );
    let rec = sim.recent_requests();
    assert!(rec[0].raw_query.contains("expirationTime=%2B3600"));
    assert_eq!(rec[0].params["expirationTime"], "+3600");
}

#[tokio::test]
async fn unencoded_plus_is_rejected_with_2002() {
    let sim = start().await;
    let url = format!(
        "{}?customerAuthenticator={}&contentKey={KEY}&iv={IV}&expirationTime=+60&errorFormat=json",
        sim.token_url(),
        AUTH.replace(',', "%2C"),
    );
    let resp = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(
        json_error(resp).await,
        (400, -2002, "Invalid token expiration time".to_owned())
    );
    let rec = sim.recent_requests();
    assert_eq!(rec[0].params["expirationTime"], " 60");
    assert!(rec[0].raw_query.contains("expirationTime=+60"));
    assert_eq!(rec[0].error_code, Some(-2002));
    assert_eq!(sim.issued_tokens(), 0);
}

#[tokio::test]
async fn each_validation_error_over_http() {
    let sim = start().await;
    let long_cookie = "k".repeat(33);
    let cases: Vec<(Pairs, u16, i64)> = vec![
        (without("customerAuthenticator"), 401, -2017),
        (with(&[("customerAuthenticator", "x,y")]), 401, -2018),
        (without("contentKey"), 400, -2005),
        (with(&[("contentKey", "abc")]), 400, -2027),
        (without("iv"), 400, -6003),
        (with(&[("iv", "xyz")]), 400, -6003),
        (with(&[("rentalDuration", "4294967296")]), 400, -6007),
        (with(&[("expirationTime", "+2592001")]), 400, -2002),
        (
            with(&[("expirationTime", "2000-01-01T00:00:00Z")]),
            400,
            -2002,
        ),
        (with(&[("cookie", long_cookie.as_str())]), 400, -2033),
    ];
    for (pairs, status, code) in cases {
        let mut pairs = pairs;
        pairs.push(("errorFormat", "json"));
        let (got_status, got_code, _) = json_error(get(&sim, &pairs).await).await;
        assert_eq!((got_status, got_code), (status, code), "{pairs:?}");
    }
    // An invalid errorFormat is answered in HTML.
    let resp = get(&sim, &with(&[("errorFormat", "xml")])).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(content_type(&resp), "text/html");
    assert!(resp.text().await.unwrap().contains("Error -3004"));
    assert_eq!(sim.issued_tokens(), 0);
}

#[tokio::test]
async fn accepted_authenticator_list_is_enforced() {
    let sim = Simulator::start(SimConfig {
        authenticators: vec![AUTH.to_owned()],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(get(&sim, &good()).await.status(), 200);
    let other = "1000,ffffffffffffffffffffffffffffffff";
    let resp = get(
        &sim,
        &with(&[("customerAuthenticator", other), ("errorFormat", "json")]),
    )
    .await;
    assert_eq!(json_error(resp).await.1, -2018);
}

#[tokio::test]
async fn json_and_html_error_formats() {
    let sim = start().await;
    let pairs = with(&[("customerAuthenticator", "1,bad")]);
    let resp = get(&sim, &pairs).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(content_type(&resp), "text/html");
    assert_eq!(
        resp.text().await.unwrap(),
        "<html><head><title>401 Unauthorized</title></head><body><h1>Error -2018</h1>\
             <p>Authenticator invalid</p></body></html>"
    );
    let mut json = pairs.clone();
    json.push(("errorFormat", "json"));
    assert_eq!(
        json_error(get(&sim, &json).await).await,
        (401, -2018, "Authenticator invalid".to_owned())
    );
}

#[tokio::test]
async fn error_bodies_never_echo_submitted_values() {
    let sim = start().await;
    let good_auth = "4242,deadbeefdeadbeefdeadbeefdeadbeef";
    let bad_auth = "4242,deadbeefdeadbeefdeadbeefdeadbee";
    let cookie = "my-secret-cookie-value-that-is-too-long";
    for (auth, code) in [(good_auth, "-2033"), (bad_auth, "-2018")] {
        for format in ["json", "html"] {
            let pairs = with(&[
                ("customerAuthenticator", auth),
                ("cookie", cookie),
                ("errorFormat", format),
            ]);
            let body = get(&sim, &pairs).await.text().await.unwrap();
            assert!(body.contains(code), "{body}");
            for value in [auth, "deadbeef", cookie, KEY, IV] {
                assert!(!body.contains(value), "{body} echoes {value}");
            }
        }
    }
}

#[tokio::test]
async fn forced_error_and_forced_html() {
    let sim = start().await;
    sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 503,
            code: -2019,
            text: "Insufficient tokens available".to_owned(),
        }),
        ..Behaviour::default()
    });
    let mut pairs = good();
    pairs.push(("errorFormat", "json"));
    assert_eq!(
        json_error(get(&sim, &pairs).await).await,
        (503, -2019, "Insufficient tokens available".to_owned())
    );
    sim.set_behaviour(Behaviour {
        force_html: true,
        ..Behaviour::default()
    });
    let pairs = with(&[("iv", "bad"), ("errorFormat", "json")]);
    let resp = get(&sim, &pairs).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(content_type(&resp), "text/html");
    assert!(resp.text().await.unwrap().contains("<h1>Error -6003</h1>"));
    // Out-of-range forced statuses become 500 rather than a broken response.
    sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 42,
            code: -2030,
            text: String::new(),
        }),
        ..Behaviour::default()
    });
    assert_eq!(get(&sim, &good()).await.status(), 500);
    assert_eq!(sim.issued_tokens(), 0);
}

#[tokio::test]
async fn delay_is_applied() {
    let sim = start().await;
    sim.set_behaviour(Behaviour {
        delay_ms: 200,
        ..Behaviour::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(get(&sim, &good()).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn recent_requests_record_decoded_params_in_a_ring() {
    let sim = Simulator::start(SimConfig {
        history: 2,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    get(&sim, &with(&[("cookie", "a b&c=d"), ("kid", "1")])).await;
    get(&sim, &without("iv")).await;
    get(&sim, &with(&[("cookie", "third")])).await;
    let rec = sim.recent_requests();
    assert_eq!(rec.len(), 2);
    assert_eq!(rec[0].error_code, Some(-6003));
    assert_eq!(rec[0].status, 400);
    assert_eq!(rec[1].params["cookie"], "third");
    assert_eq!(rec[1].status, 200);
    assert_eq!(rec[1].method, "GET");
    assert_eq!(rec[1].path, TOKEN_PATH);

    let sim = start().await;
    get(&sim, &with(&[("cookie", "a b&c=d"), ("kid", "1")])).await;
    let rec = sim.recent_requests();
    assert_eq!(rec[0].params["cookie"], "a b&c=d");
    assert_eq!(rec[0].params["customerAuthenticator"], AUTH);
    assert!(rec[0].raw_query.contains("cookie=a+b%26c%3Dd"));
}

#[tokio::test]
async fn post_form_works() {
    let sim = start().await;
    let pairs = with(&[("expirationTime", "+60"), ("cookie", "c1")]);
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/uri-list");
    let rec = sim.recent_requests();
    assert_eq!(rec[0].method, "POST");
    assert_eq!(rec[0].params["expirationTime"], "+60");
    assert!(rec[0].raw_query.contains("expirationTime=%2B60"));

    // The same '+' pitfall applies to a form body.
    let body = format!(
        "customerAuthenticator={}&contentKey={KEY}&iv={IV}&expirationTime=+60&errorFormat=json",
        AUTH.replace(',', "%2C")
    );
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(resp).await.1, -2002);

    // Not a form: 415, recorded without a code.
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(sim.recent_requests()[2].error_code, None);
}

#[tokio::test]
async fn simulator_routes_and_404() {
    let sim = start().await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let resp = client
        .put(format!("{base}/_sim/behaviour"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"force_error":{"status":401,"code":-2031,"text":"Service account disabled"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let mut pairs = good();
    pairs.push(("errorFormat", "json"));
    assert_eq!(json_error(get(&sim, &pairs).await).await.1, -2031);

    let list = client
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["error_code"], -2031);
    assert_eq!(list[0]["params"]["iv"], IV);

    let resp = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = client.delete(sim.token_url()).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}
