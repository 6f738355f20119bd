#![no_main]
//! See `chatty_fuzz::sealed`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chatty_fuzz::sealed::run(data);
});
