//! The Widevine token route: every rule without HTTP, then over HTTP.

use super::*;

pub(super) const KID: &str = "0123456789abcdef0123456789ABCDEF";

/// A good Widevine request.
pub(super) fn wv_good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customerAuthenticator", AUTH),
        ("kid", KID),
        ("contentKey", KEY),
        ("securityLevel", "5"),
        ("hdcpOutputControl", "2"),
    ]
}

/// `base` with each of `overrides` replacing (or adding) its parameter; a `None` value removes it.
pub(super) fn edit<'a>(
    base: Vec<(&'static str, &'a str)>,
    overrides: &[(&'static str, Option<&'a str>)],
) -> Vec<(&'static str, &'a str)> {
    let mut all = base;
    for (k, v) in overrides {
        all.retain(|(name, _)| name != k);
        if let Some(v) = v {
            all.push((k, v));
        }
    }
    all
}

/// Owned pairs, as the route decodes them.
pub(super) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn wv(pairs: &[(&str, &str)]) -> Result<ValidWidevineRequest, TokenError> {
    validate_widevine(&owned(pairs), &TokenRules::new(&[]), now())
}

/// Every Widevine refusal: the edit of [`wv_good`], the error number and the status.
fn widevine_refusals() -> Vec<(Pairs<'static>, i64, u16)> {
    let e = |o: &[(&'static str, Option<&'static str>)]| edit(wv_good(), o);
    let long_cookie: &'static str = "c".repeat(33).leak();
    let long_name: &'static str = format!("^{}", "n".repeat(65)).leak();
    vec![
        (e(&[("errorFormat", Some("xml"))]), -3004, 400),
        (e(&[("customerAuthenticator", None)]), -2017, 401),
        (e(&[("customerAuthenticator", Some("1,2"))]), -2018, 401),
        (e(&[("kid", None)]), -4018, 400),
        (e(&[("kid", Some(""))]), -4018, 400),
        (e(&[("kid", Some("0123"))]), -4020, 400),
        (
            e(&[("kid", Some("zz23456789abcdef0123456789abcdef"))]),
            -4020,
            400,
        ),
        (e(&[("kid", Some("^"))]), -4021, 400),
        (e(&[("kid", Some(long_name))]), -4021, 400),
        (e(&[("kid", Some("^my-key"))]), -4022, 400),
        (e(&[("kek", Some(KEY)), ("ek", Some(KEY))]), -5007, 400),
        (
            e(&[("contentKey", None), ("kek", Some(KEY)), ("ek", Some(KEY))]),
            -2005,
            400,
        ),
        (e(&[("contentKey", None)]), -2005, 400),
        (e(&[("contentKey", Some("0011"))]), -2027, 400),
        (e(&[("securityLevel", None)]), -7003, 400),
        (e(&[("securityLevel", Some(""))]), -7003, 400),
        (e(&[("securityLevel", Some("0"))]), -7004, 400),
        (e(&[("securityLevel", Some("6"))]), -7004, 400),
        (e(&[("securityLevel", Some("05"))]), -7004, 400),
        (e(&[("securityLevel", Some("L1"))]), -7004, 400),
        (e(&[("hdcpOutputControl", None)]), -7006, 400),
        (e(&[("hdcpOutputControl", Some("3"))]), -2034, 400),
        (e(&[("hdcpOutputControl", Some("x"))]), -2034, 400),
        (e(&[("licenseDuration", Some("0"))]), -7007, 400),
        (e(&[("licenseDuration", Some("-1"))]), -7007, 400),
        (e(&[("licenseDuration", Some("4294967296"))]), -7007, 400),
        (e(&[("licenseDuration", Some(""))]), -7007, 400),
        (e(&[("expirationTime", Some("+2592001"))]), -2002, 400),
        (e(&[("expirationTime", Some(" 60"))]), -2002, 400),
        (e(&[("cookie", Some(long_cookie))]), -2033, 400),
        (e(&[("generalFlags", Some("0001"))]), -5003, 400),
        (e(&[("generalFlags", Some(""))]), -5003, 400),
        (e(&[("wvExtension", Some("nocomma"))]), -7009, 400),
        (e(&[("wvExtension", Some("t,not base64!"))]), -7009, 400),
        (e(&[("wvExtension", Some(",AAAA"))]), -7009, 400),
        (e(&[("wvExtension", Some("t,"))]), -7009, 400),
        (e(&[("deviceid", Some("DEV1"))]), -7002, 400),
    ]
}

