//! The `chatty` binary. All logic lives in the library; see `chatty::cli`.

fn main() {
    std::process::exit(chatty::cli::main());
}
