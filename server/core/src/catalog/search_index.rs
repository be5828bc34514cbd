//! An in-memory substring index of the distinct catalog paths, for `path__icontains` and
//! `?search=` on the catalog.
//!
//! Why: a case-insensitive substring cannot use a B-tree, so the database answers it by testing
//! every distinct path (one scan of `catalog_paths`: ~0.3 s for 1,000,000 paths on SQLite,
//! more on PostgreSQL, whose `lower()` is slow). Trigram indexes were measured and rejected
//! (docs/PERFORMANCE.md): they tax ingestion and still answer slowly on paths that share most of
//! their trigrams. Here every distinct path is kept once, case-folded, in one byte buffer, and a
//! SIMD substring search (`memchr::memmem`) over it takes a few milliseconds.
//!
//! Exactness: the index only proposes *candidates*. The database then applies the list engine's
//! own case-insensitive match to those paths alone (by primary key), so the answer is exactly
//! what the plain `icontains` gives. The index must therefore never miss a path the database
//! would match; it may propose more. Each character is folded to the first character of its
//! lowercase form, and each character of the value stands for the folds of itself and of its
//! one-character lower- and uppercase forms: a superset of SQLite's GLOB classes (`[Éé]`) and of
//! PostgreSQL's per-character `lower()` (a libc locale). Folding keeps one character per
//! character, so a match lines up position by position as in the database.
//!
//! Freshness: `catalog_state.paths_version` is bumped by every ingestion transaction that adds
//! paths, and by every path saved through the ORM (the entity's `after_save`). The index answers only when its version is the database's; otherwise the search falls
//! back to the database scan and a rebuild starts in the background (at most one at a time, and
//! not more often than twice its own duration, so searches during a long ingestion cannot keep
//! a core busy). Paths deleted since the build do not matter: they have no entries, and the
//! database check drops them. Memory: about the size of the paths plus 12 bytes a path; above
//! `max_bytes` no index is kept and searches use the database scan.
use std::{
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use memchr::memmem;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement,
    sqlx::{self, Connection as _, Row as _},
};

/// Above this many candidate paths the database scan is used instead: passing that many ids
/// costs about as much as the scan.
pub const MAX_CANDIDATES: usize = 100_000;
/// The statement that bumps the paths version, run by every transaction that adds paths.
pub const BUMP_VERSION: &str =
    "UPDATE catalog_state SET paths_version = paths_version + 1 WHERE id = 1";
const READ_VERSION: &str = "SELECT paths_version FROM catalog_state WHERE id = 1";
/// The shortest pause between two background builds.
const MIN_REBUILD_INTERVAL: Duration = Duration::from_secs(5);

/// One character as the index stores it.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// What one character of a searched value may be in a folded path.
fn class(c: char) -> Vec<char> {
    let mut folds = vec![fold(c)];
    for mapped in [
        c.to_lowercase().collect::<Vec<char>>(),
        c.to_uppercase().collect::<Vec<char>>(),
    ] {
        // The databases map one character to one (SQLite's GLOB classes, libc's towlower).
        if let [one] = mapped[..] {
            let f = fold(one);
            if !folds.contains(&f) {
                folds.push(f);
            }
        }
    }
    folds
}

/// A searched value as the index looks for it: one class of folded characters a character.
#[derive(Clone, Debug)]
pub struct Needle {
    classes: Vec<Vec<char>>,
}

impl Needle {
    /// `None` for the empty value, which every path contains.
    pub fn new(value: &str) -> Option<Self> {
        let classes: Vec<Vec<char>> = value.chars().map(class).collect();
        (!classes.is_empty()).then_some(Self { classes })
    }

    /// Whether the folded `path` holds the needle somewhere.
    fn found_in(&self, path: &str) -> bool {
        let n = self.classes.len();
        let hay: Vec<char> = path.chars().collect();
        hay.len() >= n
            && hay
                .windows(n)
                .any(|w| w.iter().zip(&self.classes).all(|(h, c)| c.contains(h)))
    }

