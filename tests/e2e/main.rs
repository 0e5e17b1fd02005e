//! The end-to-end tests, in one binary: the real `sees` (in process, or as a child process) spoken to
//! over real TLS and HTTP, one module per area, all on the one harness in `harness/`. Unit tests live
//! beside the code in `src/`.
//!
//! Every area runs in parallel threads of this one process: a test must not set environment
//! variables, change the current directory, bind a fixed port, install process-wide state (a
//! tracing subscriber, a metrics recorder of its own) or share a file path with another test. What
//! needs a process of its own (signals, `kill -9`, a global logger) runs the real binary through
//! `harness::process` or `harness::sees_binary`.

mod harness;

mod admin;
mod admin_billing;
mod admin_devices;
mod admin_end_users;
mod admin_entitlements;
mod admin_graphs;
mod admin_jwt_entitlements;
mod admin_monetization;
mod admin_packages;
mod admin_packages_v2;
mod admin_playback_tokens;
mod admin_sessions;
mod admin_streams;
mod allow_list;
mod audit;
mod cli;
mod crash_safety;
mod decisions;
mod devices;
mod drm;
mod entitlement;
mod fuzz_corpus;
mod health_probe;
mod multi_node;
mod openapi;
mod ops;
mod overload;
mod query_plans;
mod secret_hygiene;
mod speke;
mod speke_cli;
mod store_outage;
mod tls;
mod tls_matrix;
mod tls_reload;
mod upstream;