#[test]
fn widevine_every_refusal() {
    for (pairs, code, status) in widevine_refusals() {
        let err = wv(&pairs).unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            (code, status),
            "{pairs:?}"
        );
    }
    assert_eq!(
        TokenError::WidevineDeviceBinding.to_string(),
        "Device ID binding is not supported for Widevine"
    );
}

#[test]
fn widevine_validation_order() {
    let e = |o: &[(&'static str, Option<&'static str>)]| edit(wv_good(), o);
    let cases: Vec<(Pairs, i64)> = vec![
        // The authenticator before the kid, the kid before the key, the key before the levels.
        (e(&[("customerAuthenticator", None), ("kid", None)]), -2017),
        (e(&[("kid", Some("x")), ("contentKey", None)]), -4020),
        (
            e(&[("contentKey", Some("x")), ("securityLevel", None)]),
            -2027,
        ),
        (
            e(&[("securityLevel", Some("9")), ("hdcpOutputControl", None)]),
            -7004,
        ),
        (
            e(&[("hdcpOutputControl", None), ("licenseDuration", Some("0"))]),
            -7006,
        ),
        (
            e(&[
                ("licenseDuration", Some("0")),
                ("expirationTime", Some("x")),
            ]),
            -7007,
        ),
        (
            e(&[("expirationTime", Some("x")), ("cookie", Some("a b"))]),
            -2002,
        ),
        (
            e(&[("cookie", Some("a b")), ("generalFlags", Some("1"))]),
            -2033,
        ),
        (
            e(&[("generalFlags", Some("1")), ("wvExtension", Some("x"))]),
            -5003,
        ),
        (
            e(&[("wvExtension", Some("x")), ("deviceid", Some("D"))]),
            -7009,
        ),
    ];
    for (pairs, code) in cases {
        assert_eq!(wv(&pairs).unwrap_err().code(), code, "{pairs:?}");
    }
}

#[test]
fn widevine_valid_request_keeps_what_was_asked() {
    let pairs = edit(
        wv_good(),
        &[
            ("securityLevel", Some("1")),
            ("hdcpOutputControl", Some("0")),
            ("licenseDuration", Some("3600")),
            ("expirationTime", Some("+600")),
            ("cookie", Some("c-1")),
            ("contentId", Some("movie-1")),
            ("generalFlags", Some("0000")),
            ("wvExtension", Some("a,AAAA")),
            ("deviceid", Some("")),
        ],
    );
    let mut pairs = pairs;
    pairs.push(("wvExtension", "b.2,AQID"));
    let valid = wv(&pairs).unwrap();
    assert_eq!(
        valid,
        ValidLicenceRequest {
            error_format: ErrorFormat::Html,
            kid: KID.to_owned(),
            content_key: KEY.to_owned(),
            expiration: now() + TimeDelta::seconds(600),
            cookie: Some("c-1".to_owned()),
            terms: WidevineLicence {
                security_level: 1,
                hdcp_output_control: 0,
                license_duration: Some(3600),
                content_id: Some("movie-1".to_owned()),
                general_flags: Some("0000".to_owned()),
                extensions: vec!["a,AAAA".to_owned(), "b.2,AQID".to_owned()],
            },
        }
    );
    // Every level and output control in range; licenseDuration omitted is unlimited.
    for level in ["1", "2", "3", "4", "5"] {
        for hdcp in ["0", "1", "2"] {
            let pairs = edit(
                wv_good(),
                &[
                    ("securityLevel", Some(level)),
                    ("hdcpOutputControl", Some(hdcp)),
                ],
            );
            let valid = wv(&pairs).unwrap();
            assert_eq!(valid.terms.license_duration, None);
            assert_eq!(valid.expiration, now() + TimeDelta::days(30));
        }
    }
    // A repeated wvExtension is checked every time.
    let mut pairs = wv_good();
    pairs.push(("wvExtension", "a,AAAA"));
    pairs.push(("wvExtension", "b,!!"));
    assert_eq!(wv(&pairs).unwrap_err().code(), -7009);
}

