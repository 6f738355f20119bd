//! Writes the seed corpora: `cargo run --example seed -- DIR` fills `DIR/client_frame`,
//! `DIR/datagram` and `DIR/datagram_keyed` with inputs from the real encoders (see `seeds`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let sets = [
        ("client_frame", chatty_fuzz::seeds::frame_streams()),
        ("datagram", chatty_fuzz::seeds::datagrams()),
        ("datagram_keyed", chatty_fuzz::seeds::sealed_datagrams()),
    ];
    for (target, inputs) in sets {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, bytes) in inputs.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), bytes)?;
        }
        println!("{}: {} seeds", dir.display(), inputs.len());
    }
    Ok(())
}
