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

/// Asserts that `check` refuses each of `bad` with `error`.
fn refuses_each<T: PartialEq + std::fmt::Debug>(
    bad: &[&str],
    error: TokenError,
    check: impl Fn(&str) -> Result<T, TokenError>,
) {
    for bad in bad {
        assert_eq!(check(bad), Err(error), "{bad:?}");
    }
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
    refuses_each(
        &["JSON", "xml", "", " json"],
        TokenError::InvalidErrorFormat,
        |bad| parse_error_format(Some(bad)),
    );
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
    refuses_each(
        &[
            "1000",
            ",0123456789abcdef0123456789abcdef",
            "10a0,0123456789abcdef0123456789abcdef",
            "1000,0123456789abcdef0123456789abcde",
            "1000,0123456789abcdef0123456789abcdeg",
            "1000 0123456789abcdef0123456789abcdef",
            "1000,0123456789abcdef0123456789abcdef,1",
        ],
        TokenError::AuthenticatorInvalid,
        |bad| check_authenticator(Some(bad), &[]),
    );
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
    refuses_each(
        &[
            "",
            "-1",
            "+5",
            " 5",
            "4294967296",
            "1.5",
            "abc",
            "99999999999999999999",
        ],
        TokenError::InvalidRentalDuration,
        |bad| parse_rental_duration(Some(bad)),
    );
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
    refuses_each(
        &[
            "+0",
            "+2592001",
            "+",
            "+-5",
            "++5",
            "60",
            "+6 0",
            "+99999999999999999999999",
        ],
        TokenError::InvalidExpiration,
        |bad| parse_expiration(Some(bad), n),
    );
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
    refuses_each(
        &[
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
        ],
        TokenError::InvalidExpiration,
        |bad| parse_expiration(Some(bad), n),
    );
}

