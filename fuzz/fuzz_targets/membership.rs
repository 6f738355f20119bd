#![no_main]
//! See `chatty_fuzz::membership_sim`.

libfuzzer_sys::fuzz_target!(|scenario: chatty_fuzz::membership_sim::Scenario| {
    chatty_fuzz::membership_sim::run(scenario);
});
