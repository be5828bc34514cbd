//! Pinned SSH host keys. Every connection this server makes (to a client, or to a remote
//! repository's host) checks the host against exactly one key the operator confirmed — given
//! when the client or repository was made, or fetched from the host and accepted by its
//! fingerprint — with `StrictHostKeyChecking=yes`. Nothing is trusted on first use.
//!
//! The database holds the keys; before a connection the engine writes the pinned one into a
//! known_hosts file of its own under an alias (`cyborg-client-7`), which ssh is pointed at with
//! `HostKeyAlias`, so the host name or port in the file never has to match the one connected to.
use std::{
    fs,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use base64::{
    Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::STANDARD_NO_PAD,
};
use sha2::{Digest, Sha256};
use tokio::process::Command;

/// The key types accepted, in the order a fetched key is preferred.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// How long fetching a host's key may take.
const SCAN_TIMEOUT_SECS: &str = "10";

/// A public host key: its type and its base64 blob; the comment, if any, is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub kind: String,
    pub blob: String,
}

impl HostKey {
    /// Parses `type base64 [comment]` (the form of `/etc/ssh/ssh_host_ed25519_key.pub` and of
    /// a known_hosts line without its host names), checking that the blob is a key of that type.
    pub fn parse(line: &str) -> Result<HostKey, String> {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
            return Err(
                "Expected a public key line such as \"ssh-ed25519 AAAA…\" (the content of \
                 /etc/ssh/ssh_host_ed25519_key.pub on the host)."
                    .into(),
            );
        };
        if !KEY_TYPES.contains(&kind) {
            return Err(format!(
                "'{kind}' is not a host key type this server accepts ({}).",
                KEY_TYPES.join(", ")
            ));
        }
        let bytes = STANDARD
            .decode(blob)
            .map_err(|_| "The key is not valid base64.".to_string())?;
        // The blob starts with the key type as an SSH string (u32 length, then the name); an
        // RSA key's blob says ssh-rsa whatever signature algorithm names it.
        let inner = bytes
            .get(..4)
            .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
            .and_then(|n| bytes.get(4..4 + n))
            .and_then(|t| std::str::from_utf8(t).ok());
        let expected = if kind.starts_with("rsa-sha2-") {
            "ssh-rsa"
        } else {
            kind
        };
        if inner != Some(expected) || bytes.len() < 4 + expected.len() + 16 {
            return Err(format!("The key data is not a {kind} key."));
        }
        Ok(HostKey {
            kind: if expected == "ssh-rsa" {
                "ssh-rsa".into()
            } else {
                kind.to_string()
            },
            blob: blob.to_string(),
        })
    }

    /// `SHA256:…`, as `ssh-keygen -lf` and ssh's own prompts show it.
    pub fn fingerprint(&self) -> String {
        let bytes = STANDARD.decode(&self.blob).unwrap_or_default();
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(bytes)))
    }

    /// The stored form: `type blob`.
    pub fn line(&self) -> String {
        format!("{} {}", self.kind, self.blob)
    }
}

/// The fingerprint of a stored key line (`""` for none or an unreadable one).
pub fn fingerprint_of(line: &str) -> String {
    HostKey::parse(line)
        .map(|k| k.fingerprint())
        .unwrap_or_default()
}

/// The state of a host's key, for the API and the dashboard.
pub fn status(pinned: &str, seen: &str) -> &'static str {
    match (pinned.is_empty(), seen.is_empty()) {
        (false, true) => "pinned",
        (false, false) if pinned == seen => "pinned",
        (false, false) => "changed",
        (true, false) => "unconfirmed",
        (true, true) => "unknown",
    }
}

/// The alias a client's pinned key is filed under.
pub fn client_alias(id: i32) -> String {
    format!("cyborg-client-{id}")
}

/// The alias a remote repository host's pinned key is filed under.
pub fn repository_alias(id: i32) -> String {
    format!("cyborg-repository-{id}")
}

