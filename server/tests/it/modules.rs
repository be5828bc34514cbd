//! Module queries over a real sshd: the databases of the machine's PostgreSQL and MariaDB, the
//! guests of a Proxmox node (a stand-in `pvesh` first on the client's PATH: there is no Proxmox
//! host here), and the VM provider list.

use std::os::unix::fs::PermissionsExt;

use crate::common::{
    TestServer,
    databases::{mysql, psql},
    sshd,
    sshd::TestSshd,
    with_query,
};
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_guests_and_providers() {
    if let Some(why) = sshd::unavailable() {
        panic!("the module tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let (_, key) = s.get("/api/v1/settings/ssh_public_key/").await;
    let key = key["pubkey"].as_str().unwrap().to_string();
    let stand_ins = tempfile::tempdir().unwrap();
    let resources = json!([
        {"id": "qemu/101", "vmid": 101, "name": "db", "type": "qemu", "status": "stopped",
         "node": "pve1"},
        {"id": "lxc/100", "vmid": 100, "name": "web", "type": "lxc", "status": "running",
         "node": "pve1"},
        {"id": "node/pve1", "type": "node", "node": "pve1"}
    ]);
    std::fs::write(
        stand_ins.path().join("resources.json"),
        resources.to_string(),
    )
    .unwrap();
    let pvesh = stand_ins.path().join("pvesh");
    std::fs::write(
        &pvesh,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{dir}/args'\ncat '{dir}/resources.json'\n",
            dir = stand_ins.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pvesh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sshd = TestSshd::start_with_path_first(&key, stand_ins.path());
    let client = s
        .create(
            "/api/v1/clients/",
            json!({"hostname": "127.0.0.1", "port": sshd.port, "username": "root",
                   "host_key": sshd.host_public_key()}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let url = |module: &str, params: &[(&str, &str)]| {
        with_query(
            &format!("/api/v1/policies/module/{module}/{client}/"),
            params,
        )
    };

    // PostgreSQL: a database made for the test is listed, templates are not.
    let db = format!("cyborg_module_{}", std::process::id());
    psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
    psql("postgres", &format!("CREATE DATABASE {db}"));
    let (st, list) = s
        .get(&url(
            "postgresql",
            &[("user", "postgres"), ("host", "127.0.0.1")],
        ))
        .await;
    assert_eq!(st.as_u16(), 200, "{list}");
    let pg = names(&list);
    assert!(
        pg.contains(&db) && pg.contains(&"postgres".to_string()),
        "{pg:?}"
    );
    assert!(!pg.iter().any(|n| n.starts_with("template")), "{pg:?}");
    psql("postgres", &format!("DROP DATABASE {db}"));

    // MariaDB, through a policy's user and stored password: only that password lets it in.
    let user = format!("cyborg_mod_{}", std::process::id());
    let password = "module-Pass-93be-never-in-a-url";
    for host in ["127.0.0.1", "localhost", "%"] {
        mysql(&format!(
            "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'; \
             GRANT SELECT ON mysql.* TO '{user}'@'{host}'"
        ));
    }
    let f = s.fixture().await;
    let policy = s
        .create(
            "/api/v1/policies/",
            json!({"name": "MariaDB", "policy_type": "mysql", "repository": f.repository,
                   "schedule": f.schedule, "clients": [client],
                   "extra_vars": json!({"user": user, "host": "127.0.0.1",
                                        "password": password}).to_string()}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (st, list) = s
        .get(&url("mysql", &[("policy", &policy.to_string())]))
        .await;
    assert_eq!(st.as_u16(), 200, "{list}");
    assert!(names(&list).contains(&"mysql".to_string()), "{list}");
    assert!(!list.to_string().contains(password));
    let (st, answer) = s
        .get(&url("mysql", &[("user", &user), ("host", "127.0.0.1")]))
        .await;
    assert_eq!(st.as_u16(), 502, "without the password: {answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("Access denied"),
        "{answer}"
    );
    for host in ["127.0.0.1", "localhost", "%"] {
        mysql(&format!("DROP USER '{user}'@'{host}'"));
    }

    // Proxmox: the stand-in's JSON, guests only, by id; asked with pvesh's own arguments.
    let (st, list) = s.get(&url("proxmox", &[])).await;
    assert_eq!(st.as_u16(), 200, "{list}");
    assert_eq!(
        list["items"],
        json!([
            {"id": "100", "name": "web", "detail": "lxc, running, pve1"},
            {"id": "101", "name": "db", "detail": "qemu, stopped, pve1"}
        ])
    );
    let args = std::fs::read_to_string(stand_ins.path().join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json"
        ]
    );

    // Refusals.
    let (st, _) = s.get(&url("oracle", &[])).await;
    assert_eq!(st.as_u16(), 404);
    let (st, _) = s.get("/api/v1/policies/module/mysql/999999/").await;
    assert_eq!(st.as_u16(), 404);
    let (st, answer) = s.get(&url("mysql", &[("password", "x")])).await;
    assert_eq!(st.as_u16(), 400, "{answer}");
    let (st, answer) = s.get(&url("mysql", &[("port", "99999")])).await;
    assert_eq!(st.as_u16(), 400, "{answer}");
    let (_, token) = s.regular_user("reader@test.local").await;
    let (st, _) = s
        .raw(reqwest::Method::GET, &url("mysql", &[]), Some(&token), None)
        .await;
    assert_eq!(st.as_u16(), 403);
    // A client without pvesh: 502 naming the missing tool.
    let plain = TestSshd::start(&key);
    let other = s
        .create(
            "/api/v1/clients/",
            json!({"hostname": "localhost", "port": plain.port, "username": "root",
                   "host_key": plain.host_public_key()}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (st, answer) = s
        .get(&format!("/api/v1/policies/module/proxmox/{other}/"))
        .await;
    assert_eq!(st.as_u16(), 502, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("pvesh is not installed"),
        "{answer}"
    );

    let (st, providers) = s.get("/api/v1/policies/vmmodule/").await;
    assert_eq!(st.as_u16(), 200);
    assert_eq!(
        providers,
        json!([{"name": "proxmox", "label": "Proxmox VE (vzdump)", "module": "proxmox"}])
    );
}
