//! The job engine's SSH execution against a REAL OpenSSH server (`crate::common::sshd::TestSshd`, needs
//! root): quoting of nasty values, both output streams, exit statuses, secrets over stdin (never
//! in `ps`), and host key pinning (only the pinned key is accepted: no trust on first use, a
//! changed key refused).

use crate::common::sshd::{self, TestSshd};
use cyborg_core::{
    engine::{
        host_keys,
        shell::with_secret_env,
        ssh::{self, SSH_ERROR_STATUS, SshTarget},
    },
    ssh_keys,
};
use tempfile::TempDir;

struct Setup {
    data: TempDir,
    sshd: TestSshd,
    target: SshTarget,
}

/// A data dir with the server's key pair, a test sshd authorizing it with its host key pinned,
/// and one first connection made. `None` (with a message) when a test sshd cannot run here.
async fn setup() -> Option<Setup> {
    if let Some(why) = sshd::unavailable() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let data = tempfile::tempdir().unwrap();
    ssh_keys::ensure_key_pair(data.path()).unwrap();
    let sshd = TestSshd::start(&ssh_keys::public_key(data.path()).unwrap());
    let target = target_pinned_to(&data, &sshd, &sshd.host_public_key());
    let (status, lines) = run(&target, &["true"], None).await;
    assert!(
        status.success(),
        "first connection failed: {lines:?}\n{}",
        sshd.log()
    );
    Some(Setup { data, sshd, target })
}

async fn run(
    target: &SshTarget,
    argv: &[&str],
    stdin: Option<Vec<u8>>,
) -> (std::process::ExitStatus, Vec<String>) {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut lines = Vec::new();
    let status = ssh::run(target, &argv, stdin, |l| lines.push(l))
        .await
        .expect("running ssh");
    (status, lines)
}

/// The sshd as the engine reaches it, its host pinned to `key`.
fn target_pinned_to(data: &TempDir, sshd: &TestSshd, key: &str) -> SshTarget {
    let alias = host_keys::client_alias(1);
    SshTarget {
        hostname: "127.0.0.1".into(),
        port: sshd.port,
        username: "root".into(),
        identity: ssh_keys::private_key_path(data.path()),
        known_hosts: host_keys::pinned_file(data.path(), &alias, key).unwrap(),
        alias,
        reverse: None,
    }
}

#[tokio::test]
async fn nasty_values_come_back_exactly_and_nothing_runs() {
    let Some(s) = setup().await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("CANARY");
    let c = canary.display().to_string();
    let values = [
        "a b".to_string(),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!(";touch {c}"),
        format!("&& touch {c}"),
        format!("| touch {c}"),
        format!("'; touch {c}; '"),
        format!("\"; touch {c}; \""),
        format!("x\ntouch {c}"),
        "it's \"quoted\"".to_string(),
        "héllo ✓ 日本 🦀".to_string(),
        "*".to_string(),
        "~".to_string(),
        "-n".to_string(),
        "$HOME \\ %s".to_string(),
        "  spaced  ".to_string(),
    ];
    for v in &values {
        let (status, lines) = run(&s.target, &["printf", "%s", v], None).await;
        assert!(status.success(), "{v:?}: {status} {lines:?}");
        assert_eq!(&lines.join("\n"), v, "value {v:?} came back as {lines:?}");
        assert!(!canary.exists(), "value {v:?} ran a command");
    }
}

#[tokio::test]
async fn stdout_and_stderr_lines_reach_the_callback() {
    let Some(s) = setup().await else { return };
    let (status, lines) = run(
        &s.target,
        &[
            "sh",
            "-c",
            "echo out1; echo err1 >&2; echo out2; printf 'err2' >&2",
        ],
        None,
    )
    .await;
    assert!(status.success(), "{lines:?}");
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, ["err1", "err2", "out1", "out2"], "{lines:?}");
    let pos = |x: &str| lines.iter().position(|l| l == x).unwrap();
    assert!(pos("out1") < pos("out2"));
    assert!(pos("err1") < pos("err2"));
}

