//! The keys derived from a catalog path: `path_hash` (unique) and `parent_hash` (browsing).
use sha2::{Digest, Sha256};

/// SHA-256 of the path's UTF-8 bytes: the uniqueness key of `catalog_paths`.
pub fn path_hash(path: &str) -> [u8; 32] {
    Sha256::digest(path.as_bytes()).into()
}

/// The parent directory of an archived path: everything before the last `/`, `""` at the top.
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// The first 8 bytes of SHA-256 of a directory path, as a signed big-endian integer.
pub fn dir_hash(dir: &str) -> i64 {
    let d = path_hash(dir);
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// `dir_hash` of the path's parent directory.
pub fn parent_hash(path: &str) -> i64 {
    dir_hash(parent_of(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent_of("etc/ssh/sshd_config"), "etc/ssh");
        assert_eq!(parent_of("etc"), "");
        assert_eq!(parent_of("."), "");
        assert_eq!(parent_hash("etc/hosts"), dir_hash("etc"));
        assert_ne!(dir_hash("etc"), dir_hash("etc/"));
        assert_eq!(path_hash("").len(), 32);
    }
}
