//! Crash safety: the real `sees serve` binary is killed with SIGKILL in the middle of bursts of admin
//! writes (packages created and updated, entitlements granted, billing plans and products added) and of
//! key imports (`sees keys import` and `sees keys add`, killed too), then restarted on the same store.
//! After every restart: the store opens and its migrations are all applied, every acknowledged write
//! (2xx received, command exited 0) is there with every field as acknowledged, and nothing is half
//! written (a package has exactly the assets of one of its writes; an import is all there or absent).
//!
//! Runs on SQLite, and on PostgreSQL when `SEES_TEST_DATABASE_URL` is set. Rounds per backend:
//! `SEES_CRASH_ROUNDS` (default 3); the random moments come from `SEES_CRASH_SEED` (default: the
//! clock, printed so a failure can be replayed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sees::config::Settings;
use sees::ids::ContentId;
use sees::keys::MasterKey;
use sees::tls::dev_pki::DevPki;
use serde_json::{json, Value};

use crate::harness::{sees_binary, Rng, AUTHENTICATOR};

/// Keys in each round's import file.
const IMPORT_SIZE: usize = 1000;

/// The key material a content ID gets: derived, so the check needs no record of it.
fn material(content_id: &str) -> (String, String) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    (
        format!("{h:016x}{:016x}", h.rotate_left(17)),
        format!("{:016x}{:016x}", h.rotate_left(31), !h),
    )
}

/// A package's content as one write sets it.
#[derive(Clone, Debug, PartialEq)]
struct PackageState {
    description: String,
    assets: Vec<String>,
}

/// What the writers sent and what was acknowledged.
#[derive(Default)]
struct Ledger {
    /// Package id → (last acknowledged state, the write in flight when the server died).
    packages: BTreeMap<String, (Option<PackageState>, Option<PackageState>)>,
    /// (uid, packageID, startDate) acknowledged.
    grants: Vec<(String, String, String)>,
    /// (plan id, recurrence) acknowledged.
    plans: Vec<(String, String)>,
    /// (product id, packageID, billingPlanID) acknowledged.
    products: Vec<(String, String, String)>,
    /// Import files: (content IDs, acknowledged).
    imports: Vec<(Vec<String>, bool)>,
    /// `keys add` content IDs acknowledged.
    added: Vec<String>,
}

/// One backend's setup: a directory with PKI, master key, configuration file and an admin token.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    token: String,
}