#[test]
fn kid_and_key_rules() {
    assert_eq!(check_kid(Some(KID)), Ok(KID.to_owned()));
    assert_eq!(check_kid(None), Err(TokenError::KidMissing));
    let name64 = format!("^{}", "n".repeat(64));
    assert_eq!(check_kid(Some(&name64)), Err(TokenError::KidInvalid));
    let name65 = format!("^{}", "n".repeat(65));
    assert_eq!(check_kid(Some(&name65)), Err(TokenError::KidNameMalformed));
    assert_eq!(
        check_kid(Some(&format!("{KID}0"))),
        Err(TokenError::KidMalformed)
    );
    assert_eq!(check_key_source(Some(KEY), None, None), Ok(KEY.to_owned()));
    // Empty kek/ek count as absent.
    assert_eq!(
        check_key_source(Some(KEY), Some(""), Some("")),
        Ok(KEY.to_owned())
    );
    assert_eq!(
        check_key_source(Some(KEY), None, Some(KEY)),
        Err(TokenError::KekWithContentKey)
    );
    assert_eq!(
        check_key_source(None, Some(KEY), None),
        Err(TokenError::ContentKeyMissing)
    );
    assert_eq!(
        check_key_source(Some(""), None, None),
        Err(TokenError::ContentKeyMissing)
    );
    assert_eq!(parse_positive("1"), Some(1));
    assert_eq!(parse_positive("4294967295"), Some(u32::MAX));
    for bad in ["0", "", "+1", " 1", "1.0", "4294967296"] {
        assert_eq!(parse_positive(bad), None, "{bad:?}");
    }
    assert!(is_base64("AAAA") && is_base64("AQI") && is_base64("AQI=") && is_base64("+/+/"));
    assert!(!is_base64("") && !is_base64("-_-_") && !is_base64("A A"));
}

#[test]
fn widevine_device_restriction_follows_the_configured_name() {
    let rules = TokenRules {
        authenticators: &[],
        device_param: "deviceId",
        device_binding: true,
    };
    let with_device = |name| owned(&edit(wv_good(), &[(name, Some("DEV1"))]));
    let err = validate_widevine(&with_device("deviceId"), &rules, now()).unwrap_err();
    assert_eq!(err.code(), -7002);
    // Parameters are case-sensitive: `deviceid` is then just an unknown parameter.
    assert!(validate_widevine(&with_device("deviceid"), &rules, now()).is_ok());
}

// ----- over HTTP -----

pub(super) async fn wv_get(sim: &Simulator, pairs: &[(&str, &str)]) -> reqwest::Response {
    client()
        .get(sim.widevine_token_url())
        .query(pairs)
        .send()
        .await
        .unwrap()
}

