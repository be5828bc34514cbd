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
    tunnel::Tunnel,
};

/// The first stderr line of every remote borg: `CYBORG-PID <pid>`.
const PID_MARK: &str = "CYBORG-PID ";
/// The stderr line a feed command's wrapper prints when the command ends: `CYBORG-FEED-EXIT <n>`.
const FEED_MARK: &str = "CYBORG-FEED-EXIT ";
/// After asking a canceled borg to stop, how long it gets before its connection is killed.
const STOP_GRACE: Duration = Duration::from_secs(40);

/// The remote command line: print the shell's pid, enter `workdir` (made if missing) when
/// given, read the passphrase from stdin into BORG_PASSPHRASE, then `exec env TZ=UTC … borg …`
/// (same pid). Every word of `borg_argv` and the folder are quoted by `shell::quote`.
pub fn borg_command_line(
    borg_argv: &[String],
    workdir: Option<&str>,
) -> Result<String, ShellError> {
    let mut argv: Vec<String> = vec!["env".into()];
    argv.extend(BORG_ENV.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend(borg_argv.iter().cloned());
    let enter = match workdir {
        Some(dir) => enter_without_links(dir)?,
        None => String::new(),
    };
    Ok(format!(
        "printf '{PID_MARK}%s\\n' \"$$\" >&2; {enter}{}",
        shell::with_secret_env("BORG_PASSPHRASE", &argv)?
    ))
}

/// Shell text entering the folder `dir` (absolute, without `.` or `..`) from `/`, one component
/// at a time: a missing one is made (mode 0700), a symbolic link anywhere on the way is refused
/// (someone on the client could have planted one to send a restore elsewhere, into `/etc`
/// say), and the folder finally entered must be `dir` itself (`pwd -P`), which a link swapped in
/// between the check and the `cd` would change. Every failure exits 2, borg's "error" (a
/// failed mkdir's own 1 would read as borg's "warning").
fn enter_without_links(dir: &str) -> Result<String, ShellError> {
    let parts: Vec<String> = dir
        .split('/')
        .filter(|p| !p.is_empty())
        .map(shell::quote)
        .collect::<Result<_, _>>()?;
    let physical = format!(
        "/{}",
        dir.split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    );
    let want = shell::quote(&physical)?;
    Ok(format!(
        "cd / && for c in {}; do if [ -L \"$c\" ]; then echo \"cyborgbackup: refusing to \
         restore through the symbolic link $(pwd -P)/$c\" >&2; exit 2; fi; if [ ! -e \"$c\" ]; \
         then mkdir -m 0700 -- \"$c\" || {{ echo \"cyborgbackup: cannot create $(pwd -P)/$c\" \
         >&2; exit 2; }}; fi; cd -P -- \"$c\" || {{ echo \"cyborgbackup: cannot enter \
         $(pwd -P)/$c\" >&2; exit 2; }}; done; [ \"$(pwd -P)\" = {want} ] || {{ echo \
         \"cyborgbackup: the folder {want} changed while it was entered\" >&2; exit 2; }}; ",
        parts.join(" ")
    ))
}

/// A command whose standard output borg archives (`borg create … -`).
#[derive(Clone, Copy)]
pub struct Feed<'a> {
    /// Shell text; its user values already quoted.
    pub command: &'a str,
    /// An environment variable the command alone gets (a database password): its value travels
    /// as the second line of stdin, after the passphrase.
    pub secret: Option<(&'a str, &'a str)>,
    /// `command` makes FIFOs in the current folder and writes them in the background (see
    /// `sources::Stream::fifos`); borg reads the folder instead of stdin.
    pub fifos: bool,
}

