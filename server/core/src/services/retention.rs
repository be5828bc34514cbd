//! The retention preview of a policy: per lineage (repository, policy, client), which archives
//! the next prune keeps, by which rule, and which it deletes. The prune job decides with the
//! same function over the same rows (`engine::retention`), so it deletes nothing this did not
//! show.
use std::collections::{BTreeMap, HashMap};

use cyborg_dto::{ClientRef, Lineage, RepositoryRef, RetainedArchive, Retention};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Actor, find, now, settings};
use crate::{
    engine::retention::{self, Rules},
    entities::{archive, client, policy, policy_client, repository},
    error::{Error, Result},
    state::AppState,
};

pub async fn preview(st: &AppState, _actor: &Actor, policy_id: i32) -> Result<Retention> {
    let db = &st.db;
    let p = find::<policy::Entity>(db, policy_id).await?;
    let rules = Rules::of(&p)
        .map_err(|e| Error::Internal(anyhow::anyhow!("policy {policy_id} keep rules: {e}")))?;
    let auto_prune = settings::load(db).await?.auto_prune;
    let archives = archive::Entity::find()
        .filter(archive::Column::PolicyId.eq(p.id))
        .order_by_asc(archive::Column::Created)
        .order_by_asc(archive::Column::Id)
        .all(db)
        .await?;
    // Every client of the policy has a lineage in its repository, archives or not.
    let mut lineages: BTreeMap<(i32, i32), Vec<archive::Model>> = policy_client::Entity::find()
        .filter(policy_client::Column::PolicyId.eq(p.id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| ((p.repository_id, l.client_id), Vec::new()))
        .collect();
    for a in archives {
        // An archive whose client was deleted belongs to no lineage any prune runs for.
        if let Some(c) = a.client_id {
            lineages.entry((a.repository_id, c)).or_default().push(a);
        }
    }
    let clients: HashMap<i32, client::Model> = client::Entity::find()
        .filter(client::Column::Id.is_in(lineages.keys().map(|k| k.1)))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let repositories: HashMap<i32, repository::Model> = repository::Entity::find()
        .filter(repository::Column::Id.is_in(lineages.keys().map(|k| k.0)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let at = now();
    let mut out = Vec::new();
    for ((repository_id, client_id), members) in lineages {
        let (Some(c), Some(r)) = (clients.get(&client_id), repositories.get(&repository_id)) else {
            continue;
        };
        let times: Vec<_> = members.iter().map(|a| a.created).collect();
        let decisions = if rules.any() {
            retention::decide(&times, &rules, at)
        } else {
            vec![None; members.len()]
        };
        let mut archives: Vec<RetainedArchive> = members
            .into_iter()
            .zip(decisions)
            .map(|(a, kept)| RetainedArchive {
                id: a.id,
                name: a.name,
                time: a.created,
                keep: kept.is_some() || !rules.any(),
                rule: kept.map(|k| k.rule.name().to_string()),
                rule_number: kept.map(|k| k.number),
                oldest: kept.is_some_and(|k| k.oldest),
            })
            .collect();
        archives.reverse();
        let kept = archives.iter().filter(|a| a.keep).count();
        out.push(Lineage {
            client: ClientRef {
                id: c.id,
                hostname: c.hostname.clone(),
                enabled: c.enabled,
            },
            repository: RepositoryRef {
                id: r.id,
                name: r.name.clone(),
                path: r.path.clone(),
            },
            kept,
            deleted: archives.len() - kept,
            archives,
        });
    }
    Ok(Retention {
        policy: p.id,
        now: at,
        prunes: auto_prune && rules.any() && !repository_append_only(db, p.repository_id).await?,
        rules: rule_words(&p),
        lineages: out,
    })
}

async fn repository_append_only(db: &impl sea_orm::ConnectionTrait, id: i32) -> Result<bool> {
    Ok(crate::entities::repository::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|r| r.append_only))
}

/// `keep_within=7d`, `keep_daily=7`… in borg's order.
fn rule_words(p: &policy::Model) -> Vec<String> {
    let counts = [
        ("keep_last", p.keep_last),
        ("keep_hourly", p.keep_hourly),
        ("keep_daily", p.keep_daily),
        ("keep_weekly", p.keep_weekly),
        ("keep_monthly", p.keep_monthly),
        ("keep_yearly", p.keep_yearly),
    ];
    let within = (!p.keep_within.is_empty()).then(|| format!("keep_within={}", p.keep_within));
    within
        .into_iter()
        .chain(
            counts
                .into_iter()
                .filter_map(|(k, v)| v.map(|n| format!("{k}={n}"))),
        )
        .collect()
}
