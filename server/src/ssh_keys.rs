//! The server's own SSH key pair (`<data dir>/ssh/id_ed25519`), made once at start: the public half
//! is what clients must authorize (`GET /api/v1/settings/ssh_public_key/`), the private half is
//! what the job engine connects with. `known_hosts` sits beside it.
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

pub fn known_hosts_path(data_dir: &Path) -> PathBuf {
    ssh_dir(data_dir).join("known_hosts")
}

/// Makes sure the key pair and `known_hosts` exist with safe modes (dir 0700, private key 0600);
/// an existing pair is kept. Answers the path of the private key.
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
    let known_hosts = known_hosts_path(data_dir);
    if !known_hosts.exists() {
        fs::write(&known_hosts, b"")
            .with_context(|| format!("creating {}", known_hosts.display()))?;
        fs::set_permissions(&known_hosts, fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// The public key, one line (`ssh-ed25519 AAAA… cyborgbackup@host`).
pub fn public_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = public_key_path(data_dir);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_string())
}

/// This machine's name, for the key comment; `localhost` when it cannot be read.
fn hostname() -> String {
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
        assert_eq!(fs::read(data.join("ssh/known_hosts")).unwrap(), b"");
        let private = fs::read_to_string(&key).unwrap();
        assert!(private.contains("OPENSSH PRIVATE KEY"), "{private}");
        let pubkey = public_key(&data).unwrap();
        assert!(pubkey.starts_with("ssh-ed25519 AAAA"), "{pubkey}");
        assert!(pubkey.contains(" cyborgbackup@"), "{pubkey}");

        // A second call keeps the pair.
        fs::write(data.join("ssh/known_hosts"), b"host ssh-ed25519 AAAA\n").unwrap();
        ensure_key_pair(&data).unwrap();
        assert_eq!(public_key(&data).unwrap(), pubkey);
        assert_eq!(fs::read_to_string(&key).unwrap(), private);
        assert_eq!(
            fs::read(data.join("ssh/known_hosts")).unwrap(),
            b"host ssh-ed25519 AAAA\n"
        );

        // A lost public half makes a new pair rather than failing.
        fs::remove_file(public_key_path(&data)).unwrap();
        ensure_key_pair(&data).unwrap();
        assert_ne!(public_key(&data).unwrap(), pubkey);
        assert_eq!(mode(&key), 0o600);
    }
}
