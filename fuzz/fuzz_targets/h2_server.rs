#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oxcd_fuzz::h2_server(data));
