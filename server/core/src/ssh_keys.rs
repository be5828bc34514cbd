//! The server's own SSH key pair (`<data dir>/ssh/id_ed25519`), made once at start: the public half
//! is what clients must authorize (`GET /api/v1/settings/ssh_public_key/`), the private half is
//! what the job engine connects with. The pinned host keys (`known_hosts.d/`) and the remote
//! repositories' own keys (`repository-keys/`) sit beside it.
use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The directory holding the key pair and `known_hosts`.
pub fn ssh_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ssh")
}

/// The private key; the public one is the same path with `.pub`.
pub fn private_key_path(data_dir: &Path) -> PathBuf {
    ssh_dir(data_dir).join("id_ed25519")
}

pub fn public_key_path(data_dir: &Path) -> PathBuf {
    ssh_dir(data_dir).join("id_ed25519.pub")
}

/// The trust-on-first-use known_hosts file of versions before host keys were pinned; read once
/// to pin the keys it holds (see `engine::host_keys::from_legacy_known_hosts`).
pub fn legacy_known_hosts_path(data_dir: &Path) -> PathBuf {
    ssh_dir(data_dir).join("known_hosts")
}

/// Where a remote repository's own private key is written for ssh to read (`identity` of the
/// connections to its host).
pub fn repository_key_path(data_dir: &Path, repository_id: i32) -> PathBuf {
    ssh_dir(data_dir)
        .join("repository-keys")
        .join(format!("repository-{repository_id}"))
}

/// Writes `text` to `path` (owner-only, its folder made 0700), atomically and only when it
/// differs from what is there.
pub fn write_private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let dir = path.parent().context("a file path has a folder")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A new ed25519 key pair made by `ssh-keygen`: (private key file text, public key line).
pub fn generate_pair(comment: &str) -> anyhow::Result<(String, String)> {
    let dir = tempfile_dir()?;
    let key = dir.join("key");
    let out = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-C", comment, "-q", "-f"])
        .arg(&key)
        .output()
        .context("running ssh-keygen (is the OpenSSH client installed?)");
    let pair = out.and_then(|out| {
        if !out.status.success() {
            bail!(
                "ssh-keygen failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((
            fs::read_to_string(&key)?,
            fs::read_to_string(key.with_extension("pub"))?
                .trim()
                .to_string(),
        ))
    });
    let _ = fs::remove_dir_all(&dir);
    pair
}

/// A fresh 0700 folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("cyborg-keygen-{}", uuid::Uuid::new_v4().simple()));
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// Makes sure the key pair exists with safe modes (dir 0700, private key 0600); an existing
/// pair is kept. Answers the path of the private key.
pub fn ensure_key_pair(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = ssh_dir(data_dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))?;
    let key = private_key_path(data_dir);
    let public = public_key_path(data_dir);
    if !key.exists() || !public.exists() {
        // A half-made pair (one file missing) is replaced whole; ssh-keygen would otherwise ask
        // whether to overwrite.
        for p in [&key, &public] {
            if p.exists() {
                fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        let comment = format!("cyborgbackup@{}", hostname());
        let out = Command::new("ssh-keygen")
            .args(["-t", "ed25519", "-N", "", "-C", &comment, "-q", "-f"])
            .arg(&key)
            .output()
            .context("running ssh-keygen (is the OpenSSH client installed?)")?;
        if !out.status.success() {
            bail!(
                "ssh-keygen failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tracing::info!("created the server's SSH key pair {}", key.display());
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting the mode of {}", key.display()))?;
    Ok(key)
}

/// The line a client's `authorized_keys` gets for the server's key: commands may run and the one
/// socket a job's repository is served through may be forwarded (`port-forwarding` covers
/// sshd's stream-local forwards); no agent, X11 or terminal (`restrict`).
pub fn client_authorized_line(server_public_key: &str) -> String {
    format!("restrict,port-forwarding {}", server_public_key.trim())
}

/// The line a remote repository's host gets in `authorized_keys` for that repository's key:
/// whatever command is asked for, `borg serve` of that one repository runs, and nothing is
/// forwarded; an append-only repository or one with a quota gets those from `borg serve` too,
/// so not even this server's key can delete from it.
pub fn repository_authorized_line(path: &str, restrictions: &[String], public_key: &str) -> String {
    let mut command = format!(
        "borg serve --restrict-to-repository {}",
        crate::engine::shell::quote(path).unwrap_or_default()
    );
    if !restrictions.is_empty() {
        command.push(' ');
        command.push_str(&crate::engine::shell::command_line(restrictions).unwrap_or_default());
    }
    // Inside the option's double quotes a `"` is written `\"`.
    let command = command.replace('"', "\\\"");
    format!("command=\"{command}\",restrict {}", public_key.trim())
}

/// The public key, one line (`ssh-ed25519 AAAA… cyborgbackup@host`).
pub fn public_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = public_key_path(data_dir);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_string())
}

/// This machine's name, for the key comment; `localhost` when it cannot be read.
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        })
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_the_pair_once_with_safe_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let key = ensure_key_pair(&data).unwrap();
        assert_eq!(key, data.join("ssh/id_ed25519"));
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&data.join("ssh")), 0o700);
        let private = fs::read_to_string(&key).unwrap();
        assert!(private.contains("OPENSSH PRIVATE KEY"), "{private}");
        let pubkey = public_key(&data).unwrap();
        assert!(pubkey.starts_with("ssh-ed25519 AAAA"), "{pubkey}");
        assert!(pubkey.contains(" cyborgbackup@"), "{pubkey}");

        // A second call keeps the pair.
        ensure_key_pair(&data).unwrap();
        assert_eq!(public_key(&data).unwrap(), pubkey);
        assert_eq!(fs::read_to_string(&key).unwrap(), private);

        // A lost public half makes a new pair rather than failing.
        fs::remove_file(public_key_path(&data)).unwrap();
        ensure_key_pair(&data).unwrap();
        assert_ne!(public_key(&data).unwrap(), pubkey);
        assert_eq!(mode(&key), 0o600);
    }

    #[test]
    fn private_files_are_owner_only_and_generated_pairs_match() {
        let tmp = tempfile::tempdir().unwrap();
        let (private, public) = generate_pair("cyborgbackup-repository-1").unwrap();
        assert!(private.contains("OPENSSH PRIVATE KEY"));
        assert!(
            public.starts_with("ssh-ed25519 ") && public.ends_with(" cyborgbackup-repository-1")
        );
        let path = repository_key_path(tmp.path(), 1);
        write_private_file(&path, &private).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let derived = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&derived.stdout)
                .starts_with(public.rsplit_once(' ').unwrap().0)
        );
    }
}
