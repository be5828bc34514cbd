//! The server's secret key and what it does: signs access tokens and encrypts secrets at rest
//! (repository passphrases). Each use gets its own key derived from the one secret.
use std::{fs, io::Write, path::Path};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chacha20poly1305::{
    ChaCha20Poly1305, Nonce,
    aead::{Aead, KeyInit},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const KEY_FILE: &str = "secret_key";
/// Marks an encrypted value, so a plaintext left from before encryption is still readable.
const ENC_PREFIX: &str = "enc:v1:";

#[derive(Clone)]
pub struct Secrets {
    signing_key: [u8; 32],
    encryption_key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// Uses `configured` when given, else the key file in the data directory, made on first start.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let secret = match configured {
            Some(s) if !s.trim().is_empty() => s.trim().to_string(),
            Some(_) => bail!("CYBORG_SECRET_KEY is set but empty"),
            None => load_or_create_key_file(&data_dir.join(KEY_FILE))?,
        };
        Ok(Self::from_secret(&secret))
    }

    pub fn from_secret(secret: &str) -> Self {
        Self {
            signing_key: derive(secret, "cyborgbackup token signing"),
            encryption_key: derive(secret, "cyborgbackup secrets at rest"),
        }
    }

    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.signing_key).expect("any key length");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time check of a signature made by `sign`.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> bool {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.signing_key).expect("any key length");
        mac.update(payload);
        mac.verify_slice(signature).is_ok()
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        if plaintext.is_empty() {
            return String::new();
        }
        let cipher = ChaCha20Poly1305::new((&self.encryption_key).into());
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("encryption of an in-memory buffer cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("{ENC_PREFIX}{}", B64.encode(blob))
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<String> {
        let Some(encoded) = stored.strip_prefix(ENC_PREFIX) else {
            return Ok(stored.to_string());
        };
        let blob = B64.decode(encoded).context("stored secret is not base64")?;
        if blob.len() < 12 {
            bail!("stored secret is truncated");
        }
        let cipher = ChaCha20Poly1305::new((&self.encryption_key).into());
        let plain = cipher
            .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
            .map_err(|_| {
                anyhow::anyhow!("stored secret does not decrypt: was CYBORG_SECRET_KEY changed?")
            })?;
        String::from_utf8(plain).context("stored secret is not UTF-8")
    }
}

fn derive(secret: &str, purpose: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(purpose.as_bytes());
    h.update([0u8]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// SHA-256 in hex: how refresh and session tokens are stored, so a database leak yields no token.
pub fn token_digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = fs::read_to_string(path) {
        let key = existing.trim().to_string();
        if key.is_empty() {
            bail!("{} is empty", path.display());
        }
        return Ok(key);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = random_token();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(key.as_bytes())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_round_trips_and_hides_plaintext() {
        let s = Secrets::from_secret("k1");
        let stored = s.encrypt("correct horse");
        assert!(stored.starts_with(ENC_PREFIX));
        assert!(!stored.contains("correct horse"));
        assert_eq!(s.decrypt(&stored).unwrap(), "correct horse");
        assert!(Secrets::from_secret("k2").decrypt(&stored).is_err());
        assert_eq!(s.decrypt("legacy plain").unwrap(), "legacy plain");
        assert_eq!(s.encrypt(""), "");
    }

    #[test]
    fn signatures_depend_on_key_and_payload() {
        let s = Secrets::from_secret("k1");
        let sig = s.sign(b"payload");
        assert!(s.verify(b"payload", &sig));
        assert!(!s.verify(b"payload2", &sig));
        assert!(!Secrets::from_secret("k2").verify(b"payload", &sig));
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secrets::load(None, dir.path()).unwrap();
        let b = Secrets::load(None, dir.path()).unwrap();
        assert_eq!(a.signing_key, b.signing_key);
        assert!(Secrets::load(Some("  "), dir.path()).is_err());
    }
}
