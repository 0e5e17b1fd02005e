#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sees_fuzz::cpix_request(data));
