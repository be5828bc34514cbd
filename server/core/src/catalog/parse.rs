//! One line of borg 1.2's `borg list --json-lines REPO::ARCHIVE`, e.g.
//! `{"type": "-", "mode": "-rw-r--r--", "user": "root", "group": "root", "uid": 0, "gid": 0,
//! "path": "etc/hosts", "healthy": true, "source": "", "linktarget": "", "flags": 0,
//! "mtime": "2018-11-23T23:03:52.000000", "size": 120}`.
//!
//! borg prints `mtime` in the local time of the process without a zone: run it with `TZ=UTC`.
//! Times without an offset are read as UTC; times with one (borg 2) keep it.
use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

/// What the catalog keeps of one archived item, borrowed from the line where the JSON has no
/// escapes (most lines): an unchanged file costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub path: Cow<'a, str>,
    pub mode: Cow<'a, str>,
    pub user: Cow<'a, str>,
    pub group: Cow<'a, str>,
    pub mtime: Option<DateTime<Utc>>,
    pub size: i64,
    pub healthy: bool,
}

impl Item<'_> {
    /// The item with its own copies of the fields, for keeping beyond the line.
    pub fn into_owned(self) -> Item<'static> {
        Item {
            path: Cow::Owned(self.path.into_owned()),
            mode: Cow::Owned(self.mode.into_owned()),
            user: Cow::Owned(self.user.into_owned()),
            group: Cow::Owned(self.group.into_owned()),
            mtime: self.mtime,
            size: self.size,
            healthy: self.healthy,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("borg list output, line {line}: {message}")]
pub struct ParseError {
    pub line: u64,
    pub message: String,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    mode: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(default, borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    group: Option<Cow<'a, str>>,
    #[serde(default)]
    uid: Option<i64>,
    #[serde(default)]
    gid: Option<i64>,
    #[serde(default, borrow)]
    mtime: Option<Cow<'a, str>>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    healthy: Option<bool>,
}

/// The item types borg writes (`file_status`): regular file, directory, symlink, block and
/// character device, FIFO, socket, and hard links to an earlier item.
const KINDS: &[&str] = &["-", "d", "l", "b", "c", "p", "s", "h"];

/// Parses one line (without its newline); `line` is its 1-based number, for the error.
pub fn parse_line(text: &str, line: u64) -> Result<Item<'_>, ParseError> {
    let err = |message: String| ParseError { line, message };
    let raw: Raw = match serde_json::from_str(text) {
        Ok(r) => r,
        // Non-UTF-8 file names come out of borg as lone surrogate escapes (`\udcff`), which are
        // not valid Unicode: keep the entry, with U+FFFD in place of each undecodable byte.
        Err(e) if text.contains("\\udc") || text.contains("\\uDC") => {
            let fixed = replace_lone_surrogates(text);
            return match serde_json::from_str::<Raw>(&fixed) {
                Ok(r) => convert(r, line).map(Item::into_owned),
                Err(_) => Err(err(format!("not a borg list JSON line: {e}"))),
            };
        }
        Err(e) => return Err(err(format!("not a borg list JSON line: {e}"))),
    };
    convert(raw, line)
}

fn convert(raw: Raw<'_>, line: u64) -> Result<Item<'_>, ParseError> {
    let err = |message: String| ParseError { line, message };
    if !KINDS.contains(&raw.kind.as_ref()) {
        return Err(err(format!("unknown item type {:?}", raw.kind)));
    }
    if raw.path.is_empty() || raw.path.contains('\0') {
        return Err(err("empty or invalid path".into()));
    }
    if raw.mode.len() != 10 || !raw.mode.is_ascii() {
        return Err(err(format!("invalid mode {:?}", raw.mode)));
    }
    let mtime = match raw.mtime.as_deref() {
        None | Some("") => None,
        Some(t) => Some(parse_time(t).ok_or_else(|| err(format!("invalid mtime {t:?}")))?),
    };
    let size = raw.size.unwrap_or(0);
    if size < 0 {
        return Err(err(format!("invalid size {size}")));
    }
    // borg prints the numeric id when the name is unknown on the archiving host.
    let user = match raw.user {
        Some(u) if !u.is_empty() => u,
        _ => Cow::Owned(raw.uid.map(|u| u.to_string()).unwrap_or_default()),
    };
    let group = match raw.group {
        Some(g) if !g.is_empty() => g,
        _ => Cow::Owned(raw.gid.map(|g| g.to_string()).unwrap_or_default()),
    };
    Ok(Item {
        path: raw.path,
        mode: raw.mode,
        user: truncate(user, 255),
        group: truncate(group, 255),
        mtime,
        size,
        healthy: raw.healthy.unwrap_or(true),
    })
}

fn truncate(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..i]),
        Cow::Owned(mut o) => {
            o.truncate(i);
            Cow::Owned(o)
        }
    }
}

/// `2018-11-23T23:03:52.000000` (UTC assumed) or an RFC 3339 time with an offset.
pub fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    if let Some(d) = parse_borg_time(t.as_bytes()) {
        return Some(d);
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(n.and_utc());
    }
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.to_utc())
}

/// borg's own layout, `YYYY-MM-DDTHH:MM:SS` with an optional `.` and 1 to 9 digits, read
/// without chrono's format interpreter (a third of a line's parse). Anything else — another
/// layout, a leap second, an impossible date — answers `None` and goes to chrono, so the result
/// is always chrono's.
fn parse_borg_time(b: &[u8]) -> Option<DateTime<Utc>> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let sec = num(&b[17..19])?;
    if sec > 59 {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    Some(
        date.and_hms_nano_opt(num(&b[11..13])?, num(&b[14..16])?, sec, nanos)?
            .and_utc(),
    )
}