#[tokio::test]
async fn remote_exit_status_comes_back() {
    let Some(s) = setup().await else { return };
    let (status, lines) = run(&s.target, &["sh", "-c", "echo bye; exit 7"], None).await;
    assert_eq!(status.code(), Some(7), "{lines:?}");
    assert_eq!(lines, ["bye"]);
    let (status, _) = run(&s.target, &["false"], None).await;
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn secret_goes_over_stdin_and_never_shows_in_ps() {
    let Some(s) = setup().await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("CANARY");
    let secret = format!("pw-7f3a9c-$(touch {}) 'q' \"d\" `x` ;*", canary.display());
    let stdin = format!("{secret}\n").into_bytes();

    let argv: Vec<String> = ["sh", "-c", "printf %s \"$BORG_PASSPHRASE\""]
        .map(String::from)
        .to_vec();
    let line = with_secret_env("BORG_PASSPHRASE", &argv).unwrap();
    assert!(!line.contains("pw-7f3a9c"));
    let mut lines = Vec::new();
    let status = ssh::run_command_line(&s.target, &line, Some(stdin.clone()), |l| lines.push(l))
        .await
        .unwrap();
    assert!(status.success(), "{lines:?}");
    assert_eq!(lines, std::slice::from_ref(&secret));
    assert!(!canary.exists());

    // While a slower variant runs, sample every process's command line.
    let argv: Vec<String> = ["sh", "-c", "sleep 2; printf %s \"$BORG_PASSPHRASE\""]
        .map(String::from)
        .to_vec();
    let line = with_secret_env("BORG_PASSPHRASE", &argv).unwrap();
    let mut lines = Vec::new();
    let running = ssh::run_command_line(&s.target, &line, Some(stdin), |l| lines.push(l));
    let sampler = async {
        let mut samples = 0;
        let mut saw_sleep = false;
        for _ in 0..15 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let out = tokio::process::Command::new("ps")
                .args(["-eo", "args"])
                .output()
                .await
                .expect("running ps");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                !text.contains("pw-7f3a9c"),
                "the secret is visible in ps:\n{text}"
            );
            saw_sleep |= text.contains("sleep 2");
            samples += 1;
        }
        (samples, saw_sleep)
    };
    let (status, (samples, saw_sleep)) = tokio::join!(running, sampler);
    let status = status.unwrap();
    assert!(status.success(), "{lines:?}");
    assert_eq!(lines, [secret]);
    assert_eq!(samples, 15);
    assert!(
        saw_sleep,
        "ps was never sampled while the remote command ran"
    );
}

/// Nothing runs on a host that does not present the pinned key: neither a host whose key was
/// replaced (same address and port, new key) nor one never pinned (no trust on first use).
#[tokio::test]
async fn only_the_pinned_host_key_is_accepted() {
    let Some(s) = setup().await else { return };
    let Setup { data, sshd, target } = s;
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("CANARY");
    let c = canary.display().to_string();
    let pinned = std::fs::read_to_string(&target.known_hosts).unwrap();

    // Same port, new host key.
    let port = sshd.port;
    let old_key = sshd.host_public_key();
    drop(sshd);
    let sshd = TestSshd::start_on(port, &ssh_keys::public_key(data.path()).unwrap());
    assert_ne!(sshd.host_public_key(), old_key);
    let (status, lines) = run(&target, &["touch", &c], None).await;
    assert_eq!(status.code(), Some(SSH_ERROR_STATUS), "{lines:?}");
    let all = lines.join("\n");
    assert!(
        all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || all.contains("Host key verification failed"),
        "{all}"
    );
    assert!(!canary.exists(), "the command ran despite the changed key");
    // The pinned key was not replaced.
    assert_eq!(
        std::fs::read_to_string(&target.known_hosts).unwrap(),
        pinned
    );

    // A key pinned for another host (any other key): refused as well, nothing learned.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("k");
    std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    let other_pub = std::fs::read_to_string(other_key.with_extension("pub")).unwrap();
    let wrong = target_pinned_to(&data, &sshd, &other_pub);
    let (status, lines) = run(&wrong, &["touch", &c], None).await;
    assert_eq!(status.code(), Some(SSH_ERROR_STATUS), "{lines:?}");
    assert!(!canary.exists());

    // What `ssh-keyscan` fetches over the real connection is the key the host has now, with
    // the fingerprint `ssh-keygen -l` gives for it.
    let scanned = host_keys::scan("127.0.0.1", sshd.port).await.unwrap();
    let now = host_keys::HostKey::parse(&sshd.host_public_key()).unwrap();
    assert_eq!(scanned, now);
    let listed = std::process::Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(sshd.host_key_path().with_extension("pub"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        listed.split_whitespace().nth(1),
        Some(scanned.fingerprint().as_str())
    );
    // Pinned to that key, the command runs.
    let fresh = target_pinned_to(&data, &sshd, &sshd.host_public_key());
    let (status, lines) = run(&fresh, &["touch", &c], None).await;
    assert!(status.success(), "{lines:?}");
    assert!(canary.exists());
}
