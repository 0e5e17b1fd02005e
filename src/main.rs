//! The `sees` binary: parses the command line and hands over to the library.

/// mimalloc instead of the system allocator: the allowed path allocates per request in hyper, rustls,
/// reqwest and serde, and glibc's malloc showed as about a fifth of the server's time in its profile
/// (bench/PROFILES.md, issue 16). Built without transparent huge pages (`no_thp`): with them its
/// resident memory after a short load was 80 MiB instead of 37 (glibc: 30).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sees::cli::main()
}
