//! One borg process on a client, over one SSH connection: the passphrase goes over stdin, the
//! remote wrapper first prints its pid (the pid borg keeps, thanks to `exec`) so that a cancel —
//! or a restarted server — can stop exactly that process on the client, and stdout/stderr are
//! read separately (stdout carries borg's JSON).
use std::process::Stdio;

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::Child,
    sync::{mpsc, watch},
    time::{Duration, Instant},
};

use super::{
    borg::BORG_ENV,
    log::JobLog,
    shell::{self, ShellError},
    ssh::{self, SshTarget},
};

/// The first stderr line of every remote borg: `CYBORG-PID <pid>`.
const PID_MARK: &str = "CYBORG-PID ";
/// After asking a canceled borg to stop, how long it gets before its connection is killed.
const STOP_GRACE: Duration = Duration::from_secs(40);

/// The remote command line: print the shell's pid, read the passphrase from stdin into
/// BORG_PASSPHRASE, then `exec env TZ=UTC … borg …` (same pid). Every word of `borg_argv` is
/// quoted by `shell::with_secret_env`.
pub fn borg_command_line(borg_argv: &[String]) -> Result<String, ShellError> {
    let mut argv: Vec<String> = vec!["env".into()];
    argv.extend(BORG_ENV.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend(borg_argv.iter().cloned());
    Ok(format!(
        "printf '{PID_MARK}%s\\n' \"$$\" >&2; {}",
        shell::with_secret_env("BORG_PASSPHRASE", &argv)?
    ))
}

/// The remote script stopping our borg `pid` (only if that pid is a borg): SIGTERM (borg then
/// releases its repository lock itself), up to 30 s to go, then SIGKILL. Exit 0: gone (or was
/// not there); 3: it had to be killed, so its lock may be stale.
pub fn stop_script(pid: u32) -> String {
    format!(
        "p={pid}; [ \"$(cat /proc/$p/comm 2>/dev/null)\" = borg ] || exit 0; kill -TERM $p; \
         i=0; while [ $i -lt 60 ]; do kill -0 $p 2>/dev/null || exit 0; sleep 0.5; i=$((i+1)); \
         done; kill -KILL $p; sleep 1; exit 3"
    )
}

/// How a remote borg ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None` when killed by a signal); 255 is OpenSSH's own failure.
    pub code: Option<i32>,
    pub canceled: bool,
    /// Every stdout line (only in [`Stdout::Collect`] mode).
    pub stdout: String,
    /// The last stderr lines (for explanations).
    pub stderr_tail: Vec<String>,
}

/// What to do with borg's stdout.
pub enum Stdout {
    /// Log each line and keep them all (JSON answers are small).
    Collect,
    /// Hand the stream to a consumer (catalog ingestion); its result comes back separately.
    Stream,
}

/// Where a borg runs: the client, the repository passphrase, and where its pids are recorded.
pub struct Session<'a, P: Pids> {
    pub target: &'a SshTarget,
    pub passphrase: &'a str,
    pub pids: &'a P,
}

impl<P: Pids> Clone for Session<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Pids> Copy for Session<'_, P> {}

/// Callbacks into the job that runs the process: where its pids are recorded.
pub trait Pids {
    fn local(&self, pid: Option<u32>) -> impl std::future::Future<Output = ()> + Send;
    fn remote(&self, pid: Option<u32>) -> impl std::future::Future<Output = ()> + Send;
}

/// Spawns `ssh … 'wrapper borg …'` with the passphrase on stdin.
fn spawn(target: &SshTarget, line: &str, passphrase: &str) -> std::io::Result<Child> {
    let mut child = target
        .command(line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        let bytes = format!("{passphrase}\n").into_bytes();
        tokio::spawn(async move {
            // borg may exit before reading: a broken pipe is not an error.
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        });
    }
    Ok(child)
}

enum Msg {
    Err(String),
    Out(String),
}

