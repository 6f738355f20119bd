//! Giving memory back after bursts.
//!
//! A join storm or a fan-out burst frees most of what it allocated, but
//! glibc's allocator keeps freed chunks in the middle of its heaps mapped:
//! measured here, 3,000 clients joining at once left the server at about
//! 11 KiB of RSS per idle client, of which `malloc_trim` returned two thirds.
//! A background thread therefore trims once a burst is over: when the
//! resident size has grown past what it was after the last trim and then
//! stopped growing. A steady load that keeps its memory in use grows
//! nothing and is not trimmed again.

use std::time::Duration;

/// How often the resident size is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Growth since the last trim that makes a trim worth it.
const MIN_GROWTH_BYTES: u64 = 4 << 20;

/// Starts the trimming thread (Linux with glibc only; elsewhere a no-op).
pub fn spawn_release_thread() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let _ = std::thread::Builder::new()
            .name("memory-release".into())
            .spawn(release_loop);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_loop() {
    extern "C" {
        /// glibc: returns free memory at the top of the heap and free whole
        /// pages inside every arena to the system. Always safe to call.
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    let Some(mut baseline) = resident_bytes() else {
        return;
    };
    let mut previous = baseline;
    loop {
        std::thread::sleep(CHECK_EVERY);
        let Some(now) = resident_bytes() else {
            return;
        };
        let grew = now > baseline + MIN_GROWTH_BYTES;
        let settled = now <= previous + (1 << 20);
        previous = now;
        if grew && settled {
            // SAFETY: malloc_trim takes no pointers and is thread-safe.
            unsafe {
                malloc_trim(0);
            }
            baseline = resident_bytes().unwrap_or(now);
            previous = baseline;
        } else if !grew {
            baseline = baseline.min(now);
        }
    }
}

/// The process's resident set size, from `/proc/self/statm`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
