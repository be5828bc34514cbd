//! A test tree of awkward names (spaces, non-ASCII, a symlink, an empty directory) and what
//! `stat` says of it, in the form borg and the catalog use.
use std::{
    collections::BTreeMap,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

/// A small tree: spaces, non-ASCII names, a symlink, an empty directory, various sizes/modes.
pub fn make_tree(root: &Path) {
    let d = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    let f = |p: &str, body: &[u8], mode: u32| {
        std::fs::write(root.join(p), body).unwrap();
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    d("dir with space/sub dir");
    d("Été ünï/日本語");
    d("empty");
    f("dir with space/a file.txt", b"hello\n", 0o644);
    f(
        "dir with space/sub dir/script.sh",
        b"#!/bin/sh\necho hi\n",
        0o755,
    );
    f("Été ünï/naïve.txt", b"x\n", 0o600);
    f("Été ünï/日本語/ファイル 1.bin", &vec![7u8; 100_000], 0o640);
    f("50%_off.conf", b"", 0o644);
    std::os::unix::fs::symlink("../dir with space/a file.txt", root.join("Été ünï/link")).unwrap();
}

/// `len` bytes that do not compress (xorshift from `seed`): the same bytes for the same seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// `ls -l`'s mode string.
pub fn mode_string(m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        '-'
    };
    let mode = m.mode();
    let mut s = String::from(kind);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        s.push(if mode & bit != 0 { c } else { '-' });
    }
    s
}

/// Every item under `root` as borg names it (`.` and relative paths), with its metadata.
pub fn walk(root: &Path) -> BTreeMap<String, std::fs::Metadata> {
    fn rec(root: &Path, dir: &Path, out: &mut BTreeMap<String, std::fs::Metadata>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if m.is_dir() {
                rec(root, &p, out);
            }
            out.insert(rel, m);
        }
    }
    let mut out = BTreeMap::new();
    out.insert(".".to_string(), std::fs::symlink_metadata(root).unwrap());
    rec(root, root, &mut out);
    out
}
