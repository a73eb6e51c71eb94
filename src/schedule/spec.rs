//! When a schedule fires: a cron expression in a time zone, or a fixed
//! interval aligned to the Unix epoch.

use crate::error::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use std::time::Duration;

/// When a schedule fires. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub enum Spec {
    /// A cron expression (5 fields, or 6 with seconds first) read in a time zone.
    Cron {
        /// The expression as given.
        expr: String,
        /// The parsed expression.
        cron: Box<Cron>,
        /// The zone its fields are read in.
        zone: Tz,
    },
    /// Every `n` milliseconds, at the multiples of `n` since 1970-01-01 UTC,
    /// so every process computes the same fire times.
    Interval(u64),
}

impl Spec {
    /// A cron expression: 5 fields (minute first), or 6 with seconds first,
    /// read in the IANA zone `zone` (`None`: UTC). A malformed expression or
    /// an unknown zone is an `InvalidArgument` error naming the problem.
    pub fn cron(expr: &str, zone: Option<&str>) -> Result<Spec> {
        let fields = expr.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(Error::invalid(format!(
                "cron expression {expr:?} has {fields} fields; expected 5, or 6 with seconds first"
            )));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(expr)
            .map_err(|e| Error::invalid(format!("malformed cron expression {expr:?}: {e}")))?;
        let zone = match zone {
            None => Tz::UTC,
            Some(z) => z
                .parse::<Tz>()
                .map_err(|_| Error::invalid(format!("unknown time zone {z:?}")))?,
        };
        Ok(Spec::Cron {
            expr: expr.to_string(),
            cron: Box::new(cron),
            zone,
        })
    }

    /// Every `every` (at least 1 ms), aligned to the Unix epoch.
    pub fn interval(every: Duration) -> Result<Spec> {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Err(Error::invalid("interval must be at least 1 ms"));
        }
        if ms > i64::MAX as u64 / 4 {
            return Err(Error::invalid(format!("interval of {ms} ms is too long")));
        }
        Ok(Spec::Interval(ms))
    }

    /// The first fire time strictly after `t_ms`, or `None` when there is
    /// none (a cron expression that never matches again).
    pub fn next_after(&self, t_ms: i64) -> Option<i64> {
        match self {
            Spec::Interval(n) => {
                let n = *n as i64;
                t_ms.div_euclid(n).checked_add(1)?.checked_mul(n)
            }
            Spec::Cron { cron, zone, .. } => {
                // Fires fall on whole seconds: one at or before t is not after it.
                let at = at_second(t_ms.div_euclid(1000), *zone)?;
                let next = cron.find_next_occurrence(&at, false).ok()?;
                next.timestamp().checked_mul(1000)
            }
        }
    }

    /// The fire times in `(after_ms, until_ms]`, at most the newest `keep`
    /// of them, oldest first.
    pub fn fires_between(&self, after_ms: i64, until_ms: i64, keep: usize) -> Vec<i64> {
        let mut out = std::collections::VecDeque::new();
        if keep == 0 {
            return Vec::new();
        }
        let mut from = after_ms;
        match self {
            Spec::Interval(n) => {
                // Skip straight to the last `keep` multiples.
                let n = *n as i64;
                let skip_to = until_ms.saturating_sub(n.saturating_mul(keep as i64 + 1));
                from = from.max(skip_to);
            }
            Spec::Cron { cron, zone, .. } => {
                // After a long gap (a machine asleep for days, an every-second
                // expression), start the forward scan `keep` fires before
                // `until` instead of walking every fire since `after`.
                let mut t = until_ms.div_euclid(1000);
                for i in 0..keep {
                    let Some(at) = at_second(t, *zone) else { break };
                    match cron.find_previous_occurrence(&at, i == 0) {
                        Ok(prev) => t = prev.timestamp(),
                        Err(_) => break,
                    }
                    if t.saturating_mul(1000) <= after_ms {
                        break;
                    }
                    if i + 1 == keep {
                        from = from.max(t.saturating_mul(1000) - 1);
                    }
                }
            }
        }
        let mut t = from;
        while let Some(next) = self.next_after(t) {
            if next > until_ms {
                break;
            }
            out.push_back(next);
            if out.len() > keep {
                out.pop_front();
            }
            t = next;
        }
        out.into()
    }

    /// The expression (cron) or `every N ms` (interval), as recorded.
    pub fn describe(&self) -> String {
        match self {
            Spec::Cron { expr, .. } => expr.clone(),
            Spec::Interval(n) => format!("every {n} ms"),
        }
    }

    /// The zone of a cron expression; `None` for an interval.
    pub fn timezone(&self) -> Option<&'static str> {
        match self {
            Spec::Cron { zone, .. } => Some(zone.name()),
            Spec::Interval(_) => None,
        }
    }
}

/// Second `secs` since the epoch, in `zone`.
fn at_second(secs: i64, zone: Tz) -> Option<DateTime<Tz>> {
    Some(zone.from_utc_datetime(&DateTime::<Utc>::from_timestamp(secs, 0)?.naive_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fires_between` by walking every fire, for comparison.
    fn walk(spec: &Spec, after: i64, until: i64, keep: usize) -> Vec<i64> {
        let mut all = Vec::new();
        let mut t = after;
        while let Some(n) = spec.next_after(t) {
            if n > until {
                break;
            }
            all.push(n);
            t = n;
        }
        all.split_off(all.len().saturating_sub(keep))
    }

    #[test]
    fn fires_between_matches_a_walk() {
        // 2026-10-24 and 2026-03-28, 00:00 UTC: the days before the changes.
        for base in [1_792_800_000_000i64, 1_774_656_000_000] {
            for (expr, zone) in [
                ("* * * * *", "Europe/Berlin"),
                ("30 2 * * *", "Europe/Berlin"),
                ("*/7 * * * * *", "UTC"),
                ("0 30 1,2 * * *", "America/New_York"),
            ] {
                let spec = Spec::cron(expr, Some(zone)).unwrap();
                for span in [0, 1_000, 61_000, 3 * 3_600_000, 3 * 86_400_000] {
                    for keep in [0, 1, 2, 5] {
                        let (a, u) = (base, base + span);
                        assert_eq!(
                            spec.fires_between(a, u, keep),
                            walk(&spec, a, u, keep),
                            "{expr} {zone} base {base} span {span} keep {keep}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_gap_is_not_walked() {
        let spec = Spec::cron("* * * * * *", None).unwrap();
        let t0 = 1_700_000_000_000;
        let until = t0 + 30 * 86_400_000;
        let started = std::time::Instant::now();
        let got = spec.fires_between(t0, until, 3);
        assert_eq!(got, vec![until - 2_000, until - 1_000, until]);
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}
