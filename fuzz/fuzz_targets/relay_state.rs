#![no_main]
//! See `chatty_fuzz::relay_sim`.

libfuzzer_sys::fuzz_target!(|scenario: chatty_fuzz::relay_sim::Scenario| {
    chatty_fuzz::relay_sim::run(scenario);
});
