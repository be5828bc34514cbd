//! What the dashboard's resource pages (clients, repositories, policies, users) list and edit:
//! one description per resource, read by the page in the browser and by the server's adapter
//! that turns API objects into table rows and form values into the API's input objects. The
//! rules (what is required, what is valid) stay in the service layer; this only says how a field
//! is shown and typed.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dto::{FieldErrors, PolicyType, VM_PROVIDERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Clients,
    Repositories,
    Policies,
    Users,
}

/// How a form field is typed and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    /// Text left out when empty: the service's default for a new object, unchanged on edit.
    OptText,
    /// Written, never shown: the form starts empty and an empty value on edit keeps the old one.
    Secret,
    /// A whole number that must be given.
    Number,
    /// A whole number or empty for `null`.
    OptNumber,
    /// A number with decimals or empty for `null`.
    OptDecimal,
    Bool,
    /// One of fixed values. Empty when `""` is not one of them: left out (the service's
    /// default, or unchanged).
    Choice(&'static [&'static str]),
    /// One object of another resource, by id, offered by name.
    Pick,
    /// The same or none (`null`).
    OptPick,
    /// Several objects of another resource, by id, offered by name.
    PickMany,
    /// A JSON object typed as text (the API keeps it as a string).
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct FormField {
    /// The API field (and the key of its validation messages).
    pub name: &'static str,
    pub label: &'static str,
    pub input: Input,
    pub help: &'static str,
    /// An example shown in an empty text input.
    pub placeholder: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub label: &'static str,
    /// The `order_by` field of the list engine; `""` when the column does not sort. The cells
    /// are made on the server from the typed objects (`dashboard::resource_calls`).
    pub order_by: &'static str,
}

const fn field(name: &'static str, label: &'static str, input: Input) -> FormField {
    FormField {
        name,
        label,
        input,
        help: "",
        placeholder: "",
    }
}

const fn col(label: &'static str, order_by: &'static str) -> Column {
    Column { label, order_by }
}

const fn helped(mut f: FormField, help: &'static str) -> FormField {
    f.help = help;
    f
}

const fn example(mut f: FormField, placeholder: &'static str) -> FormField {
    f.placeholder = placeholder;
    f
}

/// The encryption modes a repository may be made with (the service's list; the keyfile modes
/// are not offered: their key lives on each client).
pub const REPOSITORY_ENCRYPTIONS: &[&str] = &[
    "repokey-blake2",
    "repokey",
    "authenticated-blake2",
    "authenticated",
    "none",
];

const CLIENT_FIELDS: &[FormField] = &[
    helped(
        field("hostname", "Hostname", Input::Text),
        "The name or address the server connects to over SSH.",
    ),
    helped(
        field("host_key", "SSH host key", Input::Secret),
        "Optional: the host's public key (the content of /etc/ssh/ssh_host_ed25519_key.pub) to pin it now; otherwise the key it presents is fetched for you to confirm (Host key).",
    ),
    field("port", "SSH port", Input::Number),
    helped(
        field("username", "SSH user", Input::Text),
        "The account on the client that runs borg (usually root).",
    ),
    helped(
        field("bandwidth_limit", "Upload limit (KiB/s)", Input::OptNumber),
        "Empty for no limit.",
    ),
    field("enabled", "Enabled", Input::Bool),
];

