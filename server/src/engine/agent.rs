//! The server's own ssh-agent, holding its key, so that `ssh -A` can forward it: a client then
//! reaches an `ssh://` (or `user@host:`) repository with the server's key and needs no key of
//! its own (SPEC §7). The agent listens on `<data_dir>/ssh/agent.sock` (in the 0700 `ssh`
//! directory). It is started the first time a job needs it; an agent a previous life of the
//! server left on that socket (after a SIGKILL) is reused rather than leaked.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::ssh_keys;

pub struct Agent {
    pub socket: PathBuf,
    /// `None` when an agent already listening on the socket was reused.
    _child: Option<Child>,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    ssh_keys::ssh_dir(data_dir).join("agent.sock")
}

/// Whether an agent answers on `socket` (`ssh-add -l`: 0 keys listed, 1 no key, 2 no agent).
async fn answers(socket: &Path) -> bool {
    Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| matches!(s.code(), Some(0 | 1)))
}

/// Starts `ssh-agent -D -a SOCKET` (or reuses the one answering there) and adds the server's
/// private key to it.
pub async fn start(data_dir: &Path) -> anyhow::Result<Agent> {
    let socket = socket_path(data_dir);
    let child = if answers(&socket).await {
        None
    } else {
        // A dead socket file would make ssh-agent refuse to start.
        let _ = std::fs::remove_file(&socket);
        Some(spawn(&socket)?)
    };
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    add_key(data_dir, &socket).await?;
    Ok(Agent {
        socket,
        _child: child,
    })
}

fn spawn(socket: &Path) -> anyhow::Result<Child> {
    Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting ssh-agent")
}

async fn add_key(data_dir: &Path, socket: &Path) -> anyhow::Result<()> {
    let out = Command::new("ssh-add")
        .arg("-q")
        .arg(ssh_keys::private_key_path(data_dir))
        .env("SSH_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running ssh-add")?;
    if !out.status.success() {
        bail!(
            "ssh-add could not add the server key to its agent: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
