//! Running commands on clients over OpenSSH (push mode). The local side is always an argv array
//! (never a local shell); the remote side gets ONE command line built with
//! [`super::shell::command_line`], so every user-supplied value is quoted exactly once.
//!
//! Secrets never go on a command line: the engine passes them as stdin bytes and wraps the remote
//! command with [`super::shell::with_secret_env`] (`IFS= read -r BORG_PASSPHRASE && export
//! BORG_PASSPHRASE && exec borg …`), writing `passphrase\n` first on stdin.
use std::{
    ffi::OsString,
    path::PathBuf,
    process::{ExitStatus, Stdio},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::Command,
};

use super::shell::{self, ShellError};

/// Where and as whom to connect. `hostname` and `username` are validated elsewhere; they still
/// travel as separate argv words, the host after `--`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub hostname: String,
    pub port: u16,
    pub username: String,
    /// The private key to log in with (the server's, or a remote repository's own).
    pub identity: PathBuf,
    /// A known_hosts file holding the host's pinned key under `alias` (see `host_keys`).
    pub known_hosts: PathBuf,
    pub alias: String,
    /// Pull mode: a unix socket on the client forwarded to one of this server's (`-R`).
    pub reverse: Option<Reverse>,
}

/// `ssh -R remote:local` for unix sockets; both paths are of the engine's own making (no `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    pub remote: String,
    pub local: PathBuf,
}

/// Why a remote command could not be run (a remote command that ran and failed is an
/// `Ok(ExitStatus)`; OpenSSH's own failures, such as a changed host key, are exit status 255).
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Shell(#[from] ShellError),
    #[error("running ssh: {0}")]
    Io(#[from] std::io::Error),
}

/// The exit status OpenSSH uses for its own errors (connection, authentication, host key).
pub const SSH_ERROR_STATUS: i32 = 255;

/// Options of every connection: never a prompt; the host must present its pinned key (no
/// trust on first use, no other known_hosts file, no learning keys the host offers); only the
/// given key, never an agent, and nothing forwarded to the remote side but the one socket a
/// tunnel asks for (so a client never holds anything that logs in elsewhere); dead connections
/// noticed.
const OPTIONS: &[&str] = &[
    "BatchMode=yes",
    "StrictHostKeyChecking=yes",
    "GlobalKnownHostsFile=/dev/null",
    "CheckHostIP=no",
    "UpdateHostKeys=no",
    "IdentitiesOnly=yes",
    "IdentityAgent=none",
    "ForwardAgent=no",
    "ForwardX11=no",
    "ConnectTimeout=30",
    "ServerAliveInterval=30",
    "ServerAliveCountMax=6",
];

impl SshTarget {
    /// The local `ssh` command for `remote_command_line` (see [`SshTarget::argv`]), without
    /// any agent of the server's own environment.
    pub fn command(&self, remote_command_line: &str) -> Command {
        let argv = self.argv(remote_command_line);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_remove("SSH_AUTH_SOCK");
        cmd
    }

    /// `BORG_RSH` for a borg run on this server itself (the server's own backup): ssh with the
    /// same options, key and pinned host key as [`argv`](Self::argv); borg adds the user, host
    /// and port from the repository's URL. Quoted for borg's shell-like split.
    pub fn borg_rsh(&self) -> Result<String, super::shell::ShellError> {
        let mut words: Vec<String> = vec!["ssh".into()];
        for o in OPTIONS {
            words.push("-o".into());
            words.push((*o).into());
        }
        words.extend([
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            format!("HostKeyAlias={}", self.alias),
            "-i".into(),
            self.identity.display().to_string(),
        ]);
        super::shell::command_line(&words)
    }

    /// The local argv (program first) running `remote_command_line` on the target:
    /// `ssh -o … -o UserKnownHostsFile=FILE -o HostKeyAlias=ALIAS -i KEY -p PORT -l USER
    /// [-o ExitOnForwardFailure=yes -R SOCKET:SOCKET] -- HOST 'remote command line'`.
    pub fn argv(&self, remote_command_line: &str) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec!["ssh".into()];
        for o in OPTIONS {
            argv.push("-o".into());
            argv.push((*o).into());
        }
        let mut known_hosts = OsString::from("UserKnownHostsFile=");
        known_hosts.push(&self.known_hosts);
        argv.extend([
            "-o".into(),
            known_hosts,
            "-o".into(),
            format!("HostKeyAlias={}", self.alias).into(),
            "-i".into(),
            self.identity.clone().into(),
            "-p".into(),
            self.port.to_string().into(),
            "-l".into(),
            self.username.clone().into(),
        ]);
        if let Some(r) = &self.reverse {
            // Without it a forward that cannot be set up is only a warning, and borg would fail
            // later with a far less clear message.
            argv.push("-o".into());
            argv.push("ExitOnForwardFailure=yes".into());
            argv.push("-R".into());
            let mut spec = OsString::from(&r.remote);
            spec.push(":");
            spec.push(&r.local);
            argv.push(spec);
        }
        argv.push("--".into());
        argv.push(self.hostname.clone().into());
        argv.push(remote_command_line.into());
        argv
    }
}

