//! How sizes, times and drawing coordinates read on the dashboard.
//!
//! Written with integer arithmetic and `{:02}` padding only, on purpose: a time formatted
//! through a strftime pattern (`DateTime::format`) puts chrono's pattern interpreter into the
//! browser's WASM (0.5–5 KB gzip a page, docs/PERFORMANCE.md, session 11), and page code that
//! formats floats would keep Rust's float formatter there even if serde ever stopped needing it.
use chrono::{DateTime, Datelike, Timelike, Utc};

/// `1536` → `1.5 KiB` (1024-based, as borg prints sizes); below 1 KiB whole bytes.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if n < 0 { "-" } else { "" };
    let abs = u128::from(n.unsigned_abs());
    let mut unit = 0;
    while unit < UNITS.len() - 1 && abs >= 1u128 << (10 * (unit + 1)) {
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    // Tenths of the unit, rounded half up.
    let divisor = 1u128 << (10 * unit);
    let t = (abs * 10 + divisor / 2) / divisor;
    format!("{sign}{}.{} {}", t / 10, t % 10, UNITS[unit])
}

/// A drawing coordinate with one decimal: `12.345` → `12.3`.
pub fn tenths(v: f64) -> String {
    let t = (v * 10.0).round() as i64;
    let sign = if t < 0 { "-" } else { "" };
    let t = t.unsigned_abs();
    format!("{sign}{}.{}", t / 10, t % 10)
}

fn date(t: &DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `2027-01-05 03:00 UTC`.
pub fn minute(t: &DateTime<Utc>) -> String {
    format!("{} {:02}:{:02} UTC", date(t), t.hour(), t.minute())
}

/// `2027-01-05 03:00:07 UTC`.
pub fn second(t: &DateTime<Utc>) -> String {
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        date(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The weekdays' short names, Monday first (ISO 8601, as the calendar's grid).
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Tue 2027-01-05 03:00 UTC`: the weekday helps to read a schedule's coming runs.
pub fn weekday_minute(t: &DateTime<Utc>) -> String {
    let day = WEEKDAYS[t.weekday().num_days_from_monday() as usize];
    format!("{day} {}", minute(t))
}

/// `03:00 UTC`: a time within a day already named.
pub fn clock(t: &DateTime<Utc>) -> String {
    format!("{:02}:{:02} UTC", t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sizes_in_binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(bytes(1_288_490_189), "1.2 GiB");
        assert_eq!(bytes(-1536), "-1.5 KiB");
        assert_eq!(bytes(-5), "-5 B");
        assert_eq!(bytes(i64::MAX), "8.0 EiB");
        assert_eq!(bytes(i64::MIN), "-8.0 EiB");
        // The same as the float formatting they replace, on sizes that round.
        for n in [1, 999, 1025, 1_000_000, 123_456_789, 987_654_321_012] {
            let mut v = n as f64;
            let mut unit = 0;
            while v >= 1024.0 {
                v /= 1024.0;
                unit += 1;
            }
            let float = if unit == 0 {
                format!("{n}")
            } else {
                format!("{v:.1}")
            };
            assert!(
                bytes(n).starts_with(&format!("{float} ")),
                "{n}: {}",
                bytes(n)
            );
        }
    }

    #[test]
    fn coordinates_with_one_decimal() {
        assert_eq!(tenths(0.0), "0.0");
        assert_eq!(tenths(12.345), "12.3");
        assert_eq!(tenths(12.36), "12.4");
        assert_eq!(tenths(600.0), "600.0");
        assert_eq!(tenths(-0.26), "-0.3");
    }

    #[test]
    fn times_in_utc() {
        let t = Utc.with_ymd_and_hms(2027, 1, 5, 3, 4, 7).unwrap();
        assert_eq!(minute(&t), "2027-01-05 03:04 UTC");
        assert_eq!(second(&t), "2027-01-05 03:04:07 UTC");
        assert_eq!(weekday_minute(&t), "Tue 2027-01-05 03:04 UTC");
        assert_eq!(clock(&t), "03:04 UTC");
        for (y, m, d, h, min, s) in [(1999, 12, 31, 23, 59, 59), (2030, 6, 1, 0, 0, 0)] {
            let t = Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap();
            assert_eq!(second(&t), t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            assert_eq!(
                weekday_minute(&t),
                t.format("%a %Y-%m-%d %H:%M UTC").to_string()
            );
        }
    }
}