/// Writes the known_hosts file holding `key` under `alias` (in `<data dir>/ssh/known_hosts.d/`,
/// replaced atomically when it changed) and answers its path.
pub fn pinned_file(data_dir: &Path, alias: &str, key: &str) -> anyhow::Result<PathBuf> {
    let key = HostKey::parse(key).map_err(|e| anyhow::anyhow!("the pinned key of {alias}: {e}"))?;
    let dir = crate::ssh_keys::ssh_dir(data_dir).join("known_hosts.d");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(alias);
    let text = format!("{alias} {}\n", key.line());
    if fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(path);
    }
    let tmp = dir.join(format!(".{alias}.{}", uuid::Uuid::new_v4().simple()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The keys a host presents, fetched over a real connection (`ssh-keyscan`); answers the
/// preferred one (ed25519 first).
pub async fn scan(host: &str, port: u16) -> Result<HostKey, String> {
    let out = Command::new("ssh-keyscan")
        .args(["-T", SCAN_TIMEOUT_SECS, "-p", &port.to_string(), "-t"])
        .arg("ed25519,ecdsa,rsa")
        .arg("--")
        .arg(host)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .map_err(|_| format!("fetching the host key of {host}:{port} took too long"))?
        .map_err(|e| format!("running ssh-keyscan (is the OpenSSH client installed?): {e}"))?;
    let keys: Vec<HostKey> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(_, key)| key))
        .filter_map(|k| HostKey::parse(k).ok())
        .collect();
    preferred(keys).ok_or_else(|| {
        format!(
            "{host}:{port} {NO_HOST_KEY} (unreachable, or not an SSH server): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// How a host that answered no SSH key is told (`engine::is_ssh_failure` recognises it).
pub const NO_HOST_KEY: &str = "presented no SSH host key";

fn preferred(mut keys: Vec<HostKey>) -> Option<HostKey> {
    keys.sort_by_key(|k| KEY_TYPES.iter().position(|t| *t == k.kind));
    keys.into_iter().next()
}

/// The key an older version of this server recorded for `host:port` in its trust-on-first-use
/// `known_hosts` file (looked up with `ssh-keygen -F`, which also reads hashed entries).
pub async fn from_legacy_known_hosts(file: &Path, host: &str, port: u16) -> Option<HostKey> {
    if !file.exists() {
        return None;
    }
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let out = Command::new("ssh-keygen")
        .arg("-F")
        .arg(&name)
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let keys = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| l.split_once(' ').map(|(_, key)| key))
        .filter_map(|k| HostKey::parse(k).ok())
        .collect();
    preferred(keys)
}

/// Pins, for every client without a pinned key, the key that versions before pinning trusted on
/// first use (their `known_hosts` in the data directory): those hosts were trusted already, and
/// their backups go on without a new confirmation. Answers how many were pinned.
pub async fn pin_legacy_keys(
    db: &sea_orm::DatabaseConnection,
    data_dir: &Path,
) -> anyhow::Result<usize> {
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    use crate::entities::client;
    let file = crate::ssh_keys::legacy_known_hosts_path(data_dir);
    if !file.exists() {
        return Ok(0);
    }
    let unpinned = client::Entity::find()
        .filter(client::Column::HostKey.eq(""))
        .all(db)
        .await?;
    let mut pinned = 0;
    for c in unpinned {
        let port = u16::try_from(c.port).unwrap_or(22);
        if let Some(k) = from_legacy_known_hosts(&file, &c.hostname, port).await {
            client::ActiveModel {
                id: Set(c.id),
                host_key: Set(k.line()),
                ..Default::default()
            }
            .update(db)
            .await?;
            tracing::info!(
                "pinned the host key {} of client {} that was trusted before",
                k.fingerprint(),
                c.hostname
            );
            pinned += 1;
        }
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn keys_parse_and_fingerprint_like_ssh_keygen() {
        let k = HostKey::parse(&format!("{ED25519} root@host")).unwrap();
        assert_eq!(k.line(), ED25519);
        assert!(k.fingerprint().starts_with("SHA256:"));
        assert_eq!(k.fingerprint().len(), "SHA256:".len() + 43);
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-dss AAAAB3NzaC1kc3MAAACBA",
            "ssh-ed25519 not-base64!",
            // An RSA blob under the ed25519 name.
            "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
        ] {
            assert!(HostKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: no ssh-keygen");
            return;
        }
        let public = fs::read_to_string(key.with_extension("pub")).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(key.with_extension("pub"))
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        let theirs = listed.split_whitespace().nth(1).unwrap();
        assert_eq!(HostKey::parse(&public).unwrap().fingerprint(), theirs);
    }

    #[test]
    fn statuses() {
        assert_eq!(status("", ""), "unknown");
        assert_eq!(status("", ED25519), "unconfirmed");
        assert_eq!(status(ED25519, ""), "pinned");
        assert_eq!(status(ED25519, ED25519), "pinned");
        assert_eq!(status(ED25519, "ssh-rsa x"), "changed");
    }

    #[test]
    fn pinned_files_hold_one_key_under_the_alias() {
        let dir = tempfile::tempdir().unwrap();
        let p = pinned_file(dir.path(), "cyborg-client-3", ED25519).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("cyborg-client-3 {ED25519}\n")
        );
        assert!(pinned_file(dir.path(), "cyborg-client-3", "junk").is_err());
    }

    #[tokio::test]
    async fn legacy_known_hosts_entries_are_found_hashed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        fs::write(&file, format!("[web1]:2222 {ED25519}\nother {ED25519}\n")).unwrap();
        let found = from_legacy_known_hosts(&file, "web1", 2222).await;
        if std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_err()
        {
            eprintln!("skipped: no ssh-keygen");
            return;
        }
        assert_eq!(found.map(|k| k.line()).as_deref(), Some(ED25519));
        assert!(from_legacy_known_hosts(&file, "web1", 22).await.is_none());
        // ssh-keygen -H hashes the names; the lookup still finds them.
        std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!fs::read_to_string(&file).unwrap().contains("web1"));
        let found = from_legacy_known_hosts(&file, "web1", 2222).await;
        assert_eq!(found.map(|k| k.line()).as_deref(), Some(ED25519));
    }
}
