//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) through the same checks the
//! libFuzzer targets run (`fuzz/src/lib.rs`), so the corpora guard against regressions on stable; then,
//! as the fuzz smoke of every CI run, feeds [`MUTATIONS`] seeded random mutations of each file through
//! the same checks (byte flips, insertions, deletions, truncations, splices of two seeds: libFuzzer's
//! simplest mutators, without its coverage guidance; the CPIX targets insert XML tokens rather than
//! JSON ones). `SEES_FUZZ_SMOKE_SEED` repeats a run.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use std::path::PathBuf;

use sees::admin::jwt::fuzzing::{sign_hs256, JwtHarness};

use crate::harness::Rng;

/// Every file of one target's corpus, by name, sorted.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no seeds", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("a readable corpus file"))
        })
        .collect()
}

/// Random mutations of each corpus file per run.
const MUTATIONS: usize = 1_000;

/// Tokens a mutation may insert into a JSON or text input.
const JSON_TOKENS: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"\\u0000", b"-1", b"1e999", b"null", b"\n", b",",
];

/// Tokens a mutation may insert into an XML input.
const XML_TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"\"",
    b"/>",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x>",
    b"cpix:",
    b" xmlns:cpix=\"urn:dashif:org:cpix\"",
    b" xmlns=\"urn:dashif:org:cpix\"",
    b"\xff",
];

/// One mutation of `data`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, (rng.next() & 0xff) as u8),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => out.truncate(at),
            4 => {
                let pick = tokens[rng.below(tokens.len())];
                out.splice(at..at, pick.iter().copied());
            }
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                out.splice(at..at, other[from..to].iter().copied());
            }
            _ => {}
        }
    }
    out
}

/// Runs `check` on every file of `target`'s corpus and on [`MUTATIONS`] mutations of each; a panic
/// names the file, or prints the mutated input.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    replay_with(target, check, JSON_TOKENS)
}

/// [`replay`], with mutations inserting `tokens`.
fn replay_with(target: &str, check: fn(&[u8]), tokens: &[&[u8]]) -> usize {
    let files = corpus(target);
    for (name, data) in &files {
        let outcome = std::panic::catch_unwind(|| check(data));
        assert!(
            outcome.is_ok(),
            "fuzz/corpus/{target}/{name} fails its check"
        );
    }
    let seed = std::env::var("SEES_FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EE5_F022_u64);
    let mut rng = Rng(seed | 1);
    for (name, data) in &files {
        for _ in 0..MUTATIONS {
            let other = &files[rng.below(files.len())].1;
            let input = mutate(&mut rng, data, other, tokens);
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(
                outcome.is_ok(),
                "a mutation of fuzz/corpus/{target}/{name} fails its check \
                 (SEES_FUZZ_SMOKE_SEED={seed}): {input:?}"
            );
        }
    }
    files.len()
}

#[test]
fn sees_request_corpus() {
    assert!(replay("sees_request", checks::sees_request) >= 10);
}

#[test]
fn admin_body_corpus() {
    assert!(replay("admin_body", checks::admin_body) >= 10);
}

#[test]
fn expressplay_token_corpus() {
    assert!(replay("expressplay_token", checks::expressplay_token) >= 5);
}

#[test]
fn expressplay_records_corpus() {
    assert!(replay("expressplay_records", checks::expressplay_records) >= 5);
}

#[test]
fn key_import_corpus() {
    assert!(replay("key_import", checks::key_import) >= 3);
}

#[test]
fn jwt_corpus() {
    assert!(replay("jwt", checks::jwt) >= 5);
}

#[test]
fn cpix_request_corpus() {
    assert!(replay_with("cpix_request", checks::cpix_request, XML_TOKENS) >= 15);
}

#[test]
fn cpix_document_corpus() {
    assert!(replay_with("cpix_document", checks::cpix_document, XML_TOKENS) >= 10);
}

/// The CPIX targets reach past the parsers: at least ten request seeds are accepted and answered, and a
/// key document seed is byte for byte what `write_key_document` writes (so `make_seeds.py`'s copy of
/// the format is the crate's).
#[test]
fn cpix_seeds_reach_the_writers() {
    let settings = sees::cpix::SignallingSettings::default();
    let key = sees::keys::ContentKey::generate();
    let mut answered = 0;
    for (name, data) in corpus("cpix_request") {
        let Ok(request) = sees::cpix::parse_speke_request(&data) else {
            continue;
        };
        let answers: Vec<_> = request
            .keys
            .iter()
            .map(|k| sees::cpix::KeyAnswer {
                kid: k.kid,
                key: &key,
                skd_uri: "skd://fuzz".to_owned(),
            })
            .collect();
        let written = sees::cpix::write_speke_response(&request, &answers, &settings);
        assert!(written.is_ok(), "{name}: {:?}", written.err());
        answered += 1;
    }
    assert!(answered >= 10, "only {answered} request seeds are accepted");

    let kids = [
        "6f1d2c3b-4a59-4877-8695-041322314050",
        "0a0b0c0d-0e0f-1011-1213-141516171819",
    ];
    let keys: Vec<_> = checks::CPIX_TEST_KEYS[..2]
        .iter()
        .map(|(cek, iv)| sees::keys::ContentKey::from_hex(cek, iv).expect("hex"))
        .collect();
    let pairs: Vec<_> = kids
        .iter()
        .zip(&keys)
        .map(|(kid, key)| (sees::cpix::Kid::parse(kid).expect("a KID"), key))
        .collect();
    let written = sees::cpix::write_key_document("movie-42 & \"friends\"", &pairs);
    let documents = corpus("cpix_document");
    assert!(
        documents.iter().any(|(_, data)| data == written.as_bytes()),
        "no seed in fuzz/corpus/cpix_document is the written document {written}"
    );
    let accepted = documents
        .iter()
        .filter(|(_, data)| sees::cpix::parse_key_document(data).is_ok())
        .count();
    assert!(
        accepted >= 4,
        "only {accepted} key document seeds are accepted"
    );
}

/// The JWT target reaches past the signature: a token it signs, and the committed RS256 seed, verify
/// for the end-user verifier and their entitlement provider.
#[test]
fn jwt_seeds_get_past_the_signature() {
    let harness = JwtHarness::new(checks::RS256_PUBLIC_PEM, std::env::temp_dir()).expect("issuers");
    let claims = format!(
        r#"{{"iss":"{}","aud":"{}","sub":"alice","iat":{},"exp":{},"jti":"j","entitlements":[{{"packageID":"p1","startDate":"2030-01-01T00:00:00Z","endDate":"2031-01-01T00:00:00Z"}}]}}"#,
        sees::admin::jwt::fuzzing::HS256_ISSUER,
        sees::admin::jwt::fuzzing::AUDIENCE,
        checks::NOW - 10,
        checks::NOW + 600
    );
    let token = sign_hs256(br#"{"alg":"HS256","typ":"JWT"}"#, claims.as_bytes());
    assert_eq!(harness.check(&token, checks::NOW), 2);
    let rs256 = corpus("jwt")
        .into_iter()
        .filter_map(|(_, data)| String::from_utf8(data.get(1..)?.to_vec()).ok())
        .filter(|token| token.starts_with("eyJhbGciOiJSUzI1NiI"))
        .collect::<Vec<_>>();
    assert!(!rs256.is_empty(), "no RS256 seed in fuzz/corpus/jwt");
    for token in rs256 {
        assert_eq!(harness.check(&token, checks::NOW), 2, "{token}");
    }
}
