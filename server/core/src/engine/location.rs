//! Where a repository is: a folder (`/abs/path`: on the client in push mode, on this server in
//! pull mode) or a folder on another host reached over SSH (`user@host:/path`,
//! `ssh://user@host[:port]/path`). The structure only; `services::validate::repository_path`
//! checks the user, host and port words.

/// A repository on another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepository {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Absolute, on that host.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(String),
    Remote(RemoteRepository),
}

const FORMS: &str = "Use /abs/path, user@host:/path or ssh://user@host[:port]/path.";

/// Splits a repository path into its parts, or says which part is missing.
pub fn parse(s: &str) -> Result<Location, String> {
    if s.starts_with('/') {
        return Ok(Location::Folder(s.to_string()));
    }
    if let Some(rest) = s.strip_prefix("ssh://") {
        let Some((authority, path)) = rest.find('/').map(|i| rest.split_at(i)) else {
            return Err(format!(
                "The repository path is missing after the host. {FORMS}"
            ));
        };
        let Some((user, hostport)) = authority.split_once('@') else {
            return Err(format!("A user is required. {FORMS}"));
        };
        let (host, port) = split_host_port(hostport)?;
        let port = match port {
            None => 22,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("'{p}' is not a valid port."))?,
        };
        return remote(user, host, port, path);
    }
    if let Some((user, rest)) = s.split_once('@') {
        // A bracketed IPv6 host holds colons itself: its path starts after "]:".
        let split = match rest.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once("]:"),
            None => rest.split_once(':'),
        };
        let Some((host, path)) = split else {
            return Err(FORMS.into());
        };
        return remote(user, host, 22, path);
    }
    Err(FORMS.into())
}

fn remote(user: &str, host: &str, port: u16, path: &str) -> Result<Location, String> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err(format!("The path after the host must be absolute. {FORMS}"));
    }
    Ok(Location::Remote(RemoteRepository {
        user: user.to_string(),
        host: host.to_string(),
        port,
        path: path.to_string(),
    }))
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("An IPv6 address needs its closing ].")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("'{s}' is not host[:port].")),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

/// The repository on another host, if it is on one.
pub fn remote_of(path: &str) -> Option<RemoteRepository> {
    match parse(path) {
        Ok(Location::Remote(r)) => Some(r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: &str, host: &str, port: u16, path: &str) -> Location {
        Location::Remote(RemoteRepository {
            user: user.into(),
            host: host.into(),
            port,
            path: path.into(),
        })
    }

    #[test]
    fn forms() {
        assert_eq!(parse("/srv/a b"), Ok(Location::Folder("/srv/a b".into())));
        assert_eq!(parse("u@h:/r"), Ok(r("u", "h", 22, "/r")));
        assert_eq!(parse("u@[::1]:/r"), Ok(r("u", "::1", 22, "/r")));
        assert_eq!(parse("ssh://u@h/srv/r"), Ok(r("u", "h", 22, "/srv/r")));
        assert_eq!(
            parse("ssh://u@h:2222/srv/r"),
            Ok(r("u", "h", 2222, "/srv/r"))
        );
        assert_eq!(parse("ssh://u@[::1]:22/r"), Ok(r("u", "::1", 22, "/r")));
        for bad in [
            "",
            "rel",
            "u@h:rel",
            "u@h:/",
            "ssh://h/r",
            "ssh://u@h",
            "ssh://u@h:0/r",
            "ssh://u@h:x/r",
            "u@[::1/r",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
