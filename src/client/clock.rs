//! The `HH:MM ` local-time prefix of every line on a terminal (piped
//! output has none: its lines are the documented formats, exactly).

use std::time::{SystemTime, UNIX_EPOCH};

/// `line` with the local time in front: `14:05 [Leo] hi`.
pub fn stamped(line: &str) -> String {
    let (hour, minute) = local_hour_minute(now_secs());
    stamp(hour, minute, line)
}

/// The local time of day at `unix_ms` as `HH:MM:SS.mmm`, for timelines.
pub fn time_of_day(unix_ms: u64) -> String {
    let secs = (unix_ms / 1000) as i64;
    let (hour, minute) = local_hour_minute(secs);
    format!(
        "{hour:02}:{minute:02}:{:02}.{:03}",
        secs.rem_euclid(60),
        unix_ms % 1000
    )
}

/// `HH:MM line`.
fn stamp(hour: u32, minute: u32, line: &str) -> String {
    format!("{hour:02}:{minute:02} {line}")
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The local wall-clock hour and minute at Unix time `secs`, by the C
/// library's time zone rules (`TZ`, `/etc/localtime`).
#[cfg(unix)]
fn local_hour_minute(secs: i64) -> (u32, u32) {
    let t = secs as libc::time_t;
    // SAFETY: tm is plain data; localtime_r only writes into it and is the
    // thread-safe form (it keeps no shared state a caller could see).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return utc_hour_minute(secs);
    }
    (tm.tm_hour as u32, tm.tm_min as u32)
}

#[cfg(not(unix))]
fn local_hour_minute(secs: i64) -> (u32, u32) {
    utc_hour_minute(secs)
}

fn utc_hour_minute(secs: i64) -> (u32, u32) {
    let of_day = secs.rem_euclid(86_400) as u32;
    (of_day / 3600, of_day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_minutes_have_two_digits() {
        assert_eq!(stamp(9, 5, "[Leo] hi"), "09:05 [Leo] hi");
        assert_eq!(stamp(23, 59, "x"), "23:59 x");
        assert_eq!(utc_hour_minute(0), (0, 0));
        assert_eq!(utc_hour_minute(86_399), (23, 59));
        assert_eq!(utc_hour_minute(13 * 3600 + 7 * 60 + 30), (13, 7));
    }

    #[test]
    fn times_of_day_have_milliseconds() {
        let t = time_of_day(1_700_000_007_089);
        assert_eq!(t.len(), "HH:MM:SS.mmm".len(), "{t}");
        assert!(t.ends_with(":27.089"), "{t}");
    }

    #[test]
    fn the_local_time_is_a_time_of_day() {
        let (hour, minute) = local_hour_minute(now_secs());
        assert!(hour < 24 && minute < 60);
        let line = stamped("[Leo] hi");
        assert_eq!(line.len(), "HH:MM [Leo] hi".len());
        assert_eq!(&line[2..3], ":");
    }
}
