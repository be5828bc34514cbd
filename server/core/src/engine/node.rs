//! The identity of this server process among all that share one database: a node id kept in the
//! data directory, held with an exclusive lock so that only one running process has it.
//!
//! Why: jobs record the node that runs them. At start-up a node knows that every job still marked
//! `running` under ITS id belongs to its previous life (killed, crashed) and can be recovered,
//! while jobs of other nodes (other processes on the same PostgreSQL) are left alone.
use std::{fs::File, io::Write, path::Path};

use anyhow::{Context, bail};

/// The node id and the open lock file; the lock lasts as long as this value.
#[derive(Debug)]
pub struct Node {
    pub id: String,
    _lock: File,
}

/// Reads (or makes) `<data_dir>/node-id` and locks `<data_dir>/engine.lock`; fails when another
/// process already runs the engine on this data directory.
pub fn acquire(data_dir: &Path) -> anyhow::Result<Node> {
    let lock_path = data_dir.join("engine.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another CyBorgBackup process already runs jobs from the data directory {} \
             (give each server process its own CYBORG_DATA_DIR)",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()));
        }
    }
    let id_path = data_dir.join("node-id");
    let id = match std::fs::read_to_string(&id_path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let mut f = File::create(&id_path)
                .with_context(|| format!("creating {}", id_path.display()))?;
            writeln!(f, "{id}")?;
            id
        }
    };
    Ok(Node { id, _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_a_stable_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let err = acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another CyBorgBackup process"), "{err}");
        let id = first.id.clone();
        drop(first);
        assert_eq!(acquire(dir.path()).unwrap().id, id);
    }
}
