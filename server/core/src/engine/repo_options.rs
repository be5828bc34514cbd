//! The borg options a repository carries (encryption, compression, append-only, storage quota,
//! upload rate limit): the rules they are validated by and the argv words they become. One
//! place for each rule: the services validate with these functions, the jobs build argv with
//! them, and nothing here is ever joined into a shell string (`shell::command_line` quotes
//! word by word).

/// The encryption modes a new repository may use. The keyfile modes are not offered: with them
/// the key lives in a file on each client, which this server does not manage yet (a keyfile
/// repository made elsewhere still works when its key file is on the client).
pub const ENCRYPTIONS: &[&str] = &[
    "repokey-blake2",
    "repokey",
    "authenticated-blake2",
    "authenticated",
    "none",
];

/// The mode of a repository made without one.
pub const DEFAULT_ENCRYPTION: &str = "repokey-blake2";
pub const DEFAULT_COMPRESSION: &str = "lz4";

/// Whether `mode` may be chosen; `none` only where the settings allow unencrypted repositories.
pub fn encryption(mode: &str, allow_unencrypted: bool) -> Result<(), String> {
    match mode {
        "keyfile" | "keyfile-blake2" => Err(format!(
            "{mode} keeps the key in a file on each client, which this server does not manage; \
             use repokey-blake2 (the key inside the repository, exportable from the server)."
        )),
        "none" if !allow_unencrypted => {
            Err("Unencrypted repositories are refused unless the setting \
             allow_unencrypted_repositories is on."
                .into())
        }
        m if ENCRYPTIONS.contains(&m) => Ok(()),
        _ => Err(format!("Choose one of: {}.", ENCRYPTIONS.join(", "))),
    }
}

/// Whether a mode keeps archives secret (`authenticated*` and `none` do not).
pub fn encrypts(mode: &str) -> bool {
    mode.starts_with("repokey") || mode.starts_with("keyfile")
}

/// A compression spec as borg reads it: `lz4`, `none`, `zstd,N` (1-22), `zlib,N` (0-9),
/// `lzma,N` (0-9), each but `none` also behind `auto,`. Answers the spec without spaces.
pub fn compression(spec: &str) -> Result<String, String> {
    let s: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let bad = || {
        "Use lz4, none, zstd,N (N 1-22), zlib,N or lzma,N (N 0-9), optionally after auto, \
         (auto,zstd,3)."
            .to_string()
    };
    let inner = s.strip_prefix("auto,").unwrap_or(&s);
    let ok = match inner.split_once(',') {
        None => {
            matches!(inner, "lz4" | "zstd" | "zlib" | "lzma") || (inner == "none" && inner == s)
        }
        Some((algo, level)) => {
            let level: u8 = level.parse().map_err(|_| bad())?;
            match algo {
                "zstd" => (1..=22).contains(&level),
                "zlib" | "lzma" => level <= 9,
                _ => false,
            }
        }
    };
    if ok { Ok(s) } else { Err(bad()) }
}

/// A storage quota as borg reads it (`--storage-quota`): a number with an optional K, M, G, T
/// or P suffix (powers of 1000), at least 10M; `""`: no quota.
pub fn quota(q: &str) -> Result<String, String> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(String::new());
    }
    let bad = || "A size such as 500G or 2T (K, M, G, T, P: powers of 1000), at least 10M.";
    let (number, factor) = match q.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let f: u64 = match c.to_ascii_uppercase() {
                'K' => 1_000,
                'M' => 1_000_000,
                'G' => 1_000_000_000,
                'T' => 1_000_000_000_000,
                'P' => 1_000_000_000_000_000,
                _ => return Err(bad().into()),
            };
            (&q[..i], f)
        }
        _ => (q, 1),
    };
    let n: f64 = number.parse().map_err(|_| bad().to_string())?;
    let bytes = n * factor as f64;
    if !bytes.is_finite() || !(10e6..=1e18).contains(&bytes) {
        return Err(bad().into());
    }
    Ok(q.to_uppercase())
}

/// Most KiB/s an upload limit may say (about 100 GB/s: anything above is no limit).
pub const MAX_RATELIMIT: i32 = 100_000_000;

pub fn upload_ratelimit(kib: i32) -> Result<(), String> {
    if (1..=MAX_RATELIMIT).contains(&kib) {
        Ok(())
    } else {
        Err(format!(
            "KiB/s between 1 and {MAX_RATELIMIT}, or null for no limit."
        ))
    }
}

/// The words `borg init` and `borg serve` take for an append-only repository with a quota.
pub fn restrictions(append_only: bool, quota: &str) -> Vec<String> {
    let mut a = Vec::new();
    if append_only {
        a.push("--append-only".to_string());
    }
    if !quota.is_empty() {
        a.push("--storage-quota".into());
        a.push(quota.to_string());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_specs() {
        for ok in [
            "lz4",
            "none",
            "zstd,1",
            "zstd,22",
            "auto,zstd,3",
            "zlib,0",
            "lzma,9",
            "zstd",
        ] {
            assert!(compression(ok).is_ok(), "{ok}");
        }
        assert_eq!(compression(" auto, zstd,5").unwrap(), "auto,zstd,5");
        for bad in [
            "",
            "zstd,0",
            "zstd,23",
            "zlib,10",
            "gzip",
            "auto,none",
            "lz4,1",
            "zstd,-1",
            "zstd,3;rm",
            "--x",
        ] {
            assert!(compression(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotas() {
        assert_eq!(quota("").unwrap(), "");
        assert_eq!(quota("500g").unwrap(), "500G");
        assert_eq!(quota("1.5T").unwrap(), "1.5T");
        assert_eq!(quota("10000000").unwrap(), "10000000");
        for bad in ["9M", "abc", "5X", "-5G", "G", "1e30", "NaNG", "--storage"] {
            assert!(quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encryption_modes() {
        assert!(encryption("repokey-blake2", false).is_ok());
        assert!(encryption("none", false).is_err());
        assert!(encryption("none", true).is_ok());
        assert!(encryption("keyfile", true).is_err());
        assert!(encryption("rot13", true).is_err());
        assert!(encrypts("repokey") && !encrypts("authenticated-blake2") && !encrypts("none"));
    }

    #[test]
    fn restriction_words() {
        assert!(restrictions(false, "").is_empty());
        assert_eq!(
            restrictions(true, "5G"),
            ["--append-only", "--storage-quota", "5G"]
        );
    }
}
