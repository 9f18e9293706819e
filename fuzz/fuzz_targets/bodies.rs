#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrocket_fuzz::targets::bodies(data));
