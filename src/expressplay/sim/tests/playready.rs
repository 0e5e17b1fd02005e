//! The PlayReady token route: every rule without HTTP, then over HTTP, both answer shapes.

use super::widevine::{edit, owned, KID};
use super::*;
use crate::drm::{PlayReadyRights, UnknownOutput};

/// A good PlayReady `BuyToOwn` request.
pub(super) fn pr_good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customerAuthenticator", AUTH),
        ("kid", KID),
        ("contentKey", KEY),
        ("rightsType", "BuyToOwn"),
        ("analogVideoOPL", "100"),
        ("compressedDigitalAudioOPL", "200"),
        ("compressedDigitalVideoOPL", "300"),
        ("uncompressedDigitalAudioOPL", "250"),
        ("uncompressedDigitalVideoOPL", "270"),
    ]
}

/// A good PlayReady `Rental` request (persistent, as rentals must be).
pub(super) fn pr_rental() -> Vec<(&'static str, &'static str)> {
    edit(
        pr_good(),
        &[
            ("rightsType", Some("Rental")),
            ("rental.periodEndTime", Some("+86400")),
            ("generalFlags", Some("00000001")),
        ],
    )
}

fn pr(pairs: &[(&str, &str)]) -> Result<ValidPlayReadyRequest, TokenError> {
    validate_playready(&owned(pairs), &TokenRules::new(&[]), now())
}

/// Every PlayReady refusal: the request, the error number and the status.
fn playready_refusals() -> Vec<(Pairs<'static>, i64, u16)> {
    let e = |o: &[(&'static str, Option<&'static str>)]| edit(pr_good(), o);
    let r = |o: &[(&'static str, Option<&'static str>)]| edit(pr_rental(), o);
    let long_cookie: &'static str = "c".repeat(33).leak();
    let mut cases = vec![
        (e(&[("errorFormat", Some("html5"))]), -3004, 400),
        (e(&[("customerAuthenticator", None)]), -2017, 401),
        (e(&[("customerAuthenticator", Some("x"))]), -2018, 401),
        (e(&[("kid", None)]), -4018, 400),
        (e(&[("kid", Some("abc"))]), -4020, 400),
        (e(&[("kid", Some("^"))]), -4021, 400),
        (e(&[("kid", Some("^stored"))]), -4022, 400),
        (e(&[("kek", Some(KEY))]), -5007, 400),
        (e(&[("contentKey", None), ("ek", Some(KEY))]), -2005, 400),
        (e(&[("contentKey", None)]), -2005, 400),
        (e(&[("contentKey", Some("xyz"))]), -2027, 400),
        (e(&[("rightsType", None)]), -2020, 400),
        (e(&[("rightsType", Some(""))]), -2020, 400),
        (e(&[("rightsType", Some("rental"))]), -2021, 400),
        (e(&[("rightsType", Some("Subscription"))]), -2021, 400),
        (r(&[("rental.periodEndTime", None)]), -2022, 400),
        (r(&[("rental.periodEndTime", Some(""))]), -2022, 400),
        (r(&[("rental.periodEndTime", Some("+0"))]), -2022, 400),
        (r(&[("rental.periodEndTime", Some(" 60"))]), -2022, 400),
        (r(&[("rental.periodEndTime", Some("tomorrow"))]), -2022, 400),
        (
            r(&[("rental.periodEndTime", Some("2023-12-31T00:00:00Z"))]),
            -2022,
            400,
        ),
        (
            r(&[("rental.periodEndTime", Some("2024-02-01T00:00:00+00:00"))]),
            -2022,
            400,
        ),
        (r(&[("rental.playDuration", Some("0"))]), -2025, 400),
        (r(&[("rental.playDuration", Some("x"))]), -2025, 400),
        (r(&[("rental.playDuration", Some(""))]), -2025, 400),
        (e(&[("unknownOutputBehavior", Some("allow"))]), -5001, 400),
        (e(&[("unknownOutputBehavior", Some(""))]), -5001, 400),
        (e(&[("outputControlFlags", Some("0000000"))]), -2008, 400),
        (e(&[("outputControlFlags", Some("0000000g"))]), -2008, 400),
        (e(&[("generalFlags", Some("0000"))]), -5003, 400),
        (e(&[("generalFlags", Some("00000002"))]), -5003, 400),
        (r(&[("generalFlags", None)]), -5003, 400),
        (r(&[("generalFlags", Some("00000000"))]), -5003, 400),
        (
            e(&[
                ("extensionType", Some("abc")),
                ("extensionPayload", Some("AAAA")),
            ]),
            -2036,
            400,
        ),
        (e(&[("extensionPayload", Some("AAAA"))]), -2036, 400),
        (
            e(&[
                ("extensionType", Some("abcd")),
                ("extensionPayload", Some("A!")),
            ]),
            -2037,
            400,
        ),
        (e(&[("extensionType", Some("abcd"))]), -2037, 400),
        (e(&[("expirationTime", Some("+2592001"))]), -2002, 400),
        (e(&[("cookie", Some(long_cookie))]), -2033, 400),
        (e(&[("deviceid", Some("DEV1"))]), -5004, 400),
        (e(&[("deviceid", Some(KEY))]), -5005, 400),
    ];
    for opl in crate::expressplay::sim::playready::OPL_PARAMS {
        cases.push((e(&[(opl, None)]), -5006, 400));
        cases.push((e(&[(opl, Some(""))]), -5006, 400));
        cases.push((e(&[(opl, Some("1000"))]), -2034, 400));
        cases.push((e(&[(opl, Some("-1"))]), -2034, 400));
        cases.push((e(&[(opl, Some("x"))]), -2034, 400));
    }
    cases
}

