//! `GET /api/v1/catalogs/{id}/download/` over a real sshd and borg: a 50 MB file streams with the
//! server's memory flat and the bytes equal; a folder comes as a tar of equal files; what cannot
//! be downloaded is refused. One test function: it measures this process's peak memory, which
//! another test running beside it would disturb.
// Its own binary, not a module of `it`: it measures the peak memory of its process, which
// other tests running beside it in one process would add to.
#[path = "it/common/mod.rs"]
mod common;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use common::{
    TestServer,
    borg::Borg,
    sshd,
    tree::{make_tree, noise, walk},
    with_query,
};
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

const BIG: usize = 50_000_000;

/// VmHWM / VmRSS of this process, in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

async fn entry(s: &TestServer, archive: &str, path: &str) -> Value {
    let (_, page) = s
        .get(&with_query(
            "/api/v1/catalogs/",
            &[("archive_name", archive), ("path", path)],
        ))
        .await;
    assert_eq!(page["count"], 1, "{path}: {page}");
    page["results"][0].clone()
}

fn download_url(e: &Value) -> String {
    format!("/api/v1/catalogs/{}/download/", e["id"])
}

fn sha256_file(p: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(p).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_stream_files_and_folders() {
    if let Some(why) = sshd::unavailable() {
        panic!("the download tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    make_tree(&tree);
    let big = noise(BIG, 0x9E37_79B9_7F4A_7C15);
    let big_path = tree.join("big data.bin");
    std::fs::write(&big_path, &big).unwrap();
    std::fs::set_permissions(&big_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let want = format!("{:x}", Sha256::digest(&big));
    drop(big);
    let (_, archive) = b.back_up(&s, "Download me", &tree).await;
    let in_archive = tree.to_str().unwrap().trim_start_matches('/').to_string();

    // The 50 MB file, hashed chunk by chunk as it arrives.
    let file = entry(&s, &archive, &format!("{in_archive}/big data.bin")).await;
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
    let base = memory("VmRSS:");
    let resp = s
        .http
        .get(s.url(&download_url(&file)))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-length"], BIG.to_string().as_str());
    assert_eq!(h["content-type"], "application/octet-stream");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename=\"big data.bin\""),
        "{h:?}"
    );
    let mut hasher = Sha256::new();
    let mut got = 0usize;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        got += chunk.len();
        hasher.update(&chunk);
    }
    let peak = memory("VmHWM:");
    assert_eq!(got, BIG);
    assert_eq!(format!("{:x}", hasher.finalize()), want, "the bytes");
    let growth = peak.saturating_sub(base);
    eprintln!("download of {BIG} bytes: peak RSS grew by {growth} bytes");
    assert!(
        growth < 20_000_000,
        "memory grew by {growth} bytes while streaming {BIG}: the body was buffered"
    );

    // A folder: a tar whose files equal the originals.
    let folder = entry(&s, &archive, &format!("{in_archive}/dir with space")).await;
    let resp = s
        .http
        .get(s.url(&download_url(&folder)))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-tar");
    let tar = resp.bytes().await.unwrap();
    let out = b.root.path().join("untarred");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(b.root.path().join("folder.tar"), &tar).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(b.root.path().join("folder.tar"))
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let original = tree.join("dir with space");
    let restored = out.join(&in_archive).join("dir with space");
    let files: Vec<String> = walk(&original)
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, _)| p)
        .collect();
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        assert_eq!(
            sha256_file(&restored.join(f)),
            sha256_file(&original.join(f)),
            "{f}"
        );
    }
    assert_eq!(
        walk(&restored).keys().collect::<Vec<_>>(),
        walk(&original).keys().collect::<Vec<_>>(),
        "the same names, nothing else"
    );

    // Refused: a symlink (409), an unknown entry (404), a regular user (403).
    let link = entry(&s, &archive, &format!("{in_archive}/Été ünï/link")).await;
    let (st, body) = s.get(&download_url(&link)).await;
    assert_eq!(st.as_u16(), 409, "{body}");
    let (st, _) = s.get("/api/v1/catalogs/999999999/download/").await;
    assert_eq!(st.as_u16(), 404);
    let (_, token) = s.regular_user("reader@test.local").await;
    let (st, _) = s
        .raw(
            reqwest::Method::GET,
            &download_url(&file),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(st.as_u16(), 403);
}
