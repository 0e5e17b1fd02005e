//! The in-process parts of the SEES hot path other than the decision:
//! - `wire`: parsing and JSON-Schema validation of an Entitlement Request (`sees::wire::parse_request`,
//!   what the handler calls): a valid minimal request, a valid full one, and one the schema rejects;
//! - `keys`: a content key looked up through the key store the SEES handler uses (`KeyStore::get`),
//!   cached (a hit) and uncached (a store with the cache off: every lookup reads the store and opens
//!   the sealed key), over 100,000 keys in `target/bench-data/keys.sqlite` (seeded on first use) and,
//!   with `SEES_BENCH_DATABASE_URL`, in that PostgreSQL database;
//! - `token_url`: building the ExpressPlay FairPlay token request (`ExpressPlayClient::token_request`:
//!   key and IV in hex, expiry, rental, cookie, device binding → the URL with its query string).
//!
//! `cargo bench --bench hot_path` (a filter narrows it: `cargo bench --bench hot_path -- keys`).

#[path = "support/catalogue.rs"]
mod catalogue;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sees::config::ExpressPlaySettings;
use sees::expressplay::{ExpressPlayClient, TokenLifetime, TokenRequest};
use sees::ids::{ContentId, DeviceId};
use sees::keys::{ContentKey, KeyPolicy, KeyStore, MasterKey, NewContentKey};
use sees::sees::wire::parse_request;
use sees::store::Store;

fn wire(c: &mut Criterion) {
    let minimal = br#"{"messageID":"m-1","version":1,"contentID":"a123456"}"#.as_slice();
    let full = br#"{"messageID":"5b2f7a8e-1c3d-4e5f-8a9b-0c1d2e3f4a5b","version":1,"requestType":3,"contentID":"asset-123456-hls-main","customerCookie":"Zm9vYmFyYmF6cXV4LXNlc3Npb24tMTI"}"#.as_slice();
    // `requestType` a string: the schema rejects it.
    let rejected =
        br#"{"messageID":"m-1","version":1,"requestType":"three","contentID":"a123456"}"#
            .as_slice();
    assert!(parse_request(minimal).is_ok());
    assert!(parse_request(full).is_ok());
    assert!(parse_request(rejected).is_err());

    let mut group = c.benchmark_group("wire/parse_request");
    for (name, body) in [
        ("valid-minimal", minimal),
        ("valid-full", full),
        ("rejected-schema", rejected),
    ] {
        group.bench_function(name, |b| b.iter(|| parse_request(black_box(body))));
    }
    group.finish();
}

/// Content keys in the bench key stores.
fn key_count(bench_mode: bool) -> usize {
    if bench_mode {
        100_000
    } else {
        100
    }
}

fn content_id(i: usize) -> ContentId {
    ContentId::parse(format!("bench-content-{i}")).expect("a valid content ID")
}

/// Bench material only: made from the index, never a real key.
fn bench_key(i: usize) -> ContentKey {
    let mut cek = [0u8; 16];
    let mut iv = [0u8; 16];
    cek[..8].copy_from_slice(&catalogue::mix(i as u64, 1).to_le_bytes());
    iv[..8].copy_from_slice(&catalogue::mix(i as u64, 2).to_le_bytes());
    ContentKey::new(cek, iv)
}

/// The bench master key (the same for every bench store).
fn master() -> Arc<MasterKey> {
    Arc::new(MasterKey::from_bytes(&[7; 32]))
}

