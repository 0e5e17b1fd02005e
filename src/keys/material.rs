//! The content encryption key and IV of one piece of content.

use std::fmt;

use zeroize::Zeroizing;

/// 16-byte CEK and 16-byte IV, zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey {
    cek: Zeroizing<[u8; 16]>,
    iv: Zeroizing<[u8; 16]>,
}

/// Key material in the wrong shape. Never carries the material itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    #[error("key must be 32 hex digits (16 bytes)")]
    Key,
    #[error("iv must be 32 hex digits (16 bytes)")]
    Iv,
    #[error("sealed key record has the wrong length")]
    Length,
}

impl ContentKey {
    /// A key from raw bytes.
    pub fn new(cek: [u8; 16], iv: [u8; 16]) -> Self {
        Self {
            cek: Zeroizing::new(cek),
            iv: Zeroizing::new(iv),
        }
    }

    /// A fresh random key and IV (demo content, tests).
    pub fn generate() -> Self {
        let mut plain = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut *plain).expect("the system random generator works");
        Self::from_plaintext(&*plain).expect("32 bytes split into key and IV")
    }

    /// The same key with another IV.
    pub fn with_iv(mut self, iv: [u8; 16]) -> Self {
        self.iv = Zeroizing::new(iv);
        self
    }

    /// A key from the hex forms used on the wire and in import files.
    pub fn from_hex(cek: &str, iv: &str) -> Result<Self, KeyMaterialError> {
        Ok(Self::new(
            decode16(cek).ok_or(KeyMaterialError::Key)?,
            decode16(iv).ok_or(KeyMaterialError::Iv)?,
        ))
    }

    /// CEK as 32 lowercase hex digits, for the ExpressPlay request only.
    pub fn cek_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.cek))
    }

    /// IV as 32 lowercase hex digits, for the ExpressPlay request only.
    pub fn iv_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.iv))
    }

    /// `cek || iv`, the plaintext that is sealed at rest.
    pub(crate) fn to_plaintext(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out[..16].copy_from_slice(&*self.cek);
        out[16..].copy_from_slice(&*self.iv);
        out
    }

    /// The inverse of `to_plaintext`.
    pub(crate) fn from_plaintext(plain: &[u8]) -> Result<Self, KeyMaterialError> {
        if plain.len() != 32 {
            return Err(KeyMaterialError::Length);
        }
        let mut cek = [0u8; 16];
        let mut iv = [0u8; 16];
        cek.copy_from_slice(&plain[..16]);
        iv.copy_from_slice(&plain[16..]);
        let key = Self::new(cek, iv);
        zeroize::Zeroize::zeroize(&mut cek);
        zeroize::Zeroize::zeroize(&mut iv);
        Ok(key)
    }
}

fn decode16(raw: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(raw.trim(), &mut out).ok()?;
    Some(out)
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEK: &str = "000102030405060708090a0b0c0d0e0f";
    const IV: &str = "F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF";

    #[test]
    fn hex_round_trip_and_plaintext_layout() {
        let key = ContentKey::from_hex(CEK, IV).unwrap();
        assert_eq!(*key.cek_hex(), CEK);
        assert_eq!(*key.iv_hex(), IV.to_lowercase());
        let plain = key.to_plaintext();
        assert_eq!(ContentKey::from_plaintext(&*plain).unwrap(), key);
    }

    #[test]
    fn wrong_shapes_are_refused_without_echo() {
        assert_eq!(ContentKey::from_hex("abcd", IV), Err(KeyMaterialError::Key));
        assert_eq!(
            ContentKey::from_hex(CEK, &format!("{IV}00")),
            Err(KeyMaterialError::Iv)
        );
        assert_eq!(
            ContentKey::from_hex(&CEK.replace('0', "g"), IV),
            Err(KeyMaterialError::Key)
        );
        assert!(!KeyMaterialError::Key.to_string().contains(CEK));
        assert_eq!(
            ContentKey::from_plaintext(&[0; 31]),
            Err(KeyMaterialError::Length)
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = ContentKey::from_hex(CEK, IV).unwrap();
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("0001020304") && !shown.contains("f0f1"),
            "{shown}"
        );
    }
}
