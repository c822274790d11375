#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oxcd_fuzz::kv_apply(data));
