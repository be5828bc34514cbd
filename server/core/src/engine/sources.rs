//! What a backup of each policy type reads on the client: files for `rootfs`,
//! `config`, `mail` and `folders`; one command's standard output for `mysql`, `postgresql` and
//! `piped` (archived as one item by `borg create --stdin-name NAME -`). The same parsing checks
//! `extra_vars` when a policy is saved (`services::policies`), so a policy the engine cannot run
//! is refused then rather than failing at night.
use cyborg_dto::PolicyType;
use serde_json::Value;

use super::{
    shell,
    vm::{self, VmProvider},
};

/// What one backup archives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    /// `--one-file-system`: a whole-system backup does not descend into other mounts.
    pub one_file_system: bool,
    /// Set for the types that archive a command's output instead of paths.
    pub stream: Option<Stream>,
}

/// A command run on the client whose standard output borg archives as one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// A POSIX shell command line; every value from `extra_vars` in it is quoted by
    /// `shell::quote` (but `piped`'s own `command`, which is shell text by definition).
    pub command: String,
    /// The item's name in the archive (`--stdin-name`).
    pub name: String,
    /// The environment variable through which the command gets `extra_vars.password`
    /// (`PGPASSWORD`, `MYSQL_PWD`): never on a command line.
    pub password_env: Option<&'static str>,
    /// Several items instead of one: `command` runs in an empty folder, makes one FIFO per item
    /// there and starts a background writer for each (which reports its exit status); borg
    /// archives the folder with `--read-special`, reading each FIFO as a file (Proxmox: one
    /// `vzdump --stdout` per guest).
    pub fifos: bool,
    /// What the command is, for messages.
    pub what: String,
}

/// The `extra_vars` key holding a database password. Stored encrypted, answered as
/// [`PASSWORD_MASK`] (see `services::policies`).
pub const PASSWORD_KEY: &str = "password";
/// What API answers show instead of a stored password; sent back, it keeps the stored one.
pub const PASSWORD_MASK: &str = "$encrypted$";

/// Excluded from a `rootfs` backup: pseudo and temporary file systems, mount points.
pub const ROOTFS_EXCLUDES: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/tmp",
    "/mnt",
    "/media",
    "/lost+found",
    "/var/run",
    "/var/lib/lxcfs",
];

/// The sources of a policy of type `policy_type` with `extra_vars` (a JSON object as text, ""
/// meaning `{}`); `extra_vars.exclude` adds excludes to every file type. `vmprovider` names the
/// provider of a `vm` policy (`proxmox` is the same as the Proxmox provider). The error is a
/// message about `extra_vars` (or the type) for an operator.
pub fn for_policy(
    policy_type: PolicyType,
    vmprovider: &str,
    extra_vars: &str,
) -> Result<Sources, String> {
    let vars: Value = if extra_vars.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(extra_vars).map_err(|e| format!("extra_vars is not JSON: {e}"))?
    };
    let v = Vars(&vars);
    let mut s = match policy_type {
        PolicyType::Rootfs => Sources {
            paths: vec!["/".into()],
            excludes: ROOTFS_EXCLUDES.iter().map(|e| e.to_string()).collect(),
            ..Sources::default()
        },
        PolicyType::Config => Sources {
            paths: vec!["/etc".into()],
            ..Sources::default()
        },
        PolicyType::Mail => Sources {
            paths: vec!["/var/mail".into(), "/var/lib/mail".into()],
            ..Sources::default()
        },
        PolicyType::Folders => {
            let paths = v.strings("folders")?;
            if paths.is_empty() {
                return Err("a folders policy needs \"folders\", a list of paths".into());
            }
            Sources {
                paths,
                ..Sources::default()
            }
        }
        PolicyType::Postgresql | PolicyType::Mysql => {
            let (command, name) = if policy_type == PolicyType::Mysql {
                (mysql(&v)?, "mysql.sql")
            } else {
                (postgresql(&v)?, "postgresql.sql")
            };
            let (_, env) = db_connection(policy_type.as_str(), &vars)?;
            stream(command, v.name(name)?, env)
        }
        PolicyType::Piped => {
            let command = v.string("command")?.unwrap_or_default();
            if command.trim().is_empty() {
                return Err(
                    "a piped policy needs \"command\": the command whose output is archived".into(),
                );
            }
            // The operator's own shell text, run by `sh -c`: quoted as one word.
            let command = format!("sh -c {}", quote(&command)?);
            let mut s = stream(command, v.name("stdin")?, "CYBORG_PASSWORD");
            if v.string(PASSWORD_KEY)?.is_none()
                && let Some(st) = &mut s.stream
            {
                st.password_env = None;
            }
            s
        }
        PolicyType::Proxmox => vm::Proxmox.dump(&vars)?,
        PolicyType::Vm => match vm::provider(vmprovider) {
            Some(p) => p.dump(&vars)?,
            None if vmprovider.is_empty() => return Err("a vm policy needs a vmprovider".into()),
            None => return Err(format!("unknown VM provider {vmprovider}")),
        },
    };
    let excludes = v.strings("exclude")?;
    if excludes
        .iter()
        .any(|e| e.is_empty() || e.chars().any(char::is_control))
    {
        return Err("\"exclude\" must be a list of non-empty one-line patterns".into());
    }
    s.excludes.extend(excludes);
    Ok(s)
}

