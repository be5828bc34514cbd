//! The borg command lines the engine runs on clients, and the parsing of what borg prints.
//! Pure functions: every argv here is later quoted word by word by `shell::command_line`.
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::sources::Sources;

/// Environment every remote borg gets (values are fixed, never user input): `TZ=UTC` so that
/// `borg list` prints UTC times, no interactive questions, a repository moved or seen for the
/// first time is accepted (the server, not a human, answers for it), and the 0 / 1 (warning) /
/// 2 (error) exit codes also from borg ≥ 1.4, which otherwise uses finer ones.
pub const BORG_ENV: &[(&str, &str)] = &[
    ("TZ", "UTC"),
    ("LANG", "C.UTF-8"),
    ("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes"),
    ("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes"),
    ("BORG_EXIT_CODES", "legacy"),
];

/// `--lock-wait` in seconds: a repository lock held by another borg (say a manual run on the
/// client) is waited for this long before the job fails.
pub const LOCK_WAIT: &str = "600";

/// `borg --version` prints `borg 1.2.4`.
pub fn parse_version(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("borg")?.trim();
    (!rest.is_empty() && rest.chars().next()?.is_ascii_digit()).then(|| rest.to_string())
}

/// `borg init` with the repository's encryption mode and restrictions (`--append-only`,
/// `--storage-quota`: see `repo_options::restrictions`), making the repository's missing parent
/// directories (an operator names the repository path; having to create its parent on the
/// client first would be a trap).
pub fn init(repo: &str, encryption: &str, restrictions: &[String]) -> Vec<String> {
    let mut a = argv(&["borg", "init", &format!("--encryption={encryption}")]);
    a.extend(restrictions.iter().cloned());
    a.extend(argv(&["--make-parent-dirs", "--", repo]));
    a
}

/// `borg config REPO NAME VALUE`: a repository setting (append_only, storage_quota) changed
/// after `borg init`. borg only changes the config of a repository it opens as a folder.
/// `None` for a value deletes the setting (borg's default then applies).
pub fn config(repo: &str, name: &str, value: Option<&str>) -> Vec<String> {
    match value {
        Some(v) => argv(&["borg", "config", "--", repo, name, v]),
        None => argv(&["borg", "config", "--delete", "--", repo, name]),
    }
}

/// Whether `borg init` failed only because the repository is already there.
pub fn already_exists(log_line: &str) -> bool {
    log_line.contains("A repository already exists at")
}

/// `borg create --json` of `sources` into `repo::archive`. `ratelimit` is KiB/s. A stream
/// source is read from stdin (`-`) and archived under its name.
pub fn create(
    repo: &str,
    archive: &str,
    sources: &Sources,
    compression: &str,
    ratelimit: Option<i32>,
) -> Vec<String> {
    let mut a = argv(&["borg", "create", "--json", "--lock-wait", LOCK_WAIT]);
    if !compression.is_empty() {
        a.push("--compression".into());
        a.push(compression.into());
    }
    match &sources.stream {
        // The FIFOs in the current folder are read as files.
        Some(stream) if stream.fifos => a.push("--read-special".into()),
        Some(stream) => {
            a.push("--stdin-name".into());
            a.push(stream.name.clone());
        }
        None => {}
    }
    if sources.one_file_system {
        a.push("--one-file-system".into());
    }
    if let Some(limit) = ratelimit.filter(|l| *l > 0) {
        a.push("--upload-ratelimit".into());
        a.push(limit.to_string());
    }
    for e in &sources.excludes {
        a.push("--exclude".into());
        a.push(e.clone());
    }
    // `--` so that a folder named like an option is a path.
    a.push("--".into());
    a.push(format!("{repo}::{archive}"));
    a.extend(sources.paths.iter().cloned());
    a
}

/// `borg list --json-lines repo::archive`: one JSON object per item (catalog ingestion).
pub fn list_items(repo: &str, archive: &str) -> Vec<String> {
    argv(&[
        "borg",
        "list",
        "--json-lines",
        "--lock-wait",
        LOCK_WAIT,
        "--",
        &format!("{repo}::{archive}"),
    ])
}

/// `borg list --json repo`: the archives of a repository.
pub fn list_archives(repo: &str) -> Vec<String> {
    argv(&[
        "borg",
        "list",
        "--json",
        "--lock-wait",
        LOCK_WAIT,
        "--",
        repo,
    ])
}