const REPOSITORY_FIELDS: &[FormField] = &[
    field("name", "Name", Input::Text),
    helped(
        field("path", "Path", Input::Text),
        "Where borg finds the repository, e.g. ssh://backup@store.example/./repo or /srv/borg/repo.",
    ),
    helped(
        field("host_key", "SSH host key", Input::Secret),
        "For a repository on another host: that host's public key, to pin it now; otherwise it is fetched for you to confirm (Host key).",
    ),
    helped(
        field("repository_key", "Passphrase", Input::Secret),
        "Stored encrypted and never shown again. On edit, leave empty to keep the current one.",
    ),
    helped(
        field(
            "integrity_schedule",
            "Integrity check schedule",
            Input::OptPick,
        ),
        "When to run borg check and a restore test of a sample of the newest archive; none: only by hand (Check integrity).",
    ),
    helped(
        field("node_labels", "Node labels", Input::Text),
        "Several server nodes: only nodes with one of these labels (comma-separated) run this repository's jobs, e.g. the node holding a pull-mode repository's folder. Empty: any node.",
    ),
    helped(
        field(
            "encryption",
            "Encryption",
            Input::Choice(REPOSITORY_ENCRYPTIONS),
        ),
        "Cannot change once the repository is initialised (borg fixes it at borg init). repokey-blake2: encrypted, the key inside the repository (export it from the Key page). authenticated* and none do not encrypt; none needs the setting allow_unencrypted_repositories.",
    ),
    example(
        helped(
            field("compression", "Compression", Input::OptText),
            "borg's compression of new archives: lz4 (fast), zstd,N (N 1-22), auto,zstd,N (compresses only what compresses), zlib,N, lzma,N or none. Empty: unchanged (lz4 for a new repository).",
        ),
        "lz4 / zstd,3 / auto,zstd,6",
    ),
    helped(
        field("append_only", "Append-only", Input::Bool),
        "borg refuses to delete anything from it: never pruned, and its archives cannot be renamed or deleted from here.",
    ),
    example(
        helped(
            field("quota", "Storage quota", Input::Text),
            "borg refuses backups beyond this size (K, M, G, T, P: powers of 1000; at least 10M). Empty: none.",
        ),
        "500G",
    ),
    helped(
        field("upload_ratelimit", "Upload limit (KiB/s)", Input::OptNumber),
        "For clients without a limit of their own; empty for no limit.",
    ),
    field("enabled", "Enabled", Input::Bool),
];

const POLICY_FIELDS: &[FormField] = &[
    field("name", "Name", Input::Text),
    field("policy_type", "Type", Input::Choice(PolicyType::NAMES)),
    helped(
        field("extra_vars", "Extra variables (JSON)", Input::Json),
        "A JSON object; what it holds depends on the type (explained above).",
    ),
    field("clients", "Clients", Input::PickMany),
    field("repository", "Repository", Input::Pick),
    field("schedule", "Schedule", Input::Pick),
    helped(
        field("keep_within", "Keep within", Input::Text),
        "Keep every archive younger than this: 12H, 7d, 2w, 1m, 1y; empty for no rule.",
    ),
    helped(
        field("keep_last", "Keep last", Input::OptNumber),
        "The newest archives to keep whatever their age; empty for no rule.",
    ),
    helped(
        field("max_age_hours", "Late after (hours)", Input::OptDecimal),
        "Hours without a successful backup before a client is shown late and alerted; empty: 1.5 times the gap between two runs of the schedule.",
    ),
    helped(
        field("time_limit_hours", "Time limit (hours)", Input::OptDecimal),
        "A job of this policy running longer is canceled; empty: 24 hours.",
    ),
    helped(
        field("keep_hourly", "Keep hourly", Input::OptNumber),
        "Archives to keep per hour, day, week, month and year when pruning; empty for no rule.",
    ),
    field("keep_daily", "Keep daily", Input::OptNumber),
    field("keep_weekly", "Keep weekly", Input::OptNumber),
    field("keep_monthly", "Keep monthly", Input::OptNumber),
    field("keep_yearly", "Keep yearly", Input::OptNumber),
    helped(
        field(
            "vmprovider",
            "VM provider",
            Input::Choice(VM_PROVIDERS_OR_NONE),
        ),
        "Only for the vm type.",
    ),
    helped(
        field("mode_pull", "Pull mode", Input::Bool),
        "The server reaches the client and serves the repository to it over the same SSH connection: the client needs no route to the repository. The repository's path is then a folder on this server, and the client needs socat.",
    ),
    field("enabled", "Enabled", Input::Bool),
];

/// The VM providers with "none" (`""`) first.
const VM_PROVIDERS_OR_NONE: &[&str] = &["", VM_PROVIDERS[0]];

const USER_FIELDS: &[FormField] = &[
    field("email", "Email", Input::Text),
    field("first_name", "First name", Input::Text),
    field("last_name", "Last name", Input::Text),
    helped(
        field("password", "Password", Input::Secret),
        "At least 8 characters. On edit, leave empty to keep the current one.",
    ),
    helped(
        field("current_password", "Your present password", Input::Secret),
        "Needed to change your own password.",
    ),
    field("is_superuser", "Superuser", Input::Bool),
];