fn stream(command: String, name: String, password_env: &'static str) -> Sources {
    Sources {
        paths: vec!["-".into()],
        stream: Some(Stream {
            what: command.clone(),
            command,
            name,
            password_env: Some(password_env),
            fifos: false,
        }),
        ..Sources::default()
    }
}

fn quote(s: &str) -> Result<String, String> {
    shell::quote(s).map_err(|e| e.to_string())
}

/// Typed reads of `extra_vars`, each with the message an operator needs.
struct Vars<'a>(&'a Value);

impl Vars<'_> {
    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("\"{key}\" must be a string")),
        }
    }

    /// A one-line value (a user, a host): no control characters, at most 255 bytes.
    fn word(&self, key: &str) -> Result<Option<String>, String> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
            return Err(format!("\"{key}\" must be one line of 1 to 255 characters"));
        }
        Ok(Some(s))
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("\"{key}\" must hold strings only"))
                })
                .collect(),
            Some(_) => Err(format!("\"{key}\" must be a list")),
        }
    }

    fn port(&self) -> Result<Option<u16>, String> {
        match self.0.get("port") {
            None | Some(Value::Null) => Ok(None),
            Some(p) => p
                .as_u64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| "\"port\" must be a number from 1 to 65535".into()),
        }
    }

    /// `stdin_name`: the archived item's name, else `default`.
    fn name(&self, default: &str) -> Result<String, String> {
        let Some(n) = self.word("stdin_name")? else {
            return Ok(default.to_string());
        };
        if n.starts_with('/') || n.split('/').any(|part| part == "..") {
            return Err("\"stdin_name\" must be a relative name without \"..\"".into());
        }
        Ok(n)
    }

    /// `databases`: names checked for what the dump tools would read as something else.
    fn databases(&self) -> Result<Vec<String>, String> {
        let dbs = self.strings("databases")?;
        for d in &dbs {
            if d.is_empty() || d.len() > 255 || d.chars().any(char::is_control) {
                return Err("\"databases\" must hold one-line names".into());
            }
            // pg_dump reads a database "name" with `=` or a URI prefix as connection options.
            if d.contains('=') || d.contains("://") {
                return Err(format!(
                    "\"databases\": {d:?} is not a database name (no '=' or '://')"
                ));
            }
        }
        Ok(dbs)
    }
}

/// The connection options of a `postgresql` or `mysql` tool from `extra_vars` (`host`, `port`,
/// `user`), and the environment variable its password goes through. Also used by the module
/// queries, which list what these tools can reach.
pub fn db_connection(
    policy_type: &str,
    extra_vars: &Value,
) -> Result<(Vec<String>, &'static str), String> {
    let v = Vars(extra_vars);
    let (user_flag, env) = match policy_type {
        "postgresql" => ("--username", "PGPASSWORD"),
        "mysql" => ("--user", "MYSQL_PWD"),
        other => return Err(format!("{other} is not a database type")),
    };
    let mut conn = Vec::new();
    if let Some(h) = v.word("host")? {
        conn.push(format!("--host={h}"));
    }
    if let Some(p) = v.port()? {
        conn.push(format!("--port={p}"));
    }
    if let Some(u) = v.word("user")? {
        conn.push(format!("{user_flag}={u}"));
    }
    if policy_type == "postgresql" {
        // Never a password prompt: without a password the tool fails at once.
        conn.push("--no-password".into());
    }
    Ok((conn, env))
}

