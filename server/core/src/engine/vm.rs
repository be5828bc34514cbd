//! VM providers: how the guests of a hypervisor are listed on a client and dumped by a backup. A
//! registry of implementations of one trait; Proxmox VE is the first. Policies name a provider in
//! `vmprovider` (`cyborg_dto::VM_PROVIDERS`, which must list the same names: a unit test checks);
//! a `vm` policy backs up through its provider, the `proxmox` type is the Proxmox one by name.
use cyborg_dto::ModuleItem;
use serde::Deserialize;
use serde_json::Value;

use super::sources::{Sources, Stream};

pub trait VmProvider: Sync {
    /// The name policies use (`vmprovider`) and the module query's path segment.
    fn name(&self) -> &'static str;
    fn label(&self) -> &'static str;
    /// The command (argv) listing the guests on a client.
    fn list_argv(&self) -> Vec<String>;
    /// The guests from that command's standard output.
    fn parse_list(&self, stdout: &str) -> Result<Vec<ModuleItem>, String>;
    /// What a backup reads, from the policy's `extra_vars` (`vmids`: which guests, all when
    /// absent): a dump command making one FIFO per guest (`Stream::fifos`). The error is a
    /// message about `extra_vars` for an operator.
    fn dump(&self, extra_vars: &Value) -> Result<Sources, String>;
}

/// Every provider.
pub fn providers() -> &'static [&'static dyn VmProvider] {
    &[&Proxmox]
}

pub fn provider(name: &str) -> Option<&'static dyn VmProvider> {
    providers().iter().copied().find(|p| p.name() == name)
}

/// Proxmox VE: guests from `pvesh get /cluster/resources --type vm` (JSON), QEMU VMs and LXC
/// containers of every node of the cluster, by id.
pub struct Proxmox;

#[derive(Deserialize)]
struct PveResource {
    vmid: Option<u64>,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    node: String,
}

impl VmProvider for Proxmox {
    fn name(&self) -> &'static str {
        "proxmox"
    }

    fn label(&self) -> &'static str {
        "Proxmox VE (vzdump)"
    }

    fn list_argv(&self) -> Vec<String> {
        [
            "pvesh",
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn parse_list(&self, stdout: &str) -> Result<Vec<ModuleItem>, String> {
        let all: Vec<PveResource> = serde_json::from_str(stdout.trim())
            .map_err(|e| format!("pvesh printed no list of guests: {e}"))?;
        let mut items: Vec<(u64, ModuleItem)> = all
            .into_iter()
            .filter_map(|r| {
                let id = r.vmid?;
                let detail = [r.kind, r.status, r.node]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                Some((
                    id,
                    ModuleItem {
                        id: id.to_string(),
                        name: r.name,
                        detail,
                    },
                ))
            })
            .collect();
        items.sort_by_key(|(id, _)| *id);
        Ok(items.into_iter().map(|(_, i)| i).collect())
    }

    fn dump(&self, extra_vars: &Value) -> Result<Sources, String> {
        vzdump_fifos(extra_vars)
    }
}

/// `vzdump GUEST --stdout` of each guest of `extra_vars.vmids` (or of every guest on the node,
/// from `qm list` and `pct list`), each into the FIFO `vzdump-GUEST.vma`, all in one archive.
fn vzdump_fifos(extra_vars: &Value) -> Result<Sources, String> {
    let ids: Vec<u64> = match extra_vars.get("vmids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| (1..=999_999_999).contains(n))
                    .ok_or_else(|| "\"vmids\" must list guest ids (whole numbers)".to_string())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("\"vmids\" must be a list of guest ids".into()),
    };
    // Numbers only, so nothing here needs quoting.
    let list = if ids.is_empty() {
        "ids=$({ qm list 2>/dev/null; pct list 2>/dev/null; } | awk '$1 ~ /^[0-9]+$/ {print $1}'); \
         [ -n \"$ids\" ] || { echo 'cyborgbackup: no guest on this node (qm list, pct list)' >&2; \
         exit 2; }"
            .to_string()
    } else {
        format!(
            "ids='{}'",
            ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
        )
    };
    let command = format!(
        "{list}; for id in $ids; do mkfifo \"vzdump-$id.vma\" || exit 2; done; \
         for id in $ids; do ( vzdump \"$id\" --stdout </dev/null >\"vzdump-$id.vma\"; s=$?; \
         printf 'guest %s: vzdump exited with status %s\\n' \"$id\" \"$s\" >&2; \
         printf 'CYBORG-FEED-EXIT %s\\n' \"$s\" >&2 ) & done"
    );
    Ok(Sources {
        paths: vec![".".into()],
        stream: Some(Stream {
            command,
            name: String::new(),
            password_env: None,
            fifos: true,
            what: if ids.is_empty() {
                "vzdump of every guest".into()
            } else {
                format!(
                    "vzdump of guest(s) {}",
                    ids.iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        }),
        ..Sources::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_matches_the_names_policies_accept() {
        let names: Vec<&str> = providers().iter().map(|p| p.name()).collect();
        assert_eq!(names, cyborg_dto::VM_PROVIDERS);
        assert!(provider("proxmox").is_some());
        assert!(provider("vmware").is_none());
    }

    #[test]
    fn pvesh_resources() {
        let json = r#"[
          {"id":"qemu/101","vmid":101,"name":"db","type":"qemu","status":"stopped","node":"pve2"},
          {"id":"lxc/100","vmid":100,"name":"web","type":"lxc","status":"running","node":"pve1"},
          {"id":"storage/pve1/local","type":"storage","node":"pve1"}
        ]"#;
        let items = Proxmox.parse_list(json).unwrap();
        assert_eq!(
            items,
            [
                ModuleItem {
                    id: "100".into(),
                    name: "web".into(),
                    detail: "lxc, running, pve1".into()
                },
                ModuleItem {
                    id: "101".into(),
                    name: "db".into(),
                    detail: "qemu, stopped, pve2".into()
                },
            ]
        );
        assert!(Proxmox.parse_list("ipcc_send_rec failed").is_err());
    }
}