const CLIENT_COLUMNS: &[Column] = &[
    col("Hostname", "hostname"),
    col("User", "username"),
    col("Port", "port"),
    col("Borg", "version"),
    col("Ready", "ready"),
    col("Enabled", "enabled"),
    col("Host key", ""),
    col("Policies", ""),
];

const REPOSITORY_COLUMNS: &[Column] = &[
    col("Name", "name"),
    col("Path", "path"),
    col("Original", "original_size"),
    col("Deduplicated", "deduplicated_size"),
    col("Ready", "ready"),
    col("Enabled", "enabled"),
    col("Last check", ""),
    col("Next check", "integrity_next_run"),
    col("Host key", ""),
];

const POLICY_COLUMNS: &[Column] = &[
    col("Name", "name"),
    col("Type", "policy_type"),
    col("Clients", ""),
    col("Repository", ""),
    col("Schedule", ""),
    col("Next run", "next_run"),
    col("Enabled", "enabled"),
];

const USER_COLUMNS: &[Column] = &[
    col("Email", "email"),
    col("First name", "first_name"),
    col("Last name", "last_name"),
    col("Superuser", "is_superuser"),
];

impl ResourceKind {
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Clients,
        ResourceKind::Repositories,
        ResourceKind::Policies,
        ResourceKind::Users,
    ];

    /// The word of the page's address and of the REST API's path, and the plural noun.
    pub fn slug(self) -> &'static str {
        &self.page_path()[1..]
    }

    /// The dashboard page of the resource.
    pub fn page_path(self) -> &'static str {
        match self {
            ResourceKind::Clients => "/clients",
            ResourceKind::Repositories => "/repositories",
            ResourceKind::Policies => "/policies",
            ResourceKind::Users => "/users",
        }
    }

    /// The REST API list this page shows (its list engine answers the page's queries).
    pub fn api_path(self) -> String {
        format!("/api/v1/{}/", self.slug())
    }

    pub fn title(self) -> &'static str {
        match self {
            ResourceKind::Clients => "Clients",
            ResourceKind::Repositories => "Repositories",
            ResourceKind::Policies => "Policies",
            ResourceKind::Users => "Users",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            ResourceKind::Clients => "client",
            ResourceKind::Repositories => "repository",
            ResourceKind::Policies => "policy",
            ResourceKind::Users => "user",
        }
    }

    /// The field that names an object (the first column; the default order).
    pub fn label_field(self) -> &'static str {
        match self {
            ResourceKind::Clients => "hostname",
            ResourceKind::Users => "email",
            ResourceKind::Repositories | ResourceKind::Policies => "name",
        }
    }

    pub fn search_hint(self) -> &'static str {
        match self {
            ResourceKind::Clients => "hostname, IP, user or borg version",
            ResourceKind::Repositories => "name or path",
            ResourceKind::Policies => "name or type",
            ResourceKind::Users => "email or name",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            ResourceKind::Clients => CLIENT_COLUMNS,
            ResourceKind::Repositories => REPOSITORY_COLUMNS,
            ResourceKind::Policies => POLICY_COLUMNS,
            ResourceKind::Users => USER_COLUMNS,
        }
    }

    pub fn fields(self) -> &'static [FormField] {
        match self {
            ResourceKind::Clients => CLIENT_FIELDS,
            ResourceKind::Repositories => REPOSITORY_FIELDS,
            ResourceKind::Policies => POLICY_FIELDS,
            ResourceKind::Users => USER_FIELDS,
        }
    }

    /// The values a new object's form starts with.
    pub fn defaults(self) -> BTreeMap<String, String> {
        let pairs: &[(&str, &str)] = match self {
            ResourceKind::Clients => &[("port", "22"), ("username", "root"), ("enabled", "true")],
            ResourceKind::Repositories => &[
                ("enabled", "true"),
                ("encryption", "repokey-blake2"),
                ("compression", "lz4"),
                ("append_only", "false"),
            ],
            ResourceKind::Policies => &[("policy_type", "folders"), ("enabled", "true")],
            ResourceKind::Users => &[],
        };
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The delete confirmation's words for what depends on an object (`names` from the server).
    pub fn describe_dependents(self, names: &[String]) -> String {
        if names.is_empty() && self != ResourceKind::Users {
            "Nothing depends on it.".to_string()
        } else if names.is_empty() {
            self.dependents_note().to_string()
        } else {
            format!(
                "Depends on it: {}. {}",
                names.join(", "),
                self.dependents_note()
            )
        }
    }

    /// What a delete does to the objects the confirmation names.
    pub fn dependents_note(self) -> &'static str {
        match self {
            ResourceKind::Clients => {
                "Deleting it takes it out of these policies; its jobs and their logs stay."
            }
            ResourceKind::Repositories => {
                "A repository in use cannot be deleted: change or delete these policies first. Deleting removes its archives' catalog (the borg repository itself is left on disk)."
            }
            ResourceKind::Policies => "Its jobs and their logs stay, without the link.",
            ResourceKind::Users => {
                "Their sessions and API tokens end; what they created stays. The last superuser cannot be deleted."
            }
        }
    }
}