    /// The byte strings to look for: the longest run of characters with a single fold (every
    /// match contains it), or, when every character has several folds, each fold of the first.
    fn anchors(&self) -> Vec<String> {
        let (mut best, mut best_len, mut start) = (0, 0, 0);
        for (i, c) in self.classes.iter().enumerate() {
            if c.len() != 1 {
                start = i + 1;
            } else if i + 1 - start > best_len {
                best = start;
                best_len = i + 1 - start;
            }
        }
        if best_len > 0 {
            vec![
                self.classes[best..best + best_len]
                    .iter()
                    .map(|c| c[0])
                    .collect(),
            ]
        } else {
            self.classes[0].iter().map(|c| c.to_string()).collect()
        }
    }
}

/// The folded paths of one version of the catalog.
pub struct Snapshot {
    version: i64,
    /// Every path folded, each followed by a NUL byte (no path holds one).
    text: Vec<u8>,
    /// Where each path starts in `text`.
    starts: Vec<u32>,
    /// The `catalog_paths.id` of each path.
    ids: Vec<i64>,
}

impl Snapshot {
    fn new(version: i64) -> Self {
        Self {
            version,
            text: Vec::new(),
            starts: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// Adds a path; `false` when the text would pass `max_bytes` (or 4 GiB, the offsets' limit).
    fn push(&mut self, id: i64, path: &str, max_bytes: usize) -> bool {
        let start = self.text.len();
        if start + path.len() + 1 > max_bytes.min(u32::MAX as usize) {
            return false;
        }
        self.starts.push(start as u32);
        self.ids.push(id);
        for c in path.chars() {
            let mut buf = [0; 4];
            self.text
                .extend_from_slice(fold(c).encode_utf8(&mut buf).as_bytes());
        }
        self.text.push(0);
        true
    }

    pub fn paths(&self) -> usize {
        self.ids.len()
    }

    /// Bytes held (text, offsets, ids).
    pub fn bytes(&self) -> usize {
        self.text.capacity() + self.starts.capacity() * 4 + self.ids.capacity() * 8
    }

    /// The ids of the paths that may contain the needle, sorted; `None` when there are more
    /// than `limit`.
    pub fn candidates(&self, needle: &Needle, limit: usize) -> Option<Vec<i64>> {
        let mut found: Vec<usize> = Vec::new();
        for anchor in needle.anchors() {
            let finder = memmem::Finder::new(anchor.as_bytes());
            let mut pos = 0;
            while let Some(o) = finder.find(&self.text[pos..]) {
                let at = pos + o;
                let i = self.starts.partition_point(|&s| s as usize <= at) - 1;
                let start = self.starts[i] as usize;
                // The NUL after the path.
                let end = self
                    .starts
                    .get(i + 1)
                    .map_or(self.text.len(), |&s| s as usize)
                    - 1;
                // Built from `str`s with whole characters, so always UTF-8.
                let path = std::str::from_utf8(&self.text[start..end]).unwrap_or("");
                if needle.found_in(path) {
                    found.push(i);
                    if found.len() > limit {
                        return None;
                    }
                }
                pos = end + 1;
                if pos >= self.text.len() {
                    break;
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        Some(found.into_iter().map(|i| self.ids[i]).collect())
    }
}

/// Reads every path, in one snapshot of the database together with its version. `Ok(None)`
/// when the paths do not fit in `max_bytes`.
pub async fn build(db: &DatabaseConnection, max_bytes: usize) -> anyhow::Result<Option<Snapshot>> {
    macro_rules! read_all {
        ($conn:expr, $begin:expr) => {{
            let mut txn = $conn.begin().await?;
            sqlx::raw_sql($begin).execute(&mut *txn).await?;
            let version: i64 = sqlx::query(READ_VERSION)
                .fetch_one(&mut *txn)
                .await?
                .try_get(0)?;
            let mut snap = Snapshot::new(version);
            let mut complete = true;
            {
                let mut rows = sqlx::query("SELECT id, path FROM catalog_paths").fetch(&mut *txn);
                while let Some(row) = rows.try_next().await? {
                    let id: i64 = row.try_get(0)?;
                    let path: &str = row.try_get(1)?;
                    if !snap.push(id, path, max_bytes) {
                        complete = false;
                        break;
                    }
                }
            }
            txn.rollback().await?;
            complete.then_some(snap)
        }};
    }
    let snap = match db.get_database_backend() {
        // A read transaction of SQLite (WAL) sees one snapshot from its first read on.
        DatabaseBackend::Sqlite => {
            let mut conn = db.get_sqlite_connection_pool().acquire().await?;
            read_all!(conn, "SELECT 1")
        }
        DatabaseBackend::Postgres => {
            let mut conn = db.get_postgres_connection_pool().acquire().await?;
            read_all!(
                conn,
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            )
        }
        other => bail!("catalog search index: unsupported database {other:?}"),
    };
    Ok(snap.map(|mut s| {
        s.text.shrink_to_fit();
        s.starts.shrink_to_fit();
        s.ids.shrink_to_fit();
        s
    }))
}

async fn current_version(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(backend, READ_VERSION))
        .await?
        .context("catalog_state has no row")?;
    Ok(row.try_get_by_index(0)?)
}

/// The index of one server process, shared by its requests.
pub struct SearchIndex {
    max_bytes: usize,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    building: AtomicBool,
    /// The earliest start of the next background build.
    next_build: Mutex<Instant>,
}

impl SearchIndex {
    /// `max_bytes` 0 disables the index.
    pub fn new(max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            max_bytes,
            snapshot: RwLock::new(None),
            building: AtomicBool::new(false),
            next_build: Mutex::new(Instant::now()),
        })
    }

    /// The current snapshot, if any (for measurements).
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.read().ok().and_then(|s| s.clone())
    }

    /// Builds the index now; `Ok(false)` when it is disabled or the paths do not fit.
    pub async fn refresh(&self, db: &DatabaseConnection) -> anyhow::Result<bool> {
        if self.max_bytes == 0 {
            return Ok(false);
        }
        let snap = build(db, self.max_bytes).await?.map(Arc::new);
        let built = snap.is_some();
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = snap;
        }
        Ok(built)
    }

