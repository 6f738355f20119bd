//! The `chatty` binary. All logic lives in the library; see `chatty::cli`.

/// jemalloc instead of glibc's allocator. Frames are allocated by the thread
/// that reads a message and freed by whichever threads write it out; glibc
/// serialises those cross-thread frees on arena locks and spent about a
/// fifth of the server's time in malloc/free at small fan-out (BENCHMARKS.md,
/// "Allocator"). jemalloc's thread caches and per-size slabs handle the
/// pattern, and its background thread returns freed pages on its own.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Read by jemalloc at start-up (the `_rjem_` prefix is tikv-jemallocator's).
/// `background_thread` purges freed pages without waiting for an allocation;
/// `dirty_decay_ms:100` returns them within about 0.1 s of being freed
/// (the default, 10 s, kept a fan-out burst's memory mapped for that long),
/// and `muzzy_decay_ms:0` skips the lazy-free stage. A user can still
/// override any of these with `_RJEM_MALLOC_CONF`.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0\0";

fn main() {
    std::process::exit(chatty::cli::main());
}