/// `borg extract --list` of `items` (archive paths, matched literally as path prefixes: `pp:`,
/// so a path that looks like a pattern is not one) of `repo::archive`, into the current folder;
/// no items: everything.
pub fn extract(repo: &str, archive: &str, items: &[String], dry_run: bool) -> Vec<String> {
    let mut a = argv(&["borg", "extract", "--list", "--lock-wait", LOCK_WAIT]);
    if dry_run {
        a.push("--dry-run".into());
    }
    a.push("--".into());
    a.push(format!("{repo}::{archive}"));
    a.extend(items.iter().map(|i| format!("pp:{i}")));
    a
}

/// `borg check` of a repository and its archives; `--verify-data` also reads and verifies every
/// chunk (slow).
pub fn check(repo: &str, verify_data: bool) -> Vec<String> {
    let mut a = argv(&["borg", "check", "--lock-wait", LOCK_WAIT]);
    if verify_data {
        a.push("--verify-data".into());
    }
    a.push("--".into());
    a.push(repo.into());
    a
}

/// How long a download waits for a repository lock held by a job before it answers "busy".
pub const DOWNLOAD_LOCK_WAIT: &str = "30";

/// `borg extract --stdout` of the one file `path` of `repo::archive`.
pub fn extract_stdout(repo: &str, archive: &str, path: &str) -> Vec<String> {
    argv(&[
        "borg",
        "extract",
        "--stdout",
        "--lock-wait",
        DOWNLOAD_LOCK_WAIT,
        "--",
        &format!("{repo}::{archive}"),
        &format!("pp:{path}"),
    ])
}

/// `borg export-tar` of the folder `path` of `repo::archive` to stdout (an uncompressed tar).
pub fn export_tar(repo: &str, archive: &str, path: &str) -> Vec<String> {
    argv(&[
        "borg",
        "export-tar",
        "--lock-wait",
        DOWNLOAD_LOCK_WAIT,
        "--",
        &format!("{repo}::{archive}"),
        "-",
        &format!("pp:{path}"),
    ])
}

/// `borg delete repo::archive`: one archive (a partial one left by a failed dump).
pub fn delete_archive(repo: &str, archive: &str) -> Vec<String> {
    argv(&[
        "borg",
        "delete",
        "--lock-wait",
        LOCK_WAIT,
        "--",
        &format!("{repo}::{archive}"),
    ])
}

/// `borg info --json repo`: the repository's sizes.
pub fn info(repo: &str) -> Vec<String> {
    argv(&[
        "borg",
        "info",
        "--json",
        "--lock-wait",
        LOCK_WAIT,
        "--",
        repo,
    ])
}

/// `borg delete` of the named archives of `repo` (at most [`DELETE_BATCH`] per call). `None`
/// for no names: `borg delete REPO` without an archive would delete the whole repository, so
/// that command line is never made. The first name goes in `REPO::NAME` form, which borg
/// always reads as an archive.
pub fn delete_archives(repo: &str, names: &[String]) -> Option<Vec<String>> {
    let (first, rest) = names.split_first()?;
    let mut a = argv(&["borg", "delete", "--list", "--lock-wait", LOCK_WAIT, "--"]);
    a.push(format!("{repo}::{first}"));
    a.extend(rest.iter().cloned());
    Some(a)
}

/// How long an operator's request waits for a repository lock held by someone else.
pub const OPERATOR_LOCK_WAIT: &str = "10";

/// `borg info --json repo::archive`: one archive's stats, command line and host.
pub fn info_archive(repo: &str, archive: &str) -> Vec<String> {
    argv(&[
        "borg",
        "info",
        "--json",
        "--lock-wait",
        OPERATOR_LOCK_WAIT,
        "--",
        &format!("{repo}::{archive}"),
    ])
}

/// `borg diff --json-lines repo::a b`: what changed from archive `a` to archive `b`.
pub fn diff(repo: &str, a: &str, b: &str) -> Vec<String> {
    argv(&[
        "borg",
        "diff",
        "--json-lines",
        "--lock-wait",
        OPERATOR_LOCK_WAIT,
        "--",
        &format!("{repo}::{a}"),
        b,
    ])
}

/// `borg rename repo::old new`.
pub fn rename(repo: &str, old: &str, new: &str) -> Vec<String> {
    argv(&[
        "borg",
        "rename",
        "--lock-wait",
        OPERATOR_LOCK_WAIT,
        "--",
        &format!("{repo}::{old}"),
        new,
    ])
}

/// `borg key export [--paper] repo`: the repository key on stdout (no file is written).
pub fn key_export(repo: &str, paper: bool) -> Vec<String> {
    let mut a = argv(&["borg", "key", "export"]);
    if paper {
        a.push("--paper".into());
    }
    a.push("--".into());
    a.push(repo.into());
    a
}