/// The module query that lists what a policy of this type (and VM provider) can name, and the
/// `extra_vars` key the picked items go to: databases by name, guests by number.
pub fn module_for(policy_type: &str, vmprovider: &str) -> Option<(&'static str, &'static str)> {
    match (policy_type, vmprovider) {
        ("mysql", _) => Some(("mysql", "databases")),
        ("postgresql", _) => Some(("postgresql", "databases")),
        ("proxmox", _) | ("vm", "proxmox") => Some(("proxmox", "vmids")),
        _ => None,
    }
}

fn extra_vars_object(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("Extra variables are not a JSON object yet; fix them first.".into()),
    }
}

/// The items listed under `key` of `extra_vars` (ids as text).
pub fn listed(extra_vars: &str, key: &str) -> Vec<String> {
    extra_vars_object(extra_vars)
        .ok()
        .and_then(|m| m.get(key).cloned())
        .and_then(|v| match v {
            Value::Array(items) => Some(items.iter().map(text_of).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `extra_vars` with `id` added to (or taken out of) the list under `key`; `vmids` hold
/// numbers, other lists text. An empty list removes the key (its absence means "all").
pub fn with_listed(extra_vars: &str, key: &str, id: &str, on: bool) -> Result<String, String> {
    let mut m = extra_vars_object(extra_vars)?;
    let mut ids = listed(extra_vars, key);
    ids.retain(|i| i != id);
    if on {
        ids.push(id.to_string());
    }
    if ids.is_empty() {
        m.remove(key);
    } else {
        let values = ids
            .into_iter()
            .map(|i| match (key, i.parse::<u64>()) {
                ("vmids", Ok(n)) => Value::from(n),
                _ => Value::from(i),
            })
            .collect();
        m.insert(key.to_string(), Value::Array(values));
    }
    Ok(Value::Object(m).to_string())
}

/// The connection a module query reads from a new policy's typed `extra_vars` (`user`, `host`,
/// `port`); a saved policy's is read on the server, with its stored password.
pub fn connection_params(extra_vars: &str) -> Vec<(String, String)> {
    let m = extra_vars_object(extra_vars).unwrap_or_default();
    ["user", "host", "port"]
        .into_iter()
        .filter_map(|k| {
            let v = text_of(m.get(k)?);
            (!v.is_empty()).then(|| (k.to_string(), v))
        })
        .collect()
}

/// What each policy type backs up and what its `extra_vars` may hold.
pub fn policy_type_help(policy_type: &str) -> &'static str {
    match policy_type {
        "rootfs" => {
            "The whole root file system, without /dev /proc /sys /run /tmp /mnt /media /lost+found /var/run /var/lib/lxcfs. extra_vars: {\"exclude\": [\"/var/cache\"]} adds excludes."
        }
        "config" => "/etc. extra_vars: {\"exclude\": [\"/etc/shadow\"]} adds excludes.",
        "mail" => "/var/mail and /var/lib/mail. extra_vars: {\"exclude\": […]} adds excludes.",
        "folders" => {
            "The folders you list. extra_vars: {\"folders\": [\"/srv/data\", \"/home\"], \"exclude\": [\"*.cache\"]} (folders required)."
        }
        "mysql" => {
            "One mysqldump of the databases (with their CREATE DATABASE lines) archived as mysql.sql. extra_vars: {\"databases\": [\"app\"], \"user\": \"backup\", \"password\": \"…\", \"host\": \"127.0.0.1\", \"port\": 3306} (databases absent for all; the rest optional). The password is stored encrypted, shown as $encrypted$ (send that back to keep it) and reaches mysqldump through its environment, never a command line."
        }
        "postgresql" => {
            "pg_dump --create of each database (or pg_dumpall) archived as postgresql.sql; restore with psql -f. extra_vars: {\"databases\": [\"app\"], \"user\": \"postgres\", \"password\": \"…\", \"host\": \"127.0.0.1\", \"port\": 5432} (databases absent for the whole cluster; without host, the local socket). The password is stored encrypted and shown as $encrypted$."
        }
        "piped" => {
            "The output of any shell command, archived as one file; the job fails if the command exits non-zero. extra_vars: {\"command\": \"tar -C /srv -cf - data\", \"stdin_name\": \"srv-data.tar\"} (stdin_name optional; an optional \"password\" reaches the command as $CYBORG_PASSWORD)."
        }
        "proxmox" => {
            "vzdump --stdout of each Proxmox guest into one archive (items vzdump-ID.vma); a failed dump fails the job. extra_vars: {\"vmids\": [100, 101]} (absent: every guest of the node, from qm list and pct list)."
        }
        "vm" => {
            "Virtual machines through the VM provider chosen below (Proxmox: vzdump --stdout of each guest into one archive, as the proxmox type). extra_vars: {\"vmids\": [100, 101]} (absent: every guest)."
        }
        _ => "",
    }
}

/// A table row of a resource page: the cells of its columns and the values of its form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub id: i32,
    /// The object's name (its `label_field`), for buttons and the delete question.
    pub label: String,
    pub cells: Vec<String>,
    /// The form's values by field name; secrets are always empty.
    pub values: BTreeMap<String, String>,
}

/// An object another resource's form can pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: i32,
    pub label: String,
}

/// The objects each picking field (`Input::Pick`, `Input::PickMany`) offers, by field name.
pub type Choices = BTreeMap<String, Vec<Choice>>;

pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The row of one API object (as its JSON) with its cells (one a column, made from the typed
/// object on the server).
pub fn row_of(kind: ResourceKind, obj: &Value, cells: Vec<String>) -> ResourceRow {
    let values = kind
        .fields()
        .iter()
        .map(|f| {
            let v = match f.input {
                Input::Secret => String::new(),
                _ => text_of(obj.get(f.name).unwrap_or(&Value::Null)),
            };
            (f.name.to_string(), v)
        })
        .collect();
    ResourceRow {
        id: obj.get("id").and_then(Value::as_i64).unwrap_or_default() as i32,
        label: text_of(obj.get(kind.label_field()).unwrap_or(&Value::Null)),
        cells,
        values,
    }
}

/// The API input object of a form's values. Typing mistakes the browser cannot prevent (a
/// number field with letters) come back as field messages; everything else is the service's
/// to judge. An empty secret is left out, so an edit keeps the stored one; an empty pick is
/// left out, so the service says it is required.
pub fn input_of(
    kind: ResourceKind,
    values: &BTreeMap<String, String>,
) -> Result<Value, FieldErrors> {
    let mut out = Map::new();
    let mut errors = FieldErrors::new();
    for f in kind.fields() {
        let raw = values.get(f.name).map(String::as_str).unwrap_or("");
        let text = raw.trim();
        let whole = |s: &str| s.parse::<i32>().map(Value::from);
        let value = match f.input {
            Input::Choice(values) if text.is_empty() && !values.contains(&"") => None,
            Input::OptText if text.is_empty() => None,
            Input::Text | Input::OptText | Input::Json | Input::Choice(_) => Some(Value::from(raw)),
            Input::Secret | Input::Pick if text.is_empty() => None,
            Input::OptPick if text.is_empty() => Some(Value::Null),
            Input::Secret => Some(Value::from(raw)),
            Input::Bool => Some(Value::from(text == "true" || text == "on")),
            Input::OptNumber | Input::OptDecimal if text.is_empty() => Some(Value::Null),
            Input::OptDecimal => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(Value::from(v)),
                _ => {
                    errors.insert(f.name.into(), vec!["Enter a number.".into()]);
                    None
                }
            },
            Input::Number | Input::OptNumber | Input::Pick | Input::OptPick => match whole(text) {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.insert(f.name.into(), vec!["Enter a whole number.".into()]);
                    None
                }
            },
            Input::PickMany => {
                let ids: Result<Vec<Value>, _> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(whole)
                    .collect();
                match ids {
                    Ok(ids) => Some(Value::Array(ids)),
                    Err(_) => {
                        errors.insert(f.name.into(), vec!["Pick from the list.".into()]);
                        None
                    }
                }
            }
        };
        if let Some(v) = value {
            out.insert(f.name.to_string(), v);
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_column_and_field_names_an_api_field() {
        for kind in ResourceKind::ALL {
            assert_eq!(kind.columns()[0].order_by, kind.label_field());
            for f in kind.fields() {
                assert!(!f.name.is_empty() && !f.label.is_empty());
            }
        }
    }

    #[test]
    fn module_picks_edit_extra_vars() {
        assert_eq!(module_for("mysql", ""), Some(("mysql", "databases")));
        assert_eq!(module_for("vm", "proxmox"), Some(("proxmox", "vmids")));
        assert_eq!(module_for("vm", ""), None);
        assert_eq!(module_for("folders", ""), None);
        let ev = with_listed(r#"{"user": "backup"}"#, "databases", "shop", true).unwrap();
        let ev = with_listed(&ev, "databases", "blog", true).unwrap();
        assert_eq!(listed(&ev, "databases"), ["shop", "blog"]);
        let ev = with_listed(&ev, "databases", "shop", false).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&ev).unwrap(),
            json!({"user": "backup", "databases": ["blog"]})
        );
        let ev = with_listed(&ev, "databases", "blog", false).unwrap();
        assert_eq!(
            ev, r#"{"user":"backup"}"#,
            "an empty list means all: the key goes"
        );
        let ev = with_listed("", "vmids", "101", true).unwrap();
        assert_eq!(ev, r#"{"vmids":[101]}"#);
        assert_eq!(listed(&ev, "vmids"), ["101"]);
        assert!(with_listed("[1]", "vmids", "1", true).is_err());
        assert_eq!(
            connection_params(r#"{"user": "u", "port": 3307, "host": ""}"#),
            [("user".into(), "u".into()), ("port".into(), "3307".into())]
        );
    }

    #[test]
    fn rows_hide_secrets_from_the_form_values() {
        let repo = json!({
            "id": 7, "name": "main", "path": "/srv/borg", "repository_key": "s3cret",
            "original_size": 1536, "deduplicated_size": 0, "ready": true, "enabled": false,
            "last_integrity": {"job": 9, "status": "successful", "finished": null,
                               "explanation": "borg check: no problem found"},
            "integrity_schedule": 2, "integrity_next_run": "2027-01-01T00:00:00Z",
            "host_key_status": "not_needed"
        });
        let r = row_of(ResourceKind::Repositories, &repo, vec!["main".into()]);
        assert_eq!(r.id, 7);
        assert_eq!(r.label, "main");
        assert_eq!(r.cells, ["main"]);
        assert_eq!(r.values["repository_key"], "");
        assert_eq!(r.values["enabled"], "false");

        let policy = json!({
            "id": 1, "name": "p", "policy_type": "folders", "clients": [3, 4],
            "keep_daily": null, "keep_weekly": 2, "next_run": null, "enabled": true,
            "summary_fields": {"clients": [{"hostname": "a"}, {"hostname": "b"}],
                               "repository": {"name": "main"}, "schedule": null}
        });
        let p = row_of(ResourceKind::Policies, &policy, Vec::new());
        assert_eq!(p.values["clients"], "3,4");
        assert_eq!(p.values["keep_daily"], "");
        assert_eq!(p.values["keep_weekly"], "2");
    }

    #[test]
    fn inputs_are_typed_and_mistyped_numbers_are_field_errors() {
        let ok = input_of(
            ResourceKind::Policies,
            &values(&[
                ("name", "n"),
                ("clients", "1, 2"),
                ("repository", "3"),
                ("schedule", ""),
                ("keep_daily", ""),
                ("keep_weekly", "4"),
                ("mode_pull", "false"),
                ("enabled", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(ok["clients"], json!([1, 2]));
        assert_eq!(ok["repository"], json!(3));
        assert!(
            ok.get("schedule").is_none(),
            "an empty pick is left to the service"
        );
        assert_eq!(ok["keep_daily"], Value::Null);
        assert_eq!(ok["keep_weekly"], json!(4));
        assert_eq!(ok["enabled"], json!(true));
        assert_eq!(ok["extra_vars"], json!(""));

        // An optional pick: empty is null (none), a choice its id.
        let none = input_of(
            ResourceKind::Repositories,
            &values(&[("name", "r"), ("integrity_schedule", "")]),
        )
        .unwrap();
        assert_eq!(none["integrity_schedule"], Value::Null);
        let some = input_of(
            ResourceKind::Repositories,
            &values(&[("name", "r"), ("integrity_schedule", "7")]),
        )
        .unwrap();
        assert_eq!(some["integrity_schedule"], json!(7));

        let bad = input_of(
            ResourceKind::Clients,
            &values(&[
                ("hostname", "h"),
                ("port", "22x"),
                ("bandwidth_limit", "99999999999"),
            ]),
        )
        .unwrap_err();
        assert_eq!(bad.keys().collect::<Vec<_>>(), ["bandwidth_limit", "port"]);
    }

    #[test]
    fn repository_options_are_typed() {
        let new = input_of(
            ResourceKind::Repositories,
            &ResourceKind::Repositories.defaults(),
        )
        .unwrap();
        assert_eq!(new["encryption"], json!("repokey-blake2"));
        assert_eq!(new["compression"], json!("lz4"));
        assert_eq!(new["append_only"], json!(false));
        assert_eq!(new["quota"], json!(""));
        assert_eq!(new["upload_ratelimit"], Value::Null, "empty: no limit");
        let set = input_of(
            ResourceKind::Repositories,
            &values(&[
                ("append_only", "true"),
                ("quota", "500G"),
                ("upload_ratelimit", "2048"),
            ]),
        )
        .unwrap();
        assert_eq!(set["append_only"], json!(true));
        assert_eq!(set["quota"], json!("500G"));
        assert_eq!(set["upload_ratelimit"], json!(2048));
        let bad = input_of(
            ResourceKind::Repositories,
            &values(&[("upload_ratelimit", "fast")]),
        )
        .unwrap_err();
        assert!(bad.contains_key("upload_ratelimit"));
        // Values a caller leaves out (an older form) do not reset borg's options.
        let partial = input_of(
            ResourceKind::Repositories,
            &values(&[("name", "r"), ("path", "/srv/borg")]),
        )
        .unwrap();
        assert!(partial.get("encryption").is_none());
        assert!(partial.get("compression").is_none());
        // A choice that offers "none" as empty still sends it.
        let p = input_of(ResourceKind::Policies, &values(&[("vmprovider", "")])).unwrap();
        assert_eq!(p["vmprovider"], json!(""));
    }

    #[test]
    fn an_empty_secret_is_left_out_and_a_typed_one_sent() {
        let kept = input_of(ResourceKind::Users, &values(&[("email", "a@b.c")])).unwrap();
        assert!(kept.get("password").is_none());
        let set = input_of(ResourceKind::Users, &values(&[("password", " pass word ")])).unwrap();
        assert_eq!(set["password"], json!(" pass word "));
    }

    #[test]
    fn the_confirmation_names_dependents_and_what_happens_to_them() {
        let names = vec!["policy web".to_string(), "and 3 more".to_string()];
        let c = ResourceKind::Clients.describe_dependents(&names);
        assert!(c.starts_with("Depends on it: policy web, and 3 more. Deleting it takes it out"));
        assert_eq!(
            ResourceKind::Repositories.describe_dependents(&[]),
            "Nothing depends on it."
        );
        assert!(
            ResourceKind::Users
                .describe_dependents(&[])
                .contains("sessions and API tokens end")
        );
    }
}