#[test]
fn cookie_validation() {
    assert_eq!(check_cookie(None), Ok(None));
    assert_eq!(check_cookie(Some("")), Ok(None));
    let max = "c".repeat(32);
    assert_eq!(check_cookie(Some(&max)), Ok(Some(max.clone())));
    // Only printable ASCII other than space (the simulator's reading of an unpublished rule).
    let printable: String = (0x21u8..=0x7E).map(char::from).take(32).collect();
    assert_eq!(check_cookie(Some(&printable)), Ok(Some(printable.clone())));
    refuses_each(
        &["a b", "caf\u{e9}", "tab\there", "nl\n", "\u{7f}", " "],
        TokenError::InvalidCookie,
        |bad| check_cookie(Some(bad)),
    );
    assert_eq!(
        check_cookie(Some(&"\u{e9}".repeat(16))),
        Err(TokenError::InvalidCookie)
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
        ("deviceid", "dev-9"),
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
            ("deviceid", "d1"),
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
    assert_eq!(
        put_control(
            &sim,
            "behaviour",
            r#"{"force_error":{"status":401,"code":-2031,"text":"Service account disabled"}}"#
        )
        .await,
        204
    );
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

// ----- device binding, record log, redemption: pure rules -----

fn issued(device: Option<&str>, expiration: &str) -> IssuedToken {
    IssuedToken {
        cookie: Some("cookie-1".to_owned()),
        expiration: expiration.to_owned(),
        rental_duration: 0,
        issued_at: now(),
        device_id: device.map(str::to_owned),
    }
}

#[test]
fn device_id_validation() {
    assert_eq!(check_device_id(None), Ok(None));
    assert_eq!(check_device_id(Some("")), Ok(None));
    let all = "AZaz09._:+/=-";
    assert_eq!(check_device_id(Some(all)), Ok(Some(all.to_owned())));
    let max = "d".repeat(256);
    assert_eq!(check_device_id(Some(&max)), Ok(Some(max.clone())));
    let too_long = "d".repeat(257);
    refuses_each(
        &[
            too_long.as_str(),
            "dev 1",
            "dev#1",
            "dev%1",
            "dev&1",
            "dévice",
            "dev\n",
            "dev\u{0}",
            " ",
        ],
        TokenError::InvalidDeviceId,
        |bad| check_device_id(Some(bad)),
    );
}

#[test]
fn device_restriction_rules() {
    let n = now();
    let rules = |device_param, device_binding| TokenRules {
        authenticators: &[],
        device_param,
        device_binding,
    };
    // The default name is `deviceid`; parameters are case-sensitive, so `deviceId` is ignored.
    let valid = validate(&params(&with(&[("deviceId", "DEV1")])), &[], n).unwrap();
    assert_eq!(valid.device_id, None);
    let valid = validate(&params(&with(&[("deviceid", "DEV1")])), &[], n).unwrap();
    assert_eq!(valid.device_id.as_deref(), Some("DEV1"));
    // A configured name is honoured.
    let custom = rules("deviceId", true);
    let valid = validate_with(&params(&with(&[("deviceId", "DEV1")])), &custom, n).unwrap();
    assert_eq!(valid.device_id.as_deref(), Some("DEV1"));
    // Without device binding: -6008, after every other check; an empty restriction is no restriction.
    let unbound = rules(DEFAULT_DEVICE_PARAM, false);
    let cases: Vec<(Pairs, i64)> = vec![
        (with(&[("deviceid", "DEV1")]), -6008),
        (with(&[("deviceid", "DEV1"), ("iv", "bad")]), -6003),
        (with(&[("deviceid", "DEV1"), ("cookie", "a b")]), -2033),
        (with(&[("deviceid", "DEV 1")]), -2034),
    ];
    for (pairs, code) in cases {
        let err = validate_with(&params(&pairs), &unbound, n).unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            (code, 400),
            "{pairs:?}"
        );
    }
    assert!(validate_with(&params(&with(&[("deviceid", "")])), &unbound, n).is_ok());
    assert_eq!(
        TokenError::DeviceBindingUnsupported.to_string(),
        "Device ID binding is not supported for FairPlay"
    );
    // With binding: a cookie error comes before a device error.
    let err = validate(
        &params(&with(&[("cookie", "a b"), ("deviceid", "DEV 1")])),
        &[],
        n,
    )
    .unwrap_err();
    assert_eq!(err.code(), -2033);
    let err = validate(&params(&with(&[("deviceid", "DEV 1")])), &[], n).unwrap_err();
    assert_eq!(err.code(), -2034);
}

#[test]
fn record_query_parsing() {
    let q = |pairs: &[(&str, &str)]| parse_record_query(&params(pairs), &[]);
    let auth = ("customerAuthenticator", AUTH);
    assert_eq!(q(&[auth]), Ok(RecordQuery::Latest));
    assert_eq!(
        q(&[auth, ("cookie", "c-1"), ("errorFormat", "json")]),
        Ok(RecordQuery::Cookie("c-1".to_owned()))
    );
    assert_eq!(q(&[auth, ("id", "17")]), Ok(RecordQuery::Id(17)));
    assert_eq!(
        q(&[auth, ("start", "0"), ("length", "1000")]),
        Ok(RecordQuery::Page {
            start: 0,
            length: 1000
        })
    );
    let cases: Vec<(Vec<(&str, &str)>, i64)> = vec![
        (vec![], -2017),
        (vec![("customerAuthenticator", "")], -2017),
        (vec![("customerAuthenticator", "1,2")], -2018),
        (vec![auth, ("errorFormat", "xml")], -3004),
        (vec![("errorFormat", "xml")], -3004),
        (vec![auth, ("cookie", "")], -2033),
        (vec![auth, ("cookie", "a b")], -2033),
        (vec![auth, ("cookie", "c".repeat(33).leak())], -2033),
        (vec![auth, ("id", "")], -2035),
        (vec![auth, ("id", "-1")], -2035),
        (vec![auth, ("id", "99999999999999999999999")], -2035),
        (vec![auth, ("start", "0")], -2035),
        (vec![auth, ("length", "5")], -2035),
        (vec![auth, ("start", "0"), ("length", "0")], -2035),
        (vec![auth, ("start", "0"), ("length", "1001")], -2035),
        (vec![auth, ("start", "x"), ("length", "5")], -2035),
        (vec![auth, ("cookie", "c"), ("id", "1")], -2035),
    ];
    for (pairs, code) in cases {
        assert_eq!(q(&pairs).map_err(TokenError::code), Err(code), "{pairs:?}");
    }
    // Authentication errors are 401, the others 400.
    assert_eq!(TokenError::InvalidRecordQuery.status(), 400);
}

#[test]
fn redemption_rules() {
    let n = now();
    let later = "2024-01-01T00:10:00Z";
    let unbound = issued(None, later);
    let bound = issued(Some("DEV1"), later);
    assert_eq!(
        check_redemption(None, Some("DEV1"), n),
        Err(RightsError::InvalidToken)
    );
    assert_eq!(
        check_redemption(Some(&unbound), Some("ANY"), n),
        Ok("ANY".to_owned())
    );
    assert_eq!(
        check_redemption(Some(&bound), Some("DEV1"), n),
        Ok("DEV1".to_owned())
    );
    assert_eq!(
        check_redemption(Some(&bound), Some("DEV2"), n),
        Err(RightsError::DeviceNotAuthorized)
    );
    assert_eq!(
        check_redemption(Some(&bound), Some("dev1"), n),
        Err(RightsError::DeviceNotAuthorized)
    );
    for missing in [None, Some("")] {
        assert_eq!(
            check_redemption(Some(&bound), missing, n),
            Err(RightsError::DeviceIdMissing)
        );
    }
    assert_eq!(
        check_redemption(Some(&unbound), Some("a b"), n),
        Err(RightsError::DeviceIdInvalid)
    );
    // Expired, or an expiration the simulator cannot read: refused (fail closed).
    for expired in ["2023-12-31T23:59:59Z", "garbage", ""] {
        assert_eq!(
            check_redemption(Some(&issued(Some("DEV1"), expired)), Some("DEV1"), n),
            Err(RightsError::TokenExpired),
            "{expired}"
        );
    }
    let codes: Vec<(i64, u16)> = [
        RightsError::InvalidToken,
        RightsError::TokenExpired,
        RightsError::DeviceIdMissing,
        RightsError::DeviceIdInvalid,
        RightsError::DeviceNotAuthorized,
    ]
    .iter()
    .map(|e| (e.code(), e.status().as_u16()))
    .collect();
    assert_eq!(
        codes,
        [
            (-4010, 400),
            (-4010, 400),
            (-4010, 400),
            (-4010, 400),
            (-4011, 403)
        ]
    );
}

#[test]
fn record_log_is_bounded_and_selects_newest_first() {
    let mut log = records::RecordLog::default();
    for i in 0..MAX_RECORD_EVENTS + 5 {
        log.push(&format!("c{}", i % 3), &format!("d{i}"), now());
    }
    let events: Vec<&RecordEvent> = log.events().collect();
    assert_eq!(events.len(), MAX_RECORD_EVENTS);
    assert_eq!(events[0].id, 6);
    assert_eq!(events[MAX_RECORD_EVENTS - 1].id, 10_005);

    let latest = log.select(&RecordQuery::Latest);
    assert_eq!(latest.len(), LATEST_RECORDS);
    assert_eq!(latest[0].id, 10_005);
    assert_eq!(latest[31].id, 10_005 - 31);
    assert_eq!(log.select(&RecordQuery::Id(10_000))[0].device_id, "d9999");
    assert!(log.select(&RecordQuery::Id(1)).is_empty());
    let page = log.select(&RecordQuery::Page {
        start: 2,
        length: 3,
    });
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [10_003, 10_002, 10_001]
    );
    assert!(log
        .select(&RecordQuery::Page {
            start: u64::MAX,
            length: 5
        })
        .is_empty());
    let c1 = log.select(&RecordQuery::Cookie("c1".to_owned()));
    assert!(c1.iter().all(|e| e.cookie == "c1"));
    assert!(c1.windows(2).all(|w| w[0].id > w[1].id));
    assert!(log
        .select(&RecordQuery::Cookie("nobody".to_owned()))
        .is_empty());

    log.clear();
    assert_eq!(log.events().count(), 0);
    assert_eq!(log.push("c", "d", now()).id, 10_006, "ids are never reused");
}

