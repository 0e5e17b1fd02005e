//! The one end-to-end harness: servers (in process, and the real binary as a child process), their
//! stores, TLS clients, the admin world every admin area shares, the test identity provider, clocks
//! and a seeded generator. Everything here is per test (fresh directories, databases and port-0
//! listeners); nothing may hold process-wide state, because every area runs in this one process.

mod admin;
mod clock;
mod end_user;
pub mod process;
mod rng;
mod server;
mod stores;
mod tls;

pub(crate) use admin::admin_area;
pub use admin::{assert_envelope, assert_error, AdminWorld};
pub use clock::t0;
pub use end_user::{
    end_user_issuer, end_user_issuer_for, end_user_jwt, end_user_jwt_for, END_USER_ISSUER,
};
pub use rng::Rng;
pub use server::{
    admin_request, post_json, replace_file, request, sees_binary, spawn, spawn_at, spawn_custom,
    spawn_with, spawn_with_pki, spawn_with_tls, start_simulator, test_settings, TestServer,
    AUTHENTICATOR,
};
pub use stores::{backend_stores, test_store_url};
pub use tls::{client_with, tls_client_config, ClientCert, KeptConnection};
