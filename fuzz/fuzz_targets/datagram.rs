#![no_main]
//! See `chatty_fuzz::datagrams`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chatty_fuzz::datagrams::run(data);
});