/// The remote command line for a borg that reads `feed`'s output on stdin: the feed runs in a
/// background subshell writing into a FIFO (in a fresh `mktemp -d` directory, removed as soon as
/// both ends are open) that becomes borg's stdin; borg is still `exec`ed, so the pid printed first
/// is borg's. The feed gets its secret and never the passphrase; borg never gets the secret. The
/// subshell reports the command's exit status as `CYBORG-FEED-EXIT <n>` on stderr, since borg
/// archives whatever arrived and succeeds even when the dump failed.
pub fn feed_command_line(borg_argv: &[String], feed: &Feed) -> Result<String, ShellError> {
    let mut argv: Vec<String> = vec!["env".into()];
    argv.extend(BORG_ENV.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend(borg_argv.iter().cloned());
    let secret = match feed.secret {
        Some((var, _)) if !shell::is_var_name(var) => {
            return Err(ShellError::InvalidVarName(var.to_string()));
        }
        Some((var, _)) => format!("{var}=$CYBORG_FEED_SECRET; export {var}; "),
        None => String::new(),
    };
    Ok(format!(
        "printf '{PID_MARK}%s\\n' \"$$\" >&2; IFS= read -r BORG_PASSPHRASE; \
         IFS= read -r CYBORG_FEED_SECRET; d=$(mktemp -d) && mkfifo \"$d/feed\" || \
         {{ echo 'cyborgbackup: cannot make a FIFO for the command on the client' >&2; exit 2; }}; \
         ( exec >\"$d/feed\"; rm -rf \"$d\"; unset BORG_PASSPHRASE; {secret}\
         unset CYBORG_FEED_SECRET; ( {} ); printf '{FEED_MARK}%s\\n' \"$?\" >&2 ) & \
         unset CYBORG_FEED_SECRET; export BORG_PASSPHRASE; exec {} <\"$d/feed\"",
        feed.command,
        shell::command_line(&argv)?
    ))
}

/// The remote command line for a borg that reads FIFOs `feed.command` makes and fills: run in a
/// fresh `mktemp -d` folder (borg archives `.`, so the items are named as the FIFOs); a watcher
/// removes the folder once borg is gone and stops writers left blocked (borg failed before
/// opening their FIFO) by signalling the process group.
pub fn fifo_command_line(borg_argv: &[String], feed: &Feed) -> Result<String, ShellError> {
    let mut argv: Vec<String> = vec!["env".into()];
    argv.extend(BORG_ENV.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend(borg_argv.iter().cloned());
    Ok(format!(
        "printf '{PID_MARK}%s\\n' \"$$\" >&2; IFS= read -r BORG_PASSPHRASE; \
         d=$(mktemp -d) && cd \"$d\" || {{ echo 'cyborgbackup: cannot make a folder for the \
         dumps on the client' >&2; exit 2; }}; ( while kill -0 $$ 2>/dev/null; do sleep 1; done; \
         rm -rf \"$d\"; kill -TERM 0 ) </dev/null >/dev/null 2>&1 & {}; export BORG_PASSPHRASE; \
         exec {}",
        feed.command,
        shell::command_line(&argv)?
    ))
}

/// The remote script stopping our borg `pid` (only if that pid is a borg): SIGTERM (borg then
/// releases its repository lock itself), up to 30 s to go, then SIGKILL. Once borg is gone, what
/// is left of its process group (a feed command) gets SIGTERM: sshd made borg's shell a session
/// and group leader, so the group id is the pid. Exit 0: gone (or was not there); 3: it had to
/// be killed, so its lock may be stale.
pub fn stop_script(pid: u32) -> String {
    format!(
        "p={pid}; [ \"$(cat /proc/$p/comm 2>/dev/null)\" = borg ] || exit 0; kill -TERM $p; \
         i=0; while [ $i -lt 60 ]; do kill -0 $p 2>/dev/null || {{ kill -TERM -$p 2>/dev/null; \
         exit 0; }}; sleep 0.5; i=$((i+1)); done; kill -KILL $p; sleep 1; \
         kill -TERM -$p 2>/dev/null; exit 3"
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
    /// A feed command's exit status (`None`: no feed, or it never reported).
    pub feed_exit: Option<i32>,
}

/// What to do with borg's stdout.
pub enum Stdout {
    /// Log each line and keep them all (JSON answers are small).
    Collect,
    /// Hand the stream to a consumer (catalog ingestion); its result comes back separately.
    Stream,
}

/// Where a borg runs: the client, the repository passphrase, where its pids are recorded, and
/// the command it reads on stdin if any.
pub struct Session<'a, P: Pids> {
    pub target: &'a SshTarget,
    pub passphrase: &'a str,
    pub pids: &'a P,
    pub feed: Option<Feed<'a>>,
    /// The folder borg runs in (a restore's destination), made if missing.
    pub workdir: Option<&'a str>,
    /// The repository served through the connection (pull mode, a remote repository; the
    /// argv then names it by [`Tunnel::location`]).
    pub tunnel: Option<&'a Tunnel>,
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

/// Spawns one borg on `target` with the passphrase on stdin, its stdout and stderr piped, killed
/// when dropped; for callers that read its output themselves (downloads). `tunnel` must
/// outlive the child.
pub fn spawn_borg(
    target: &SshTarget,
    borg_argv: &[String],
    passphrase: &str,
    tunnel: Option<&Tunnel>,
) -> anyhow::Result<Child> {
    let how = Linked::new(target, borg_argv, tunnel);
    Ok(spawn(
        &how.target,
        &format!("{}{}", how.prefix, borg_command_line(&how.argv, None)?),
        &[passphrase],
    )?)
}

/// The ssh target, borg argv and command-line prefix of one connection: as given for a folder
/// on the client; through a tunnel with a fresh forwarded socket, `--rsh` to reach it and the
/// socket's remover.
struct Linked {
    target: SshTarget,
    argv: Vec<String>,
    prefix: String,
}

impl Linked {
    fn new(target: &SshTarget, borg_argv: &[String], tunnel: Option<&Tunnel>) -> Self {
        match tunnel {
            None => Self {
                target: target.clone(),
                argv: borg_argv.to_vec(),
                prefix: String::new(),
            },
            Some(p) => {
                let link = p.link();
                Self {
                    target: p.target(target, &link),
                    argv: Tunnel::argv(&link, borg_argv),
                    prefix: Tunnel::prefix(&link),
                }
            }
        }
    }
}

/// Spawns `ssh … 'wrapper borg …'` with `stdin_lines` (the passphrase, a feed's secret) on stdin.
fn spawn(target: &SshTarget, line: &str, stdin_lines: &[&str]) -> std::io::Result<Child> {
    let mut child = target
        .command(line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        let bytes: Vec<u8> = stdin_lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
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
        feed,
        workdir,
        tunnel,
    } = *on;
    let Linked {
        target: linked,
        argv,
        prefix,
    } = Linked::new(target, borg_argv, tunnel);
    let shown = shell::command_line(&argv)?;
    let mut child = match &feed {
        None => {
            log.line(format!("$ {shown}"));
            spawn(
                &linked,
                &format!("{prefix}{}", borg_command_line(&argv, workdir)?),
                &[passphrase],
            )?
        }
        Some(f) if f.fifos => {
            log.line(format!("$ {}; {shown}", f.command));
            spawn(
                &linked,
                &format!("{prefix}{}", fifo_command_line(&argv, f)?),
                &[passphrase],
            )?
        }
        Some(f) => {
            log.line(format!("$ {} | {shown}", f.command));
            let secret = f.secret.map(|(_, v)| v).unwrap_or("");
            if secret.contains('\n') {
                anyhow::bail!("the command's secret holds a newline, which cannot be passed");
            }
            spawn(
                &linked,
                &format!("{prefix}{}", feed_command_line(&argv, f)?),
                &[passphrase, secret],
            )?
        }
    };
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
    let mut feed_exit: Option<i32> = None;
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
                    if feed.is_some()
                        && let Some(code) = l.strip_prefix(FEED_MARK).and_then(|c| c.trim().parse().ok())
                    {
                        // Several writers (one per guest): the first failure is the answer.
                        feed_exit = Some(match feed_exit {
                            Some(worst) if worst != 0 => worst,
                            _ => code,
                        });
                        log.line(format!("the command feeding borg exited with status {code}"));
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
    for l in tunnel.map(Tunnel::take_serve_lines).unwrap_or_default() {
        log.line(format!("borg serve (through this server): {l}"));
    }
    log.flush().await?;
    Ok((
        Finished {
            code: status.code(),
            canceled,
            stdout: collected,
            stderr_tail: tail,
            feed_exit,
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

    /// Runs [`enter_without_links`] under a local `sh` and answers (status, the folder it
    /// ended in, stderr).
    fn enter(dir: &std::path::Path) -> (i32, String, String) {
        let script = format!(
            "{}pwd -P",
            enter_without_links(dir.to_str().unwrap()).unwrap()
        );
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn a_destination_is_entered_without_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let fresh = base.join("new dir").join("it's deep");
        let (code, now, err) = enter(&fresh);
        assert_eq!((code, now.as_str()), (0, fresh.to_str().unwrap()), "{err}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A link planted on the way (to a folder it should never write into).
        let elsewhere = base.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, base.join("link")).unwrap();
        let (code, _, err) = enter(&base.join("link").join("restore"));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!elsewhere.join("restore").exists());
        // The link as the destination itself.
        let (code, _, _) = enter(&base.join("link"));
        assert_eq!(code, 2);
    }

    #[test]
    fn command_line_quotes_and_reads_the_secret() {
        let line = borg_command_line(
            &["borg".into(), "create".into(), "/r::a; touch /x".into()],
            None,
        )
        .unwrap();
        assert!(line.starts_with("printf 'CYBORG-PID %s\\n' \"$$\" >&2; IFS= read -r BORG_PASSPHRASE && export BORG_PASSPHRASE && exec 'env' 'TZ=UTC'"), "{line}");
        assert!(
            line.ends_with("'borg' 'create' '/r::a; touch /x'"),
            "{line}"
        );
    }

    /// Runs a feed command line under a local `sh` (a stand-in for the remote shell), with `cat`
    /// as "borg", and answers (stdout, stderr).
    fn run_feed(command: &str, secret: Option<(&str, &str)>) -> (String, String) {
        use std::io::Write;
        let line = feed_command_line(
            &[
                "sh".into(),
                "-c".into(),
                "cat; echo \"borg-env:${PGPASSWORD:-none}\"".into(),
            ],
            &Feed {
                command,
                secret,
                fifos: false,
            },
        )
        .unwrap();
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        writeln!(input, "the-passphrase").unwrap();
        writeln!(input, "{}", secret.map(|s| s.1).unwrap_or("")).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn a_feed_reaches_borgs_stdin_with_its_secret_and_exit_status() {
        let (out, err) = run_feed(
            "echo \"dump as $PGPASSWORD, passphrase ${BORG_PASSPHRASE:-unset}\"",
            Some(("PGPASSWORD", "s3cret")),
        );
        assert_eq!(out, "dump as s3cret, passphrase unset\nborg-env:none\n");
        assert!(err.starts_with("CYBORG-PID "), "{err}");
        assert!(err.contains("CYBORG-FEED-EXIT 0\n"), "{err}");
        let (out, err) = run_feed("printf partial; exit 7", None);
        assert_eq!(out, "partialborg-env:none\n");
        assert!(err.contains("CYBORG-FEED-EXIT 7\n"), "{err}");
        assert!(
            feed_command_line(
                &[],
                &Feed {
                    command: "x",
                    secret: Some(("A B", "v")),
                    fifos: false,
                }
            )
            .is_err()
        );
    }

    #[test]
    fn stop_script_is_fixed_but_for_the_number() {
        let s = stop_script(4242);
        assert!(s.starts_with("p=4242;"));
        assert!(s.contains("kill -TERM $p"));
    }
}
