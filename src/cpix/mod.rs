//! DASH-IF CPIX documents as SPEKE v2 uses them: parsing and validating a packager's key request,
//! writing the answer (keys, IVs and DRM signalling), and reading/writing plain CPIX key files for the
//! CLI. Pure: no I/O, no HTTP, no store. The HTTP layer turns [`CpixError::status`] into the reply.
//!
//! # Reading XML safely
//! Documents are parsed with `roxmltree` with DTDs refused (a `DOCTYPE`, and so every entity and
//! external reference, is an error before anything is expanded), at most [`MAX_NODES`] nodes and at
//! most [`MAX_DEPTH`] levels of element nesting. Elements and attributes are matched on namespace URI
//! and local name, never on prefixes. Such failures, text that is not UTF-8, and a root element other
//! than `cpix:CPIX` are [`CpixError::Malformed`] (400).
//!
//! # Request rules (SPEKE v2.0 / v2.1) — everything below is [`CpixError::Rejected`] (422)
//! - `CPIX@contentId` non-empty; `CPIX@version` is `2.3` (SPEKE v2.0) or `2.4` (SPEKE v2.1, which
//!   AWS documents as "CPIX@version 2.4"). It is not paired with `X-Speke-Version`: either document
//!   version is answered under either SPEKE version, unchanged.
//! - `ContentKeyList`, `DRMSystemList` and `ContentKeyUsageRuleList` are required (SPEKE v2 calls
//!   all three mandatory), each with at least one entry; `ContentKeyPeriodList` is optional.
//! - `ContentKey`: `kid` a hyphenated UUID, unique; `commonEncryptionScheme` required and one of
//!   `cenc`, `cbc1`, `cens`, `cbcs`, the same for every key ("Non compliant
//!   ContentKey@commonEncryptionScheme combination" otherwise). An `explicitIV` the packager sends is
//!   checked (base64 of 16 bytes) and kept in [`RequestedKey::explicit_iv`]: a new key is made with
//!   it; the answer carries the IV sees holds for the key.
//!   A `cpix:Data` child (a key value in the request) is refused: in SPEKE the key provider supplies
//!   the keys.
//! - `DRMSystem`: `kid` must be in the key list, `systemId` must be FairPlay, Widevine or PlayReady
//!   (case-insensitive), one entry per (kid, system). Requested children are empty `PSSH`,
//!   `ContentProtectionData`, `HLSSignalingData playlist="media"|"master"` and
//!   `SmoothStreamingProtectionHeaderData` (PlayReady only). `URIExtXKey` (SPEKE v1) and any other
//!   child are refused. FairPlay has no PSSH or DASH signalling: a FairPlay `PSSH` or
//!   `ContentProtectionData` request is accepted and left out of the answer, which is what AWS's
//!   SPEKE v2 verification suite sends and expects. FairPlay needs a CBC scheme (`cbcs`/`cbc1`),
//!   PlayReady `cenc` or `cbcs`.
//! - `ContentKeyUsageRule`: `kid` in the key list, `intendedTrackType` present, at least one
//!   `VideoFilter` or `AudioFilter` child. A `KeyPeriodFilter@periodId` must name a listed period
//!   when the document has a `ContentKeyPeriodList` (without one it is not cross-checked: AWS's own
//!   v1-style sample names a period it does not list). Within a key period each `intendedTrackType`
//!   appears once, and an `ALL` rule is the only rule, with attribute-less video and audio filters
//!   (the SPEKE v2 encryption contract).
//! - `DeliveryDataList` (encrypted key delivery) and `ds:Signature` are refused;
//!   `UpdateHistoryItemList` is ignored (SPEKE omits it); any other top-level element is refused.
//! - Base64 that does not decode (anywhere it is read) is 422: the document is readable CPIX, one
//!   value breaks a rule.
//!
//! Error texts are the SPEKE error description returned to the packager: they may name a KID,
//! element or attribute, never carry key material, and quote at most a short, escaped piece of input.

mod document;
mod model;
mod request;
mod response;
mod signalling;
mod xml;

#[cfg(test)]
mod tests;

pub use document::{parse_key_document, write_key_document};
pub use model::{
    CpixRequest, DocumentKey, DrmSystem, DrmSystemRequest, EncryptionScheme, KeyAnswer, Kid,
    KidError, RequestedKey, SignallingSettings,
};
pub use request::parse_speke_request;
pub use response::{write_speke_response, MAX_LA_URL_BYTES};
pub use signalling::{playready_kid_bytes, playready_object, pssh_box, widevine_pssh_data};

/// The CPIX namespace.
pub const NS_CPIX: &str = "urn:dashif:org:cpix";
/// The PSKC namespace (key values).
pub const NS_PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
/// XML Encryption.
pub const NS_XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Signature.
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// MPEG Common Encryption (`cenc:pssh` in DASH manifests).
pub const NS_CENC: &str = "urn:mpeg:cenc:2013";
/// PlayReady (`mspr:pro` in DASH manifests).
pub const NS_MSPR: &str = "urn:microsoft:playready";

/// The CPIX versions accepted in a SPEKE request: 2.3 (SPEKE v2.0) and 2.4 (SPEKE v2.1).
pub const SUPPORTED_VERSIONS: &[&str] = &["2.3", "2.4"];
/// The most nodes (elements, text, comments) a document may have.
pub const MAX_NODES: u32 = 50_000;
/// The deepest element nesting accepted (the root element is level 1).
pub const MAX_DEPTH: usize = 32;

/// Why a CPIX document was refused. The text is the description sent back to the packager.
#[derive(Debug, thiserror::Error)]
pub enum CpixError {
    /// Not UTF-8 XML, a DTD, over the size or depth limits, or not a CPIX document (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// A CPIX document that breaks a SPEKE v2 rule (HTTP 422). Also returned by the writers when
    /// the caller's answers cannot be written (a missing answer, an unusable URL): those are server
    /// faults, which the HTTP layer may prefer to log and answer with 500.
    #[error("{0}")]
    Rejected(String),
}

impl CpixError {
    /// The HTTP status SPEKE expects for this error: 400 or 422.
    pub fn status(&self) -> u16 {
        match self {
            CpixError::Malformed(_) => 400,
            CpixError::Rejected(_) => 422,
        }
    }
}

pub(crate) fn rejected(text: impl Into<String>) -> CpixError {
    CpixError::Rejected(text.into())
}
