//! Clients: the machines that are backed up.
use std::collections::HashMap;

use cyborg_dto::{Client, ClientInput, ClientSummary, Page, PolicyRef};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{
    Actor, audit_parts, find, host_keys,
    list::{Field, Kind, ListRequest},
    resource::{self, Resource, taken},
    stamp, user_refs,
    validate::{self, Check},
};
use crate::{
    entities::{client, policy, policy_client},
    error::Result,
    state::AppState,
};

const T: &str = "clients";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("hostname", T, "hostname", Kind::Text).searchable(),
    Field::new("ip", T, "ip", Kind::Text).searchable(),
    Field::new("version", T, "version", Kind::Text).searchable(),
    Field::new("ready", T, "ready", Kind::Bool),
    Field::new("hypervisor_ready", T, "hypervisor_ready", Kind::Bool),
    Field::new("hypervisor_name", T, "hypervisor_name", Kind::Text).searchable(),
    Field::new("enabled", T, "enabled", Kind::Bool),
    Field::new("uuid", T, "uuid", Kind::Text),
    Field::new("port", T, "port", Kind::Int),
    Field::new("username", T, "username", Kind::Text).searchable(),
    Field::new("bandwidth_limit", T, "bandwidth_limit", Kind::Int),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
    Field::new(
        "policies",
        T,
        "id",
        Kind::Link {
            table: "policy_clients",
            owner_col: "client_id",
            value_col: "policy_id",
        },
    ),
];

pub struct Clients;

impl Resource for Clients {
    type Entity = client::Entity;
    type Dto = Client;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        _actor: &Actor,
        rows: Vec<client::Model>,
    ) -> Result<Vec<Client>> {
        let refs = user_refs(
            &st.db,
            rows.iter().flat_map(|r| [r.created_by, r.modified_by]),
        )
        .await?;
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let links = policy_client::Entity::find()
            .filter(policy_client::Column::ClientId.is_in(ids))
            .all(&st.db)
            .await?;
        let policies: HashMap<i32, policy::Model> = policy::Entity::find()
            .filter(policy::Column::Id.is_in(links.iter().map(|l| l.policy_id)))
            .order_by_asc(policy::Column::Id)
            .all(&st.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let authorized_keys = crate::ssh_keys::public_key(&st.data_dir)
            .map(|k| crate::ssh_keys::client_authorized_line(&k))
            .unwrap_or_default();
        let mut by_client: HashMap<i32, Vec<PolicyRef>> = HashMap::new();
        for l in &links {
            if let Some(p) = policies.get(&l.policy_id) {
                by_client.entry(l.client_id).or_default().push(PolicyRef {
                    id: p.id,
                    name: p.name.clone(),
                    policy_type: p.policy_type.to_string(),
                    enabled: p.enabled,
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
                let mut related = parts.related;
                related.insert(
                    "policies".into(),
                    format!("/api/v1/policies/?clients={}", r.id),
                );
                let mut policies = by_client.remove(&r.id).unwrap_or_default();
                policies.sort_by_key(|p| p.id);
                Client {
                    id: r.id,
                    kind: "client".into(),
                    url: format!("/api/v1/clients/{}/", r.id),
                    related,
                    summary_fields: ClientSummary {
                        policies,
                        audit: parts.summary,
                    },
                    audit: parts.audit,
                    hostname: r.hostname,
                    ip: r.ip,
                    version: r.version,
                    ready: r.ready,
                    hypervisor_ready: r.hypervisor_ready,
                    hypervisor_name: r.hypervisor_name,
                    enabled: r.enabled,
                    uuid: r.uuid,
                    port: r.port,
                    username: r.username,
                    bandwidth_limit: r.bandwidth_limit,
                    host_key: host_keys::state(&r.host_key, &r.host_key_seen),
                    authorized_keys: authorized_keys.clone(),
                }
            })
            .collect())
    }
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Client>> {
    resource::list::<Clients>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Client> {
    resource::get::<Clients>(st, actor, id).await
}

pub async fn create(st: &AppState, actor: &Actor, input: ClientInput) -> Result<Client> {
    actor.require_superuser()?;
    let mut m = validate(st, &input, None, false).await?;
    stamp(&mut m, actor, true);
    let row = m.insert(&st.db).await?;
    fetch_host_key(st, &row);
    resource::one::<Clients>(st, actor, row).await
}

/// A client without a pinned key gets the key it presents fetched in the background, for the
/// operator to compare and accept (best effort: a job fetches it again when it finds none).
fn fetch_host_key(st: &AppState, c: &client::Model) {
    if !c.host_key.is_empty() {
        return;
    }
    let engine = st.engine.clone();
    let c = c.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.observe_client(&c).await {
            tracing::info!("fetching the host key of client {}: {e}", c.hostname);
        }
    });
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: ClientInput,
    partial: bool,
) -> Result<Client> {
    actor.require_superuser()?;
    let current = find::<client::Entity>(&st.db, id).await?;
    let mut m = validate(st, &input, Some(&current), partial).await?;
    stamp(&mut m, actor, false);
    let row = m.update(&st.db).await?;
    if row.hostname != current.hostname || row.port != current.port {
        fetch_host_key(st, &row);
    }
    resource::one::<Clients>(st, actor, row).await
}

/// Deleting a client takes it out of its policies; its jobs stay, without the link.
pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<client::Entity>(&st.db, id).await?;
    client::Entity::delete_by_id(id).exec(&st.db).await?;
    Ok(())
}