/// Replaces `\udcXX` escapes not preceded by a high-surrogate escape with `\ufffd`.
fn replace_lone_surrogates(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i + 6 <= b.len() {
        if b[i] == b'\\' {
            let esc = &text[i..i + 6];
            let lower = esc.to_ascii_lowercase();
            if lower.starts_with("\\udc")
                || lower.starts_with("\\udd")
                || lower.starts_with("\\ude")
                || lower.starts_with("\\udf")
            {
                let preceded = i >= 6 && {
                    let prev = text[i - 6..i].to_ascii_lowercase();
                    prev.starts_with("\\ud8")
                        || prev.starts_with("\\ud9")
                        || prev.starts_with("\\uda")
                        || prev.starts_with("\\udb")
                };
                if !preceded {
                    out.push_str(&text[last..i]);
                    out.push_str("\\ufffd");
                    i += 6;
                    last = i;
                    continue;
                }
            }
            // Skip the escaped character so `\\udc00` (an escaped backslash) is left alone.
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"type": "-", "mode": "-rw-r--r--", "user": "root", "group": "wheel", "uid": 0, "gid": 0, "path": "dir with space/\u00c9t\u00e9.txt", "healthy": true, "source": "", "linktarget": "", "flags": 0, "size": 6, "mtime": "2026-11-27T14:00:39.157273"}"#;

    #[test]
    fn parses_a_borg_line() {
        let i = parse_line(LINE, 1).unwrap();
        assert_eq!(i.path, "dir with space/Été.txt");
        assert_eq!(i.mode, "-rw-r--r--");
        assert_eq!((i.user.as_ref(), i.group.as_ref()), ("root", "wheel"));
        assert_eq!(i.size, 6);
        assert!(i.healthy);
        assert_eq!(
            i.mtime.unwrap().to_rfc3339(),
            "2026-11-27T14:00:39.157273+00:00"
        );
    }

    #[test]
    fn offsets_unhealthy_and_numeric_owners() {
        let l = r#"{"type": "l", "mode": "lrwxrwxrwx", "user": "", "group": "", "uid": 1001, "gid": 1002, "path": "a/link", "healthy": false, "size": 3, "mtime": "2026-11-27T14:00:39+02:00"}"#;
        let i = parse_line(l, 7).unwrap();
        assert_eq!((i.user.as_ref(), i.group.as_ref()), ("1001", "1002"));
        assert!(!i.healthy);
        assert_eq!(i.mtime.unwrap().to_rfc3339(), "2026-11-27T12:00:39+00:00");
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        for (bad, what) in [
            ("", "JSON"),
            ("not json", "JSON"),
            ("{\"type\": \"-\"}", "JSON"),
            (
                r#"{"type": "?", "mode": "-rw-r--r--", "path": "x"}"#,
                "type",
            ),
            (r#"{"type": "-", "mode": "-rw", "path": "x"}"#, "mode"),
            (r#"{"type": "-", "mode": "-rw-r--r--", "path": ""}"#, "path"),
            (
                r#"{"type": "-", "mode": "-rw-r--r--", "path": "x", "mtime": "yesterday"}"#,
                "mtime",
            ),
            (
                r#"{"type": "-", "mode": "-rw-r--r--", "path": "x", "size": -1}"#,
                "size",
            ),
            (r#"{"type": "-", "mode": "-rw-r--r--", "path": "x""#, "JSON"),
            ("[1, 2]", "JSON"),
        ] {
            let e = parse_line(bad, 42).unwrap_err();
            assert_eq!(e.line, 42);
            let msg = e.to_string();
            assert!(
                msg.contains("line 42") && msg.contains(what),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn borg_times_read_as_chrono_reads_them() {
        let chrono_reads = |t: &str| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
                .or_else(|| DateTime::parse_from_rfc3339(t).ok().map(|d| d.to_utc()))
        };
        let mut cases: Vec<String> = [
            "2018-11-23T23:03:52.000000",
            "2018-11-23T23:03:52",
            "2018-11-23T23:03:52.5",
            "2018-11-23T23:03:52.123456789",
            "2018-11-23T23:03:52.1234567891",
            "2018-11-23T23:03:52.",
            "2018-11-23T23:03:60.000000",
            "2024-02-29T00:00:00.000000",
            "2023-02-29T00:00:00.000000",
            "2018-13-01T00:00:00",
            "2018-11-23T24:00:00",
            "2018-11-23 23:03:52",
            "0001-01-01T00:00:00.000001",
            "9999-12-31T23:59:59.999999",
            "2018-11-23T23:03:52+02:00",
            "2018-1a-23T23:03:52",
            "+2018-11-23T23:03:5",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // And a spread of ordinary ones: every month, odd hours, varying fractions.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let frac = match x % 4 {
                0 => String::new(),
                1 => format!(".{:06}", x % 1_000_000),
                2 => format!(".{}", x % 10),
                _ => format!(".{:09}", x % 1_000_000_000),
            };
            cases.push(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}",
                1970 + x % 100,
                1 + (x >> 8) % 12,
                1 + (x >> 16) % 31,
                (x >> 24) % 24,
                (x >> 32) % 60,
                (x >> 40) % 60
            ));
        }
        for t in &cases {
            assert_eq!(parse_time(t), chrono_reads(t), "{t:?}");
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let l = r#"{"type": "-", "mode": "-rw-r--r--", "path": "bad\udcff\\udc00name\ud83d\ude00", "size": 1}"#;
        let i = parse_line(l, 1).unwrap();
        assert_eq!(i.path, "bad\u{fffd}\\udc00name😀");
    }
}
