//! sees — a SEES entitlement server.
//!
//! A DRM license server POSTs an Entitlement Request over mutually authenticated TLS; sees checks it,
//! looks up the content key for the `contentID`, asks ExpressPlay for a FairPlay token and answers with the
//! token URL. See `ARCHITECTURE` in the README for the flow and the module map.

pub mod admin;
pub mod akamai;
pub mod app;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cpix;
pub mod decision;
pub mod dev;
pub mod devices;
pub mod drm;
pub mod expressplay;
pub mod ids;
pub mod keys;
pub mod net;
pub mod ops;
pub mod playback;
pub mod sees;
pub mod settings_format;
pub mod speke;
pub mod store;
pub mod telemetry;
pub mod tls;

#[cfg(test)]
mod dependency_rules;