/// `borg break-lock repo`: removes a lock nobody holds any more.
pub fn break_lock(repo: &str) -> Vec<String> {
    argv(&["borg", "break-lock", "--", repo])
}

/// `borg with-lock --lock-wait 1 repo true`: whether the repository's lock can be taken now.
pub fn probe_lock(repo: &str) -> Vec<String> {
    argv(&["borg", "with-lock", "--lock-wait", "1", "--", repo, "true"])
}

/// Whether borg failed because another process holds the repository's lock.
pub fn lock_timeout(line: &str) -> bool {
    line.contains("Failed to create/acquire the lock")
}

/// What `borg info --json repo::archive` says of the archive.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct ArchiveInfo {
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub command_line: Vec<String>,
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    pub stats: ArchiveInfoStats,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct ArchiveInfoStats {
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    pub nfiles: i64,
}

pub fn parse_archive_info(stdout: &str) -> Result<ArchiveInfo, serde_json::Error> {
    #[derive(Deserialize)]
    struct Info {
        archives: Vec<ArchiveInfo>,
    }
    let mut info: Info = serde_json::from_str(stdout)?;
    info.archives
        .pop()
        .ok_or_else(|| serde::de::Error::custom("borg info listed no archive"))
}

/// One path of `borg diff --json-lines`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DiffLine {
    pub path: String,
    pub changes: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Most archive names one `borg delete` is given (command lines stay short).
pub const DELETE_BATCH: usize = 100;

pub fn compact(repo: &str) -> Vec<String> {
    argv(&["borg", "compact", "--lock-wait", LOCK_WAIT, "--", repo])
}

/// Archive names: `{policy_type}-{hostname}-{YYYY-mm-dd_HH-MM}` (UTC); `taken` says whether a name is
/// already used in the repository, and then `-2`, `-3`… is appended.
pub fn archive_name(
    policy_type: &str,
    hostname: &str,
    at: chrono::DateTime<chrono::Utc>,
    taken: impl Fn(&str) -> bool,
) -> String {
    let base = format!("{policy_type}-{hostname}-{}", at.format("%Y-%m-%d_%H-%M"));
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Sizes of `borg create --json` (`archive.stats`) in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ArchiveStats {
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    #[serde(default)]
    pub nfiles: i64,
}

#[derive(Deserialize)]
struct CreateOutput {
    archive: CreateArchive,
}

#[derive(Deserialize)]
struct CreateArchive {
    stats: ArchiveStats,
    start: BorgTime,
}

/// What `borg create --json` says of the archive it made: its statistics and its time (the
/// time borg prunes by).
pub fn parse_create(stdout: &str) -> Result<(ArchiveStats, DateTime<Utc>), serde_json::Error> {
    serde_json::from_str::<CreateOutput>(stdout).map(|o| (o.archive.stats, o.archive.start.0))
}

/// A time as borg's JSON gives it: ISO 8601 without a zone, in the zone borg ran in (UTC here,
/// see [`BORG_ENV`]), with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorgTime(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for BorgTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_time(&s)
            .map(BorgTime)
            .ok_or_else(|| serde::de::Error::custom(format!("borg time {s:?}")))
    }
}

/// A time as borg prints it in JSON (UTC, since borg runs with `TZ=UTC`, no offset).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Repository sizes of `borg info --json` (`cache.stats`): everything the archives hold,
/// compressed, and what the repository really stores after deduplication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepositorySizes {
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
}

#[derive(Deserialize)]
struct InfoOutput {
    cache: InfoCache,
}

#[derive(Deserialize)]
struct InfoCache {
    stats: InfoStats,
}

#[derive(Deserialize)]
struct InfoStats {
    total_size: i64,
    total_csize: i64,
    unique_csize: i64,
}

pub fn parse_info(stdout: &str) -> Result<RepositorySizes, serde_json::Error> {
    serde_json::from_str::<InfoOutput>(stdout).map(|o| RepositorySizes {
        original_size: o.cache.stats.total_size,
        compressed_size: o.cache.stats.total_csize,
        deduplicated_size: o.cache.stats.unique_csize,
    })
}

#[derive(Deserialize)]
struct ListOutput {
    archives: Vec<ListArchive>,
}

#[derive(Deserialize)]
struct ListArchive {
    name: String,
    /// The archive's time (its start, or `borg create --timestamp`): what borg prunes by.
    time: BorgTime,
}

