//! The `sees` binary as operators use it: certificates, keys, configuration checks, start-up failures,
//! the quick start, and what its logs never contain.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{process::SeesProcess, sees_binary};

const KEY: &str = "8c3f2a91d04b6e7f1a2b3c4d5e6f7081";
const IV: &str = "f1e2d3c4b5a697887766554433221100";

fn sees(dir: &Path, args: &[&str]) -> Output {
    Command::new(sees_binary())
        .current_dir(dir)
        .args(args)
        .env_remove("SEES_MASTER_KEY")
        .env_remove("RUST_LOG")
        .output()
        .expect("running sees")
}

/// Asserts that `output` is a failure whose messages mention `needle`.
fn fails_with(output: &Output, needle: &str) {
    assert!(!output.status.success(), "succeeded: {}", text(output));
    assert!(
        text(output).contains(needle),
        "{needle:?} not in: {}",
        text(output)
    );
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn certs_dev_writes_a_pki_with_private_keys_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let first = sees(
        dir.path(),
        &[
            "certs",
            "dev",
            "--out",
            out.to_str().unwrap(),
            "--host",
            "sees.internal",
        ],
    );
    assert!(first.status.success(), "{}", text(&first));
    for name in [
        "ca.pem",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&out.join("server.key")), 0o600);
        assert_eq!(mode(&out.join("client.key")), 0o600);
    }
    let before = std::fs::read(out.join("server.key")).unwrap();
    let again = sees(
        dir.path(),
        &["certs", "dev", "--out", out.to_str().unwrap()],
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(
        std::fs::read(out.join("server.key")).unwrap(),
        before,
        "nothing overwritten"
    );
    let forced = sees(
        dir.path(),
        &["certs", "dev", "--out", out.to_str().unwrap(), "--force"],
    );
    assert!(forced.status.success(), "{}", text(&forced));
    assert_ne!(std::fs::read(out.join("server.key")).unwrap(), before);
}

