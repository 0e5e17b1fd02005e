//! Secrets shown once and stored only as a digest — the admin API's bearer tokens and packagers' SPEKE
//! credentials: 256 random bits behind a recognisable prefix (so a leaked one is easy to find), kept
//! as a SHA-256 (a plain hash of that much randomness cannot be reversed), under a name an operator
//! chooses.

use base64::Engine;
use secrecy::SecretString;

/// A new secret: `prefix` and 256 random bits in URL-safe base64. The only copy.
pub fn new_secret(prefix: &str) -> SecretString {
    let mut random = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut *random).expect("the system random generator works");
    SecretString::from(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*random)
    ))
}

/// What is stored of `secret`: its SHA-256 in hex.
pub fn digest(secret: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Whether `name` is an acceptable credential name: 1-64 letters, digits, '.', '_' and '-'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_are_random_prefixed_and_stored_as_digests() {
        let (a, b) = (new_secret("x_"), new_secret("x_"));
        assert!(a.expose_secret().starts_with("x_") && a.expose_secret().len() == 45);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(digest(a.expose_secret()).len(), 64);
        assert!(!digest(a.expose_secret()).contains(&a.expose_secret()[2..]));
        assert!(valid_name("media-package_1.a") && !valid_name("") && !valid_name("a:b"));
        assert!(!valid_name(&"n".repeat(65)));
    }
}