#[test]
fn records_json_uses_the_published_constants() {
    let event = RecordEvent {
        id: 7,
        timestamp: now(),
        cookie: "c-1".to_owned(),
        device_id: "DEV1".to_owned(),
    };
    let json = records::records_json(&[event]);
    assert_eq!(
        json,
        serde_json::json!({"records": [{
            "id": 7,
            "timestamp": "2024-01-01T00:00:00.000Z",
            "cookie": "c-1",
            "deviceId": "DEV1",
            "contentType": "fairplay",
        }]})
    );
    assert_eq!(json[RECORDS_FIELD][0][RECORD_COOKIE_FIELD], "c-1");
    assert_eq!(json[RECORDS_FIELD][0][RECORD_DEVICE_FIELD], "DEV1");
}

#[test]
fn behaviour_count_is_spent_then_normal() {
    let slot = Mutex::new(Behaviour {
        delay_ms: 5,
        force_html: true,
        fault: Some(Fault::Status { status: 503 }),
        fault_times: Some(2),
        ..Behaviour::default()
    });
    for left in [1, 0] {
        let b = take_behaviour(&slot);
        assert!(b.fault.is_some() && b.force_html && b.delay_ms == 5);
        assert_eq!(lock(&slot).fault_times, Some(left));
    }
    for _ in 0..3 {
        let b = take_behaviour(&slot);
        assert!(b.fault.is_none() && !b.force_html && b.delay_ms == 0);
    }
    let always = Mutex::new(Behaviour {
        fault: Some(Fault::Hang),
        ..Behaviour::default()
    });
    for _ in 0..3 {
        assert!(matches!(take_behaviour(&always).fault, Some(Fault::Hang)));
    }
}

