//! Across DRMs: what is remembered per token, redemption at each DRM's rights URL (and refusal at
//! another's), and per-DRM behaviours (forced errors, faults, delays).

use super::playready::{pr_get, pr_good, pr_json, pr_rental};
use super::widevine::{edit, wv_get, wv_good, wv_token_url, KID};
use super::*;

/// The key check of [`KEY`]: SHA-256 of its 16 bytes, first 8 bytes in hex.
const KEY_CHECK: &str = "a8faed6abbf35c12";

fn licence(drm: Drm, expiration: &str) -> IssuedLicence {
    let mut licence = IssuedLicence::from(issued(None, expiration));
    licence.drm = drm;
    licence
}

#[test]
fn licence_redemption_rules() {
    let n = now();
    let later = "2024-01-01T00:10:00Z";
    for drm in Drm::ALL {
        assert_eq!(
            check_licence_redemption(None, drm, n),
            Err(RightsError::InvalidToken)
        );
        for route in Drm::ALL {
            let got = check_licence_redemption(Some(&licence(drm, later)), route, n);
            if drm == route {
                assert_eq!(got, Ok(()));
            } else {
                assert_eq!(
                    got,
                    Err(RightsError::WrongDrm { issued: drm, route }),
                    "{drm} at {route}"
                );
            }
        }
        for expired in ["2023-12-31T23:59:59Z", "garbage"] {
            assert_eq!(
                check_licence_redemption(Some(&licence(drm, expired)), drm, n),
                Err(RightsError::TokenExpired)
            );
        }
    }
    let wrong = RightsError::WrongDrm {
        issued: Drm::FairPlay,
        route: Drm::Widevine,
    };
    assert_eq!((wrong.code(), wrong.status().as_u16()), (-4010, 400));
    assert_eq!(
        wrong.to_string(),
        "Invalid token: issued for fairplay, not widevine"
    );
}

#[test]
fn key_check_and_token_in_body() {
    assert_eq!(key_check(KEY), KEY_CHECK);
    assert_eq!(key_check(&KEY.to_uppercase()), KEY_CHECK);
    assert_eq!(key_check("not hex"), "e3b0c44298fc1c14");
    let cases = [
        ("<LA><CustomData>tok_1-A</CustomData></LA>", Some("tok_1-A")),
        (
            "<CustomData> ExpressPlayToken=tok2 </CustomData>",
            Some("tok2"),
        ),
        ("challenge ExpressPlayToken=tok3&x=1", Some("tok3")),
        ("<CustomData>tok4", None),
        ("<CustomData></CustomData>", None),
        ("binary SPC", None),
        ("", None),
    ];
    for (body, want) in cases {
        assert_eq!(token_in_body(body).as_deref(), want, "{body}");
    }
}

// ----- over HTTP -----

/// GETs `url` (a rights URL with its token) with `errorFormat=json`.
async fn redeem_at(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .query(&[("errorFormat", "json")])
        .send()
        .await
        .unwrap()
}

