//! Field validation: collects every message of one request, by field, before anything is written.
use std::net::IpAddr;

use cyborg_dto::FieldErrors;

use crate::{
    engine::location::{self, Location},
    error::{Error, Result},
};

pub const REQUIRED: &str = "This field is required.";

#[derive(Debug, Default)]
pub struct Check {
    errors: FieldErrors,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn has(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    /// The value to store: the one sent, else the current one, else (on create) an error.
    pub fn required<T: Clone>(
        &mut self,
        field: &str,
        sent: Option<T>,
        current: Option<&T>,
    ) -> Option<T> {
        match (sent, current) {
            (Some(v), _) => Some(v),
            (None, Some(c)) => Some(c.clone()),
            (None, None) => {
                self.error(field, REQUIRED);
                None
            }
        }
    }

    /// A one-line text field: at most `max` characters, no control characters, and not blank
    /// unless `blank_ok`. Returns the value trimmed of surrounding white space.
    pub fn line(&mut self, field: &str, value: &str, max: usize, blank_ok: bool) -> String {
        let v = value.trim();
        if v.is_empty() && !blank_ok {
            self.error(field, "This field may not be blank.");
        } else if v.chars().count() > max {
            self.error(
                field,
                format!("Ensure this field has no more than {max} characters."),
            );
        } else if v.chars().any(char::is_control) {
            self.error(
                field,
                "Control characters (such as newlines) are not allowed.",
            );
        }
        v.to_string()
    }

    /// A validator that answers with a message when the value is wrong.
    pub fn rule(&mut self, field: &str, outcome: std::result::Result<(), String>) {
        if let Err(m) = outcome {
            self.error(field, m);
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// An RFC 1123 host name or an IPv4/IPv6 address, nothing else.
pub fn hostname(s: &str) -> std::result::Result<(), String> {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = || Err(format!("'{s}' is not a valid host name or IP address."));
    if s.is_empty() || s.len() > 253 {
        return bad();
    }
    let labels: Vec<&str> = s.split('.').collect();
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return bad();
        }
    }
    // All-numeric names are mistyped IP addresses (1.2.3.999), not host names.
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return bad();
    }
    Ok(())
}

pub fn email(s: &str) -> std::result::Result<(), String> {
    let bad = || Err("Enter a valid email address.".to_string());
    let Some((local, domain)) = s.rsplit_once('@') else {
        return bad();
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok
        || !domain.contains('.')
        || hostname(domain).is_err()
        || domain.parse::<IpAddr>().is_ok()
    {
        return bad();
    }
    Ok(())
}

/// An SSH or POSIX user name; never starts with `-`, so it can never be read as an option.
/// Node labels as a repository names them: comma-separated, each 1–64 letters, digits, `.`,
/// `_` or `-`; answered trimmed and joined by `,` (`""`: none).
pub fn node_labels(s: &str) -> std::result::Result<String, String> {
    let mut labels = Vec::new();
    for l in s.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if l.len() > 64
            || !l
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "'{l}' is not a node label: 1 to 64 letters, digits, '.', '_' or '-'."
            ));
        }
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    Ok(labels.join(","))
}

pub fn unix_user(s: &str) -> std::result::Result<(), String> {
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !s.starts_with('-')
        && !s.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid user name."))
    }
}

/// An absolute path: starts with `/`, no control characters.
pub fn absolute_path(s: &str) -> std::result::Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("'{s}' is not an absolute path."));
    }
    if s.chars().any(char::is_control) {
        return Err("Control characters (such as newlines) are not allowed in paths.".into());
    }
    Ok(())
}

/// The three repository forms: `/abs/path`, `user@host:/path`, `ssh://user@host[:port]/path`
/// (split by `engine::location`, whose words are checked here).
pub fn repository_path(s: &str) -> std::result::Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("Control characters (such as newlines) are not allowed in paths.".into());
    }
    match location::parse(s)? {
        Location::Folder(_) => Ok(()),
        Location::Remote(r) => {
            unix_user(&r.user)?;
            hostname(&r.host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_label_lists() {
        assert_eq!(node_labels(" pull-a , eu,pull-a,").unwrap(), "pull-a,eu");
        assert_eq!(node_labels("").unwrap(), "");
        assert_eq!(node_labels(" , ").unwrap(), "");
        for bad in ["a b", "x;rm", &"l".repeat(65), "é"] {
            let e = node_labels(bad).unwrap_err();
            assert!(e.contains("is not a node label"), "{bad}: {e}");
        }
    }

    #[test]
    fn hostnames() {
        for ok in [
            "lab.example.com",
            "a",
            "web-1",
            "10.0.0.1",
            "::1",
            "fe80::1",
            "x1.y2",
        ] {
            assert!(hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a b",
            "a;b",
            "$(id)",
            "`id`",
            "a\nb",
            "1.2.3.999",
            "123",
            "a_b",
            "ä.com",
            &"a".repeat(64),
            "a.",
            "'a'",
        ] {
            assert!(hostname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["admin@cyborg.local", "a.b+c@example.com"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@x..com",
            ".a@x.com",
            "a@1.2.3.4",
            "a@-x.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repository_paths() {
        for ok in [
            "/srv/borg",
            "/srv/with space",
            "cyborgbackup@backup:/repository",
            "u@10.0.0.1:/r",
            "u@[::1]:/r",
            "backup@[fe80::1]:/srv/borg",
            "ssh://u@host/srv/r",
            "ssh://u@host:2222/srv/r",
            "ssh://u@[::1]:22/r",
        ] {
            assert!(repository_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "relative/path",
            "host:/r",
            "u@host:relative",
            "u@host:/",
            "-oProxyCommand=x@host:/r",
            "u@bad host:/r",
            "ssh://host/r",
            "ssh://u@host",
            "ssh://u@host:99999/r",
            "ssh://u@host:x/r",
            "/a\nb",
            "ftp://u@h/r",
            "u@[::1]/r",
            "u@[::1:/r",
            "u@[bad host]:/r",
        ] {
            assert!(repository_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn users_never_look_like_options() {
        assert!(unix_user("root").is_ok());
        assert!(unix_user("-oProxyCommand").is_err());
        assert!(unix_user("a b").is_err());
        assert!(unix_user("").is_err());
    }

    #[test]
    fn check_collects_by_field() {
        let mut c = Check::new();
        assert_eq!(c.line("name", "  x  ", 10, false), "x");
        c.line("name", "", 10, false);
        c.line("other", "a\nb", 10, false);
        c.line("long", "abcdef", 3, false);
        let Err(Error::Validation(e)) = c.finish() else {
            panic!("expected errors")
        };
        assert_eq!(e.len(), 3);
    }
}