#[test]
fn faults_deserialize_from_tagged_json() {
    let b: Behaviour = serde_json::from_str(
        r#"{"fault":{"kind":"malformed","status":200,"content_type":"text/uri-list","body":"x"},"fault_times":1}"#,
    )
    .unwrap();
    assert!(matches!(
        b.fault,
        Some(Fault::Malformed { status: 200, .. })
    ));
    assert_eq!(b.fault_times, Some(1));
    for (json, want) in [
        (r#"{"kind":"status","status":502}"#, "Status"),
        (r#"{"kind":"close_mid_response"}"#, "CloseMidResponse"),
        (r#"{"kind":"hang"}"#, "Hang"),
    ] {
        let fault: Fault = serde_json::from_str(json).unwrap();
        assert!(format!("{fault:?}").starts_with(want), "{json}");
    }
    let b: Behaviour = serde_json::from_str("{}").unwrap();
    assert!(b.fault.is_none() && b.fault_times.is_none());
}

// ----- device binding over HTTP -----

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Asks the token route for a token with `extra` parameters; returns the token URL.
async fn token_url_for(sim: &Simulator, extra: &[(&'static str, &str)]) -> String {
    let resp = get(sim, &with(extra)).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn token_of(url: &str) -> String {
    url.split_once("ExpressPlayToken=").unwrap().1.to_owned()
}

async fn redeem(url: &str, device: &str) -> reqwest::Response {
    client()
        .get(url)
        .query(&[("deviceId", device), ("errorFormat", "json")])
        .send()
        .await
        .unwrap()
}

async fn get_records(sim: &Simulator, pairs: &[(&str, &str)]) -> reqwest::Response {
    client()
        .get(sim.record_url())
        .query(pairs)
        .send()
        .await
        .unwrap()
}

async fn records_of(sim: &Simulator, pairs: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let resp = get_records(sim, pairs).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    body[RECORDS_FIELD].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_whole_device_binding_story() {
    let sim = start().await;
    // 1. Registration token carrying the cookie.
    let registration = token_url_for(&sim, &[("cookie", "viewer-42")]).await;
    assert!(registration.starts_with(&format!("http://{}{RIGHTS_PATH}", sim.addr())));
    // 2. The device redeems it.
    let resp = redeem(&registration, "DEV1").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/octet-stream");
    assert_eq!(resp.text().await.unwrap(), SIMULATED_CKC);
    // 3. ExpressPlay logged (cookie, device id); record retrieval finds it by cookie.
    let events = sim.record_events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].id,
            events[0].cookie.as_str(),
            events[0].device_id.as_str()
        ),
        (1, "viewer-42", "DEV1")
    );
    let records = records_of(
        &sim,
        &[("customerAuthenticator", AUTH), ("cookie", "viewer-42")],
    )
    .await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0][RECORD_COOKIE_FIELD], "viewer-42");
    assert_eq!(records[0][RECORD_DEVICE_FIELD], "DEV1");
    assert_eq!(records[0]["id"], 1);
    assert_eq!(records[0]["contentType"], "fairplay");
    let stamp = records[0]["timestamp"].as_str().unwrap();
    assert!(stamp.ends_with('Z') && DateTime::parse_from_rfc3339(stamp).is_ok());
    // 4. A device-bound token carrying the cookie and the restriction.
    let device = records[0][RECORD_DEVICE_FIELD].as_str().unwrap();
    let bound = token_url_for(&sim, &[("cookie", "viewer-42"), ("deviceid", device)]).await;
    let issued = sim.issued_token(&token_of(&bound)).unwrap();
    assert_eq!(issued.device_id.as_deref(), Some("DEV1"));
    assert_eq!(issued.cookie.as_deref(), Some("viewer-42"));
    // 5. Only that device may redeem it.
    let resp = redeem(&bound, "DEV2").await;
    assert_eq!(
        json_error(resp).await,
        (
            403,
            -4011,
            "Device not authorized for this token".to_owned()
        )
    );
    assert_eq!(sim.record_events().len(), 1, "a refusal logs nothing");
    assert_eq!(redeem(&bound, "DEV1").await.status(), 200);
    // The log now has two events for the cookie, newest first.
    let records = records_of(
        &sim,
        &[("customerAuthenticator", AUTH), ("cookie", "viewer-42")],
    )
    .await;
    let ids: Vec<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [2, 1]);
    // Every request is recorded; the path tells the services apart.
    let paths: Vec<String> = sim.recent_requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            TOKEN_PATH,
            RIGHTS_PATH,
            RECORD_PATH,
            TOKEN_PATH,
            RIGHTS_PATH,
            RIGHTS_PATH,
            RECORD_PATH
        ]
    );
    assert_eq!(sim.recent_requests()[5].error_code, None);
    assert_eq!(sim.recent_requests()[4].error_code, Some(-4011));
}

