//! What the operator confirms and checks before the server acts on it:
//! - `/host-key?client=ID` (or `?repository=ID`): the SSH host key a client or a remote
//!   repository's host is pinned to, the key it presented last when another (to compare by its
//!   fingerprint and accept), and the exact `authorized_keys` line to add there;
//! - `/retention?policy=ID`: per client, which archives the policy's next prune keeps (by which
//!   rule) and which it deletes.
use leptos::prelude::*;

use super::RpcError;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{error_text, host_key, policy_retention};
use crate::{
    display::minute,
    dto::{HostKeyOp, HostKeyView, HostKind, Lineage, Retention},
};

#[component]
pub fn HostKeyPage() -> impl IntoView {
    let query = use_query_map();
    let subject = query.with_untracked(|q| {
        let id = |k: &str| q.get(k).and_then(|v| v.parse::<i32>().ok());
        id("client")
            .map(|i| (HostKind::Client, i))
            .or_else(|| id("repository").map(|i| (HostKind::Repository, i)))
    });
    let Some((kind, id)) = subject else {
        return view! { <p class="form-error" role="alert">"Name a client or a repository."</p> }
            .into_any();
    };
    // The page as read, then as each button's answer left it (a refusal keeps the page shown
    // and says why).
    let read = Resource::new(|| (), move |_| host_key(kind, id, HostKeyOp::Read));
    let act = Action::new(move |op: &HostKeyOp| host_key(kind, id, op.clone()));
    let shown = RwSignal::new(None::<HostKeyView>);
    view! {
        <Title text="Host key — CyBorgBackup"/>
        <h1>"SSH host key"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let refused = match act.value().get() {
                    Some(Ok(v)) => {
                        shown.set(Some(v));
                        None
                    }
                    Some(Err(e)) => Some(error_text(&e)),
                    None => None,
                };
                let view = match shown.get_untracked() {
                    Some(v) => Ok(v),
                    None => read.await,
                };
                match view {
                    Ok(v) => view! {
                        <p class="form-error" role="alert" id="host-key-error">{refused}</p>
                        {host_key_card(v, act)}
                    }
                    .into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

fn host_key_card(
    view: HostKeyView,
    act: Action<HostKeyOp, Result<HostKeyView, RpcError>>,
) -> impl IntoView {
    let s = view.state;
    let (what, back) = match view.kind {
        HostKind::Client => ("the client", "/clients"),
        HostKind::Repository => ("the repository's host", "/repositories"),
    };
    let status = match s.host_key_status.as_str() {
        "pinned" => "Pinned: jobs run only when the host presents this key.",
        "changed" => {
            "CHANGED: the host presented another key than the pinned one. Jobs do not run until \
             you review it: if the host was reinstalled or its keys replaced, accept the new \
             key; otherwise someone may be intercepting the connection."
        }
        "unconfirmed" => {
            "Not confirmed yet: compare the fingerprint below with the host's own, then accept \
             it. Jobs do not run before."
        }
        _ => "No key fetched yet: fetch the key the host presents.",
    };
    let seen = (!s.host_key_seen.is_empty()).then(|| {
        let fp = s.host_key_seen_fingerprint.clone();
        let accept = HostKeyOp::Accept(fp.clone());
        view! {
            <h2>"Presented now"</h2>
            <p><code id="host-key-seen-fingerprint">{fp}</code></p>
            <p class="muted">
                "On the host, "
                <code>"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"</code>
                " (or the key of that type) must print this fingerprint."
            </p>
            <button
                type="button"
                id="host-key-accept"
                disabled=move || act.pending().get()
                on:click=move |_| {
                    act.dispatch(accept.clone());
                }
            >
                "Accept this key"
            </button>
        }
    });
    let pinned = (!s.host_key.is_empty()).then(|| {
        view! {
            <h2>"Pinned key"</h2>
            <p><code id="host-key-fingerprint">{s.host_key_fingerprint.clone()}</code></p>
        }
    });
    view! {
        <section class="card" aria-labelledby="host-key-title">
            <h2 id="host-key-title">{view.label} " (" {view.address} ")"</h2>
            <p id="host-key-status" class=format!("host-key {}", s.host_key_status)>{status}</p>
            {pinned}
            {seen}
            <p>
                <button
                    type="button"
                    class="secondary"
                    id="host-key-scan"
                    disabled=move || act.pending().get()
                    on:click=move |_| {
                        act.dispatch(HostKeyOp::Scan);
                    }
                >
                    "Fetch the key it presents now"
                </button>
            </p>
            <h2>"Authorize this server"</h2>
            <p>
                "Add this line to "
                <code>"~/.ssh/authorized_keys"</code>
                " of that user on " {what} ":"
            </p>
            <pre class="log" id="host-key-authorized">{view.authorized_keys}</pre>
            <p><a href=back>"Back"</a></p>
        </section>
    }
}

#[component]
pub fn RetentionPage() -> impl IntoView {
    let query = use_query_map();
    let policy = move || query.with(|q| q.get("policy").and_then(|v| v.parse::<i32>().ok()));
    let data = Resource::new(policy, |p| async move {
        match p {
            Some(p) => policy_retention(p).await,
            None => Err(RpcError::new(400, "Name a policy.")),
        }
    });
    view! {
        <Title text="Retention — CyBorgBackup"/>
        <h1>"Retention"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(r) => retention_view(r).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

fn retention_view(r: Retention) -> impl IntoView {
    let rules = if r.rules.is_empty() {
        "No keep rule: every archive is kept.".to_string()
    } else {
        format!("Rules: {}.", r.rules.join(", "))
    };
    let when = if r.prunes {
        "A prune follows every backup of this policy; it deletes what is marked below."
    } else {
        "No prune runs now (no keep rule, or auto_prune is off); marked: what one would delete."
    };
    let lineages = r.lineages.into_iter().map(lineage_table).collect_view();
    view! {
        <p id="retention-rules">{rules}</p>
        <p class="muted">{when}</p>
        <p class="muted">
            "Archives in the repository that this server did not make are not listed: no prune deletes them."
        </p>
        {lineages}
        <p><a href="/policies">"Back to the policies"</a></p>
    }
}

fn lineage_table(l: Lineage) -> impl IntoView {
    let title = format!(
        "{} in {}: {} kept, {} deleted by the next prune",
        l.client.hostname, l.repository.name, l.kept, l.deleted
    );
    let rows = if l.archives.is_empty() {
        view! { <tr><td colspan="3" class="empty">"No archive yet."</td></tr> }.into_any()
    } else {
        l.archives
            .into_iter()
            .map(|a| {
                let why = match (&a.rule, a.rule_number) {
                    (Some(rule), Some(n)) if a.oldest => format!("kept: {rule} #{n} (oldest)"),
                    (Some(rule), Some(n)) => format!("kept: {rule} #{n}"),
                    _ if a.keep => "kept".to_string(),
                    _ => "deleted by the next prune".to_string(),
                };
                view! {
                    <tr class=if a.keep { "kept" } else { "doomed" }>
                        <td>{a.name}</td>
                        <td>{minute(&a.time)}</td>
                        <td>{why}</td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="lineage">
            <h2>{title}</h2>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Archive"</th>
                            <th scope="col">"Time"</th>
                            <th scope="col">"Next prune"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