/// A Widevine token URL for [`wv_good`] edited by `overrides`.
pub(super) async fn wv_token_url(
    sim: &Simulator,
    overrides: &[(&'static str, Option<&str>)],
) -> String {
    let resp = wv_get(sim, &edit(wv_good(), overrides)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/uri-list");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn widevine_success_is_a_uri_list_and_remembers_the_request() {
    let sim = start().await;
    let url = wv_token_url(
        &sim,
        &[
            ("licenseDuration", Some("7200")),
            ("expirationTime", Some("+3600")),
            ("cookie", Some("abc")),
            ("contentId", Some("c-9")),
        ],
    )
    .await;
    let prefix = format!("http://{}/hms/wv/rights/?ExpressPlayToken=", sim.addr());
    let token = url.strip_prefix(&prefix).expect(&url);
    assert_eq!(token.len(), 43);
    assert_eq!(
        (sim.issued_tokens(), sim.issued_tokens_for(Drm::Widevine)),
        (1, 1)
    );
    assert_eq!(sim.issued_tokens_for(Drm::FairPlay), 0);
    let licence = sim.issued_licence(token).unwrap();
    assert_eq!(licence.drm, Drm::Widevine);
    assert_eq!(licence.kid.as_deref(), Some(KID));
    assert_eq!(licence.content_key, KEY);
    assert_eq!(licence.iv, None);
    assert_eq!(
        licence.widevine(),
        Some(&WidevineLicence {
            security_level: 5,
            hdcp_output_control: 2,
            license_duration: Some(7200),
            content_id: Some("c-9".to_owned()),
            general_flags: None,
            extensions: vec![],
        })
    );
    assert!(licence.playready().is_none() && licence.fairplay().is_none());
    // issued_token keeps working for every DRM.
    let issued = sim.issued_token(token).unwrap();
    assert_eq!(issued, licence.token);
    assert_eq!(issued.cookie.as_deref(), Some("abc"));
    assert_eq!((issued.rental_duration, issued.device_id), (0, None));
    let exp = DateTime::parse_from_rfc3339(&issued.expiration).unwrap();
    assert_eq!(
        exp.signed_duration_since(issued.issued_at),
        TimeDelta::seconds(3600)
    );
    assert_eq!(sim.last_issued(Drm::Widevine).unwrap().0, token);
    assert!(sim.last_issued(Drm::PlayReady).is_none());
    let rec = sim.recent_requests();
    assert_eq!(rec[0].path, WIDEVINE_TOKEN_PATH);
    assert_eq!(rec[0].params["securityLevel"], "5");
    assert!(rec[0].raw_query.contains("expirationTime=%2B3600"));
}

#[tokio::test]
async fn widevine_by_form_post() {
    let sim = start().await;
    let mut pairs = edit(wv_good(), &[("expirationTime", Some("+60"))]);
    pairs.push(("wvExtension", "a,AAAA"));
    pairs.push(("wvExtension", "b,AQID"));
    let resp = client()
        .post(sim.widevine_token_url())
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token = token_of(&resp.text().await.unwrap());
    let licence = sim.issued_licence(&token).unwrap();
    assert_eq!(licence.widevine().unwrap().extensions, ["a,AAAA", "b,AQID"]);
    assert_eq!(sim.recent_requests()[0].method, "POST");
    // Other methods are refused.
    let resp = client()
        .delete(sim.widevine_token_url())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn widevine_every_refusal_over_http() {
    let sim = start().await;
    for (pairs, code, status) in widevine_refusals() {
        if pairs.contains(&("errorFormat", "xml")) {
            continue;
        }
        let mut pairs = pairs;
        pairs.push(("errorFormat", "json"));
        let (got_status, got_code, text) = json_error(wv_get(&sim, &pairs).await).await;
        assert_eq!((got_status, got_code), (status, code), "{pairs:?}");
        assert!(!text.is_empty());
        assert!(!text.contains(KEY) && !text.contains(KID), "{text}");
    }
    // HTML by default, and for an invalid errorFormat.
    let resp = wv_get(&sim, &edit(wv_good(), &[("securityLevel", None)])).await;
    assert_eq!(
        (resp.status().as_u16(), content_type(&resp)),
        (400, "text/html".to_owned())
    );
    assert!(resp.text().await.unwrap().contains("<h1>Error -7003</h1>"));
    let resp = wv_get(&sim, &edit(wv_good(), &[("errorFormat", Some("xml"))])).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Error -3004"));
    assert_eq!(sim.issued_tokens(), 0);
    let rec = sim.recent_requests();
    assert!(rec.iter().all(|r| r.path == WIDEVINE_TOKEN_PATH));
    assert_eq!(rec[0].error_code, Some(-2017));
}

#[tokio::test]
async fn widevine_accepted_authenticators_and_device_binding_account() {
    let sim = Simulator::start(SimConfig {
        authenticators: vec![AUTH.to_owned()],
        device_binding: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(wv_get(&sim, &wv_good()).await.status(), 200);
    let other = "1000,ffffffffffffffffffffffffffffffff";
    let pairs = edit(
        wv_good(),
        &[
            ("customerAuthenticator", Some(other)),
            ("errorFormat", Some("json")),
        ],
    );
    assert_eq!(json_error(wv_get(&sim, &pairs).await).await.1, -2018);
    // -7002 whatever the FairPlay account setting.
    let pairs = edit(
        wv_good(),
        &[("deviceid", Some("DEV1")), ("errorFormat", Some("json"))],
    );
    assert_eq!(
        json_error(wv_get(&sim, &pairs).await).await,
        (
            400,
            -7002,
            "Device ID binding is not supported for Widevine".to_owned()
        )
    );
}
