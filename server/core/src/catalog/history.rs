//! The history of one path: every version across the catalogued archives, each with the
//! archives that hold it and how it relates to the archives around it.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use cyborg_dto::{CatalogVersion, CatalogVersionArchive};
use sea_orm::{ConnectionTrait, DatabaseConnection, Value};

use super::{entry_id, hash, placeholder, stmt};

/// Narrows a history to one repository, policy or client.
#[derive(Clone, Copy, Debug, Default)]
pub struct HistoryFilter {
    pub repository: Option<i32>,
    pub policy: Option<i32>,
    pub client: Option<i32>,
}

pub type HistoryVersion = CatalogVersion;

/// The versions of `path` (exactly as archived, without a leading `/`), oldest first: one
/// lookup of the path, its versions through `(path_id, lineage_id)`, their archives through
/// `(lineage_id, lineage_seq)`.
pub async fn history(
    db: &DatabaseConnection,
    path: &str,
    filter: HistoryFilter,
) -> anyhow::Result<Vec<HistoryVersion>> {
    let backend = db.get_database_backend();
    let mut sql = String::from("SELECT id, path FROM catalog_paths WHERE parent_hash = ");
    placeholder(&mut sql, backend, 1);
    sql.push_str(" AND path_hash = ");
    placeholder(&mut sql, backend, 2);
    let row = db
        .query_one(stmt(
            backend,
            &sql,
            vec![
                hash::parent_hash(path).into(),
                hash::path_hash(path).to_vec().into(),
            ],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let path_id: i64 = row.try_get_by_index(0)?;
    if row.try_get_by_index::<String>(1)? != path {
        return Ok(Vec::new());
    }

    let mut sql = String::from(
        "SELECT v.id, v.lineage_id, l.repository_id, l.policy_id, l.client_id, v.mode, v.mtime, \
         v.owner, v.\"group\", v.size, v.healthy, a.id, a.name, a.created, a.job_id, \
         a.lineage_seq \
         FROM catalog_versions v JOIN catalog_lineages l ON l.id = v.lineage_id \
         JOIN archives a ON a.lineage_id = v.lineage_id AND a.lineage_seq >= v.first_seq \
         AND a.lineage_seq <= v.last_seq WHERE v.path_id = ",
    );
    placeholder(&mut sql, backend, 1);
    let mut values: Vec<Value> = vec![path_id.into()];
    for (column, value) in [
        ("l.repository_id", filter.repository),
        ("l.policy_id", filter.policy),
        ("l.client_id", filter.client),
    ] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = "));
            values.push(v.into());
            placeholder(&mut sql, backend, values.len());
        }
    }
    sql.push_str(" ORDER BY a.lineage_seq, a.id");
    let rows = db.query_all(stmt(backend, &sql, values)).await?;

    // Versions in the order of their first archive; archives in lineage order.
    let mut versions: Vec<(i32, Vec<i32>, CatalogVersion)> = Vec::new();
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    for r in &rows {
        let version: i64 = r.try_get_by_index(0)?;
        let archive = CatalogVersionArchive {
            id: r.try_get_by_index(11)?,
            name: r.try_get_by_index(12)?,
            created: r.try_get_by_index::<DateTime<Utc>>(13)?,
            job: r.try_get_by_index(14)?,
            entry: 0,
        };
        let seq: i32 = r.try_get_by_index(15)?;
        let i = match by_id.get(&version) {
            Some(&i) => i,
            None => {
                versions.push((
                    r.try_get_by_index(1)?,
                    Vec::new(),
                    CatalogVersion {
                        repository: r.try_get_by_index(2)?,
                        policy: r.try_get_by_index(3)?,
                        client: r.try_get_by_index(4)?,
                        change: String::new(),
                        then: String::new(),
                        mode: r.try_get_by_index(5)?,
                        mtime: r.try_get_by_index(6)?,
                        owner: r.try_get_by_index(7)?,
                        group: r.try_get_by_index(8)?,
                        size: r.try_get_by_index(9)?,
                        healthy: r.try_get_by_index(10)?,
                        archives: Vec::new(),
                    },
                ));
                by_id.insert(version, versions.len() - 1);
                versions.len() - 1
            }
        };
        let entry = entry_id(archive.id, path_id);
        versions[i].1.push(seq);
        versions[i]
            .2
            .archives
            .push(CatalogVersionArchive { entry, ..archive });
    }
    if versions.is_empty() {
        return Ok(Vec::new());
    }

    // Every catalogued archive of those lineages, to tell "changed" from "vanished".
    let mut lineages: Vec<i32> = versions.iter().map(|v| v.0).collect();
    lineages.sort_unstable();
    lineages.dedup();
    let mut sql = String::from(
        "SELECT lineage_id, lineage_seq FROM archives WHERE lineage_seq IS NOT NULL AND lineage_id IN (",
    );
    for i in 1..=lineages.len() {
        if i > 1 {
            sql.push(',');
        }
        placeholder(&mut sql, backend, i);
    }
    sql.push(')');
    let mut seqs: HashMap<i32, Vec<i32>> = HashMap::new();
    for r in db
        .query_all(stmt(
            backend,
            &sql,
            lineages.iter().map(|&l| l.into()).collect(),
        ))
        .await?
    {
        seqs.entry(r.try_get_by_index(0)?)
            .or_default()
            .push(r.try_get_by_index(1)?);
    }
    for s in seqs.values_mut() {
        s.sort_unstable();
    }
    // (lineage, seq) → the version of the path in that archive.
    let mut holder: BTreeMap<(i32, i32), usize> = BTreeMap::new();
    for (i, (lineage, held, _)) in versions.iter().enumerate() {
        for &seq in held {
            holder.insert((*lineage, seq), i);
        }
    }
    let described: Vec<(String, String)> = versions
        .iter()
        .enumerate()
        .map(|(i, (lineage, held, _))| {
            let all = seqs.get(lineage).map(Vec::as_slice).unwrap_or(&[]);
            let first = held[0];
            let last = held[held.len() - 1];
            let before = all.iter().rev().find(|&&s| s < first);
            let after = all.iter().find(|&&s| s > last);
            let change = match before {
                None => "appeared",
                Some(s) if holder.contains_key(&(*lineage, *s)) => "changed",
                Some(_)
                    if holder
                        .range((*lineage, 0)..(*lineage, first))
                        .next()
                        .is_some() =>
                {
                    "reappeared"
                }
                Some(_) => "appeared",
            };
            let then = match after {
                None => "current",
                Some(s) => match holder.get(&(*lineage, *s)) {
                    Some(&j) if j != i => "changed",
                    _ => "vanished",
                },
            };
            (change.to_string(), then.to_string())
        })
        .collect();
    let mut out: Vec<CatalogVersion> = versions
        .into_iter()
        .zip(described)
        .map(|((_, _, mut v), (change, then))| {
            v.change = change;
            v.then = then;
            v
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |v: &CatalogVersion| v.archives.first().map(|a| (a.created, a.id));
        key(a).cmp(&key(b))
    });
    Ok(out)
}
