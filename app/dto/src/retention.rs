//! `GET /api/v1/policies/{id}/retention/`: what the next prune of a policy keeps and deletes.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ClientRef, RepositoryRef};

/// Per lineage (the archives of one repository, this policy and one client), every archive
/// the server recorded and what the policy's rules decide for it at `now`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Retention {
    pub policy: i32,
    /// The moment the decision is made for (`keep_within` counts back from it).
    pub now: DateTime<Utc>,
    /// Whether prunes run for this policy: a keep rule is set and the `auto_prune` setting is on.
    pub prunes: bool,
    /// The rules, as `keep_daily=7` words; empty when the policy keeps everything.
    pub rules: Vec<String>,
    pub lineages: Vec<Lineage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lineage {
    pub client: ClientRef,
    pub repository: RepositoryRef,
    pub kept: usize,
    pub deleted: usize,
    /// Newest first.
    pub archives: Vec<RetainedArchive>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetainedArchive {
    pub id: i32,
    pub name: String,
    /// borg's time of the archive, which the rules go by.
    pub time: DateTime<Utc>,
    pub keep: bool,
    /// The rule that keeps it (`within`, `last`, `hourly`, `daily`, `weekly`, `monthly`,
    /// `yearly`); `null` when the next prune deletes it.
    pub rule: Option<String>,
    /// Its place within that rule (borg's `#N`).
    pub rule_number: Option<u32>,
    /// Kept by the rule only as the oldest archive, the rule having run out of periods.
    pub oldest: bool,
}

/// Whose SSH host key the dashboard's host key page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    Client,
    Repository,
}

/// What the host key page asks of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostKeyOp {
    /// Only read.
    Read,
    /// Fetch the key the host presents now.
    Scan,
    /// Pin the key presented last, if it has this fingerprint.
    Accept(String),
}

/// The dashboard's host key page of a client or a remote repository's host: the pinned key,
/// the key presented last when another, and what to authorize there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostKeyView {
    pub kind: HostKind,
    pub id: i32,
    /// The client's host name, or the repository's name.
    pub label: String,
    /// `user@host:port` the server connects to.
    pub address: String,
    pub state: super::HostKeyState,
    /// The line to add to that user's `~/.ssh/authorized_keys` there.
    pub authorized_keys: String,
}
