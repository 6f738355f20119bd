#![no_main]
//! See `chatty_fuzz::frames`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chatty_fuzz::frames::run(data);
});