    /// The ids of the catalog paths that may contain `value` ignoring case, or `None` when the
    /// index cannot answer (disabled, out of date, the empty value, too many candidates): then
    /// the caller scans in the database.
    pub async fn candidates(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        value: &str,
    ) -> Option<Vec<i64>> {
        if self.max_bytes == 0 {
            return None;
        }
        let needle = Needle::new(value)?;
        let version = match current_version(db).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("catalog search index: reading the paths version: {e:#}");
                return None;
            }
        };
        match self.snapshot() {
            Some(snap) if snap.version == version => {
                // A few milliseconds of CPU over the whole buffer: off the async workers.
                tokio::task::spawn_blocking(move || snap.candidates(&needle, MAX_CANDIDATES))
                    .await
                    .ok()
                    .flatten()
            }
            _ => {
                self.rebuild_in_background(db.clone());
                None
            }
        }
    }

    fn rebuild_in_background(self: &Arc<Self>, db: DatabaseConnection) {
        if self.max_bytes == 0 || self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let due = self
            .next_build
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| Instant::now());
        if Instant::now() < due {
            self.building.store(false, Ordering::Release);
            return;
        }
        let this = Arc::clone(self);
        // On a blocking thread: sqlx's executor bounds keep the build's future from being
        // provably `Send` (as for the catalog job's ingestion), and it is long-running anyway.
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let t0 = Instant::now();
                match this.refresh(&db).await {
                    Ok(true) => {
                        if let Some(s) = this.snapshot() {
                            tracing::info!(
                                "catalog search index: {} paths, {} MiB, built in {:.1} s",
                                s.paths(),
                                s.bytes() >> 20,
                                t0.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(false) => tracing::warn!(
                        "catalog search index: the paths pass {} MiB (CYBORG_CATALOG_INDEX_MB); \
                     path searches scan the database",
                        this.max_bytes >> 20
                    ),
                    Err(e) => tracing::warn!("catalog search index: building: {e:#}"),
                }
                let pause = (t0.elapsed() * 2).max(MIN_REBUILD_INTERVAL);
                if let Ok(mut next) = this.next_build.lock() {
                    *next = Instant::now() + pause;
                }
                this.building.store(false, Ordering::Release);
            })
        });
    }

    /// Starts a build in the background now (at server start, after a catalog job added paths),
    /// unless one runs or the last one ended too recently (a search then starts it later).
    pub fn warm_up(self: &Arc<Self>, db: DatabaseConnection) {
        self.rebuild_in_background(db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn snapshot(paths: &[&str]) -> Snapshot {
        let mut s = Snapshot::new(1);
        for (i, p) in paths.iter().enumerate() {
            assert!(s.push(i as i64 + 1, p, usize::MAX));
        }
        s
    }

    /// SQLite's match: each character of the value matches itself and its one-character
    /// lower- and uppercase forms (the list engine's GLOB classes).
    fn sqlite_match(path: &str, value: &str) -> bool {
        let classes: Vec<Vec<char>> = value
            .chars()
            .map(|c| {
                let mut v = vec![c];
                for m in [
                    c.to_lowercase().collect::<Vec<_>>(),
                    c.to_uppercase().collect::<Vec<_>>(),
                ] {
                    if let [one] = m[..] {
                        v.push(one);
                    }
                }
                v
            })
            .collect();
        let hay: Vec<char> = path.chars().collect();
        classes.is_empty()
            || (hay.len() >= classes.len()
                && hay
                    .windows(classes.len())
                    .any(|w| w.iter().zip(&classes).all(|(h, c)| c.contains(h))))
    }

    /// PostgreSQL's match with a libc locale: `lower()` character by character.
    fn pg_match(path: &str, value: &str) -> bool {
        let low = |s: &str| -> Vec<char> {
            s.chars()
                .map(|c| {
                    let l: Vec<char> = c.to_lowercase().collect();
                    if l.len() == 1 { l[0] } else { c }
                })
                .collect()
        };
        let (hay, needle) = (low(path), low(value));
        needle.is_empty()
            || (hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w == needle))
    }

    fn found(paths: &[&str], value: &str) -> Vec<i64> {
        snapshot(paths)
            .candidates(&Needle::new(value).unwrap(), usize::MAX)
            .unwrap()
    }

    #[test]
    fn finds_across_case_and_unicode() {
        let paths = [
            "etc/HOSTS.allow",
            "Été/index.html",
            "Ωmega/σς/Σ",
            "kelvin/\u{212A}elvin",
            "İstanbul/i",
            "title/ǅ",
            "srv/50%_off\\x[1]*?.conf",
        ];
        assert_eq!(found(&paths, "hosts"), vec![1]);
        assert_eq!(found(&paths, "ÉTÉ/"), vec![2]);
        assert_eq!(found(&paths, "été"), vec![2]);
        // Both sigmas and the capital: the index proposes all three, the database decides.
        assert_eq!(found(&paths, "ς"), vec![3]);
        assert_eq!(found(&paths, "kelvin/k"), vec![4]);
        assert_eq!(found(&paths, "istanbul"), vec![5]);
        assert_eq!(found(&paths, "Ǆ"), vec![6]);
        assert_eq!(found(&paths, "%_off\\x[1]*?"), vec![7]);
        assert_eq!(found(&paths, "no-such"), Vec::<i64>::new());
        assert!(Needle::new("").is_none());
    }

    #[test]
    fn gives_up_above_the_limit() {
        let paths = ["a/x", "b/x", "c/x"];
        let s = snapshot(&paths);
        assert_eq!(s.candidates(&Needle::new("x").unwrap(), 2), None);
        assert_eq!(
            s.candidates(&Needle::new("x").unwrap(), 3),
            Some(vec![1, 2, 3])
        );
    }

    #[test]
    fn respects_the_memory_limit() {
        let mut s = Snapshot::new(1);
        assert!(s.push(1, "abc", 8));
        assert!(!s.push(2, "defgh", 8));
    }

    // Characters with odd case mappings, ASCII, separators.
    const ALPHABET: &[char] = &[
        'a', 'A', 'k', 'K', 'i', 'I', 's', 'S', '/', '.', '%', '_', 'é', 'É', 'ß', 'ẞ', 'σ', 'ς',
        'Σ', '\u{212A}', 'İ', 'ı', 'ǅ', 'ǆ', 'Ǆ', 'ſ', 'Ω', 'ω', '\u{2126}', '😀',
    ];

    fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(ALPHABET), 0..max)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// The index never misses what either database would find.
        #[test]
        fn never_misses_a_database_match(
            paths in prop::collection::vec(text(12), 1..20),
            value in text(4),
        ) {
            prop_assume!(!value.is_empty());
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            let got = found(&refs, &value);
            for (i, p) in paths.iter().enumerate() {
                let id = i as i64 + 1;
                if sqlite_match(p, &value) || pg_match(p, &value) {
                    prop_assert!(got.contains(&id), "{value:?} in {p:?}");
                }
            }
        }
    }
}
