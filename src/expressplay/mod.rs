//! The ExpressPlay link: the FairPlay token client, its upstream error mapping, and `sim`, a local
//! simulator of the documented service for tests and the quick start.
//!
//! Never logs or returns the `customerAuthenticator` or key material.

mod client;
mod lifetime;
pub mod sim;
mod upstream_error;

pub use client::{TokenRequest, TokenService, TokenServiceError};
pub use lifetime::{LifetimeExpired, LifetimeParseError, TokenLifetime, MAX_LIFETIME_SECS};
pub use upstream_error::UpstreamError;