/// `pg_dump --create` of each of `databases` (restorable as one script with `psql -f`), or
/// `pg_dumpall` of the whole cluster; as database role `user` (default: the client login's own),
/// on `host`/`port` (default: the local socket).
fn postgresql(v: &Vars) -> Result<String, String> {
    let (conn, _) = db_connection("postgresql", v.0)?;
    let dbs = v.databases()?;
    let runs: Vec<Vec<String>> = if dbs.is_empty() {
        let mut a = vec!["pg_dumpall".to_string()];
        a.extend(conn.iter().cloned());
        vec![a]
    } else {
        dbs.iter()
            .map(|db| {
                let mut a = vec!["pg_dump".to_string(), "--create".to_string()];
                a.extend(conn.iter().cloned());
                a.push("--".into());
                a.push(db.clone());
                a
            })
            .collect()
    };
    let lines = runs
        .iter()
        .map(|a| shell::command_line(a).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    // `&&`: the first failing dump ends the stream with its exit code.
    Ok(lines.join(" && "))
}

/// One `mysqldump` of `databases` (with their CREATE DATABASE/USE lines) or of all of them.
fn mysql(v: &Vars) -> Result<String, String> {
    let mut a: Vec<String> = [
        "mysqldump",
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(db_connection("mysql", v.0)?.0);
    let dbs = v.databases()?;
    if dbs.is_empty() {
        a.push("--all-databases".into());
    } else {
        a.push("--databases".into());
        a.push("--".into());
        a.extend(dbs);
    }
    shell::command_line(&a).map_err(|e| e.to_string())
}

/// The stored `extra_vars.password` of a policy (encrypted), if any.
pub fn stored_password(extra_vars: &str) -> Option<String> {
    let vars: Value = serde_json::from_str(extra_vars).ok()?;
    vars.get(PASSWORD_KEY)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_type() {
        let r = for_policy(PolicyType::Rootfs, "", "").unwrap();
        assert_eq!(r.paths, ["/"]);
        assert!(r.excludes.iter().any(|e| e == "/proc"));
        assert_eq!(
            for_policy(PolicyType::Config, "", "{}").unwrap().paths,
            ["/etc"]
        );
        assert_eq!(
            for_policy(PolicyType::Mail, "", "").unwrap().paths,
            ["/var/mail", "/var/lib/mail"]
        );
        let f = for_policy(
            PolicyType::Folders,
            "",
            r#"{"folders": ["/srv/a b", "/home"], "exclude": ["*.cache"]}"#,
        )
        .unwrap();
        assert_eq!(f.paths, ["/srv/a b", "/home"]);
        assert_eq!(f.excludes, ["*.cache"]);
        assert!(f.stream.is_none());
        let c = for_policy(PolicyType::Config, "", r#"{"exclude": ["/etc/shadow"]}"#).unwrap();
        assert_eq!(c.excludes, ["/etc/shadow"]);
    }

    #[test]
    fn database_dumps_quote_every_value() {
        let s = for_policy(
            PolicyType::Postgresql,
            "",
            r#"{"databases": ["app", "it's; rm -rf /"], "user": "backup", "host": "db.lan",
                "port": 5433, "password": "x"}"#,
        )
        .unwrap();
        assert_eq!(s.paths, ["-"]);
        let st = s.stream.unwrap();
        assert_eq!(
            st.command,
            "'pg_dump' '--create' '--host=db.lan' '--port=5433' '--username=backup' \
             '--no-password' '--' 'app' && 'pg_dump' '--create' '--host=db.lan' '--port=5433' \
             '--username=backup' '--no-password' '--' 'it'\\''s; rm -rf /'"
        );
        assert!(
            !st.command.contains("x'"),
            "no password on the command line"
        );
        assert_eq!(st.name, "postgresql.sql");
        assert_eq!(st.password_env, Some("PGPASSWORD"));
        let all = for_policy(PolicyType::Postgresql, "", "")
            .unwrap()
            .stream
            .unwrap();
        assert_eq!(all.command, "'pg_dumpall' '--no-password'");

        let m = for_policy(
            PolicyType::Mysql,
            "",
            r#"{"databases": ["shop"], "user": "root", "stdin_name": "dumps/shop.sql"}"#,
        )
        .unwrap()
        .stream
        .unwrap();
        assert_eq!(
            m.command,
            "'mysqldump' '--single-transaction' '--routines' '--events' '--triggers' \
             '--user=root' '--databases' '--' 'shop'"
        );
        assert_eq!(m.name, "dumps/shop.sql");
        assert_eq!(m.password_env, Some("MYSQL_PWD"));
        let all = for_policy(PolicyType::Mysql, "", "{}")
            .unwrap()
            .stream
            .unwrap();
        assert!(all.command.ends_with("'--all-databases'"));
    }

    #[test]
    fn piped_runs_the_operators_shell_text() {
        let p = for_policy(
            PolicyType::Piped,
            "",
            r#"{"command": "tar -C /srv -cf - . | gzip"}"#,
        )
        .unwrap()
        .stream
        .unwrap();
        assert_eq!(p.command, "sh -c 'tar -C /srv -cf - . | gzip'");
        assert_eq!(p.name, "stdin");
        assert_eq!(p.password_env, None);
        let with = for_policy(
            PolicyType::Piped,
            "",
            r#"{"command": "x", "password": "enc"}"#,
        )
        .unwrap()
        .stream
        .unwrap();
        assert_eq!(with.password_env, Some("CYBORG_PASSWORD"));
    }

    #[test]
    fn refusals() {
        for (t, ev) in [
            ("folders", "{}"),
            ("folders", r#"{"folders": "/a"}"#),
            ("rootfs", "{"),
            ("rootfs", r#"{"exclude": ["a\nb"]}"#),
            ("piped", r#"{"command": "  "}"#),
            ("postgresql", r#"{"databases": ["host=evil"]}"#),
            ("postgresql", r#"{"databases": ["postgresql://evil/x"]}"#),
            ("postgresql", r#"{"databases": [""]}"#),
            ("postgresql", r#"{"port": 70000}"#),
            ("mysql", r#"{"user": "a\nb"}"#),
            ("mysql", r#"{"host": 5}"#),
            ("mysql", r#"{"stdin_name": "../x"}"#),
            ("mysql", r#"{"stdin_name": "/etc/x"}"#),
        ] {
            let t = PolicyType::parse(t).unwrap();
            assert!(for_policy(t, "", ev).is_err(), "{t} {ev}");
        }
        assert!(
            for_policy(PolicyType::Vm, "", "")
                .unwrap_err()
                .contains("needs a vmprovider")
        );
        assert!(
            for_policy(PolicyType::Vm, "vmware", "")
                .unwrap_err()
                .contains("unknown")
        );
        assert!(for_policy(PolicyType::Proxmox, "", r#"{"vmids": ["x"]}"#).is_err());
        assert!(for_policy(PolicyType::Proxmox, "", r#"{"vmids": [0]}"#).is_err());
        assert!(for_policy(PolicyType::Proxmox, "", r#"{"vmids": 100}"#).is_err());
    }

    #[test]
    fn proxmox_guests_become_fifos() {
        let s = for_policy(PolicyType::Proxmox, "", r#"{"vmids": [100, "101"]}"#).unwrap();
        assert_eq!(s.paths, ["."]);
        let st = s.stream.unwrap();
        assert!(st.fifos);
        assert!(st.command.starts_with("ids='100 101'; "), "{}", st.command);
        assert_eq!(st.what, "vzdump of guest(s) 100, 101");
        let all = for_policy(PolicyType::Proxmox, "", "")
            .unwrap()
            .stream
            .unwrap();
        assert!(all.command.contains("qm list"), "{}", all.command);
        // A vm policy through the Proxmox provider reads the same.
        let vm = for_policy(PolicyType::Vm, "proxmox", r#"{"vmids": [100, "101"]}"#).unwrap();
        assert_eq!(vm.stream.unwrap().command, st.command);
    }

    #[test]
    fn stored_password_is_read_back() {
        assert_eq!(
            stored_password(r#"{"password": "enc:v1:abc"}"#).as_deref(),
            Some("enc:v1:abc")
        );
        assert_eq!(stored_password(r#"{"password": ""}"#), None);
        assert_eq!(stored_password(""), None);
    }
}
