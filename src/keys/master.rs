//! The master key: 32 bytes that seal every content key at rest with AES-256-GCM (aws-lc-rs).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use base64::Engine;
use zeroize::Zeroizing;

/// Environment variable holding the base64 master key; it takes precedence over the key file.
pub const MASTER_KEY_ENV: &str = "SEES_MASTER_KEY";

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The key-encryption key, and a lookup-hash key derived from it. `Debug` prints `[redacted]`.
pub struct MasterKey {
    key: LessSafeKey,
    lookup: hmac::Key,
}

/// A master key that cannot be loaded or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("no master key: set {MASTER_KEY_ENV} or create {path} (`sees keys gen-master-key --out {path}`)")]
    Missing { path: PathBuf },
    #[error("cannot read the master key file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the master key from {origin} is not the base64 of exactly 32 bytes")]
    Malformed { origin: String },
    #[error("{path} exists; refusing to overwrite a master key")]
    WouldOverwrite { path: PathBuf },
    #[error("cannot write the master key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the random number generator failed")]
    Random,
}

/// A sealed value that does not open: wrong master key, wrong associated data, or damaged bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed value does not open with this master key")]
pub struct OpenError;

impl MasterKey {
    /// From raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key is valid for AES-256");
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"sees:lookup-hash-key:v1",
        );
        Self {
            key: LessSafeKey::new(unbound),
            lookup: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// From the base64 text form; `origin` names where it came from, for the error message.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, MasterKeyError> {
        let malformed = || MasterKeyError::Malformed {
            origin: origin.to_owned(),
        };
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| malformed())?,
        );
        let bytes: &[u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| malformed())?;
        Ok(Self::from_bytes(bytes))
    }

    /// The environment value when given, otherwise the file at `path`.
    pub fn load(env_value: Option<&str>, path: &Path) -> Result<Self, MasterKeyError> {
        if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
            return Self::from_base64(value, MASTER_KEY_ENV);
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MasterKeyError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(MasterKeyError::Unreadable {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::from_base64(&text, &path.display().to_string())
    }

    /// Writes a new random master key to `path` (mode 0600, parent directories created); refuses to
    /// replace an existing file.
    pub fn generate_file(path: &Path) -> Result<(), MasterKeyError> {
        let write_err = |source| MasterKeyError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(&mut *bytes).map_err(|_| MasterKeyError::Random)?;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*bytes));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                MasterKeyError::WouldOverwrite {
                    path: path.to_owned(),
                }
            } else {
                write_err(e)
            }
        })?;
        file.write_all(format!("{}\n", *text).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_err)
    }

    /// A keyed hash (HMAC-SHA256 under a key derived from the master key, lowercase hex) for storing
    /// lookups by a secret-ish value, such as a customer cookie, without storing the value.
    pub fn lookup_hash(&self, domain: &str, value: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.lookup);
        context.update(domain.as_bytes());
        context.update(&[0]);
        context.update(value);
        hex::encode(context.sign().as_ref())
    }

    /// `nonce || ciphertext || tag` of `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random generator works");
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .expect("AES-GCM sealing of a short buffer cannot fail");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// The plaintext of a `seal` output made with this key and the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| OpenError)?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"content-a", b"sixteen byte msg");
        assert_eq!(
            &*key.open(b"content-a", &sealed).unwrap(),
            b"sixteen byte msg"
        );
        assert_eq!(key.open(b"content-b", &sealed), Err(OpenError));
        assert_eq!(
            MasterKey::from_bytes(&[8; 32]).open(b"content-a", &sealed),
            Err(OpenError)
        );
        let mut damaged = sealed.clone();
        damaged[NONCE_LEN] ^= 1;
        assert_eq!(key.open(b"content-a", &damaged), Err(OpenError));
        assert_eq!(key.open(b"content-a", &sealed[..10]), Err(OpenError));
        assert_ne!(
            key.seal(b"a", b"same"),
            key.seal(b"a", b"same"),
            "nonces must differ"
        );
    }

    #[test]
    fn lookup_hashes_are_keyed_and_domain_separated() {
        let a = MasterKey::from_bytes(&[1; 32]);
        let b = MasterKey::from_bytes(&[2; 32]);
        assert_eq!(a.lookup_hash("cookie", b"x"), a.lookup_hash("cookie", b"x"));
        assert_ne!(a.lookup_hash("cookie", b"x"), b.lookup_hash("cookie", b"x"));
        assert_ne!(a.lookup_hash("cookie", b"x"), a.lookup_hash("other", b"x"));
        assert_eq!(a.lookup_hash("cookie", b"x").len(), 64);
    }

    #[test]
    fn loads_from_env_before_file_and_explains_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        assert!(matches!(
            MasterKey::load(None, &path),
            Err(MasterKeyError::Missing { .. })
        ));
        MasterKey::generate_file(&path).unwrap();
        assert!(MasterKey::load(None, &path).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            MasterKey::generate_file(&path),
            Err(MasterKeyError::WouldOverwrite { .. })
        ));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        let err = MasterKey::load(Some(&short), &path).unwrap_err();
        assert!(err.to_string().contains(MASTER_KEY_ENV), "{err}");
        assert!(!err.to_string().contains(&short));
        let good = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(MasterKey::load(Some(&good), Path::new("/nonexistent")).is_ok());
        assert_eq!(
            format!("{:?}", MasterKey::from_bytes(&[1; 32])),
            "MasterKey([redacted])"
        );
    }
}
