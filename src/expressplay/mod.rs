//! The ExpressPlay link: the client for FairPlay, Widevine and PlayReady tokens and record retrieval,
//! its guards (budget, retries, circuit breakers, in-flight cap), the reading of its answers, and
//! `sim`, a local simulator of the documented services for tests and the quick start.
//!
//! Never logs or returns the `customerAuthenticator` or key material.

mod client;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod records;
pub mod settings;
pub mod sim;
mod upstream_error;

/// Token lifetimes are a content key's policy, kept by `keys`; named here too because they are
/// ExpressPlay's `expirationTime` forms.
pub use crate::keys::{LifetimeExpired, LifetimeParseError, TokenLifetime, MAX_LIFETIME_SECS};
pub use client::{
    ClientSetupError, DeviceLookupError, ExpressPlayClient, PlayReadyOpls, PlayReadyTokenRequest,
    TokenRequest, WidevineTokenRequest,
};
pub use guard::{BreakerState, Budget, CircuitBreaker};
pub use records::{devices_for_cookie, DeviceLookup, RecordError};
pub use settings::{ExpressPlaySettings, RecordFields, UpstreamMethod};
pub use upstream_error::UpstreamError;
