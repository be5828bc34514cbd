//! How a job (or a download) reaches its client and its repository, decided in one place:
//! - the client over SSH with the server's key, checked against the client's pinned host key;
//! - the repository: a folder on the client (push mode), a folder on this server served through
//!   the job's connection (pull mode), or a repository on another host that this server reaches
//!   with that repository's own key (checked against the host's pinned key) and relays through
//!   the job's connection. The client never holds a key that logs in anywhere.
use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use super::{
    Engine, host_keys,
    host_keys::HostKey,
    location::{self, Location, RemoteRepository},
    ssh::SshTarget,
    tunnel::{Serve, Tunnel},
};
use crate::{
    entities::{client, repository},
    ssh_keys,
    stamps::now,
};

/// What one borg of a job needs.
pub struct Access {
    /// The client.
    pub target: SshTarget,
    pub passphrase: String,
    /// The repository as the client's borg names it.
    pub location: String,
    /// The repository served through the job's connection (pull mode, remote repositories).
    pub tunnel: Option<Tunnel>,
}

impl Engine {
    /// How to reach `client`; an explanation for the job instead when its host key is not
    /// pinned yet (the key it presents now is recorded for the operator to review).
    pub async fn client_target(&self, c: &client::Model) -> Result<SshTarget, String> {
        let port = u16::try_from(c.port).unwrap_or(22);
        if c.host_key.is_empty() {
            return Err(match self.observe_client(c).await {
                Ok(k) => unconfirmed(&format!("client {}", c.hostname), &k, &client_accept(c.id)),
                Err(e) => format!(
                    "The SSH host key of client {} is not confirmed yet, and it could not be \
                     fetched: {e}",
                    c.hostname
                ),
            });
        }
        let alias = host_keys::client_alias(c.id);
        let known_hosts = host_keys::pinned_file(&self.data_dir, &alias, &c.host_key)
            .map_err(|e| format!("{e:#}"))?;
        Ok(SshTarget {
            hostname: c.hostname.clone(),
            port,
            username: c.username.clone(),
            identity: ssh_keys::private_key_path(&self.data_dir),
            known_hosts,
            alias,
            reverse: None,
        })
    }

    /// Everything a borg on `c` needs to reach `r` (`mode_pull`: the policy's pull mode).
    pub async fn access(
        &self,
        c: &client::Model,
        r: &repository::Model,
        mode_pull: bool,
    ) -> Result<Access, String> {
        let target = self.client_target(c).await?;
        let passphrase = if r.repository_key.is_empty() {
            String::new()
        } else {
            self.secrets.decrypt(&r.repository_key).map_err(|e| {
                format!(
                    "the repository passphrase cannot be decrypted with this server's secret \
                     key ({e}); was CYBORG_SECRET_KEY changed?"
                )
            })?
        };
        let restrictions = super::repo_options::restrictions(r.append_only, &r.storage_quota);
        let serve = match location::parse(&r.path) {
            Ok(Location::Remote(remote)) => Some(Serve::Relayed {
                host: self.repository_host(r, &remote).await?,
                path: remote.path,
                restrictions,
            }),
            Ok(Location::Folder(path)) if mode_pull => Some(Serve::Here { path, restrictions }),
            Ok(Location::Folder(_)) => None,
            Err(e) => return Err(format!("the repository path {:?}: {e}", r.path)),
        };
        let tunnel = serve
            .map(|s| Tunnel::start(&self.data_dir, s))
            .transpose()
            .map_err(|e| format!("serving the repository through the connection: {e:#}"))?;
        let location = tunnel
            .as_ref()
            .map_or_else(|| r.path.clone(), Tunnel::location);
        Ok(Access {
            target,
            passphrase,
            location,
            tunnel,
        })
    }

