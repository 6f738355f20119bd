//! The `chatty` binary. All logic lives in the library; see `chatty::cli`.

fn main() {
    chatty::server::memory::spawn_release_thread();
    std::process::exit(chatty::cli::main());
}
