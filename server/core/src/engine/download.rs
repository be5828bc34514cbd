//! Streaming one borg's standard output to an HTTP client (catalog downloads): `borg extract
//! --stdout` of a file or `borg export-tar` of a folder, run on the archive's client over SSH
//! like any job's borg, read in 64 KiB chunks as the client reads them, so the server's memory
//! stays flat whatever the size. A client that goes away drops the stream, which kills the ssh
//! (and with the connection, borg).
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, ChildStdout},
};

use super::{
    remote,
    ssh::{SSH_ERROR_STATUS, SshTarget},
    tunnel::Tunnel,
};

const CHUNK: usize = 64 * 1024;

/// A download's bytes as they come; an error ends the transfer.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Why a download could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("running ssh: {0}")]
    Spawn(String),
    /// borg (or ssh) ended with an error before writing anything; the last lines it printed.
    #[error("{0}")]
    Failed(String),
}

/// Starts `borg_argv` on `target` and answers the body once its first bytes arrived (or it ended
/// well having written nothing): an error before any output is answered as an error, not as a
/// truncated 200. An error after the first bytes ends the body with an error, so the HTTP client
/// sees a broken transfer instead of a short file.
pub async fn start(
    target: &SshTarget,
    borg_argv: &[String],
    passphrase: &str,
    tunnel: Option<Tunnel>,
) -> Result<ByteStream, StartError> {
    let mut child = remote::spawn_borg(target, borg_argv, passphrase, tunnel.as_ref())
        .map_err(|e| StartError::Spawn(format!("{e:#}")))?;
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    // The last stderr lines, for the error message; the first one is the wrapper's pid line.
    let tail = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut tail: Vec<String> = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            if !l.starts_with("CYBORG-PID ") {
                tail.push(l);
                if tail.len() > 5 {
                    tail.remove(0);
                }
            }
        }
        tail
    });
    let mut first = vec![0u8; CHUNK];
    let n = stdout
        .read(&mut first)
        .await
        .map_err(|e| StartError::Spawn(e.to_string()))?;
    if n == 0 {
        let status = child
            .wait()
            .await
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        let tail = tail.await.unwrap_or_default();
        if !status.success() {
            let why = if status.code() == Some(SSH_ERROR_STATUS) {
                "the client could not be reached over SSH"
            } else {
                "borg failed"
            };
            return Err(StartError::Failed(format!(
                "{why} ({status}): {}",
                tail.join(" / ")
            )));
        }
        return Ok(Box::pin(futures_util::stream::empty()));
    }
    first.truncate(n);
    let state = Some(Reading {
        first: Some(Bytes::from(first)),
        stdout,
        child,
        _tunnel: tunnel,
    });
    Ok(Box::pin(futures_util::stream::unfold(
        state,
        |state| async move {
            let mut r = state?;
            if let Some(b) = r.first.take() {
                return Some((Ok(b), Some(r)));
            }
            let mut buf = vec![0u8; CHUNK];
            match r.stdout.read(&mut buf).await {
                Ok(0) => match r.child.wait().await {
                    Ok(s) if s.success() => None,
                    Ok(s) => Some((
                        Err(std::io::Error::other(format!("borg ended with {s}"))),
                        None,
                    )),
                    Err(e) => Some((Err(e), None)),
                },
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(r)))
                }
                Err(e) => Some((Err(e), None)),
            }
        },
    )))
}

struct Reading {
    first: Option<Bytes>,
    stdout: ChildStdout,
    /// Killed when dropped (`kill_on_drop`): the HTTP client went away.
    child: Child,
    /// The repository served through the connection while the body streams.
    _tunnel: Option<Tunnel>,
}
