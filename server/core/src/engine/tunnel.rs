//! The repository served to a client through the job's own SSH connection (borg's documented
//! "pull backup" over a forwarded socket), so the client never needs a route, a key or any
//! credential to reach the repository:
//! - pull mode: the repository is a folder on this server, served by a local `borg serve`;
//! - a remote repository (`user@host:/path`, `ssh://…`): this server connects to its host with
//!   that repository's own key and relays `borg serve` from there.
//!
//! For the duration of a job the server listens on a unix socket of its own, every ssh of that
//! job forwards a fresh socket on the client to it (`ssh -R /tmp/cyborg-pull-….sock:LOCAL`), and
//! the client's borg reaches it with `--rsh "sh -c 'exec socat STDIO UNIX-CONNECT:…'"` and the
//! location `ssh://cyborg/PATH`. Each connection gets its own
//! `borg serve --restrict-to-repository PATH`, so whatever the client sends over the socket, it
//! can open that one repository and nothing else. The passphrase still only goes to the client's
//! borg (encryption happens there); `borg serve` never needs it.
//!
//! The client needs `socat`. sshd creates the forwarded socket owner-only (its default
//! `StreamLocalBindMask 0177`) and does not remove it when the connection ends, hence a fresh name
//! per connection and a remover beside the client's borg.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    process::Command,
    task::{JoinHandle, JoinSet},
};

use super::{
    shell,
    ssh::{Reverse, SshTarget},
};
use crate::ssh_keys;

/// The host name in the location the client's borg is given; never resolved (the `--rsh`
/// command ignores it).
const PSEUDO_HOST: &str = "cyborg";
/// A unix socket path must fit `sun_path` (108 bytes with its NUL on Linux).
const MAX_SOCKET_PATH: usize = 100;
/// Most connections (each a `borg serve`) one tunnel serves at once.
const MAX_CONNECTIONS: usize = 4;
/// How many lines of `borg serve`'s own stderr are kept for the job log between two runs.
const MAX_SERVE_LINES: usize = 200;

/// Why a repository path cannot be served through a tunnel (the operator's mistake, in words).
pub fn unservable(repository_path: &str) -> Option<String> {
    if repository_path.contains("::") {
        return Some("a served repository's path cannot contain \"::\"".into());
    }
    None
}

/// Where each connection's `borg serve` runs.
#[derive(Debug, Clone)]
pub enum Serve {
    /// Pull mode: a folder on this server.
    Here {
        path: String,
        restrictions: Vec<String>,
    },
    /// A repository on another host, reached from this server (`host` holds its pinned host
    /// key and the repository's own key pair).
    Relayed {
        host: SshTarget,
        path: String,
        restrictions: Vec<String>,
    },
}

impl Serve {
    fn path(&self) -> &str {
        match self {
            Serve::Here { path, .. } | Serve::Relayed { path, .. } => path,
        }
    }

    /// `--append-only`, `--storage-quota Q` of the repository (`repo_options::restrictions`):
    /// enforced by the serving side, whatever the client's borg asks.
    fn restrictions(&self) -> &[String] {
        match self {
            Serve::Here { restrictions, .. } | Serve::Relayed { restrictions, .. } => restrictions,
        }
    }
}

/// The local end of one job's tunnel: the listening socket and the `borg serve`s behind it.
/// Dropping it stops listening, kills the serves still running and removes the socket.
pub struct Tunnel {
    local: PathBuf,
    repository: String,
    serve_lines: Arc<Mutex<Vec<String>>>,
    host_key_failed: Arc<std::sync::atomic::AtomicBool>,
    accept: JoinHandle<()>,
}

/// One connection's forwarded socket on the client.
pub struct Link {
    remote: String,
}