/// A configuration file in `dir` using its own store and master key.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("sees.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{dir}/sees.db\"\n[keys]\nmaster_key_file = \"{dir}/master.key\"\n{extra}",
            dir = dir.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn keys_add_import_list_delete_without_ever_printing_material() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        sees(dir.path(), &all)
    };

    let missing = run(&["keys", "list"]);
    fails_with(&missing, "no master key");

    let master = dir.path().join("master.key");
    assert!(
        run(&["keys", "gen-master-key", "--out", master.to_str().unwrap()])
            .status
            .success()
    );
    let added = run(&[
        "keys",
        "add",
        "--content-id",
        "movie-1",
        "--key",
        KEY,
        "--iv",
        IV,
        "--token-lifetime",
        "+120",
    ]);
    assert!(added.status.success(), "{}", text(&added));
    let duplicate = run(&[
        "keys",
        "add",
        "--content-id",
        "movie-1",
        "--key",
        KEY,
        "--iv",
        IV,
    ]);
    fails_with(&duplicate, "--replace");
    let bad_hex = run(&[
        "keys",
        "add",
        "--content-id",
        "movie-2",
        "--key",
        "abc",
        "--iv",
        IV,
    ]);
    fails_with(&bad_hex, "32 hex");

    let csv = dir.path().join("keys.csv");
    std::fs::write(
        &csv,
        format!(
            "content_id,key,iv\nmovie-2,{KEY},{IV}\nmovie-3,{},{IV}\n",
            &KEY[..31]
        ),
    )
    .unwrap();
    let rejected = run(&["keys", "import", csv.to_str().unwrap()]);
    assert!(!rejected.status.success());
    assert!(text(&rejected).contains("line 3"), "{}", text(&rejected));

    let jsonl = dir.path().join("keys.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{}\n{}\n",
            json!({"content_id": "movie-2", "key": KEY, "iv": IV}),
            json!({"content_id": "movie-3", "key": KEY, "iv": IV, "rental_duration_s": 3600})
        ),
    )
    .unwrap();
    let imported = run(&["keys", "import", jsonl.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(text(&imported).contains("imported 2 keys"));

    let listed = run(&["keys", "list"]);
    let listing = text(&listed);
    assert!(listed.status.success(), "{listing}");
    for id in ["movie-1", "movie-2", "movie-3"] {
        assert!(listing.contains(id), "{listing}");
    }
    assert!(
        listing.contains("+120") && listing.contains("3600") && listing.contains("3 keys"),
        "{listing}"
    );
    for output in [&added, &imported, &listed, &rejected, &bad_hex] {
        let shown = text(output).to_lowercase();
        assert!(
            !shown.contains(KEY) && !shown.contains(IV) && !shown.contains(&KEY[..31]),
            "{shown}"
        );
    }

    assert!(run(&["keys", "delete", "--content-id", "movie-2"])
        .status
        .success());
    let gone = run(&["keys", "delete", "--content-id", "movie-2"]);
    fails_with(&gone, "no key stored");

    std::fs::remove_file(&master).unwrap();
    assert!(
        run(&["keys", "gen-master-key", "--out", master.to_str().unwrap()])
            .status
            .success()
    );
    let wrong = run(&["keys", "list"]);
    fails_with(&wrong, "master key does not open");
}

#[test]
fn check_config_explains_problems_and_serve_needs_an_authenticator() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nmax_body_bytes = 1\npaths = []\n[expressplay]\ntoken_lifetime = \"+99999999\"\n",
    )
    .unwrap();
    let checked = sees(
        dir.path(),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    fails_with(&checked, "token lifetime");

    let bad = dir.path().join("bad2.toml");
    std::fs::write(&bad, "[server]\nmax_body_bytes = 1\npaths = []\n").unwrap();
    let checked = sees(
        dir.path(),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    let shown = text(&checked);
    assert!(!checked.status.success());
    assert!(
        shown.contains("server.paths") && shown.contains("server.max_body_bytes"),
        "{shown}"
    );

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sees.example.toml");
    let missing = sees(
        dir.path(),
        &["--config", example.to_str().unwrap(), "check-config"],
    );
    fails_with(&missing, "problem: tls.cert: cannot read certs/server.pem");
    fails_with(&missing, "problem: store: ");
    // The example's relative paths, filled: certificates and a master key.
    assert!(sees(dir.path(), &["certs", "dev", "--out", "certs"])
        .status
        .success());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    assert!(sees(
        dir.path(),
        &["keys", "gen-master-key", "--out", "data/master.key"]
    )
    .status
    .success());
    let fine = sees(
        dir.path(),
        &["--config", example.to_str().unwrap(), "check-config"],
    );
    assert!(fine.status.success(), "{}", text(&fine));

    let config = write_config(dir.path(), "");
    let refused = sees(dir.path(), &["--config", config.to_str().unwrap(), "serve"]);
    fails_with(&refused, "customer_authenticator");
}

#[test]
fn the_quick_start_answers_the_printed_curl_command() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SEES__SERVER__LISTEN", "127.0.0.1:0"),
        ("SEES__ADMIN__LISTEN", "127.0.0.1:0"),
        ("SEES__OPS__LISTEN", "127.0.0.1:0"),
    ];
    let mut served = SeesProcess::start(dir.path(), &["serve", "--dev"], &env);
    served.addr("SEES listener ready");
    let started = Instant::now();
    let command = loop {
        let stdout = served.stdout();
        if let Some(start) = stdout.find("curl ") {
            // The command runs to the first blank line.
            let command = stdout[start..]
                .split("\n\n")
                .next()
                .unwrap_or_default()
                .trim();
            if command.contains("https://") && command.ends_with("entitlement") {
                break command.to_owned();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no curl command printed:\n{stdout}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let answer = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir.path())
        .output()
        .expect("curl is installed");
    let body: Value = serde_json::from_slice(&answer.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{command}\n{}", text(&answer), served.log()));
    assert_eq!(body["isAllowed"], true, "{body}");
    assert!(body["epTokenURL"]
        .as_str()
        .unwrap()
        .contains("ExpressPlayToken="));
    let log = served.log();
    assert!(
        log.contains("SIMULATOR"),
        "the simulator is announced loudly:\n{log}"
    );
    let clean_exit = served.terminate();
    assert!(clean_exit, "{}", served.log());

    for file in [
        "certs/ca.pem",
        "certs/server.pem",
        "certs/client.key",
        "data/master.key",
        "data/sees.db",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} was not created");
    }
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("data/master.key")), 0o600);

    // A second start reuses everything it made the first time.
    let mut again = SeesProcess::start(dir.path(), &["serve", "--dev"], &env);
    again.addr("SEES listener ready");
    let clean_exit = again.terminate();
    let log = again.log();
    assert!(clean_exit, "{log}");
    assert!(!log.contains("created"), "nothing is recreated:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_list_and_forget_work_on_the_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let config = config.to_str().unwrap().to_owned();
    let master = dir.path().join("master.key");
    sees::keys::MasterKey::generate_file(&master).unwrap();

    let settings =
        sees::config::Settings::load_with_env(Some(std::path::Path::new(&config)), false, vec![])
            .unwrap();
    let stores = sees::app::open_stores(&settings).await.unwrap();
    let cookie = sees::ids::CustomerCookie::parse("viewer-cookie").unwrap();
    let device = sees::ids::DeviceId::parse("DEVICE-A").unwrap();
    stores
        .devices
        .remember_device(&cookie, &device, chrono::Utc::now())
        .await
        .unwrap();
    stores.store.close().await;

    let listed = sees(dir.path(), &["--config", &config, "devices", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        text(&listed).contains("DEVICE-A") && text(&listed).contains("1 bindings"),
        "{}",
        text(&listed)
    );
    assert!(
        !text(&listed).contains("viewer-cookie"),
        "the cookie is never shown"
    );

    let forgot = sees(
        dir.path(),
        &[
            "--config",
            &config,
            "devices",
            "forget",
            "--cookie",
            "viewer-cookie",
        ],
    );
    assert!(forgot.status.success(), "{}", text(&forgot));
    let again = sees(
        dir.path(),
        &[
            "--config",
            &config,
            "devices",
            "forget",
            "--cookie",
            "viewer-cookie",
        ],
    );
    fails_with(&again, "nothing is known");
    let listed = sees(dir.path(), &["--config", &config, "devices", "list"]);
    assert!(text(&listed).contains("0 bindings"), "{}", text(&listed));
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_printed_once_listed_without_secrets_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let config = config.to_str().unwrap().to_owned();
    sees::keys::MasterKey::generate_file(&dir.path().join("master.key")).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        sees(dir.path(), &all)
    };

    let created = run(&[
        "tokens", "create", "--role", "support", "--name", "helpdesk",
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(token.starts_with("sees_") && token.len() > 40, "{token}");
    fails_with(
        &run(&["tokens", "create", "--role", "admin", "--name", "helpdesk"]),
        "exists",
    );
    fails_with(
        &run(&["tokens", "create", "--role", "root", "--name", "x"]),
        "invalid value",
    );

    let listed = run(&["tokens", "list"]);
    assert!(
        text(&listed).contains("helpdesk") && text(&listed).contains("support"),
        "{}",
        text(&listed)
    );
    assert!(
        !text(&listed).contains(&token[5..]),
        "the token is never listed"
    );

    let settings =
        sees::config::Settings::load_with_env(Some(Path::new(&config)), false, vec![]).unwrap();
    let tokens =
        sees::admin::tokens::ApiTokens::new(sees::app::open_stores(&settings).await.unwrap().store);
    assert!(tokens.authenticate(&token).await.unwrap().is_some());
    assert!(run(&["tokens", "revoke", "helpdesk"]).status.success());
    assert!(tokens.authenticate(&token).await.unwrap().is_none());
    fails_with(&run(&["tokens", "revoke", "helpdesk"]), "no token");
}
