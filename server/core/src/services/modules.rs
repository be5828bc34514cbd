//! Module queries: what a policy form can offer for a client — the databases
//! its PostgreSQL or MySQL/MariaDB holds, the guests of its hypervisor — asked on the client over
//! SSH with the same tools and connection options the backups use. Superusers only: it runs
//! commands on clients.
use cyborg_dto::{MODULES, ModuleItem, ModuleList, VmModule};
use sea_orm::EntityTrait;
use serde_json::{Map, Value};

use super::{Actor, find};
use crate::{
    engine::{
        shell,
        sources::{self, PASSWORD_KEY},
        ssh::{self, SSH_ERROR_STATUS},
        vm,
    },
    entities::{client, policy},
    error::{Error, Result},
    state::AppState,
};

/// The query parameters a module query reads: the connection, or a policy to take it from.
const PARAMS: &[&str] = &["user", "host", "port", "policy"];

pub fn vm_modules() -> Vec<VmModule> {
    vm::providers()
        .iter()
        .map(|p| VmModule {
            name: p.name().into(),
            label: p.label().into(),
            module: p.name().into(),
        })
        .collect()
}

/// Lists what `module` finds on client `client_id`. `params`: `user`, `host`, `port` of the
/// database, or `policy` (an id) to use that policy's `extra_vars` with its stored password — a
/// password never travels in a URL.
pub async fn query(
    st: &AppState,
    actor: &Actor,
    module: &str,
    client_id: i32,
    params: &[(String, String)],
) -> Result<ModuleList> {
    actor.require_superuser()?;
    if !MODULES.contains(&module) {
        return Err(Error::NotFound(format!(
            "No module {module:?}; the modules are {}.",
            MODULES.join(", ")
        )));
    }
    let c = find::<client::Entity>(&st.db, client_id).await?;
    if let Some((k, _)) = params.iter().find(|(k, _)| !PARAMS.contains(&k.as_str())) {
        return Err(Error::field(
            k,
            format!("Unknown parameter; use {}.", PARAMS.join(", ")),
        ));
    }
    let (vars, password) = connection(st, params).await?;
    let (argv, password_env) = match vm::provider(module) {
        Some(p) => (p.list_argv(), None),
        None => {
            let (conn, env) = sources::db_connection(module, &Value::Object(vars))
                .map_err(|m| Error::field("connection", m))?;
            (database_list_argv(module, conn), Some(env))
        }
    };
    let (line, stdin) = match (password_env, password) {
        (Some(env), Some(pw)) => (
            shell::with_secret_env(env, &argv),
            Some(format!("{pw}\n").into_bytes()),
        ),
        _ => (shell::command_line(&argv), None),
    };
    let line = line.map_err(|e| Error::BadRequest(e.to_string()))?;
    let target = st.engine.client_target(&c).await.map_err(Error::Conflict)?;
    let out = ssh::run_capture(&target, &line, stdin)
        .await
        .map_err(|e| Error::BadGateway(e.to_string()))?;
    let tool = &argv[0];
    match out.status.code() {
        Some(0) => {}
        Some(SSH_ERROR_STATUS) => {
            return Err(Error::BadGateway(format!(
                "{} could not be reached over SSH: {}",
                c.hostname,
                last_line(&out.stderr)
            )));
        }
        Some(127) => {
            return Err(Error::BadGateway(format!(
                "{tool} is not installed on {} (command not found).",
                c.hostname
            )));
        }
        _ => {
            return Err(Error::BadGateway(format!(
                "{tool} failed on {} ({}): {}",
                c.hostname,
                out.status,
                last_line(&out.stderr)
            )));
        }
    }
    let items = match vm::provider(module) {
        Some(p) => p.parse_list(&out.stdout).map_err(Error::BadGateway)?,
        None => database_names(&out.stdout),
    };
    Ok(ModuleList {
        module: module.into(),
        client: client_id,
        items,
    })
}

/// The connection `extra_vars` (and the decrypted password) of the request: a policy's, or the
/// `user`/`host`/`port` parameters.
async fn connection(
    st: &AppState,
    params: &[(String, String)],
) -> Result<(Map<String, Value>, Option<String>)> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(id) = get("policy") {
        let id: i32 = id
            .parse()
            .map_err(|_| Error::field("policy", "A policy id is a whole number."))?;
        let p = policy::Entity::find_by_id(id)
            .one(&st.db)
            .await?
            .ok_or_else(|| Error::field("policy", super::missing("Policy", id)))?;
        let vars: Map<String, Value> = serde_json::from_str(&p.extra_vars).unwrap_or_default();
        let password = match sources::stored_password(&p.extra_vars) {
            Some(stored) => Some(st.secrets.decrypt(&stored).map_err(|e| {
                Error::Conflict(format!(
                    "The policy's password cannot be decrypted with this server's secret key \
                     ({e})."
                ))
            })?),
            None => None,
        };
        let mut vars = vars;
        vars.remove(PASSWORD_KEY);
        return Ok((vars, password));
    }
    let mut vars = Map::new();
    for k in ["user", "host"] {
        if let Some(v) = get(k) {
            vars.insert(k.into(), Value::String(v));
        }
    }
    if let Some(p) = get("port") {
        vars.insert("port".into(), Value::String(p));
    }
    Ok((vars, None))
}

fn database_list_argv(module: &str, conn: Vec<String>) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if module == "postgresql" {
        a.extend(["psql".into(), "--no-psqlrc".into()]);
        a.extend(conn);
        a.extend(
            [
                "-At",
                "-d",
                "postgres",
                "-c",
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate \
                 ORDER BY 1",
            ]
            .map(String::from),
        );
    } else {
        a.push("mysql".into());
        a.extend(conn);
        a.extend(["-N", "-B", "-e", "SHOW DATABASES"].map(String::from));
    }
    a
}

/// One database name per line.
fn database_names(stdout: &str) -> Vec<ModuleItem> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(|name| ModuleItem {
            id: name.into(),
            name: name.into(),
            detail: String::new(),
        })
        .collect()
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_listing_commands() {
        let a = database_list_argv("mysql", vec!["--user=root".into()]);
        assert_eq!(
            a,
            ["mysql", "--user=root", "-N", "-B", "-e", "SHOW DATABASES"]
        );
        let p = database_list_argv("postgresql", vec!["--no-password".into()]);
        assert_eq!(p[..3], ["psql", "--no-psqlrc", "--no-password"]);
        assert_eq!(
            database_names("app\nshop \n\n")
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["app", "shop"]
        );
    }
}
