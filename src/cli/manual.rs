//! `chatty man [COMMAND]`: the manual page, made from the same definition
//! as `--help` (clap_mangen), so it never falls behind the flags.

/// Writes the page of `command` (the overview without one) to stdout as
/// roff; `man -l -` shows it. Returns the exit status.
pub(super) fn print(cli: clap::Command, command: Option<&str>) -> i32 {
    let cmd = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(sub) => {
                // A one-shot process: leaking the page's name is free.
                let page: &'static str = Box::leak(format!("chatty-{name}").into_boxed_str());
                let version = cli.get_version().unwrap_or_default();
                let version: &'static str = Box::leak(version.to_string().into_boxed_str());
                sub.clone().name(page).version(version)
            }
            None => {
                let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
                eprintln!(
                    "chatty man: no command {name:?}; one of {}",
                    names.join(", ")
                );
                return 2;
            }
        },
    };
    let mut out = Vec::new();
    if let Err(err) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("chatty man: {err}");
        return 1;
    }
    use std::io::Write;
    match std::io::stdout().write_all(&out) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