    /// How this server reaches a remote repository's host: as its user, with the
    /// repository's own key (the server's key for repositories made before they had one),
    /// against the host's pinned key.
    pub(crate) async fn repository_host(
        &self,
        r: &repository::Model,
        remote: &RemoteRepository,
    ) -> Result<SshTarget, String> {
        if r.host_key.is_empty() {
            return Err(match self.observe_repository(r).await {
                Ok(k) => unconfirmed(
                    &format!("repository host {}", remote.host),
                    &k,
                    &repository_accept(r.id),
                ),
                Err(e) => format!(
                    "The SSH host key of the repository host {} is not confirmed yet, and it \
                     could not be fetched: {e}",
                    remote.host
                ),
            });
        }
        let alias = host_keys::repository_alias(r.id);
        let known_hosts = host_keys::pinned_file(&self.data_dir, &alias, &r.host_key)
            .map_err(|e| format!("{e:#}"))?;
        let identity = if r.ssh_key.is_empty() {
            ssh_keys::private_key_path(&self.data_dir)
        } else {
            let key = self
                .secrets
                .decrypt(&r.ssh_key)
                .map_err(|e| format!("the repository's SSH key cannot be decrypted: {e}"))?;
            let path = ssh_keys::repository_key_path(&self.data_dir, r.id);
            ssh_keys::write_private_file(&path, &key).map_err(|e| format!("{e:#}"))?;
            path
        };
        Ok(SshTarget {
            hostname: remote.host.clone(),
            port: remote.port,
            username: remote.user.clone(),
            identity,
            known_hosts,
            alias,
            reverse: None,
        })
    }

    /// Fetches the key the client presents now and records it for review (`host_key_seen`;
    /// cleared when it is the pinned one).
    pub async fn observe_client(&self, c: &client::Model) -> Result<HostKey, String> {
        let key = host_keys::scan(&c.hostname, u16::try_from(c.port).unwrap_or(22)).await?;
        let seen = if key.line() == c.host_key {
            String::new()
        } else {
            key.line()
        };
        client::ActiveModel {
            id: Set(c.id),
            host_key_seen: Set(seen),
            modified: Set(now()),
            ..Default::default()
        }
        .update(&self.db)
        .await
        .map_err(|e| format!("recording the host key: {e}"))?;
        Ok(key)
    }

    /// The same for a remote repository's host.
    pub async fn observe_repository(&self, r: &repository::Model) -> Result<HostKey, String> {
        let remote = location::remote_of(&r.path)
            .ok_or_else(|| format!("{} is a folder, not a repository on a host", r.path))?;
        let key = host_keys::scan(&remote.host, remote.port).await?;
        let seen = if key.line() == r.host_key {
            String::new()
        } else {
            key.line()
        };
        repository::ActiveModel {
            id: Set(r.id),
            host_key_seen: Set(seen),
            modified: Set(now()),
            ..Default::default()
        }
        .update(&self.db)
        .await
        .map_err(|e| format!("recording the host key: {e}"))?;
        Ok(key)
    }

    /// After ssh refused a host's key: what it presents now (recorded for review) and what the
    /// operator can do, in words for the job's explanation.
    pub async fn changed_client_key(&self, c: &client::Model) -> String {
        let now_seen = self.observe_client(c).await;
        changed(
            &format!("client {}@{}:{}", c.username, c.hostname, c.port),
            &c.host_key,
            now_seen,
            &client_accept(c.id),
        )
    }

    /// The same for a remote repository's host.
    pub async fn changed_repository_key(&self, r: &repository::Model) -> String {
        let now_seen = self.observe_repository(r).await;
        changed(
            &format!("repository host of {}", r.path),
            &r.host_key,
            now_seen,
            &repository_accept(r.id),
        )
    }
}

fn client_accept(id: i32) -> String {
    format!(
        "dashboard: Clients, Host key; API: POST /api/v1/clients/{id}/host_key/accept/ with the \
         fingerprint"
    )
}

fn repository_accept(id: i32) -> String {
    format!(
        "dashboard: Repositories, Host key; API: POST /api/v1/repositories/{id}/host_key/accept/ \
         with the fingerprint"
    )
}

fn unconfirmed(what: &str, key: &HostKey, how: &str) -> String {
    format!(
        "The SSH host key of {what} is not confirmed yet. It presents {} ({}): compare it with \
         `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` (or the key of that type) run on that \
         host, then accept it ({how}) and launch again.",
        key.fingerprint(),
        key.kind
    )
}

fn changed(what: &str, pinned: &str, seen: Result<HostKey, String>, how: &str) -> String {
    let pinned = host_keys::fingerprint_of(pinned);
    let now = match seen {
        Ok(k) => format!("it now presents {} ({})", k.fingerprint(), k.kind),
        Err(e) => format!("its key could not be fetched again: {e}"),
    };
    format!(
        "The SSH host key of {what} is not the pinned one ({pinned}); {now}. Nothing was run \
         there. If the host was reinstalled or its keys were replaced, review the new key and \
         accept it ({how}); otherwise someone may be intercepting the connection."
    )
}
