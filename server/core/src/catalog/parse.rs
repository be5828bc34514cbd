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

/// What the catalog keeps of one archived item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub path: String,
    pub mode: String,
    pub user: String,
    pub group: String,
    pub mtime: Option<DateTime<Utc>>,
    pub size: i64,
    pub healthy: bool,
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
pub fn parse_line(text: &str, line: u64) -> Result<Item, ParseError> {
    let err = |message: String| ParseError { line, message };
    let raw: Raw = match serde_json::from_str(text) {
        Ok(r) => r,
        // Non-UTF-8 file names come out of borg as lone surrogate escapes (`\udcff`), which are
        // not valid Unicode: keep the entry, with U+FFFD in place of each undecodable byte.
        Err(e) if text.contains("\\udc") || text.contains("\\uDC") => {
            let fixed = replace_lone_surrogates(text);
            return match serde_json::from_str::<Raw>(&fixed) {
                Ok(r) => convert(r, line),
                Err(_) => Err(err(format!("not a borg list JSON line: {e}"))),
            };
        }
        Err(e) => return Err(err(format!("not a borg list JSON line: {e}"))),
    };
    convert(raw, line)
}

fn convert(raw: Raw<'_>, line: u64) -> Result<Item, ParseError> {
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
        Some(u) if !u.is_empty() => u.into_owned(),
        _ => raw.uid.map(|u| u.to_string()).unwrap_or_default(),
    };
    let group = match raw.group {
        Some(g) if !g.is_empty() => g.into_owned(),
        _ => raw.gid.map(|g| g.to_string()).unwrap_or_default(),
    };
    Ok(Item {
        path: raw.path.into_owned(),
        mode: raw.mode.into_owned(),
        user: truncate(user, 255),
        group: truncate(group, 255),
        mtime,
        size,
        healthy: raw.healthy.unwrap_or(true),
    })
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
    s
}

/// `2018-11-23T23:03:52.000000` (UTC assumed) or an RFC 3339 time with an offset.
pub fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    if let Ok(n) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(n.and_utc());
    }
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.to_utc())
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
        assert_eq!((i.user.as_str(), i.group.as_str()), ("root", "wheel"));
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
        assert_eq!((i.user.as_str(), i.group.as_str()), ("1001", "1002"));
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
    fn lone_surrogates_become_replacement_characters() {
        let l = r#"{"type": "-", "mode": "-rw-r--r--", "path": "bad\udcff\\udc00name\ud83d\ude00", "size": 1}"#;
        let i = parse_line(l, 1).unwrap();
        assert_eq!(i.path, "bad\u{fffd}\\udc00name😀");
    }
}