#[test]
fn playready_every_refusal() {
    for (pairs, code, status) in playready_refusals() {
        let err = pr(&pairs).unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            (code, status),
            "{pairs:?}"
        );
    }
    assert_eq!(
        TokenError::RentalNotPersistent.to_string(),
        "Invalid general flags: rental licences must be persistent"
    );
}

#[test]
fn playready_validation_order() {
    let e = |o: &[(&'static str, Option<&'static str>)]| edit(pr_good(), o);
    let r = |o: &[(&'static str, Option<&'static str>)]| edit(pr_rental(), o);
    let cases: Vec<(Pairs, i64)> = vec![
        (e(&[("contentKey", None), ("rightsType", None)]), -2005),
        (e(&[("rightsType", None), ("analogVideoOPL", None)]), -2020),
        (
            r(&[
                ("rental.periodEndTime", None),
                ("rental.playDuration", Some("0")),
            ]),
            -2022,
        ),
        (
            r(&[("rental.playDuration", Some("0")), ("analogVideoOPL", None)]),
            -2025,
        ),
        // The OPLs in their order: the first missing or bad one is reported.
        (
            e(&[
                ("compressedDigitalAudioOPL", Some("1000")),
                ("uncompressedDigitalVideoOPL", None),
            ]),
            -2034,
        ),
        (
            e(&[
                ("analogVideoOPL", None),
                ("compressedDigitalAudioOPL", Some("1000")),
            ]),
            -5006,
        ),
        (
            e(&[
                ("uncompressedDigitalVideoOPL", None),
                ("unknownOutputBehavior", Some("x")),
            ]),
            -5006,
        ),
        (
            e(&[
                ("unknownOutputBehavior", Some("x")),
                ("outputControlFlags", Some("x")),
            ]),
            -5001,
        ),
        (
            e(&[
                ("outputControlFlags", Some("x")),
                ("generalFlags", Some("x")),
            ]),
            -2008,
        ),
        (
            r(&[("generalFlags", None), ("extensionType", Some("x"))]),
            -5003,
        ),
        (
            e(&[("extensionType", Some("x")), ("expirationTime", Some("x"))]),
            -2036,
        ),
        (
            e(&[("expirationTime", Some("x")), ("cookie", Some("a b"))]),
            -2002,
        ),
        (
            e(&[("cookie", Some("a b")), ("deviceid", Some("D"))]),
            -2033,
        ),
    ];
    for (pairs, code) in cases {
        assert_eq!(pr(&pairs).unwrap_err().code(), code, "{pairs:?}");
    }
}

