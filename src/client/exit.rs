//! The terminal client's exit statuses, for scripts (README lists them).

/// Exit status: left cleanly.
pub const EXIT_OK: i32 = 0;
/// Exit status: the server could not be reached or the connection was lost.
pub const EXIT_CONNECTION: i32 = 1;
/// Exit status: the name was refused and no other could be asked for.
pub const EXIT_NAME_REFUSED: i32 = 3;
/// Exit status: the server shut down.
pub const EXIT_SERVER_SHUTDOWN: i32 = 4;
