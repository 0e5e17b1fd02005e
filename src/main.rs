//! The `sees` binary: parses the command line and hands over to the library.

/// mimalloc instead of the system allocator: the allowed path allocates per request in hyper, rustls,
/// reqwest and serde, and glibc's malloc showed as about a fifth of the server's time in its profile
/// (bench/RESULTS.md, issue 16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sees::cli::main()
}