#[test]
fn playready_valid_requests_keep_what_was_asked() {
    let valid = pr(&pr_good()).unwrap();
    assert_eq!(
        valid,
        ValidLicenceRequest {
            error_format: ErrorFormat::Html,
            kid: KID.to_owned(),
            content_key: KEY.to_owned(),
            expiration: now() + TimeDelta::days(30),
            cookie: None,
            terms: PlayReadyLicence {
                rights: PlayReadyRights::BuyToOwn,
                rental: None,
                analog_video_opl: 100,
                compressed_digital_audio_opl: 200,
                compressed_digital_video_opl: 300,
                uncompressed_digital_audio_opl: 250,
                uncompressed_digital_video_opl: 270,
                unknown_output: None,
                output_control_flags: None,
                persistent: false,
                extension_type: None,
                extension_payload: None,
            },
        }
    );
    // BuyToOwn ignores the rental parameters; persistent when asked.
    let pairs = edit(
        pr_good(),
        &[
            ("rental.periodEndTime", Some("garbage")),
            ("generalFlags", Some("00000001")),
            ("unknownOutputBehavior", Some("SDOnly")),
            ("outputControlFlags", Some("0000aBcD")),
            ("extensionType", Some("XYZ1")),
            ("extensionPayload", Some("AQID")),
            ("analogVideoOPL", Some("0")),
            ("uncompressedDigitalVideoOPL", Some("999")),
            ("deviceid", Some("")),
        ],
    );
    let terms = pr(&pairs).unwrap().terms;
    assert_eq!(terms.rental, None);
    assert!(terms.persistent);
    assert_eq!(terms.unknown_output, Some(UnknownOutput::SdOnly));
    assert_eq!(terms.output_control_flags.as_deref(), Some("0000aBcD"));
    assert_eq!(terms.extension_type.as_deref(), Some("XYZ1"));
    assert_eq!(terms.extension_payload.as_deref(), Some("AQID"));
    assert_eq!(
        (terms.analog_video_opl, terms.uncompressed_digital_video_opl),
        (0, 999)
    );
    for (value, want) in [
        ("Allow", UnknownOutput::Allow),
        ("Disallow", UnknownOutput::Disallow),
    ] {
        let pairs = edit(pr_good(), &[("unknownOutputBehavior", Some(value))]);
        assert_eq!(pr(&pairs).unwrap().terms.unknown_output, Some(want));
    }
    // A rental: relative and absolute period ends (no upper bound), optional play duration.
    let terms = pr(&pr_rental()).unwrap().terms;
    assert_eq!(terms.rights, PlayReadyRights::Rental);
    assert_eq!(
        terms.rental,
        Some(PlayReadyRental {
            period_end: now() + TimeDelta::days(1),
            play_duration: None,
        })
    );
    let pairs = edit(
        pr_rental(),
        &[
            ("rental.periodEndTime", Some("2025-06-01T00:00:00Z")),
            ("rental.playDuration", Some("7200")),
        ],
    );
    let rental = pr(&pairs).unwrap().terms.rental.unwrap();
    assert_eq!(
        rental.period_end,
        DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").unwrap()
    );
    assert_eq!(rental.play_duration, Some(7200));
}

// ----- over HTTP -----

pub(super) async fn pr_get(sim: &Simulator, pairs: &[(&str, &str)]) -> reqwest::Response {
    client()
        .get(sim.playready_token_url())
        .query(pairs)
        .send()
        .await
        .unwrap()
}