/// Opens the store at `url` and fills it with `count` keys unless it has them already.
async fn key_store(url: &str, count: usize, postgres: bool) -> Store {
    if postgres {
        catalogue::create_postgres_database(url)
            .await
            .expect("creating the bench database");
    }
    let store = Store::connect(url, 8).await.expect("opening the key store");
    let keys = KeyStore::open(store.clone(), master(), 0, Duration::from_secs(1), "bench")
        .await
        .expect("opening the key store (bench master key)");
    let have = keys.count().await.expect("counting keys") as usize;
    if have < count {
        let started = std::time::Instant::now();
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            let batch = chunk
                .iter()
                .map(|&i| NewContentKey {
                    content_id: content_id(i),
                    key: bench_key(i),
                    policy: KeyPolicy::default(),
                })
                .collect();
            keys.import(batch, true).await.expect("storing bench keys");
        }
        eprintln!(
            "keys: stored {count} keys in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    store
}

fn keys(c: &mut Criterion) {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let count = key_count(bench_mode);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let sqlite = if bench_mode {
        catalogue::target_dir().join("bench-data/keys.sqlite")
    } else {
        catalogue::target_dir().join("bench-data/keys-test.sqlite")
    };
    let mut backends = vec![("sqlite", format!("sqlite://{}", sqlite.display()))];
    match std::env::var("SEES_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() && bench_mode => backends.push(("postgres", url)),
        _ => eprintln!("keys postgres: skipped (SEES_BENCH_DATABASE_URL not set)"),
    }
    for (backend, url) in backends {
        let store = runtime.block_on(key_store(&url, count, backend == "postgres"));
        let open = |capacity: usize| {
            runtime
                .block_on(KeyStore::open(
                    store.clone(),
                    master(),
                    capacity,
                    Duration::from_secs(3600),
                    "bench",
                ))
                .expect("opening the key store")
        };
        let cached = open(count);
        let uncached = open(0);
        // The cached bench looks up a hot set of 1,000 keys, all in the cache before timing.
        let hot: Vec<ContentId> = (0..1_000.min(count))
            .map(|n| content_id(catalogue::mix(n as u64, 3) as usize % count))
            .collect();
        runtime.block_on(async {
            for id in &hot {
                assert!(cached.get(id).await.expect("a key").is_some());
            }
        });
        let mut group = c.benchmark_group(format!("keys/{backend}"));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let mut next = 0usize;
        group.bench_function("cached", |b| {
            b.to_async(&runtime).iter(|| {
                let id = &hot[next % hot.len()];
                next += 1;
                let cached = &cached;
                async move { cached.get(id).await.expect("a key").is_some() }
            })
        });
        let mut rng = catalogue::Rng(0xC0DE);
        group.bench_function("uncached", |b| {
            b.to_async(&runtime).iter_batched(
                || content_id(rng.below(count)),
                |id| {
                    let uncached = &uncached;
                    async move { uncached.get(&id).await.expect("a key").is_some() }
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
        runtime.block_on(store.close());
    }
}

fn token_url(c: &mut Criterion) {
    let settings = ExpressPlaySettings {
        token_url: "https://fp-gen.test.expressplay.com/hms/fp/token".to_owned(),
        customer_authenticator: "4242,0123456789abcdef0123456789abcdef".to_owned().into(),
        ..ExpressPlaySettings::default()
    };
    let client = ExpressPlayClient::new(&settings).expect("an ExpressPlay client");
    let key = bench_key(42);
    let device = DeviceId::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
    let cookie = "Zm9vYmFyYmF6cXV4LXNlc3Npb24tMTI";
    let relative = TokenLifetime::Relative(600);
    let absolute = TokenLifetime::Absolute(Utc::now() + chrono::Duration::days(7));

    let mut group = c.benchmark_group("token_url");
    let cases: [(&str, TokenLifetime, Option<&str>, Option<&DeviceId>); 3] = [
        ("time-based", relative, None, None),
        ("registration-cookie", relative, Some(cookie), None),
        (
            "device-bound-absolute",
            absolute,
            Some(cookie),
            Some(&device),
        ),
    ];
    for (name, lifetime, cookie, device) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = TokenRequest {
                    key: &key,
                    expiration_time: lifetime
                        .expiration_param(Utc::now())
                        .expect("a future expiry"),
                    rental_duration_s: 3600,
                    cookie,
                    device,
                };
                let built = client
                    .token_request(&request)
                    .build()
                    .expect("a valid token request");
                built.url().as_str().len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = hot_path;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = wire, token_url, keys
}
criterion_main!(hot_path);