/// Runs `remote_argv` on the target (each word quoted; see [`run_command_line`]).
pub async fn run(
    target: &SshTarget,
    remote_argv: &[String],
    stdin: Option<Vec<u8>>,
    on_line: impl FnMut(String),
) -> Result<ExitStatus, SshError> {
    let line = shell::command_line(remote_argv)?;
    run_command_line(target, &line, stdin, on_line).await
}

/// Runs an already-built remote command line (from [`shell::command_line`] or
/// [`shell::with_secret_env`]) on the target. `stdin` bytes, if any, are written to the
/// connection then it is closed (otherwise stdin is `/dev/null`). Every stdout and stderr line
/// (without its newline, invalid UTF-8 replaced) goes to `on_line` in arrival order. ssh runs in
/// its own process group (id = its pid) so that a cancel can kill the whole tree, and is killed if
/// the future is dropped.
pub async fn run_command_line(
    target: &SshTarget,
    remote_command_line: &str,
    stdin: Option<Vec<u8>>,
    mut on_line: impl FnMut(String),
) -> Result<ExitStatus, SshError> {
    let (mut child, writer) = spawn(target, remote_command_line, stdin)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    stream_lines(stdout, stderr, &mut on_line).await?;
    let status = child.wait().await?;
    if let Some(w) = writer {
        w.abort();
    }
    Ok(status)
}

/// Starts ssh with both output streams piped and `stdin` (if any) written by a task, answered
/// with the child.
fn spawn(
    target: &SshTarget,
    remote_command_line: &str,
    stdin: Option<Vec<u8>>,
) -> std::io::Result<(tokio::process::Child, Option<tokio::task::JoinHandle<()>>)> {
    let mut cmd = target.command(remote_command_line);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .process_group(0);
    let mut child = cmd.spawn()?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(tokio::spawn(async move {
            // The remote side may exit without reading everything: a broken pipe is not an error.
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        })),
        _ => None,
    };
    Ok((child, writer))
}

/// What a short command printed, each stream apart (module queries parse stdout).
#[derive(Debug)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Most bytes kept of each stream of a [`run_capture`]d command; the rest is read and dropped.
const CAPTURE_LIMIT: usize = 4 << 20;

/// Runs `remote_command_line` like [`run_command_line`] and answers its two streams separately,
/// each cut at 4 MiB.
pub async fn run_capture(
    target: &SshTarget,
    remote_command_line: &str,
    stdin: Option<Vec<u8>>,
) -> Result<Captured, SshError> {
    let (mut child, _writer) = spawn(target, remote_command_line, stdin)?;
    let (stdout, stderr) = tokio::try_join!(
        read_capped(child.stdout.take()),
        read_capped(child.stderr.take())
    )?;
    let status = child.wait().await?;
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}

/// Reads `r` to its end, keeping the first [`CAPTURE_LIMIT`] bytes (the rest is drained so the
/// remote side never blocks on a full pipe).
async fn read_capped(r: Option<impl AsyncRead + Unpin>) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    if let Some(r) = r {
        let mut r = r.take(CAPTURE_LIMIT as u64);
        r.read_to_end(&mut kept).await?;
        tokio::io::copy(&mut r.into_inner(), &mut tokio::io::sink()).await?;
    }
    Ok(String::from_utf8_lossy(&kept).into_owned())
}