/// The JSON answer of a successful PlayReady request for `pairs`.
pub(super) async fn pr_json(sim: &Simulator, pairs: &[(&str, &str)]) -> serde_json::Value {
    let resp = pr_get(sim, pairs).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn playready_success_is_json_and_remembers_the_request() {
    let sim = start().await;
    let mut pairs = edit(
        pr_rental(),
        &[
            ("rental.playDuration", Some("3600")),
            ("unknownOutputBehavior", Some("Disallow")),
            ("cookie", Some("pr-cookie")),
            ("expirationTime", Some("+120")),
        ],
    );
    pairs.push(("errorFormat", "json"));
    let body = pr_json(&sim, &pairs).await;
    assert_eq!(
        body["licenseAcquisitionUrl"],
        format!("http://{}/hms/pr/rights/", sim.addr())
    );
    assert_eq!(body.as_object().unwrap().len(), 2);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    let licence = sim.issued_licence(token).unwrap();
    assert_eq!(licence.drm, Drm::PlayReady);
    assert_eq!(
        (licence.kid.as_deref(), licence.content_key.as_str()),
        (Some(KID), KEY)
    );
    let terms = licence.playready().unwrap();
    assert_eq!(terms.rights, PlayReadyRights::Rental);
    assert!(terms.persistent);
    assert_eq!(terms.unknown_output, Some(UnknownOutput::Disallow));
    let rental = terms.rental.as_ref().unwrap();
    assert_eq!(rental.play_duration, Some(3600));
    assert_eq!(
        rental
            .period_end
            .signed_duration_since(licence.token.issued_at),
        TimeDelta::days(1)
    );
    assert_eq!(licence.token.cookie.as_deref(), Some("pr-cookie"));
    assert_eq!(sim.issued_token(token), Some(licence.token.clone()));
    assert_eq!(sim.issued_tokens_for(Drm::PlayReady), 1);
    assert_eq!(sim.recent_requests()[0].path, PLAYREADY_TOKEN_PATH);
    // By form POST too.
    let resp = client()
        .post(sim.playready_token_url())
        .form(&pr_good())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    assert_eq!(sim.issued_tokens_for(Drm::PlayReady), 2);
}

#[tokio::test]
async fn playready_uri_list_switch() {
    let sim = Simulator::start(SimConfig {
        playready_uri_list: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let resp = pr_get(&sim, &pr_good()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/uri-list");
    let url = resp.text().await.unwrap();
    let prefix = format!("http://{}/hms/pr/rights/?ExpressPlayToken=", sim.addr());
    let token = url.strip_prefix(&prefix).expect(&url);
    assert_eq!(sim.issued_licence(token).unwrap().drm, Drm::PlayReady);
    assert_eq!(
        sim.rights_url_for(Drm::PlayReady),
        format!("http://{}/hms/pr/rights/", sim.addr())
    );
    // Switched back at run time, and on again.
    sim.set_playready_uri_list(false);
    assert!(pr_json(&sim, &pr_good()).await["token"].is_string());
    sim.set_playready_uri_list(true);
    assert_eq!(
        content_type(&pr_get(&sim, &pr_good()).await),
        "text/uri-list"
    );
    // Errors are unaffected by the switch.
    let pairs = edit(
        pr_good(),
        &[("rightsType", None), ("errorFormat", Some("json"))],
    );
    assert_eq!(
        json_error(pr_get(&sim, &pairs).await).await,
        (400, -2020, "Missing rights type".to_owned())
    );
}

#[tokio::test]
async fn playready_every_refusal_over_http() {
    let sim = start().await;
    for (pairs, code, status) in playready_refusals() {
        if pairs.contains(&("errorFormat", "html5")) {
            continue;
        }
        let mut pairs = pairs;
        pairs.push(("errorFormat", "json"));
        let (got_status, got_code, text) = json_error(pr_get(&sim, &pairs).await).await;
        assert_eq!((got_status, got_code), (status, code), "{pairs:?}");
        assert!(!text.contains(KEY) && !text.contains(KID), "{text}");
    }
    let resp = pr_get(&sim, &edit(pr_rental(), &[("generalFlags", None)])).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(content_type(&resp), "text/html");
    let body = resp.text().await.unwrap();
    assert!(body.contains("<h1>Error -5003</h1>"), "{body}");
    assert!(
        body.contains("rental licences must be persistent"),
        "{body}"
    );
    let resp = pr_get(&sim, &edit(pr_good(), &[("errorFormat", Some("html5"))])).await;
    assert!(resp.text().await.unwrap().contains("Error -3004"));
    assert_eq!(sim.issued_tokens(), 0);
}
