//! The open versions of a lineage while an ingestion compares a listing with them: for each
//! path, 12 bytes of its SHA-256, its `path_id` and the fingerprint of its attributes, 24 bytes
//! a version in one open-addressing table sized once (no growth, no per-entry allocation:
//! 2,000,000 open versions take 60 MB).
//!
//! 96 bits of the hash tell the paths of a lineage apart: two of 2,000,000 paths share them with
//! a probability of about 2^-55.

/// A path's key: the first 12 bytes of its SHA-256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key {
    hi: u64,
    lo: u32,
}

impl Key {
    pub fn of(path_hash: &[u8]) -> Key {
        Key {
            hi: u64::from_be_bytes(path_hash[..8].try_into().expect("8 bytes")),
            lo: u32::from_be_bytes(path_hash[8..12].try_into().expect("4 bytes")),
        }
    }
}

/// `path` holds the path id in its low 31 bits (0: empty slot) and `SEEN` once the listing
/// named the path.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: Key,
    path: u32,
    fp: u64,
}

const SEEN: u32 = 1 << 31;

/// Rows a loader hands to `insert_batch` at once: 1.5 MB, against a table of 30 MB for
/// 1,000,000 versions.
pub const LOAD_BATCH: usize = 65_536;

/// What the listing's item is, compared with the lineage's open versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The same attributes as the open version: nothing to write. `first` is false for a path
    /// the listing named before (borg lists a path twice when sources overlap).
    Unchanged { first: bool },
    /// Other attributes: the open version of `path_id` closes (`close` is false when the
    /// listing named the path before and it was closed then) and a new version opens.
    Changed { path_id: i64, close: bool },
    /// Not an open version of the lineage: a new version.
    New,
}

pub struct OpenSet {
    slots: Vec<Slot>,
    len: usize,
}

impl OpenSet {
    /// A table for `n` versions, at most 80 % full.
    pub fn with_capacity(n: usize) -> OpenSet {
        let cap = (n + n / 4 + 1).max(16);
        OpenSet {
            slots: vec![Slot::default(); cap],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn home(&self, key: Key) -> usize {
        // The key is already uniformly distributed: scale it onto the table.
        ((u128::from(key.hi) * self.slots.len() as u128) >> 64) as usize
    }

    fn find(&self, key: Key) -> Result<usize, usize> {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.path == 0 {
                return Err(i);
            }
            if s.key == key {
                return Ok(i);
            }
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
    }

    /// Adds the open version of `path_id` (0 < path_id < 2^31); a key already present keeps
    /// its first version. Panics when the table is full (more than the capacity given).
    pub fn insert(&mut self, key: Key, path_id: i64, fp: u64) {
        assert!(self.len + 1 < self.slots.len(), "open version table full");
        let path = u32::try_from(path_id)
            .ok()
            .filter(|p| *p != 0 && *p < SEEN)
            .expect("path ids are below 2^29");
        if let Err(i) = self.find(key) {
            self.slots[i] = Slot { key, path, fp };
            self.len += 1;
        }
    }

    /// Adds the open versions in `batch` (key, path id, fingerprint) as `insert` does, in the
    /// order of their slots, and empties it. Rows come from the database in path-id order,
    /// which is a random slot each (a cache miss per version, most of loading 1,000,000 of
    /// them); sorted, a batch sweeps the table once. Callers fill batches of `LOAD_BATCH`.
    pub fn insert_batch(&mut self, batch: &mut Vec<(Key, i64, u64)>) {
        batch.sort_unstable_by_key(|(k, _, _)| k.hi);
        for (key, path_id, fp) in batch.drain(..) {
            self.insert(key, path_id, fp);
        }
    }

    /// Compares the listing's item `key` with attributes `fp`, and records that it was seen.
    pub fn see(&mut self, key: Key, fp: u64) -> Seen {
        let Ok(i) = self.find(key) else {
            return Seen::New;
        };
        let s = &mut self.slots[i];
        let first = s.path & SEEN == 0;
        s.path |= SEEN;
        if s.fp == fp {
            return Seen::Unchanged { first };
        }
        s.fp = fp;
        Seen::Changed {
            path_id: i64::from(s.path & !SEEN),
            close: first,
        }
    }

    /// The path ids of the open versions the listing did not name: vanished files.
    pub fn unseen(&self) -> impl Iterator<Item = i64> + '_ {
        self.slots
            .iter()
            .filter(|s| s.path != 0 && s.path & SEEN == 0)
            .map(|s| i64::from(s.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        let h = crate::catalog::hash::path_hash(&n.to_string());
        Key::of(&h)
    }

    #[test]
    fn compares_marks_and_lists_the_unseen() {
        let mut set = OpenSet::with_capacity(1000);
        for n in 1..=1000 {
            set.insert(key(n), n as i64, n * 7);
        }
        set.insert(key(5), 99, 0);
        assert_eq!(set.len(), 1000);
        assert_eq!(set.see(key(5), 35), Seen::Unchanged { first: true });
        assert_eq!(set.see(key(5), 35), Seen::Unchanged { first: false });
        assert_eq!(
            set.see(key(6), 1),
            Seen::Changed {
                path_id: 6,
                close: true
            }
        );
        // Listed again with the new attributes, then with yet others: closed only once.
        assert_eq!(set.see(key(6), 1), Seen::Unchanged { first: false });
        assert_eq!(
            set.see(key(6), 2),
            Seen::Changed {
                path_id: 6,
                close: false
            }
        );
        assert_eq!(set.see(key(5000), 1), Seen::New);
        for n in 10..=1000 {
            set.see(key(n), n * 7);
        }
        let mut unseen: Vec<i64> = set.unseen().collect();
        unseen.sort();
        assert_eq!(unseen, [1, 2, 3, 4, 7, 8, 9]);
    }

    #[test]
    fn batches_load_the_same_table() {
        let mut one = OpenSet::with_capacity(3000);
        let mut batched = OpenSet::with_capacity(3000);
        let mut batch = Vec::new();
        for n in 1..=3000u64 {
            one.insert(key(n), n as i64, n);
            batch.push((key(n), n as i64, n));
            if batch.len() == 1000 {
                batched.insert_batch(&mut batch);
                assert!(batch.is_empty());
            }
        }
        assert_eq!(batched.len(), 3000);
        for n in (1..=3000u64).step_by(7) {
            assert_eq!(batched.see(key(n), n), one.see(key(n), n));
        }
        assert_eq!(
            batched.see(key(9), 1),
            Seen::Changed {
                path_id: 9,
                close: true
            }
        );
        assert_eq!(batched.see(key(3001), 1), Seen::New);
    }

    #[test]
    fn an_empty_table_knows_nothing() {
        let mut set = OpenSet::with_capacity(0);
        assert!(set.is_empty());
        assert_eq!(set.see(key(1), 1), Seen::New);
        assert_eq!(set.unseen().count(), 0);
    }
}