#[tokio::test]
async fn redemption_by_form_post_and_without_cookie() {
    let sim = start().await;
    let url = token_url_for(&sim, &[("cookie", "c-post")]).await;
    let resp = client()
        .post(&url)
        .form(&[("deviceId", "DEV-P")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.record_events()[0].device_id, "DEV-P");
    // A raw (non-form) POST body is ignored: the device id must then be in the query.
    let resp = client()
        .post(format!("{url}&deviceId=DEV-Q"))
        .body("binary SPC")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.record_events()[1].device_id, "DEV-Q");
    // A token without a cookie plays but logs nothing.
    let url = token_url_for(&sim, &[]).await;
    assert_eq!(redeem(&url, "DEV1").await.status(), 200);
    assert_eq!(sim.record_events().len(), 2);
    // The restriction parameter is case-sensitive: `deviceId` on the token route binds nothing.
    let url = token_url_for(&sim, &[("deviceId", "DEV1")]).await;
    assert_eq!(sim.issued_token(&token_of(&url)).unwrap().device_id, None);
    assert_eq!(redeem(&url, "DEV2").await.status(), 200);
    // Other methods are refused.
    let resp = client().delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn unknown_expired_and_deviceless_redemptions_are_refused() {
    let sim = start().await;
    let base = format!("http://{}{RIGHTS_PATH}", sim.addr());
    let resp = redeem(&format!("{base}?ExpressPlayToken=nope"), "DEV1").await;
    assert_eq!(
        json_error(resp).await,
        (400, -4010, "Invalid token".to_owned())
    );
    let resp = redeem(&base, "DEV1").await;
    assert_eq!(json_error(resp).await.1, -4010);
    // Expired: planted directly, as the token route never issues one.
    lock(&sim.state.tokens).insert(
        "old".to_owned(),
        issued(Some("DEV1"), "2000-01-01T00:00:00Z"),
    );
    let resp = redeem(&format!("{base}?ExpressPlayToken=old"), "DEV1").await;
    assert_eq!(
        json_error(resp).await,
        (400, -4010, "Token expired".to_owned())
    );
    // Missing device id.
    let url = token_url_for(&sim, &[("cookie", "c")]).await;
    let resp = client()
        .get(&url)
        .query(&[("errorFormat", "json")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(resp).await.1, -4010);
    // HTML by default.
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(content_type(&resp), "text/html");
    assert!(resp.text().await.unwrap().contains("Error -4010"));
    // The rights route also answers without the trailing slash.
    let resp = client()
        .get(url.replace("/rights/?", "/rights?"))
        .query(&[("deviceId", "DEV1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.record_events().len(), 1);
}

#[tokio::test]
async fn getrecord_authentication_and_query_errors() {
    let sim = Simulator::start(SimConfig {
        authenticators: vec![AUTH.to_owned()],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let other = "1000,ffffffffffffffffffffffffffffffff";
    let cases: Vec<(Pairs, u16, i64)> = vec![
        (vec![("cookie", "c")], 401, -2017),
        (
            vec![("customerAuthenticator", ""), ("cookie", "c")],
            401,
            -2017,
        ),
        (vec![("customerAuthenticator", "1,bad")], 401, -2018),
        (vec![("customerAuthenticator", other)], 401, -2018),
        (
            vec![("customerAuthenticator", AUTH), ("cookie", "a b")],
            400,
            -2033,
        ),
        (
            vec![("customerAuthenticator", AUTH), ("id", "x")],
            400,
            -2035,
        ),
    ];
    for (pairs, status, code) in cases {
        let mut pairs = pairs;
        pairs.push(("errorFormat", "json"));
        let (got_status, got_code, _) = json_error(get_records(&sim, &pairs).await).await;
        assert_eq!((got_status, got_code), (status, code), "{pairs:?}");
    }
    // HTML by default, and for an invalid errorFormat.
    let resp = get_records(&sim, &[("customerAuthenticator", "1,bad")]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(content_type(&resp), "text/html");
    assert!(resp.text().await.unwrap().contains("Error -2018"));
    let resp = get_records(
        &sim,
        &[("customerAuthenticator", AUTH), ("errorFormat", "xml")],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Error -3004"));
    // GET only.
    let resp = client()
        .post(sim.record_url())
        .form(&[("customerAuthenticator", AUTH)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
    let rec = sim.recent_requests();
    assert!(rec.iter().all(|r| r.path.starts_with("/cmiapi/getrecord")));
    assert_eq!(rec[0].error_code, Some(-2017));
}

#[tokio::test]
async fn getrecord_selectors() {
    let sim = start().await;
    let auth = ("customerAuthenticator", AUTH);
    assert!(records_of(&sim, &[auth, ("cookie", "nobody")])
        .await
        .is_empty());
    assert!(records_of(&sim, &[auth]).await.is_empty());
    for i in 0..40 {
        sim.log_device(&format!("c{}", i % 2), &format!("D{i}"));
    }
    let latest = records_of(&sim, &[auth]).await;
    assert_eq!(latest.len(), 32);
    assert_eq!(latest[0]["id"], 40);
    assert_eq!(latest[0][RECORD_DEVICE_FIELD], "D39");
    let c0 = records_of(&sim, &[auth, ("cookie", "c0")]).await;
    assert_eq!(c0.len(), 20);
    assert!(c0.iter().all(|r| r[RECORD_COOKIE_FIELD] == "c0"));
    assert!(records_of(&sim, &[auth, ("cookie", "nobody")])
        .await
        .is_empty());
    let one = records_of(&sim, &[auth, ("id", "5")]).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0][RECORD_DEVICE_FIELD], "D4");
    assert!(records_of(&sim, &[auth, ("id", "41")]).await.is_empty());
    let page = records_of(&sim, &[auth, ("start", "38"), ("length", "5")]).await;
    let ids: Vec<u64> = page.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [2, 1]);
    // Without the trailing slash too.
    let resp = client()
        .get(format!("http://{}/cmiapi/getrecord", sim.addr()))
        .query(&[auth, ("id", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sim.clear_records();
    assert!(sim.record_events().is_empty());
    assert!(records_of(&sim, &[auth]).await.is_empty());
}

#[tokio::test]
async fn device_binding_can_be_disabled_and_renamed() {
    let sim = Simulator::start(SimConfig {
        device_binding: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let resp = get(
        &sim,
        &with(&[("deviceid", "DEV1"), ("errorFormat", "json")]),
    )
    .await;
    assert_eq!(
        json_error(resp).await,
        (
            400,
            -6008,
            "Device ID binding is not supported for FairPlay".to_owned()
        )
    );
    // Other errors come first; a token without restriction is still issued.
    let resp = get(
        &sim,
        &with(&[("deviceid", "DEV1"), ("iv", "x"), ("errorFormat", "json")]),
    )
    .await;
    assert_eq!(json_error(resp).await.1, -6003);
    assert_eq!(get(&sim, &with(&[("cookie", "c")])).await.status(), 200);
    assert_eq!(sim.issued_tokens(), 1);

    let sim = Simulator::start(SimConfig {
        device_param: "deviceId".to_owned(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = token_url_for(&sim, &[("deviceId", "DEV1"), ("deviceid", "DEV9")]).await;
    assert_eq!(
        sim.issued_token(&token_of(&url))
            .unwrap()
            .device_id
            .as_deref(),
        Some("DEV1")
    );
}

#[tokio::test]
async fn cookie_and_device_id_characters_over_http() {
    let sim = start().await;
    let cases: Vec<(Pairs, i64)> = vec![
        (with(&[("cookie", "a b")]), -2033),
        (with(&[("cookie", "caf\u{e9}")]), -2033),
        (with(&[("cookie", "tab\t")]), -2033),
        (with(&[("deviceid", "DEV 1")]), -2034),
        (with(&[("deviceid", "dév")]), -2034),
        (with(&[("deviceid", "d".repeat(257).leak())]), -2034),
    ];
    for (pairs, code) in cases {
        let mut pairs = pairs;
        pairs.push(("errorFormat", "json"));
        let (status, got, _) = json_error(get(&sim, &pairs).await).await;
        assert_eq!((status, got), (400, code), "{pairs:?}");
    }
    // An unencoded '+' in a device id arrives as a space and is refused; encoded, it is fine.
    let url = format!(
        "{}?customerAuthenticator={}&contentKey={KEY}&iv={IV}&deviceid=a+b&errorFormat=json",
        sim.token_url(),
        AUTH.replace(',', "%2C"),
    );
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(json_error(resp).await.1, -2034);
    let url = token_url_for(&sim, &[("deviceid", "a+b/c=")]).await;
    assert_eq!(
        sim.issued_token(&token_of(&url))
            .unwrap()
            .device_id
            .as_deref(),
        Some("a+b/c=")
    );
    assert_eq!(sim.issued_tokens(), 1);
}

// ----- faults over HTTP, on both routes -----

#[derive(Clone, Copy, Debug)]
enum Api {
    Token,
    Record,
}

const APIS: [Api; 2] = [Api::Token, Api::Record];

fn set(sim: &Simulator, api: Api, behaviour: Behaviour) {
    match api {
        Api::Token => sim.set_behaviour(behaviour),
        Api::Record => sim.set_record_behaviour(behaviour),
    }
}

/// The status `api` answers a good request with.
async fn status_of(sim: &Simulator, api: Api) -> u16 {
    request(sim, api).send().await.unwrap().status().as_u16()
}

/// PUTs the JSON `body` to the control route `/_sim/{route}`; answers its status.
async fn put_control(sim: &Simulator, route: &str, body: &str) -> u16 {
    client()
        .put(format!("http://{}/_sim/{route}", sim.addr()))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn request(sim: &Simulator, api: Api) -> reqwest::RequestBuilder {
    match api {
        Api::Token => client().get(sim.token_url()).query(&good()),
        Api::Record => client()
            .get(sim.record_url())
            .query(&[("customerAuthenticator", AUTH)]),
    }
}

fn fault(fault: Fault) -> Behaviour {
    Behaviour {
        fault: Some(fault),
        ..Behaviour::default()
    }
}

#[tokio::test]
async fn status_fault_answers_a_bare_status() {
    let sim = start().await;
    for api in APIS {
        set(&sim, api, fault(Fault::Status { status: 503 }));
        let resp = request(&sim, api).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{api:?}");
        assert!(resp.headers().get(CONTENT_TYPE).is_none(), "{api:?}");
        assert_eq!(resp.text().await.unwrap(), "", "{api:?}");
        // Out-of-range statuses become 500.
        set(&sim, api, fault(Fault::Status { status: 99 }));
        assert_eq!(status_of(&sim, api).await, 500);
    }
    assert_eq!(sim.issued_tokens(), 0);
    let rec = sim.recent_requests();
    assert_eq!(rec[0].status, 503);
    assert_eq!(rec[0].error_code, None);
}

#[tokio::test]
async fn malformed_fault_answers_verbatim() {
    let sim = start().await;
    for (api, content, body) in [
        (Api::Token, "text/uri-list", "not a url"),
        (Api::Record, "application/json", "{garbage"),
    ] {
        set(
            &sim,
            api,
            fault(Fault::Malformed {
                status: 200,
                content_type: content.to_owned(),
                body: body.to_owned(),
            }),
        );
        let resp = request(&sim, api).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(content_type(&resp), content);
        assert_eq!(resp.text().await.unwrap(), body);
        // An unusable content type is left out.
        set(
            &sim,
            api,
            fault(Fault::Malformed {
                status: 502,
                content_type: "bad\nvalue".to_owned(),
                body: "<html>proxy</html>".to_owned(),
            }),
        );
        let resp = request(&sim, api).send().await.unwrap();
        assert_eq!(resp.status(), 502);
        assert!(resp.headers().get(CONTENT_TYPE).is_none());
    }
    assert_eq!(sim.issued_tokens(), 0);
}

#[tokio::test]
async fn close_mid_response_fails_the_body_read() {
    let sim = start().await;
    for (api, content) in [
        (Api::Token, "text/uri-list"),
        (Api::Record, "application/json"),
    ] {
        set(&sim, api, fault(Fault::CloseMidResponse));
        let resp = request(&sim, api).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{api:?}");
        assert_eq!(content_type(&resp), content, "{api:?}");
        assert!(resp.content_length().unwrap() > 1000);
        assert!(
            resp.text().await.is_err(),
            "{api:?}: the body read must fail"
        );
        // The simulator still serves afterwards.
        set(&sim, api, Behaviour::default());
        assert_eq!(status_of(&sim, api).await, 200);
    }
}

#[tokio::test]
async fn hang_fault_never_answers() {
    let sim = start().await;
    for api in APIS {
        set(&sim, api, fault(Fault::Hang));
        let started = std::time::Instant::now();
        let err = request(&sim, api)
            .timeout(Duration::from_millis(300))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{api:?}: {err}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
    // The request was seen and recorded without an answer.
    let rec = sim.recent_requests();
    assert_eq!(rec.len(), 2);
    assert!(rec.iter().all(|r| r.status == 0));
    assert_eq!(sim.issued_tokens(), 0);
}

#[tokio::test]
async fn fault_times_fails_exactly_n_times() {
    let sim = start().await;
    for api in APIS {
        set(
            &sim,
            api,
            Behaviour {
                fault: Some(Fault::Status { status: 502 }),
                fault_times: Some(2),
                ..Behaviour::default()
            },
        );
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(status_of(&sim, api).await);
        }
        assert_eq!(statuses, [502, 502, 200, 200], "{api:?}");
    }
    // force_error and delay obey the count too.
    sim.set_behaviour(Behaviour {
        delay_ms: 1,
        force_error: Some(ForcedError {
            status: 503,
            code: -2019,
            text: "Insufficient tokens available".to_owned(),
        }),
        fault_times: Some(1),
        ..Behaviour::default()
    });
    assert_eq!(status_of(&sim, Api::Token).await, 503);
    assert_eq!(status_of(&sim, Api::Token).await, 200);
}

#[tokio::test]
async fn fault_times_is_consistent_under_concurrency() {
    let sim = start().await;
    sim.set_record_behaviour(Behaviour {
        fault: Some(Fault::Status { status: 503 }),
        fault_times: Some(3),
        ..Behaviour::default()
    });
    let requests = (0..12).map(|_| request(&sim, Api::Record).send());
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 9);
}

#[tokio::test]
async fn record_behaviour_over_the_control_route() {
    let sim = start().await;
    let malformed = r#"{"fault":{"kind":"malformed","status":200,"content_type":"application/json","body":"{garbage"},"fault_times":1}"#;
    assert_eq!(put_control(&sim, "record-behaviour", malformed).await, 204);
    // The token route is unaffected.
    assert_eq!(status_of(&sim, Api::Token).await, 200);
    let resp = request(&sim, Api::Record).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "{garbage");
    assert!(records_of(&sim, &[("customerAuthenticator", AUTH)])
        .await
        .is_empty());
    // The token route's control route takes faults too.
    assert_eq!(
        put_control(
            &sim,
            "behaviour",
            r#"{"fault":{"kind":"status","status":504}}"#
        )
        .await,
        204
    );
    assert_eq!(status_of(&sim, Api::Token).await, 504);
    assert_eq!(status_of(&sim, Api::Record).await, 200);
}

#[tokio::test]
async fn forced_errors_apply_to_record_retrieval() {
    let sim = start().await;
    sim.set_record_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 500,
            code: -2030,
            text: "Admin error".to_owned(),
        }),
        ..Behaviour::default()
    });
    let resp = get_records(
        &sim,
        &[("customerAuthenticator", AUTH), ("errorFormat", "json")],
    )
    .await;
    assert_eq!(
        json_error(resp).await,
        (500, -2030, "Admin error".to_owned())
    );
    sim.set_record_behaviour(Behaviour {
        force_html: true,
        ..Behaviour::default()
    });
    let resp = get_records(&sim, &[("errorFormat", "json")]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(content_type(&resp), "text/html");
}

#[tokio::test]
async fn hostile_inputs_never_break_the_simulator() {
    let sim = start().await;
    let base = format!("http://{}", sim.addr());
    let nasty = [
        "%ff%fe",
        "cookie=%00%01&deviceId=%ff",
        "ExpressPlayToken=&deviceId=",
        "id=18446744073709551616",
        "start=18446744073709551615&length=1000",
        "customerAuthenticator=%E2%80%AE",
        "&&&==&=",
    ];
    for path in [TOKEN_PATH, RECORD_PATH, RIGHTS_PATH] {
        for query in nasty {
            let resp = client()
                .get(format!(
                    "{base}{path}?{query}&customerAuthenticator={}",
                    AUTH.replace(',', "%2C")
                ))
                .send()
                .await
                .unwrap();
            assert!(
                resp.status().as_u16() < 500,
                "{path}?{query}: {}",
                resp.status()
            );
        }
    }
    // Still alive.
    assert_eq!(status_of(&sim, Api::Token).await, 200);
}

// ----- Widevine, PlayReady, and across DRMs -----

mod licences;
mod playready;
mod widevine;