impl Tunnel {
    /// Listens on a fresh socket in the server's 0700 ssh folder for the repository `serve`
    /// names (an absolute folder here or on its host, see [`unservable`]).
    pub fn start(data_dir: &Path, serve: Serve) -> anyhow::Result<Self> {
        let repository_path = serve.path().to_string();
        if let Some(why) = unservable(&repository_path) {
            bail!(why);
        }
        let dir = ssh_keys::ssh_dir(data_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let local = dir.join(format!("pull-{}.sock", uuid::Uuid::new_v4().simple()));
        let shown = local.to_string_lossy();
        if shown.len() > MAX_SOCKET_PATH || shown.contains(':') {
            bail!(
                "the pull-mode socket {shown} is too long for a unix socket or holds a ':' (ssh -R \
                 cannot forward it); use a shorter data directory"
            );
        }
        let listener = UnixListener::bind(&local)
            .with_context(|| format!("listening on {}", local.display()))?;
        let serve_lines = Arc::new(Mutex::new(Vec::new()));
        let host_key_failed = Arc::default();
        let accept = tokio::spawn(accept_loop(
            listener,
            serve,
            Reports {
                lines: serve_lines.clone(),
                host_key_failed: Arc::clone(&host_key_failed),
            },
        ));
        Ok(Self {
            local,
            repository: repository_path,
            serve_lines,
            host_key_failed,
            accept,
        })
    }

    /// Whether this server's connection to the repository's host was refused because the host
    /// did not present its pinned key.
    pub fn host_key_failed(&self) -> bool {
        self.host_key_failed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The repository as the client's borg names it.
    pub fn location(&self) -> String {
        format!("ssh://{PSEUDO_HOST}{}", self.repository)
    }

    /// A fresh forwarded-socket name for one more ssh connection.
    pub fn link(&self) -> Link {
        Link {
            remote: format!("/tmp/cyborg-pull-{}.sock", uuid::Uuid::new_v4().simple()),
        }
    }

    /// `base` with `link` forwarded to this server's socket.
    pub fn target(&self, base: &SshTarget, link: &Link) -> SshTarget {
        SshTarget {
            reverse: Some(Reverse {
                remote: link.remote.clone(),
                local: self.local.clone(),
            }),
            ..base.clone()
        }
    }

    /// `borg_argv` (`borg …`) with `--rsh` reaching the forwarded socket (a name of our own
    /// making: no quoting concern inside it).
    pub fn argv(link: &Link, borg_argv: &[String]) -> Vec<String> {
        let mut argv = Vec::with_capacity(borg_argv.len() + 2);
        argv.extend(borg_argv.first().cloned());
        argv.push("--rsh".into());
        argv.push(format!(
            "sh -c 'exec socat STDIO UNIX-CONNECT:{}'",
            link.remote
        ));
        argv.extend(borg_argv.iter().skip(1).cloned());
        argv
    }

    /// Shell text put before the remote command line: no socat, a clear failure (exit 2, borg's
    /// "error"); otherwise a remover that deletes the forwarded socket once this shell (then
    /// borg, which `exec`s in its place) is gone. The remover ignores SIGTERM: a cancel's stop
    /// script signals borg's whole process group once borg is gone, which would otherwise kill
    /// it before it removed the socket. Prints nothing when all is well, so the pid line stays
    /// the first one.
    pub fn prefix(link: &Link) -> String {
        format!(
            "command -v socat >/dev/null 2>&1 || {{ echo 'cyborgbackup: socat is needed on the \
             client to reach the repository through the server (install the socat package)' >&2; exit 2; }}; ( trap '' TERM HUP; while \
             kill -0 $$ 2>/dev/null; do sleep 1; done; rm -f {} ) </dev/null >/dev/null 2>&1 & ",
            link.remote
        )
    }

    /// What the local `borg serve`s printed since the last call (their errors: the client's borg
    /// only sees that the connection ended).
    pub fn take_serve_lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.serve_lines.lock().expect("serve lines lock"))
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts each connection and so
        // drops (kills) its `borg serve`.
        self.accept.abort();
        let _ = std::fs::remove_file(&self.local);
    }
}