/// The archives of `borg list --json REPO`: name and time.
pub fn parse_archives(stdout: &str) -> Result<Vec<(String, DateTime<Utc>)>, serde_json::Error> {
    serde_json::from_str::<ListOutput>(stdout)
        .map(|o| o.archives.into_iter().map(|a| (a.name, a.time.0)).collect())
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn version() {
        assert_eq!(parse_version("borg 1.2.4\n").as_deref(), Some("1.2.4"));
        assert_eq!(parse_version("bash: borg: command not found"), None);
        assert_eq!(parse_version("borg"), None);
    }

    #[test]
    fn create_puts_user_values_after_dashdash_or_as_option_values() {
        let s = Sources {
            paths: vec!["/srv/my data".into(), "-rf".into()],
            excludes: vec!["*.tmp".into()],
            ..Sources::default()
        };
        let a = create("/repo", "folders-h-2026", &s, "auto,zstd,3", Some(512));
        let c = a.iter().position(|w| w == "--compression").unwrap();
        assert_eq!(a[c + 1], "auto,zstd,3");
        let dd = a.iter().position(|w| w == "--").unwrap();
        assert_eq!(
            &a[dd + 1..],
            ["/repo::folders-h-2026", "/srv/my data", "-rf"]
        );
        let ex = a.iter().position(|w| w == "--exclude").unwrap();
        assert_eq!(a[ex + 1], "*.tmp");
        let rl = a.iter().position(|w| w == "--upload-ratelimit").unwrap();
        assert_eq!(a[rl + 1], "512");
        assert!(!create("/r", "a", &s, "lz4", Some(0)).contains(&"--upload-ratelimit".to_string()));

        let dump = super::super::sources::for_policy(
            cyborg_dto::PolicyType::Mysql,
            "",
            r#"{"stdin_name": "-x.sql"}"#,
        )
        .unwrap();
        let a = create("/repo", "mysql-h-2026", &dump, "lz4", None);
        let n = a.iter().position(|w| w == "--stdin-name").unwrap();
        assert_eq!(a[n + 1], "-x.sql", "the name is the option's value");
        assert_eq!(a[a.len() - 2..], ["/repo::mysql-h-2026", "-"]);
    }

    #[test]
    fn delete_names_archives_and_never_the_repository() {
        assert_eq!(delete_archives("/repo", &[]), None);
        let a = delete_archives("/repo", &["a-1".into(), "-b".into()]).unwrap();
        let dd = a.iter().position(|w| w == "--").unwrap();
        assert_eq!(&a[dd + 1..], ["/repo::a-1", "-b"]);
        assert_eq!(a[..2], ["borg", "delete"]);
    }

    #[test]
    fn archive_names_are_unique() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 27, 9, 5, 59)
            .unwrap();
        assert_eq!(
            archive_name("rootfs", "web1", at, |_| false),
            "rootfs-web1-2026-11-27_09-05"
        );
        let taken = [
            "rootfs-web1-2026-11-27_09-05",
            "rootfs-web1-2026-11-27_09-05-2",
        ];
        assert_eq!(
            archive_name("rootfs", "web1", at, |n| taken.contains(&n)),
            "rootfs-web1-2026-11-27_09-05-3"
        );
    }

    #[test]
    fn parses_borg_json() {
        let create = r#"{"archive": {"name": "a", "start": "2026-11-27T09:05:59.123456",
            "stats": {"compressed_size": 545, "deduplicated_size": 540, "nfiles": 1,
            "original_size": 485}}, "cache": {}}"#;
        assert_eq!(
            parse_create(create).unwrap(),
            (
                ArchiveStats {
                    original_size: 485,
                    compressed_size: 545,
                    deduplicated_size: 540,
                    nfiles: 1
                },
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 27, 9, 5, 59)
                    .unwrap()
                    .checked_add_signed(chrono::TimeDelta::microseconds(123456))
                    .unwrap()
            )
        );
        let info = r#"{"cache": {"stats": {"total_chunks": 3, "total_csize": 46, "total_size": 3,
            "total_unique_chunks": 3, "unique_csize": 760, "unique_size": 720}}}"#;
        assert_eq!(
            parse_info(info).unwrap(),
            RepositorySizes {
                original_size: 3,
                compressed_size: 46,
                deduplicated_size: 760
            }
        );
        let list = r#"{"archives": [{"name": "x-1", "id": "ab", "time": "2026-01-02T03:04:05.000000"},
            {"name": "x-2", "time": "2026-01-02T03:04:06"}]}"#;
        let at = |s| chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, s).unwrap();
        assert_eq!(
            parse_archives(list).unwrap(),
            [("x-1".to_string(), at(5)), ("x-2".to_string(), at(6))]
        );
        assert!(parse_create("not json").is_err());
    }
}
