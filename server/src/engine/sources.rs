//! What a backup of each policy type reads on the client (SPEC §7). The file-based types are
//! here; the types that pipe a command's output into `borg create -` (databases, `piped`,
//! Proxmox, VMs) are refused with an explanation until they are built, so that a job of such a
//! policy fails clearly instead of archiving nothing.
use serde_json::Value;

/// Paths and exclude patterns of a file-based backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    /// `--one-file-system`: a whole-system backup does not descend into other mounts.
    pub one_file_system: bool,
}

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
/// meaning `{}`); `extra_vars.exclude` adds excludes to every type.
pub fn for_policy(policy_type: &str, extra_vars: &str) -> Result<Sources, String> {
    let vars: Value = if extra_vars.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(extra_vars).map_err(|e| format!("extra_vars is not JSON: {e}"))?
    };
    let strings = |key: &str| -> Vec<String> {
        vars.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut s = match policy_type {
        "rootfs" => Sources {
            paths: vec!["/".into()],
            excludes: ROOTFS_EXCLUDES.iter().map(|e| e.to_string()).collect(),
            one_file_system: false,
        },
        "config" => Sources {
            paths: vec!["/etc".into()],
            ..Sources::default()
        },
        "mail" => Sources {
            paths: vec!["/var/mail".into(), "/var/lib/mail".into()],
            ..Sources::default()
        },
        "folders" => {
            let paths = strings("folders");
            if paths.is_empty() {
                return Err("a folders policy needs extra_vars.folders, a list of paths".into());
            }
            Sources {
                paths,
                ..Sources::default()
            }
        }
        other => {
            return Err(format!(
                "policy type {other} is not supported by this version of the job engine yet \
                 (file-based types rootfs, config, mail and folders are)"
            ));
        }
    };
    s.excludes.extend(strings("exclude"));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_type() {
        let r = for_policy("rootfs", "").unwrap();
        assert_eq!(r.paths, ["/"]);
        assert!(r.excludes.iter().any(|e| e == "/proc"));
        assert_eq!(for_policy("config", "{}").unwrap().paths, ["/etc"]);
        assert_eq!(
            for_policy("mail", "").unwrap().paths,
            ["/var/mail", "/var/lib/mail"]
        );
        let f = for_policy(
            "folders",
            r#"{"folders": ["/srv/a b", "/home"], "exclude": ["*.cache"]}"#,
        )
        .unwrap();
        assert_eq!(f.paths, ["/srv/a b", "/home"]);
        assert_eq!(f.excludes, ["*.cache"]);
        let c = for_policy("config", r#"{"exclude": ["/etc/shadow"]}"#).unwrap();
        assert_eq!(c.excludes, ["/etc/shadow"]);
    }

    #[test]
    fn refusals() {
        assert!(for_policy("folders", "{}").is_err());
        assert!(
            for_policy("mysql", "")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(for_policy("rootfs", "{").is_err());
    }
}