async fn validate(
    st: &AppState,
    input: &ClientInput,
    current: Option<&client::Model>,
    partial: bool,
) -> Result<client::ActiveModel> {
    let mut c = Check::new();
    let base = if partial { current } else { None };
    let hostname = c
        .required(
            "hostname",
            input.hostname.clone(),
            base.map(|m| &m.hostname),
        )
        .map(|h| c.line("hostname", &h, 253, false).to_lowercase());
    if let Some(h) = &hostname
        && !c.has("hostname")
    {
        c.rule("hostname", validate::hostname(h));
        if !c.has("hostname")
            && taken::<client::Entity>(
                &st.db,
                client::Column::Hostname,
                h,
                client::Column::Id,
                current.map(|m| m.id),
            )
            .await?
        {
            c.error("hostname", "A client with this hostname already exists.");
        }
    }
    let ip = input.ip.as_deref().map(|v| c.line("ip", v, 1024, true));
    if let Some(ip) = &ip {
        for part in ip.split([',', ' ']).filter(|s| !s.is_empty()) {
            if part.parse::<std::net::IpAddr>().is_err() {
                c.error("ip", format!("'{part}' is not an IP address."));
            }
        }
    }
    let version = input
        .version
        .as_deref()
        .map(|v| c.line("version", v, 255, true));
    let hypervisor_name = input
        .hypervisor_name
        .as_deref()
        .map(|v| c.line("hypervisor_name", v, 255, true));
    if let Some(p) = input.port
        && !(1..=65535).contains(&p)
    {
        c.error("port", "Ensure this value is between 1 and 65535.");
    }
    let username = input
        .username
        .as_deref()
        .map(|v| c.line("username", v, 32, false));
    if let Some(u) = &username
        && !c.has("username")
    {
        c.rule("username", validate::unix_user(u));
    }
    if let Some(Some(limit)) = input.bandwidth_limit
        && limit < 1
    {
        c.error(
            "bandwidth_limit",
            "Ensure this value is at least 1 (KiB/s), or null for no limit.",
        );
    }
    let host_key = host_keys::given(&mut c, "host_key", input.host_key.as_deref());
    c.finish()?;

    let mut m = match current {
        Some(cur) => client::ActiveModel::from(cur.clone()),
        None => client::ActiveModel {
            ip: Set(String::new()),
            version: Set(String::new()),
            ready: Set(false),
            hypervisor_ready: Set(false),
            hypervisor_name: Set(String::new()),
            enabled: Set(true),
            port: Set(22),
            username: Set("root".into()),
            bandwidth_limit: Set(None),
            ..Default::default()
        },
    };
    if let Some(v) = hostname {
        m.hostname = Set(v);
    }
    if let Some(v) = ip {
        m.ip = Set(v);
    }
    if let Some(v) = version {
        m.version = Set(v);
    }
    if let Some(v) = hypervisor_name {
        m.hypervisor_name = Set(v);
    }
    if let Some(v) = username {
        m.username = Set(v);
    }
    if let Some(v) = input.ready {
        m.ready = Set(v);
    }
    if let Some(v) = input.hypervisor_ready {
        m.hypervisor_ready = Set(v);
    }
    if let Some(v) = input.enabled {
        m.enabled = Set(v);
    }
    if let Some(v) = input.port {
        m.port = Set(v);
    }
    if let Some(v) = input.bandwidth_limit {
        m.bandwidth_limit = Set(v);
    }
    let moved = current
        .is_some_and(|cur| *m.hostname.as_ref() != cur.hostname || *m.port.as_ref() != cur.port);
    match host_key {
        Some(v) => {
            m.host_key = Set(v);
            m.host_key_seen = Set(String::new());
        }
        // Another host (or port) must show that its key is the one to trust.
        None if moved => {
            m.host_key = Set(String::new());
            m.host_key_seen = Set(String::new());
        }
        None => {}
    }
    Ok(m)
}