async fn forward_lines(
    r: impl AsyncRead + Unpin,
    tx: mpsc::Sender<Msg>,
    wrap: fn(String) -> Msg,
) -> std::io::Result<()> {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).await? == 0 {
            return Ok(());
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if tx
            .send(wrap(String::from_utf8_lossy(&buf).into_owned()))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Runs `borg_argv` on `target`, logging stderr (and, in `Collect` mode, stdout) into `log`,
/// until it ends or `cancel` turns true. In `Stream` mode `consume` gets stdout and runs beside
/// it; its result is answered with the outcome (a consumer that fails stops the process).
pub async fn run_borg<T, F, Fut>(
    on: &Session<'_, impl Pids>,
    borg_argv: &[String],
    log: &mut JobLog,
    cancel: &mut watch::Receiver<bool>,
    mode: Stdout,
    consume: F,
) -> anyhow::Result<(Finished, Option<anyhow::Result<T>>)>
where
    F: FnOnce(tokio::process::ChildStdout) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let Session {
        target,
        passphrase,
        pids,
    } = *on;
    let line = borg_command_line(borg_argv)?;
    log.line(format!("$ {}", shell::command_line(borg_argv)?));
    let mut child = spawn(target, &line, passphrase)?;
    let pgid = child.id();
    pids.local(pgid).await;
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let stderr = child.stderr.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    tokio::spawn(forward_lines(stderr, tx.clone(), Msg::Err));
    let mut consumer = match mode {
        Stdout::Collect => {
            tokio::spawn(forward_lines(stdout, tx, Msg::Out));
            None
        }
        Stdout::Stream => {
            drop(tx);
            Some(tokio::spawn(consume(stdout)))
        }
    };
    let mut consumed: Option<anyhow::Result<T>> = None;
    let mut collected = String::new();
    let mut tail: Vec<String> = Vec::new();
    let mut remote_pid: Option<u32> = None;
    let mut canceled = *cancel.borrow();
    let mut kill_at: Option<Instant> = canceled.then(Instant::now);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut lines_open = true;
    let status = loop {
        tokio::select! {
            msg = rx.recv(), if lines_open => match msg {
                Some(Msg::Err(l)) => {
                    if remote_pid.is_none()
                        && let Some(pid) = l.strip_prefix(PID_MARK).and_then(|p| p.trim().parse().ok())
                    {
                        remote_pid = Some(pid);
                        pids.remote(remote_pid).await;
                        if canceled {
                            stop_remote(target, pid, log).await;
                        }
                        continue;
                    }
                    tail.push(l.clone());
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                    log.line(l);
                }
                Some(Msg::Out(l)) => {
                    collected.push_str(&l);
                    collected.push('\n');
                    log.line(l);
                }
                None => lines_open = false,
            },
            r = async { consumer.as_mut().expect("guarded").await }, if consumer.is_some() => {
                consumer = None;
                let r = r.unwrap_or_else(|e| Err(anyhow::anyhow!("catalog task failed: {e}")));
                if let Err(e) = &r {
                    // The consumer stopped reading: borg would block on a full pipe forever.
                    log.line(format!("stopping borg: {e:#}"));
                    if let Some(pid) = remote_pid { stop_remote(target, pid, log).await; }
                    kill_at.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
                }
                consumed = Some(r);
            }
            _ = cancel.changed(), if !canceled => {
                canceled = true;
                log.line("cancel requested: stopping borg on the client");
                if let Some(pid) = remote_pid {
                    stop_remote(target, pid, log).await;
                }
                kill_at = Some(Instant::now() + STOP_GRACE);
            }
            _ = tick.tick() => {
                if let Err(e) = log.maybe_flush().await {
                    tracing::warn!("writing a job log: {e:#}");
                }
                if let Some(at) = kill_at
                    && Instant::now() >= at
                    && let Some(pg) = pgid
                {
                    kill_group(pg, libc::SIGKILL);
                    kill_at = None;
                }
            }
            s = child.wait(), if !lines_open && consumer.is_none() => break s?,
        }
    };
    pids.local(None).await;
    pids.remote(None).await;
    log.flush().await?;
    Ok((
        Finished {
            code: status.code(),
            canceled,
            stdout: collected,
            stderr_tail: tail,
        },
        consumed,
    ))
}

/// Stops our borg `pid` on the client through a second connection; answers whether it had to be
/// killed (its repository lock may then be stale).
pub async fn stop_remote(target: &SshTarget, pid: u32, log: &mut JobLog) -> bool {
    let mut lines = Vec::new();
    let r = ssh::run_command_line(target, &stop_script(pid), None, |l| lines.push(l)).await;
    for l in lines {
        log.line(l);
    }
    match r {
        Ok(s) if s.code() == Some(0) => false,
        Ok(s) if s.code() == Some(3) => {
            log.line(format!(
                "borg (pid {pid}) did not stop on SIGTERM and was killed"
            ));
            true
        }
        Ok(s) => {
            log.line(format!(
                "stopping borg (pid {pid}) on the client failed: {s}"
            ));
            true
        }
        Err(e) => {
            log.line(format!(
                "stopping borg (pid {pid}) on the client failed: {e}"
            ));
            true
        }
    }
}

/// Signals a local process group (the ssh of a job and anything it started).
pub fn kill_group(pgid: u32, signal: i32) {
    if let Ok(pg) = i32::try_from(pgid)
        && pg > 1
    {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pg, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_and_reads_the_secret() {
        let line =
            borg_command_line(&["borg".into(), "create".into(), "/r::a; touch /x".into()]).unwrap();
        assert!(line.starts_with("printf 'CYBORG-PID %s\\n' \"$$\" >&2; IFS= read -r BORG_PASSPHRASE && export BORG_PASSPHRASE && exec 'env' 'TZ=UTC'"), "{line}");
        assert!(
            line.ends_with("'borg' 'create' '/r::a; touch /x'"),
            "{line}"
        );
    }

    #[test]
    fn stop_script_is_fixed_but_for_the_number() {
        let s = stop_script(4242);
        assert!(s.starts_with("p=4242;"));
        assert!(s.contains("kill -TERM $p"));
    }
}