impl Site {
    fn new(store_url: Option<String>) -> Site {
        let dir = tempfile::tempdir().expect("temporary directory");
        let paths = DevPki::generate(&[])
            .expect("PKI")
            .write_to(&dir.path().join("certs"), false)
            .expect("writing the PKI");
        let master = dir.path().join("master.key");
        MasterKey::generate_file(&master).expect("master key");
        let url = store_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("sees.db").display()));
        let config = dir.path().join("sees.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\
                 [tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\n\
                 [store]\nurl = {url:?}\n\
                 [keys]\nmaster_key_file = {master:?}\n\
                 [expressplay]\ntoken_url = \"http://127.0.0.1:9/hms/fp/token\"\n\
                 customer_authenticator = {AUTHENTICATOR:?}\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n[ops]\nlisten = \"127.0.0.1:0\"\n\
                 [log]\nlevel = \"info\"\n",
                cert = paths.server_cert.display().to_string(),
                key = paths.server_key.display().to_string(),
                ca = paths.ca_cert.display().to_string(),
                master = master.display().to_string(),
            ),
        )
        .expect("writing the configuration");
        let mut site = Site {
            dir,
            config,
            token: String::new(),
        };
        let out = site
            .sees(&["tokens", "create", "--role", "admin", "--name", "crash"])
            .output()
            .expect("sees tokens create");
        assert!(out.status.success(), "{out:?}");
        site.token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        site
    }

    /// A `sees --config … ARGS` command.
    fn sees(&self, args: &[&str]) -> Command {
        let mut command = Command::new(sees_binary());
        command
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("SEES_MASTER_KEY")
            .env_remove("RUST_LOG")
            .env_remove("SEES_CONFIG");
        command
    }

    /// Starts `sees serve` and waits for the admin listener; the child and the admin base URL.
    fn serve(&self) -> (Child, String) {
        let mut child = self
            .sees(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sees serve");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let err = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        let started = Instant::now();
        loop {
            let found = lines.lock().expect("log lock").iter().find_map(|l| {
                l.contains("admin listener ready")
                    .then(|| l.split("addr=").nth(1)?.split_whitespace().next())
                    .flatten()
                    .map(str::to_owned)
            });
            if let Some(addr) = found {
                return (child, format!("http://{addr}"));
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "sees exited ({status}) on start:\n{}",
                    lines.lock().expect("log lock").join("\n")
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "not ready:\n{}",
                lines.lock().expect("log lock").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One admin call; `None` when no answer came (the server died).
async fn call(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Admin writes in a loop until the server stops answering: each acknowledged one goes in the ledger.
async fn write_burst(
    base: String,
    token: String,
    tag: String,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
    acked: Arc<AtomicUsize>,
) {
    let client = reqwest::Client::new();
    let mut rng = Rng(seed | 1);
    let own = format!("pk-{tag}-");
    let mut i = 0u32;
    loop {
        i += 1;
        let (packages, plans): (Vec<String>, Vec<String>) = {
            let l = ledger.lock().expect("ledger");
            (
                l.packages
                    .iter()
                    .filter(|(_, (a, _))| a.is_some())
                    .map(|(k, _)| k.clone())
                    .collect(),
                l.plans.iter().map(|(p, _)| p.clone()).collect(),
            )
        };
        let choice = rng.below(10);
        let ok = |s: u16| (200..300).contains(&s);
        let answered = if choice < 3 || packages.is_empty() {
            // A new package.
            let id = format!("pk-{tag}-{i}");
            let state = PackageState {
                description: "v0".into(),
                assets: (0..=rng.below(6)).map(|a| format!("{id}-a{a}")).collect(),
            };
            ledger
                .lock()
                .expect("ledger")
                .packages
                .insert(id.clone(), (None, Some(state.clone())));
            let body = json!({"package": {"id": id, "name": id, "description": state.description,
                "assetIDs": state.assets, "billingPlanIDs": []}});
            let answer = call(
                &client,
                &base,
                &token,
                "POST",
                "/oem/v1/user/packages",
                Some(body),
            )
            .await;
            if let Some((status, _)) = &answer {
                let mut l = ledger.lock().expect("ledger");
                let entry = l.packages.get_mut(&id).expect("entry");
                assert!(ok(*status), "package create {id}: {answer:?}");
                *entry = (Some(state), None);
            }
            answer
        } else if choice < 5 && packages.iter().any(|p| p.starts_with(&own)) {
            // An update of an acknowledged package of this writer (one writer per package, so the
            // acknowledged state is well defined): a new description and asset list together.
            let own: Vec<&String> = packages.iter().filter(|p| p.starts_with(&own)).collect();
            let id = own[rng.below(own.len())].clone();
            let state = PackageState {
                description: format!("v{i}"),
                assets: (0..=rng.below(6))
                    .map(|a| format!("{id}-u{i}-{a}"))
                    .collect(),
            };
            ledger
                .lock()
                .expect("ledger")
                .packages
                .get_mut(&id)
                .expect("entry")
                .1 = Some(state.clone());
            let body = json!({"package": {"id": id, "description": state.description,
                "assetIDs": state.assets}});
            let path = format!("/oem/v1/user/packages/{id}");
            let answer = call(&client, &base, &token, "PUT", &path, Some(body)).await;
            if let Some((status, _)) = &answer {
                assert!(ok(*status), "package update {id}: {answer:?}");
                let mut l = ledger.lock().expect("ledger");
                *l.packages.get_mut(&id).expect("entry") = (Some(state), None);
            }
            answer
        } else if choice < 7 {
            // An entitlement grant.
            let package = packages[rng.below(packages.len())].clone();
            let uid = format!("u-{tag}-{i}");
            let start = format!("2020-01-{:02}T00:00:00Z", 1 + rng.below(28));
            let body =
                json!({"entitlement": {"packageID": package, "uid": uid, "startDate": start}});
            let answer = call(
                &client,
                &base,
                &token,
                "POST",
                "/oem/v1/admin/entitlements",
                Some(body),
            )
            .await;
            if let Some((status, _)) = &answer {
                assert!(ok(*status), "grant {uid}: {answer:?}");
                ledger
                    .lock()
                    .expect("ledger")
                    .grants
                    .push((uid, package, start));
            }
            answer
        } else if choice < 9 || plans.is_empty() {
            // A billing plan.
            let id = format!("bp-{tag}-{i}");
            let recurrence = ["1M", "1y", "7d"][rng.below(3)].to_owned();
            let body = json!({"billingPlan": {"id": id, "recurrence": recurrence,
                "prices": {"Vindicia": {"USD": 1.5}}}});
            let answer = call(
                &client,
                &base,
                &token,
                "POST",
                "/oem/v1/billingplans",
                Some(body),
            )
            .await;
            if let Some((status, _)) = &answer {
                assert!(ok(*status), "plan {id}: {answer:?}");
                ledger.lock().expect("ledger").plans.push((id, recurrence));
            }
            answer
        } else {
            // A product: an acknowledged package sold through an acknowledged plan.
            let package = packages[rng.below(packages.len())].clone();
            let plan = plans[rng.below(plans.len())].clone();
            let body = json!({"product": {"packageID": package, "billingPlanID": plan,
                "name": {"en": format!("{package} {plan}")}}});
            let answer = call(
                &client,
                &base,
                &token,
                "POST",
                "/oem/v1/products",
                Some(body),
            )
            .await;
            if let Some((status, product)) = &answer {
                // The same pair twice is a 409: nothing new to record.
                if *status != 409 {
                    assert!(ok(*status), "product {package}/{plan}: {answer:?}");
                    let id = product["product"]["id"]
                        .as_str()
                        .expect("product id")
                        .to_owned();
                    ledger
                        .lock()
                        .expect("ledger")
                        .products
                        .push((id, package, plan));
                }
            }
            answer
        };
        if answered.is_none() {
            return;
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
}

/// `sees keys import` of one file, then `sees keys add` in a loop, until `stop`; the running child's
/// pid is in `pid` so the round can kill it.
fn key_burst(
    site: &Site,
    tag: &str,
    ledger: &Mutex<Ledger>,
    pid: &AtomicU32,
    importing: &AtomicBool,
    stop: &AtomicBool,
) {
    let ids: Vec<String> = (0..IMPORT_SIZE).map(|j| format!("imp-{tag}-{j}")).collect();
    let file = site.dir.path().join(format!("import-{tag}.jsonl"));
    let lines: String = ids
        .iter()
        .map(|id| {
            let (key, iv) = material(id);
            format!("{}\n", json!({"content_id": id, "key": key, "iv": iv}))
        })
        .collect();
    std::fs::write(&file, lines).expect("writing the import file");
    let run = |command: &mut Command| {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running sees keys");
        pid.store(child.id(), Ordering::SeqCst);
        let status = child.wait().expect("waiting for sees keys");
        pid.store(0, Ordering::SeqCst);
        status.success()
    };
    importing.store(true, Ordering::SeqCst);
    let imported = run(&mut site.sees(&["keys", "import", file.to_str().expect("path")]));
    importing.store(false, Ordering::SeqCst);
    ledger.lock().expect("ledger").imports.push((ids, imported));
    let mut j = 0;
    while !stop.load(Ordering::SeqCst) {
        j += 1;
        let id = format!("add-{tag}-{j}");
        let (key, iv) = material(&id);
        let added = run(&mut site.sees(&[
            "keys",
            "add",
            "--content-id",
            &id,
            "--key",
            &key,
            "--iv",
            &iv,
        ]));
        if added {
            ledger.lock().expect("ledger").added.push(id);
        }
    }
}

/// Checks the store against the ledger through the restarted server's admin API and the key store;
/// folds writes found committed (the one in flight) into the ledger.
async fn verify(site: &Site, base: &str, ledger: &Mutex<Ledger>, round: &str) {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            call(&client, base, &site.token, "GET", &path, None)
                .await
                .expect("the restarted server answers")
        }
    };
    let packages: Vec<_> = {
        let l = ledger.lock().expect("ledger");
        l.packages
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    for (id, (acked, in_flight)) in packages {
        let (status, answer) = get(format!("/oem/v1/user/packages/{id}")).await;
        if status == 404 {
            assert!(acked.is_none(), "{round}: acknowledged package {id} lost");
            ledger.lock().expect("ledger").packages.remove(&id);
            continue;
        }
        assert_eq!(status, 200, "{round}: package {id}: {answer}");
        let package = &answer["package"];
        let found = PackageState {
            description: package["description"].as_str().unwrap_or("").to_owned(),
            assets: package["assetIDs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        assert!(
            Some(&found) == acked.as_ref() || Some(&found) == in_flight.as_ref(),
            "{round}: package {id} is {found:?}; acknowledged {acked:?}, in flight {in_flight:?}"
        );
        ledger
            .lock()
            .expect("ledger")
            .packages
            .insert(id, (Some(found), None));
    }
    let (grants, plans, products, imports, added) = {
        let l = ledger.lock().expect("ledger");
        (
            l.grants.clone(),
            l.plans.clone(),
            l.products.clone(),
            l.imports.clone(),
            l.added.clone(),
        )
    };
    for (uid, package, start) in grants {
        let (status, answer) = get(format!("/oem/v1/admin/entitlements/{uid}/{package}")).await;
        assert_eq!(status, 200, "{round}: grant {uid}/{package} lost: {answer}");
        let stored = answer["entitlement"]["startDate"].as_str().unwrap_or("");
        let same = chrono::DateTime::parse_from_rfc3339(stored).ok()
            == chrono::DateTime::parse_from_rfc3339(&start).ok();
        assert!(same, "{round}: grant {uid}: startDate {stored} ≠ {start}");
    }
    for (id, recurrence) in plans {
        let (status, answer) = get(format!("/oem/v1/billingplans/{id}")).await;
        assert_eq!(status, 200, "{round}: plan {id} lost: {answer}");
        assert_eq!(
            answer["billingPlan"]["recurrence"], recurrence,
            "{round}: {id}"
        );
        assert_eq!(
            answer["billingPlan"]["prices"],
            json!({"Vindicia": {"USD": 1.5}}),
            "{round}: {id}"
        );
    }
    for (id, package, plan) in products {
        let (status, answer) = get(format!("/oem/v1/products/{id}")).await;
        assert_eq!(status, 200, "{round}: product {id} lost: {answer}");
        assert_eq!(answer["product"]["packageID"], package.as_str(), "{round}");
        assert_eq!(answer["product"]["billingPlanID"], plan.as_str(), "{round}");
    }

    // Keys, read through the library on the same store (as `sees keys` does).
    let settings = Settings::load(Some(&site.config), false).expect("settings");
    let stores = sees::app::open_stores(&settings)
        .await
        .expect("store opens");
    // Every migration applied once: the same versions as a store this binary creates afresh.
    let versions = |pool: &sqlx::AnyPool| {
        let pool = pool.clone();
        async move {
            let mut v: Vec<(i64,)> =
                sqlx::query_as("SELECT version FROM sees_migrations ORDER BY version")
                    .fetch_all(&pool)
                    .await
                    .expect("migrations table");
            v.dedup();
            v
        }
    };
    let fresh_url = format!("sqlite://{}", site.dir.path().join("fresh.db").display());
    let fresh = sees::store::Store::connect(&fresh_url, 1)
        .await
        .expect("fresh store");
    assert_eq!(
        versions(stores.store.pool()).await,
        versions(fresh.pool()).await,
        "{round}: migrations"
    );
    fresh.pool().close().await;
    let present = |id: String| {
        let keys = &stores.keys;
        async move {
            let content = ContentId::parse(id.clone()).expect("content id");
            let stored = keys.get(&content).await.expect("key store")?;
            let (key, iv) = material(&id);
            assert_eq!(*stored.key.cek_hex(), key, "{id}: key");
            assert_eq!(*stored.key.iv_hex(), iv, "{id}: iv");
            Some(())
        }
    };
    let listed: std::collections::BTreeSet<String> = stores
        .keys
        .list()
        .await
        .expect("key list")
        .into_iter()
        .map(|k| k.content_id.as_str().to_owned())
        .collect();
    for (ids, acked) in imports {
        let found = ids.iter().filter(|id| listed.contains(*id)).count();
        assert!(
            found == 0 || found == ids.len(),
            "{round}: an import is partly there ({found} of {})",
            ids.len()
        );
        assert!(
            !acked || found == ids.len(),
            "{round}: acknowledged import lost"
        );
        if found > 0 {
            // The material of the first, a middle and the last key of the file.
            for id in [&ids[0], &ids[ids.len() / 2], &ids[ids.len() - 1]] {
                assert!(present(id.clone()).await.is_some(), "{round}: {id}");
            }
        }
    }
    for id in added {
        assert!(
            present(id.clone()).await.is_some(),
            "{round}: added key {id} lost"
        );
    }
    stores.store.pool().close().await;
}

/// Rounds of burst → kill -9 → restart → verify on one store.
async fn crash_rounds(backend: &str, store_url: Option<String>, rounds: u32, seed: u64) {
    let site = Arc::new(Site::new(store_url));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let (mut server, mut base) = site.serve();
    let mut acked_total = 0;
    for round in 0..rounds {
        let tag = format!("{round}");
        let name = format!("{backend} round {round} (seed {seed})");
        let acked = Arc::new(AtomicUsize::new(0));
        let kill_after = 1 + rng.below(60);
        let writers: Vec<_> = (0..2)
            .map(|w| {
                tokio::spawn(write_burst(
                    base.clone(),
                    site.token.clone(),
                    format!("{tag}w{w}"),
                    rng.next(),
                    Arc::clone(&ledger),
                    Arc::clone(&acked),
                ))
            })
            .collect();
        let pid = Arc::new(AtomicU32::new(0));
        let importing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let keys = {
            let (site, ledger, pid, importing, stop, tag) = (
                Arc::clone(&site),
                Arc::clone(&ledger),
                Arc::clone(&pid),
                Arc::clone(&importing),
                Arc::clone(&stop),
                tag.clone(),
            );
            tokio::task::spawn_blocking(move || {
                key_burst(&site, &tag, &ledger, &pid, &importing, &stop)
            })
        };
        // The random moment: after the kill_after-th acknowledged admin write, or, in every other
        // round, a random 0–400 ms into the key import.
        let during_import = rng.below(2) == 0;
        let import_delay = Duration::from_millis(rng.below(400) as u64);
        let started = Instant::now();
        let mut import_seen: Option<Instant> = None;
        loop {
            if during_import {
                if import_seen.is_none() && importing.load(Ordering::SeqCst) {
                    import_seen = Some(Instant::now());
                }
                // (An import over before it was seen: kill anyway.)
                let gone = import_seen.is_none() && started.elapsed() > Duration::from_secs(5);
                if gone || import_seen.is_some_and(|t| t.elapsed() >= import_delay) {
                    break;
                }
            } else if acked.load(Ordering::SeqCst) >= kill_after {
                break;
            }
            assert!(
                server.try_wait().expect("wait").is_none(),
                "{name}: sees died"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name}: no progress"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop.store(true, Ordering::SeqCst);
        server.kill().expect("kill -9 sees serve");
        let keys_pid = pid.load(Ordering::SeqCst);
        if keys_pid != 0 {
            let _ = Command::new("kill")
                .args(["-9", &keys_pid.to_string()])
                .status();
        }
        server.wait().expect("reaping sees");
        for writer in writers {
            writer.await.expect("writer");
        }
        keys.await.expect("key burst");
        acked_total += acked.load(Ordering::SeqCst);
        (server, base) = site.serve();
        verify(&site, &base, &ledger, &name).await;
        let moment = if during_import {
            format!("{} ms into the key import", import_delay.as_millis())
        } else {
            format!("after {kill_after} acknowledged writes")
        };
        println!("{name}: killed {moment}; verified");
    }
    let _ = server.kill();
    let _ = server.wait();
    let l = ledger.lock().expect("ledger");
    println!(
        "{backend}: {rounds} kill -9 rounds held; {acked_total} admin writes acknowledged, \
         {} packages, {} grants, {} plans, {} products, {} imports ({} acknowledged), {} keys added",
        l.packages.len(),
        l.grants.len(),
        l.plans.len(),
        l.products.len(),
        l.imports.len(),
        l.imports.iter().filter(|(_, a)| *a).count(),
        l.added.len()
    );
}

fn rounds_and_seed() -> (u32, u64) {
    let rounds = std::env::var("SEES_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seed = std::env::var("SEES_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("SEES_CRASH_ROUNDS={rounds} SEES_CRASH_SEED={seed}");
    (rounds, seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_kill_9_mid_burst() {
    let (rounds, seed) = rounds_and_seed();
    crash_rounds("sqlite", None, rounds, seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_kill_9_mid_burst() {
    let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") else {
        println!("PostgreSQL: skipped (SEES_TEST_DATABASE_URL not set)");
        return;
    };
    let (rounds, seed) = rounds_and_seed();
    let url = sees::store::fresh_postgres_database(&server)
        .await
        .expect("PostgreSQL test database");
    crash_rounds("postgres", Some(url), rounds, seed).await;
}
