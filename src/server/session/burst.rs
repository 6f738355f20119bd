//! The writers a burst has given frames to, until the burst is over.
//!
//! A burst (the frames one read brought, handled in a row) is handled
//! without an `.await` from its first frame to the wake of its writers, so
//! the list needs to live only that long. It is kept once per worker
//! thread, not once per connection: every idle connection would otherwise
//! carry an empty list in its task (40 bytes of its ~1 KiB). The list keeps
//! its capacity from one burst to the next, as a per-connection one did.

use std::cell::RefCell;

use crate::server::room::Wakes;

thread_local! {
    static WAKES: RefCell<Wakes> = RefCell::new(Wakes::default());
}

/// Runs `f` with this thread's burst list. Never nested: what a burst
/// calls (the room) does not handle bursts.
pub(super) fn with<R>(f: impl FnOnce(&mut Wakes) -> R) -> R {
    WAKES.with(|wakes| f(&mut wakes.borrow_mut()))
}