/// Where the `borg serve`s of a tunnel report.
#[derive(Clone)]
struct Reports {
    lines: Arc<Mutex<Vec<String>>>,
    host_key_failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Reports {
    fn note(&self, line: String) {
        if line.contains("Host key verification failed")
            || line.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            self.host_key_failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut l = self.lines.lock().expect("serve lines lock");
        if l.len() < MAX_SERVE_LINES {
            l.push(line);
        }
    }
}

async fn accept_loop(listener: UnixListener, serve: Serve, reports: Reports) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                // A job's borg opens one connection at a time; a client opening many (it holds
                // the socket for the job's length) gets no more `borg serve`s than this.
                Ok((_, _)) if connections.len() >= MAX_CONNECTIONS => {
                    reports.note(format!(
                        "refused a connection: {MAX_CONNECTIONS} are open already"
                    ));
                }
                Ok((stream, _)) => {
                    connections.spawn(serve_one(stream, serve.clone(), reports.clone()));
                }
                Err(e) => {
                    reports.note(format!("accepting a tunnel connection: {e}"));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// `borg serve` of one repository, on this server or (relayed) on its host.
fn serve_command(serve: &Serve) -> anyhow::Result<Command> {
    let mut argv = vec![
        "borg".to_string(),
        "serve".into(),
        "--restrict-to-repository".into(),
        serve.path().to_string(),
    ];
    argv.extend(serve.restrictions().iter().cloned());
    let mut cmd = match serve {
        Serve::Here { .. } => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
        // The repository host's authorized_keys may force this very command; if it does not,
        // this is the one asked for.
        Serve::Relayed { host, .. } => host.command(&shell::command_line(&argv)?),
    };
    cmd.env("LANG", "C.UTF-8")
        .env_remove("BORG_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Ok(cmd)
}

/// One client connection: a `borg serve` with its stdin and stdout spliced to the socket.
async fn serve_one(stream: UnixStream, serve: Serve, reports: Reports) {
    let spawned = serve_command(&serve).and_then(|mut c| Ok(c.spawn()?));
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            reports.note(format!("starting borg serve: {e:#}"));
            return;
        }
    };
    let (mut from_client, mut to_client) = stream.into_split();
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let up = async move {
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        // Dropping stdin here is borg serve's end of input: it closes the repository and exits.
    };
    let down = async move {
        let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    let errors = async {
        let mut r = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = r.next_line().await {
            reports.note(l);
        }
    };
    tokio::join!(up, down, errors);
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_the_archive_separator_are_not_served() {
        assert!(unservable("/srv/borg/repo one").is_none());
        assert!(unservable("/srv/a::b").is_some());
    }

    #[test]
    fn argv_gets_rsh_after_the_program() {
        let link = Link {
            remote: "/tmp/cyborg-pull-ab.sock".into(),
        };
        let argv = Tunnel::argv(&link, &["borg".into(), "create".into(), "x".into()]);
        assert_eq!(
            argv,
            [
                "borg",
                "--rsh",
                "sh -c 'exec socat STDIO UNIX-CONNECT:/tmp/cyborg-pull-ab.sock'",
                "create",
                "x"
            ]
        );
        assert!(
            Tunnel::prefix(&link)
                .ends_with("rm -f /tmp/cyborg-pull-ab.sock ) </dev/null >/dev/null 2>&1 & ")
        );
    }

    /// A real local `borg serve` behind the socket: a borg on this machine, as the client would,
    /// creates a repository and an archive through it (socat on the "client" side).
    #[tokio::test]
    async fn a_borg_reaches_the_served_repository_through_the_socket() {
        if which("borg").is_none() || which("socat").is_none() {
            eprintln!("skipped: borg or socat is not installed");
            return;
        }
        let data = tempfile::tempdir().unwrap();
        let repo = data.path().join("served repo");
        let serve = Tunnel::start(
            data.path(),
            Serve::Here {
                path: repo.to_str().unwrap().into(),
                restrictions: Vec::new(),
            },
        )
        .unwrap();
        // No ssh here: the "forwarded" socket is the local one itself.
        let rsh = format!(
            "sh -c 'exec socat STDIO UNIX-CONNECT:{}'",
            serve.local.display()
        );
        let borg = |args: &[&str]| {
            let mut c = Command::new("borg");
            c.arg("--rsh").arg(&rsh).args(args);
            c.env("BORG_PASSPHRASE", "pass")
                .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
                .env("BORG_BASE_DIR", data.path().join("client"));
            c
        };
        let loc = serve.location();
        let out = borg(&["init", "-e", "repokey", &loc])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let file = data.path().join("hello.txt");
        std::fs::write(&file, "hello").unwrap();
        let out = borg(&["create", &format!("{loc}::a1"), file.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            repo.join("config").exists(),
            "the repository is on the server side"
        );
        // Another path than the served one is refused by borg serve itself.
        let other = format!("ssh://{PSEUDO_HOST}{}", data.path().join("other").display());
        let out = borg(&["init", "-e", "repokey", &other])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(!data.path().join("other").exists());
        let local = serve.local.clone();
        drop(serve);
        assert!(!local.exists());
    }

    /// A client holding the socket cannot make the tunnel start `borg serve`s without bound.
    #[tokio::test]
    async fn a_tunnel_serves_a_few_connections_at_once() {
        if which("borg").is_none() {
            eprintln!("skipped: borg is not installed");
            return;
        }
        use tokio::io::AsyncReadExt;
        let data = tempfile::tempdir().unwrap();
        let repo = data.path().join("repo");
        let tunnel = Tunnel::start(
            data.path(),
            Serve::Here {
                path: repo.to_str().unwrap().into(),
                restrictions: Vec::new(),
            },
        )
        .unwrap();
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(UnixStream::connect(&tunnel.local).await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut extra = UnixStream::connect(&tunnel.local).await.unwrap();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("the extra connection is closed at once");
        assert_eq!(read.unwrap(), 0);
        assert!(
            tunnel
                .take_serve_lines()
                .iter()
                .any(|l| l.contains("refused a connection")),
        );
        drop(held);
    }

    fn which(program: &str) -> Option<PathBuf> {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.exists())
        })
    }
}
