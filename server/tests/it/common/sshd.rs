//! A real OpenSSH server for tests: `/usr/sbin/sshd` on 127.0.0.1 with a throw-away host key and
//! config in a temp directory, authorizing one given public key, killed on drop. Needs root (sshd
//! privilege separation); [`TestSshd::available`] says why not when it cannot run.
use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct TestSshd {
    pub port: u16,
    /// Holds the host key, config, pid file and `authorized_keys`.
    pub dir: TempDir,
    child: Child,
}

/// `None` when a real sshd can be started here, else the reason to skip.
pub fn unavailable() -> Option<String> {
    // The effective uid through `id -u` (no libc dependency needed).
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("not running as root: a test sshd needs root".into());
    }
    if !Path::new(SSHD).exists() {
        return Some(format!("{SSHD} is missing (install openssh-server)"));
    }
    None
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl TestSshd {
    /// Starts sshd on a free port, authorizing `authorized_key` (one `ssh-ed25519 …` line).
    pub fn start(authorized_key: &str) -> TestSshd {
        Self::start_on(free_port(), authorized_key)
    }

    /// Starts sshd on a free port whose sessions (for `authorized_key`) find `dir` first on
    /// their PATH: stand-ins for tools the machine does not have (pvesh, vzdump).
    pub fn start_with_path_first(authorized_key: &str, dir: &Path) -> TestSshd {
        let line = format!(
            "environment=\"PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" {}",
            dir.display(),
            authorized_key.trim()
        );
        Self::start_full(free_port(), &line, "PermitUserEnvironment yes\n")
    }

    /// Starts sshd on `port` with a NEW host key, authorizing `authorized_key`.
    pub fn start_on(port: u16, authorized_key: &str) -> TestSshd {
        Self::start_full(port, authorized_key, "")
    }

    /// Starts sshd on a free port in a mount namespace of its own where `hidden` is an empty
    /// read-only tmpfs: its sessions (a client) can neither see nor write what this machine keeps
    /// there (a repository only the server may reach).
    pub fn start_hiding(authorized_key: &str, hidden: &Path) -> TestSshd {
        Self::start_full_with(free_port(), authorized_key, "", Some(hidden))
    }

    /// `authorized_line` is one line of authorized_keys (options allowed); `extra_config` ends
    /// the sshd_config.
    /// Starts sshd on a free port that also listens on `address` (another loopback address):
    /// clients' host names are unique, so each client of a fleet on this machine gets its own.
    pub fn start_also_on(authorized_key: &str, address: &str) -> TestSshd {
        Self::start_full(
            free_port(),
            authorized_key,
            &format!("ListenAddress {address}\n"),
        )
    }

    fn start_full(port: u16, authorized_line: &str, extra_config: &str) -> TestSshd {
        Self::start_full_with(port, authorized_line, extra_config, None)
    }

    fn start_full_with(
        port: u16,
        authorized_line: &str,
        extra_config: &str,
        hide: Option<&Path>,
    ) -> TestSshd {
        let authorized_key = authorized_line;
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let dir = tempfile::tempdir().expect("temp dir");
        let host_key = dir.path().join("host_key");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .output()
            .expect("running ssh-keygen");
        assert!(out.status.success(), "ssh-keygen failed: {out:?}");
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{}\n", authorized_key.trim())).unwrap();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 Port {port}\n\
                 HostKey {host_key}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 AllowAgentForwarding yes\n\
                 Subsystem sftp internal-sftp\n\
                 {extra_config}",
                host_key = host_key.display(),
                pid = dir.path().join("sshd.pid").display(),
                authorized = authorized.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let mut cmd = match hide {
            None => Command::new(SSHD),
            Some(dir) => {
                // unshare makes the new namespace's mounts private: the tmpfs stays inside it.
                let mut c = Command::new("unshare");
                c.args([
                    "-m",
                    "sh",
                    "-c",
                    "d=$1; shift; mount -t tmpfs -o ro cyborg-hidden \"$d\" && exec \"$@\"",
                    "sh",
                ])
                .arg(dir)
                .arg(SSHD);
                c
            }
        };
        let child = cmd
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sshd");
        let mut sshd = TestSshd { port, dir, child };
        sshd.wait_ready();
        sshd
    }

    /// The sshd's log (its stderr with `-e`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.host_key_path().with_extension("pub")).unwrap()
    }

    pub fn host_key_path(&self) -> PathBuf {
        self.dir.path().join("host_key")
    }

    /// Stops sshd: its port refuses connections until [`TestSshd::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts sshd again on the same port with the same host key and configuration.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("sshd.log"))
            .unwrap();
        self.child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sshd again");
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("sshd exited early ({status}): {}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on port {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
