//! The SPEKE and CPIX commands of the `sees` binary: packager credentials shown once, listed without
//! their secrets and revocable; CPIX key files imported under the `[speke]` contentID templates and
//! exported again, never to a terminal, never with key material in a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sees::cpix::{parse_key_document, write_key_document, Kid};
use sees::keys::ContentKey;

use crate::harness::sees_binary;

const KID_A: &str = "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9";
const KID_B: &str = "1b2c3d4e-5f60-4172-8394-b5c6d7e8f90a";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A config on a fresh SQLite file and master key in `dir`.
fn setup(dir: &Path) -> PathBuf {
    let config = dir.join("sees.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{d}/sees.db\"\n[keys]\nmaster_key_file = \"{d}/master.key\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    sees::keys::MasterKey::generate_file(&dir.join("master.key")).unwrap();
    config
}

fn run(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(sees_binary())
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEES_MASTER_KEY")
        .env_remove("RUST_LOG")
        .output()
        .expect("running sees")
}

#[test]
fn credentials_are_shown_once_listed_without_secrets_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let created = run(
        dir.path(),
        &config,
        &["speke", "credentials", "create", "--name", "mediapackage"],
    );
    assert!(created.status.success(), "{}", text(&created));
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(
        secret.starts_with("speke_") && secret.len() > 40,
        "{secret}"
    );
    let again = run(
        dir.path(),
        &config,
        &["speke", "credentials", "create", "--name", "mediapackage"],
    );
    assert!(!again.status.success() && text(&again).contains("exists"));
    let listed = run(dir.path(), &config, &["speke", "credentials", "list"]);
    let listing = text(&listed);
    assert!(
        listing.contains("mediapackage") && listing.contains("1 credentials"),
        "{listing}"
    );
    assert!(
        !listing.contains(&secret[6..]),
        "the secret is never listed"
    );
    let revoked = run(
        dir.path(),
        &config,
        &["speke", "credentials", "revoke", "mediapackage"],
    );
    assert!(revoked.status.success(), "{}", text(&revoked));
    let twice = run(
        dir.path(),
        &config,
        &["speke", "credentials", "revoke", "mediapackage"],
    );
    assert!(!twice.status.success() && text(&twice).contains("no SPEKE credential"));
}

#[test]
fn cpix_files_are_imported_and_exported_without_printing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let keys = [
        (
            Kid::parse(KID_A).unwrap(),
            ContentKey::new([0x5a; 16], [0xa5; 16]),
        ),
        (
            Kid::parse(KID_B).unwrap(),
            ContentKey::new([0x3c; 16], [0xc3; 16]),
        ),
    ];
    let borrowed: Vec<(Kid, &ContentKey)> = keys.iter().map(|(k, c)| (*k, c)).collect();
    let file = dir.path().join("movie.xml");
    std::fs::write(&file, write_key_document("movie-9", &borrowed)).unwrap();

    let imported = run(
        dir.path(),
        &config,
        &["keys", "import", file.to_str().unwrap()],
    );
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(text(&imported).contains("imported 2 keys"));
    let listing = text(&run(dir.path(), &config, &["keys", "list"]));
    for kid in [KID_A, KID_B] {
        // Several keys: each under the multi-key template, {content_id}:{kid}.
        assert!(
            listing.contains(&format!("movie-9:{}", kid.replace('-', ""))),
            "{listing}"
        );
    }

    // Exported to a pipe: the same KIDs, keys and IVs.
    let exported = run(
        dir.path(),
        &config,
        &[
            "keys",
            "export",
            "--format",
            "cpix",
            "--content-id",
            "movie-9",
        ],
    );
    assert!(exported.status.success(), "{}", text(&exported));
    let (content_id, back) = parse_key_document(&exported.stdout).unwrap();
    assert_eq!(content_id, "movie-9");
    assert_eq!(back.len(), 2);
    for (kid, key) in &keys {
        let found = back
            .iter()
            .find(|k| k.kid == *kid)
            .expect("every KID exported");
        assert_eq!(&found.key, key);
    }
    // To a file: created with mode 0600, never overwritten.
    let out = dir.path().join("export.xml");
    let args = [
        "keys",
        "export",
        "--content-id",
        "movie-9",
        "--out",
        out.to_str().unwrap(),
    ];
    assert!(run(dir.path(), &config, &args).status.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(!run(dir.path(), &config, &args).status.success());
    // To a terminal: refused (script(1) gives the command a pseudo-terminal).
    let command = format!(
        "{} --config {} keys export --content-id movie-9",
        sees_binary().display(),
        config.display()
    );
    let on_terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!on_terminal.status.success(), "{}", text(&on_terminal));
    assert!(text(&on_terminal).contains("refusing to write plain content keys to a terminal"));

    // An encrypted document is refused with a clear message; nothing is stored from it.
    let encrypted = dir.path().join("encrypted.cpix");
    std::fs::write(
        &encrypted,
        format!(
            "<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\" xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\" \
             contentId=\"enc-1\"><cpix:ContentKeyList><cpix:ContentKey kid=\"{KID_A}\" explicitIV=\"AAAAAAAAAAAAAAAAAAAAAA==\">\
             <cpix:Data><pskc:Secret><pskc:EncryptedValue/></pskc:Secret></cpix:Data></cpix:ContentKey>\
             </cpix:ContentKeyList></cpix:CPIX>"
        ),
    )
    .unwrap();
    let refused = run(
        dir.path(),
        &config,
        &["keys", "import", encrypted.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("encrypted CPIX documents are not supported yet"),
        "{}",
        text(&refused)
    );
    let listing = text(&run(dir.path(), &config, &["keys", "list"]));
    assert!(listing.contains("2 keys"), "{listing}");

    for output in [&imported, &refused] {
        let shown = text(output).to_lowercase();
        assert!(
            !shown.contains(&"5a".repeat(16)) && !shown.contains(&"a5".repeat(16)),
            "{shown}"
        );
    }
}

#[test]
fn check_config_names_the_speke_settings_that_are_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let mut text_config = std::fs::read_to_string(&config).unwrap();
    text_config.push_str(&format!(
        "[speke]\nlisten = \"127.0.0.1:0\"\nauth = \"either\"\nclient_ca = \"{}/missing-ca.pem\"\n",
        dir.path().display()
    ));
    std::fs::write(&config, text_config).unwrap();
    let checked = run(dir.path(), &config, &["check-config"]);
    assert!(!checked.status.success());
    assert!(
        text(&checked).contains("problem: speke.client_ca"),
        "{}",
        text(&checked)
    );

    std::fs::write(
        &config,
        "[speke]\nauth = \"certificate\"\nmulti_key_content_id_template = \"{content_id}\"\n",
    )
    .unwrap();
    let invalid = text(&run(dir.path(), &config, &["check-config"]));
    assert!(invalid.contains("set speke.client_ca"), "{invalid}");
    assert!(invalid.contains("must name the KID"), "{invalid}");
}
