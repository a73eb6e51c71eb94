//! Times and durations, parsed from arguments and written for people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latest time `humantime` writes (year 9999); anything past it is shown as
/// the raw number rather than a date.
const LAST_WRITABLE_EPOCH: f64 = 253_402_300_799.0;

/// `--stale-after` and `--before` ages: `10m`, `90s`, `30d`, `1h 30m`.
pub(crate) fn parse_age(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (expected a duration such as 90s, 10m, 12h or 30d)"))
}

/// Where `--before` points: an age back from now, or a UTC time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cutoff {
    /// This long before the command runs.
    Age(Duration),
    /// This moment.
    At(SystemTime),
}

impl Cutoff {
    /// Seconds since the Unix epoch, counting an age back from `now`.
    pub(crate) fn epoch(&self, now: f64) -> f64 {
        match self {
            Cutoff::Age(d) => now - d.as_secs_f64(),
            Cutoff::At(t) => t
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// `--before`: `30d` (an age) or `2024-01-31`, `2024-01-31T12:00:00Z` (UTC).
pub(crate) fn parse_cutoff(s: &str) -> Result<Cutoff, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(Cutoff::Age(d));
    }
    let at = humantime::parse_rfc3339_weak(s)
        .or_else(|_| humantime::parse_rfc3339_weak(&format!("{s}T00:00:00")));
    at.map(Cutoff::At).map_err(|_| {
        format!("{s:?} is neither an age (30d, 12h) nor a UTC date (2024-01-31 or 2024-01-31T12:00:00Z)")
    })
}

/// How long something took: `350 ms`, `1.2 s`, `42 s`, `3 min`,
/// `3 min 5 s`, `2 h 5 min`, `3 d 4 h`.
pub(crate) fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "-".into();
    }
    let secs = secs.max(0.0);
    if secs < 1.0 {
        return format!("{} ms", (secs * 1000.0).round() as u64);
    }
    if secs < 9.95 {
        return format!("{secs:.1} s");
    }
    // Rounded under a minute (9.96 s is "10 s"), cut above (59 min 59.9 s
    // is "59 min 59 s", not "60 min").
    let whole = if secs < 59.5 {
        secs.round()
    } else {
        secs.floor()
    } as u64;
    let (d, h, m, s) = (
        whole / 86_400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    let pair = |big: u64, bu: &str, small: u64, su: &str| {
        if small == 0 {
            format!("{big} {bu}")
        } else {
            format!("{big} {bu} {small} {su}")
        }
    };
    match () {
        _ if whole < 60 => format!("{whole} s"),
        _ if whole < 3600 => pair(m, "min", s, "s"),
        _ if whole < 86_400 => pair(h, "h", m, "min"),
        _ => pair(d, "d", h, "h"),
    }
}

/// When `then` was, seen from `now`: `just now`, `42 s ago`, `3 min ago`,
/// `5 h ago`, `3 days ago`; past 30 days (or in the future, a clock
/// that disagrees) the date itself.
pub(crate) fn ago(then: f64, now: f64) -> String {
    recent_ago(then, now).unwrap_or_else(|| short_timestamp(then))
}

/// [`ago`] for the last 30 days, else `None`.
pub(crate) fn recent_ago(then: f64, now: f64) -> Option<String> {
    let secs = now - then;
    if !secs.is_finite() || !(-1.0..30.0 * 86_400.0).contains(&secs) {
        return None;
    }
    let whole = secs.max(0.0).floor() as u64;
    Some(match whole {
        0 => "just now".into(),
        1..=59 => format!("{whole} s ago"),
        60..=3599 => format!("{} min ago", whole / 60),
        3600..=86_399 => format!("{} h ago", whole / 3600),
        86_400..=172_799 => "1 day ago".into(),
        _ => format!("{} days ago", whole / 86_400),
    })
}

/// `2024-05-01 12:00:03 UTC`.
pub(crate) fn timestamp(epoch: f64) -> String {
    match system_time(epoch) {
        Some(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{} UTC", s.trim_end_matches('Z').replacen('T', " ", 1))
        }
        None => raw_number(epoch),
    }
}

/// A time that is no date (negative, huge, not a number) as its number.
fn raw_number(x: f64) -> String {
    if x.abs() < 1e15 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `2024-05-01 12:00` (UTC), for table cells.
fn short_timestamp(epoch: f64) -> String {
    let full = timestamp(epoch);
    match full.strip_suffix(" UTC") {
        Some(s) if s.len() == 19 => s[..16].to_string(),
        _ => full,
    }
}

fn system_time(epoch: f64) -> Option<SystemTime> {
    if !(0.0..=LAST_WRITABLE_EPOCH).contains(&epoch) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(epoch).ok()?)
}

/// An age as [`duration`] writes it: `10 min`, `30 d`.
pub(crate) fn age_label(d: Duration) -> String {
    duration(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(duration(0.0), "0 ms");
        assert_eq!(duration(0.3504), "350 ms");
        assert_eq!(duration(1.25), "1.2 s");
        assert_eq!(duration(9.94), "9.9 s");
        assert_eq!(duration(9.96), "10 s");
        assert_eq!(duration(42.7), "43 s");
        assert_eq!(duration(180.0), "3 min");
        assert_eq!(duration(185.0), "3 min 5 s");
        assert_eq!(duration(7500.0), "2 h 5 min");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
        assert_eq!(duration(-5.0), "0 ms");
        assert_eq!(duration(f64::NAN), "-");
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000.0;
        assert_eq!(ago(now - 0.2, now), "just now");
        assert_eq!(ago(now - 42.0, now), "42 s ago");
        assert_eq!(ago(now - 190.0, now), "3 min ago");
        assert_eq!(ago(now - 5.5 * 3600.0, now), "5 h ago");
        assert_eq!(ago(now - 86_400.0, now), "1 day ago");
        assert_eq!(ago(now - 3.0 * 86_400.0, now), "3 days ago");
        assert_eq!(ago(0.0, now), "1970-01-01 00:00");
        assert_eq!(ago(now + 3600.0, now), "2023-11-14 23:13");
        assert_eq!(ago(f64::NAN, now), "NaN");
    }

    #[test]
    fn timestamps_are_utc_and_never_panic() {
        assert_eq!(timestamp(1_700_000_000.9), "2023-11-14 22:13:20 UTC");
        assert_eq!(timestamp(-1.0), "-1");
        assert_eq!(timestamp(1e300), "1e300");
        assert_eq!(timestamp(f64::INFINITY), "inf");
    }

    #[test]
    fn ages_and_cutoffs_parse() {
        assert_eq!(parse_age("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_age("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_age("10").unwrap_err().contains("10m"));
        assert!(parse_age("soon").is_err());
        assert_eq!(
            parse_cutoff("30d").unwrap(),
            Cutoff::Age(Duration::from_secs(30 * 86_400))
        );
        let at = parse_cutoff("2023-11-14").unwrap();
        assert_eq!(at.epoch(0.0), 1_699_920_000.0);
        let at = parse_cutoff("2023-11-14T22:13:20Z").unwrap();
        assert_eq!(at.epoch(0.0), 1_700_000_000.0);
        assert_eq!(Cutoff::Age(Duration::from_secs(10)).epoch(100.0), 90.0);
        assert!(parse_cutoff("last week").is_err());
        assert_eq!(age_label(Duration::from_secs(600)), "10 min");
    }
}