async fn licence_of(resp: reqwest::Response) -> serde_json::Value {
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// A token of each DRM: (drm, token).
async fn one_token_each(sim: &Simulator) -> Vec<(Drm, String)> {
    let fp = token_of(&token_url_for(sim, &[("kid", KID)]).await);
    let wv = token_of(&wv_token_url(sim, &[]).await);
    let pr = pr_json(sim, &pr_good()).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    vec![
        (Drm::FairPlay, fp),
        (Drm::Widevine, wv),
        (Drm::PlayReady, pr),
    ]
}

#[tokio::test]
async fn every_drm_is_remembered_with_its_key() {
    let sim = start().await;
    let tokens = one_token_each(&sim).await;
    let fp = sim.issued_licence(&tokens[0].1).unwrap();
    assert_eq!(fp.drm, Drm::FairPlay);
    assert_eq!(
        (fp.kid.as_deref(), fp.content_key.as_str(), fp.iv.as_deref()),
        (Some(KID), KEY, Some(IV))
    );
    assert_eq!(fp.fairplay(), Some(&FairPlayLicence { rental_duration: 0 }));
    assert_eq!(fp.key_check(), KEY_CHECK);
    assert_eq!(sim.issued_tokens(), 3);
    for drm in Drm::ALL {
        assert_eq!(sim.issued_tokens_for(drm), 1, "{drm}");
    }
    let all = sim.issued_licences();
    let drms: Vec<Drm> = all.iter().map(|(_, l)| l.drm).collect();
    assert_eq!(drms, Drm::ALL);
    let order: Vec<&String> = all.iter().map(|(t, _)| t).collect();
    assert_eq!(order, tokens.iter().map(|(_, t)| t).collect::<Vec<_>>());
    for (drm, token) in &tokens {
        assert_eq!(&sim.last_issued(*drm).unwrap().0, token);
    }
}

#[tokio::test]
async fn widevine_redemption_describes_the_licence() {
    let sim = start().await;
    let url = wv_token_url(
        &sim,
        &[
            ("securityLevel", Some("3")),
            ("hdcpOutputControl", Some("1")),
            ("licenseDuration", Some("600")),
            ("cookie", Some("wv-c")),
        ],
    )
    .await;
    let body = licence_of(redeem_at(&url).await).await;
    let token = token_of(&url);
    let expiration = sim.issued_token(&token).unwrap().expiration;
    assert_eq!(
        body,
        serde_json::json!({
            "simulated": true,
            "drm": "widevine",
            "kid": KID,
            "keyCheck": KEY_CHECK,
            "cookie": "wv-c",
            "expiration": expiration,
            "licence": {
                "securityLevel": 3,
                "hdcpOutputControl": 1,
                "licenseDuration": 600,
                "contentId": null,
            },
        })
    );
    assert!(!body.to_string().contains(KEY), "never the key itself");
    // By form POST, and without the trailing slash; no device id needed; nothing is logged.
    let resp = client()
        .post(format!("http://{}/hms/wv/rights", sim.addr()))
        .form(&[("ExpressPlayToken", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(licence_of(resp).await["drm"], "widevine");
    assert!(sim.record_events().is_empty());
    let paths: Vec<String> = sim.recent_requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [WIDEVINE_TOKEN_PATH, WIDEVINE_RIGHTS_PATH, "/hms/wv/rights"]
    );
}

#[tokio::test]
async fn playready_redemption_by_query_form_and_custom_data() {
    let sim = start().await;
    let pairs = edit(
        pr_rental(),
        &[
            ("rental.playDuration", Some("900")),
            ("outputControlFlags", Some("00000001")),
        ],
    );
    let body = pr_json(&sim, &pairs).await;
    let la_url = body["licenseAcquisitionUrl"].as_str().unwrap().to_owned();
    let token = body["token"].as_str().unwrap().to_owned();
    let licence = sim.issued_licence(&token).unwrap();
    let period_end = licence
        .playready()
        .unwrap()
        .rental
        .as_ref()
        .unwrap()
        .period_end;
    // Query.
    let resp = client()
        .get(&la_url)
        .query(&[("ExpressPlayToken", token.as_str())])
        .send()
        .await
        .unwrap();
    let got = licence_of(resp).await;
    assert_eq!(got["drm"], "playready");
    assert_eq!(got["kid"], KID);
    assert_eq!(got["keyCheck"], KEY_CHECK);
    assert_eq!(
        got["licence"],
        serde_json::json!({
            "rightsType": "Rental",
            "rental": {
                "periodEndTime": period_end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "playDuration": 900,
            },
            "persistent": true,
            "analogVideoOPL": 100,
            "compressedDigitalAudioOPL": 200,
            "compressedDigitalVideoOPL": 300,
            "uncompressedDigitalAudioOPL": 250,
            "uncompressedDigitalVideoOPL": 270,
            "unknownOutputBehavior": null,
            "outputControlFlags": "00000001",
        })
    );
    // Form body.
    let resp = client()
        .post(&la_url)
        .form(&[("ExpressPlayToken", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(licence_of(resp).await["drm"], "playready");
    // A licence challenge carrying the token as CustomData.
    let challenge = format!(
        "<soap:Envelope><AcquireLicense><challenge><LA><CustomData>{token}</CustomData></LA>\
         </challenge></AcquireLicense></soap:Envelope>"
    );
    let resp = client()
        .post(&la_url)
        .header(CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(licence_of(resp).await["drm"], "playready");
    // A challenge without a token: -4010.
    let resp = client()
        .post(format!("{la_url}?errorFormat=json"))
        .header(CONTENT_TYPE, "text/xml")
        .body("<LA></LA>")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(resp).await.1, -4010);
    // The Widevine rights URL ignores a CustomData body.
    let resp = client()
        .post(format!(
            "{}?errorFormat=json",
            sim.rights_url_for(Drm::Widevine)
        ))
        .header(CONTENT_TYPE, "text/xml")
        .body(format!("<CustomData>{token}</CustomData>"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(resp).await.1, -4010);
}

#[tokio::test]
async fn redemption_at_another_drms_rights_url_is_refused() {
    let sim = start().await;
    let tokens = one_token_each(&sim).await;
    for (issued, token) in &tokens {
        for route in Drm::ALL {
            let mut url = format!("{}?ExpressPlayToken={token}", sim.rights_url_for(route));
            if route == Drm::FairPlay {
                url.push_str("&deviceId=DEV1");
            }
            let resp = redeem_at(&url).await;
            if *issued == route {
                assert_eq!(resp.status(), 200, "{issued} at {route}");
                continue;
            }
            assert_eq!(
                json_error(resp).await,
                (
                    400,
                    -4010,
                    format!("Invalid token: issued for {issued}, not {route}")
                ),
                "{issued} at {route}"
            );
        }
    }
    // The FairPlay redemption alone logged an event (its token carried no cookie: none).
    assert!(sim.record_events().is_empty());
    // Unknown and missing tokens.
    for route in [Drm::Widevine, Drm::PlayReady] {
        let base = sim.rights_url_for(route);
        for url in [format!("{base}?ExpressPlayToken=nope"), base.clone()] {
            assert_eq!(
                json_error(redeem_at(&url).await).await,
                (400, -4010, "Invalid token".to_owned())
            );
        }
        let resp = client().get(&base).send().await.unwrap();
        assert_eq!(content_type(&resp), "text/html");
        let resp = client().delete(&base).send().await.unwrap();
        assert_eq!(resp.status(), 405);
    }
}

#[tokio::test]
async fn expired_licence_tokens_are_refused() {
    let sim = start().await;
    let url = wv_token_url(&sim, &[("expirationTime", Some("+1"))]).await;
    let pr = pr_json(&sim, &edit(pr_good(), &[("expirationTime", Some("+1"))])).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        json_error(redeem_at(&url).await).await,
        (400, -4010, "Token expired".to_owned())
    );
    let url = format!(
        "{}?ExpressPlayToken={}",
        pr["licenseAcquisitionUrl"].as_str().unwrap(),
        pr["token"].as_str().unwrap()
    );
    assert_eq!(json_error(redeem_at(&url).await).await.1, -4010);
}

// ----- per-DRM behaviour -----

/// The status each token route answers a good request with: (FairPlay, Widevine, PlayReady).
async fn statuses(sim: &Simulator) -> (u16, u16, u16) {
    (
        get(sim, &good()).await.status().as_u16(),
        wv_get(sim, &wv_good()).await.status().as_u16(),
        pr_get(sim, &pr_good()).await.status().as_u16(),
    )
}

fn forced(status: u16, code: i64) -> Behaviour {
    Behaviour {
        force_error: Some(ForcedError {
            status,
            code,
            text: "forced".to_owned(),
        }),
        ..Behaviour::default()
    }
}

#[tokio::test]
async fn behaviours_are_per_drm() {
    let sim = start().await;
    // set_behaviour is FairPlay's alone.
    sim.set_behaviour(fault(Fault::Status { status: 503 }));
    assert_eq!(statuses(&sim).await, (503, 200, 200));
    sim.set_behaviour(Behaviour::default());
    sim.set_behaviour_for(Drm::Widevine, fault(Fault::Status { status: 502 }));
    assert_eq!(statuses(&sim).await, (200, 502, 200));
    sim.set_behaviour_for(Drm::PlayReady, forced(401, -2031));
    assert_eq!(statuses(&sim).await, (200, 502, 401));
    sim.set_behaviour_for(Drm::Widevine, Behaviour::default());
    sim.set_behaviour_for(Drm::PlayReady, Behaviour::default());
    sim.set_behaviour_for(Drm::FairPlay, fault(Fault::Status { status: 504 }));
    assert_eq!(statuses(&sim).await, (504, 200, 200));
    // Record retrieval keeps its own.
    assert_eq!(status_of(&sim, Api::Record).await, 200);
}

#[tokio::test]
async fn forced_errors_and_html_on_the_licence_routes() {
    let sim = start().await;
    sim.set_behaviour_for(Drm::Widevine, forced(503, -2019));
    let pairs = edit(wv_good(), &[("errorFormat", Some("json"))]);
    assert_eq!(
        json_error(wv_get(&sim, &pairs).await).await,
        (503, -2019, "forced".to_owned())
    );
    sim.set_behaviour_for(
        Drm::PlayReady,
        Behaviour {
            force_html: true,
            ..Behaviour::default()
        },
    );
    let pairs = edit(
        pr_good(),
        &[("rightsType", None), ("errorFormat", Some("json"))],
    );
    let resp = pr_get(&sim, &pairs).await;
    assert_eq!(
        (resp.status().as_u16(), content_type(&resp)),
        (400, "text/html".to_owned())
    );
    assert!(resp.text().await.unwrap().contains("<h1>Error -2020</h1>"));
    assert_eq!(sim.issued_tokens(), 0);
    let rec = sim.recent_requests();
    assert_eq!(rec[0].error_code, Some(-2019));
    assert_eq!(rec[1].error_code, Some(-2020));
}

#[tokio::test]
async fn faults_on_the_licence_routes() {
    let sim = start().await;
    // Malformed answers, verbatim.
    sim.set_behaviour_for(
        Drm::PlayReady,
        fault(Fault::Malformed {
            status: 200,
            content_type: "application/json".to_owned(),
            body: "{garbage".to_owned(),
        }),
    );
    let resp = pr_get(&sim, &pr_good()).await;
    assert_eq!(resp.text().await.unwrap(), "{garbage");
    // Connections dropped mid-answer, with each route's success content type.
    for (drm, uri_list, content) in [
        (Drm::Widevine, false, "text/uri-list"),
        (Drm::PlayReady, false, "application/json"),
        (Drm::PlayReady, true, "text/uri-list"),
    ] {
        sim.set_playready_uri_list(uri_list);
        sim.set_behaviour_for(drm, fault(Fault::CloseMidResponse));
        let resp = client()
            .get(sim.token_url_for(drm))
            .query(&if drm == Drm::Widevine {
                wv_good()
            } else {
                pr_good()
            })
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(content_type(&resp), content, "{drm}");
        assert!(resp.text().await.is_err(), "{drm}: the body read must fail");
    }
    sim.set_playready_uri_list(false);
    // Hang: no answer; the request is recorded with status 0.
    sim.set_behaviour_for(Drm::Widevine, fault(Fault::Hang));
    let err = client()
        .get(sim.widevine_token_url())
        .query(&wv_good())
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let last = sim.recent_requests().pop().unwrap();
    assert_eq!((last.path.as_str(), last.status), (WIDEVINE_TOKEN_PATH, 0));
    // The other routes still answer.
    assert_eq!(get(&sim, &good()).await.status(), 200);
    assert_eq!(sim.issued_tokens(), 1);
}

#[tokio::test]
async fn fault_times_and_delay_on_the_licence_routes() {
    let sim = start().await;
    sim.set_behaviour_for(
        Drm::PlayReady,
        Behaviour {
            fault: Some(Fault::Status { status: 500 }),
            fault_times: Some(2),
            ..Behaviour::default()
        },
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(pr_get(&sim, &pr_good()).await.status().as_u16());
    }
    assert_eq!(got, [500, 500, 200]);
    sim.set_behaviour_for(
        Drm::Widevine,
        Behaviour {
            delay_ms: 200,
            ..Behaviour::default()
        },
    );
    let started = std::time::Instant::now();
    assert_eq!(wv_get(&sim, &wv_good()).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(pr_get(&sim, &pr_good()).await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn per_drm_control_routes() {
    let sim = start().await;
    let status_fault = r#"{"fault":{"kind":"status","status":502}}"#;
    assert_eq!(
        put_control(&sim, "behaviour/widevine", status_fault).await,
        204
    );
    assert_eq!(statuses(&sim).await, (200, 502, 200));
    let forced = r#"{"force_error":{"status":401,"code":-2031,"text":"Service account disabled"}}"#;
    assert_eq!(put_control(&sim, "behaviour/playready", forced).await, 204);
    assert_eq!(
        put_control(&sim, "behaviour/fairplay", status_fault).await,
        204
    );
    assert_eq!(statuses(&sim).await, (502, 502, 401));
    // `/_sim/behaviour` stays FairPlay's.
    assert_eq!(put_control(&sim, "behaviour", "{}").await, 204);
    assert_eq!(statuses(&sim).await, (200, 502, 401));
    assert_eq!(put_control(&sim, "behaviour/ms3", "{}").await, 404);
}

#[tokio::test]
async fn hostile_inputs_never_break_the_licence_routes() {
    let sim = start().await;
    let base = format!("http://{}", sim.addr());
    let nasty = [
        "%ff%fe",
        "kid=%00&contentKey=%ff",
        "ExpressPlayToken=&deviceId=",
        "securityLevel=99999999999999999999&hdcpOutputControl=-0",
        "analogVideoOPL=18446744073709551616&rightsType=Rental&rental.periodEndTime=%2B99999999999",
        "rental.periodEndTime=9999-12-31T23:59:59Z&rightsType=Rental",
        "wvExtension=%2C&wvExtension=a%2C%3D%3D%3D%3D",
        "customerAuthenticator=%E2%80%AE",
        "&&&==&=",
    ];
    for path in [
        WIDEVINE_TOKEN_PATH,
        PLAYREADY_TOKEN_PATH,
        WIDEVINE_RIGHTS_PATH,
        PLAYREADY_RIGHTS_PATH,
    ] {
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
        let resp = client()
            .post(format!("{base}{path}"))
            .header(CONTENT_TYPE, "text/xml")
            .body("<CustomData>\u{0}</CustomData><CustomData>")
            .send()
            .await
            .unwrap();
        assert!(resp.status().as_u16() < 500, "{path}: {}", resp.status());
    }
    assert_eq!(statuses(&sim).await, (200, 200, 200));
}