/// Reads both streams to their end, handing each line to `on_line` as soon as it arrives.
async fn stream_lines(
    out: impl AsyncRead + Unpin,
    err: impl AsyncRead + Unpin,
    on_line: &mut impl FnMut(String),
) -> std::io::Result<()> {
    let mut out = BufReader::new(out);
    let mut err = BufReader::new(err);
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            r = out.read_until(b'\n', &mut out_buf), if out_open => {
                if r? == 0 { out_open = false; }
                emit(&mut out_buf, on_line);
            }
            r = err.read_until(b'\n', &mut err_buf), if err_open => {
                if r? == 0 { err_open = false; }
                emit(&mut err_buf, on_line);
            }
        }
    }
    Ok(())
}

/// Hands a complete line (or the unterminated rest at end of stream) to `on_line`.
fn emit(buf: &mut Vec<u8>, on_line: &mut impl FnMut(String)) {
    if buf.is_empty() {
        return;
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    on_line(String::from_utf8_lossy(buf).into_owned());
    buf.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SshTarget {
        SshTarget {
            hostname: "-oProxyCommand=evil".into(),
            port: 2222,
            username: "root".into(),
            identity: PathBuf::from("/var/lib/cyborg/ssh/id_ed25519"),
            known_hosts: PathBuf::from("/var/lib/cyborg/ssh/known_hosts.d/cyborg-client-1"),
            alias: "cyborg-client-1".into(),
            reverse: None,
        }
    }

    fn words(argv: Vec<OsString>) -> Vec<String> {
        argv.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_layout() {
        let argv = words(target().argv("'borg' '--version'"));
        let dashdash = argv.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            argv[dashdash..],
            ["--", "-oProxyCommand=evil", "'borg' '--version'"]
        );
        let tail: Vec<&str> = argv[dashdash - 10..dashdash]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "-o",
                "UserKnownHostsFile=/var/lib/cyborg/ssh/known_hosts.d/cyborg-client-1",
                "-o",
                "HostKeyAlias=cyborg-client-1",
                "-i",
                "/var/lib/cyborg/ssh/id_ed25519",
                "-p",
                "2222",
                "-l",
                "root",
            ]
        );
        for o in [
            "StrictHostKeyChecking=yes",
            "ForwardAgent=no",
            "IdentityAgent=none",
            "IdentitiesOnly=yes",
            "BatchMode=yes",
        ] {
            assert!(argv[..dashdash].iter().any(|a| a == o), "{o}: {argv:?}");
        }
    }

    /// No connection ever forwards an agent: a client (root there, say) could otherwise log in
    /// wherever the forwarded key is authorized.
    #[test]
    fn no_agent_is_ever_forwarded() {
        let argv = words(target().argv("true"));
        assert!(!argv.iter().any(|a| a == "-A"), "{argv:?}");
        assert!(!argv.iter().any(|a| a.contains("accept-new")), "{argv:?}");
        let cmd = target().command("true");
        let env: Vec<_> = cmd.as_std().get_envs().collect();
        assert!(
            env.iter()
                .any(|(k, v)| *k == "SSH_AUTH_SOCK" && v.is_none()),
            "SSH_AUTH_SOCK is removed: {env:?}"
        );
    }

    #[test]
    fn argv_reverse_socket() {
        let t = SshTarget {
            reverse: Some(Reverse {
                remote: "/tmp/cyborg-pull-1.sock".into(),
                local: PathBuf::from("/var/lib/cyborg/ssh/pull-1.sock"),
            }),
            ..target()
        };
        let argv: Vec<String> = t
            .argv("true")
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let r = argv.iter().position(|a| a == "-R").unwrap();
        assert_eq!(
            argv[r - 2..=r + 1],
            [
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                "/tmp/cyborg-pull-1.sock:/var/lib/cyborg/ssh/pull-1.sock"
            ]
        );
        assert!(r < argv.iter().position(|a| a == "--").unwrap());
    }

    #[tokio::test]
    async fn lines_of_both_streams_are_emitted() {
        let out: &[u8] = b"a\nb\r\nlast";
        let err: &[u8] = b"e1\n";
        let mut lines = Vec::new();
        stream_lines(out, err, &mut |l| lines.push(l))
            .await
            .unwrap();
        lines.sort();
        assert_eq!(lines, ["a", "b", "e1", "last"]);
    }
}
