//! `/nodes`: the server processes that run jobs on this database — alive, draining, stopped or
//! dead (and which node took a dead one's jobs over) — with their heartbeat, capacity, labels
//! and running jobs. Refreshed every few seconds while open.
use leptos::prelude::*;
use leptos_meta::Title;

use super::{cluster_nodes, error_text};
use crate::{display::second, dto::Node};

/// `4.2 s ago`, `3 min ago`.
fn age(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{:.0} s ago", seconds.max(0.0))
    } else {
        format!("{:.0} min ago", seconds / 60.0)
    }
}

#[component]
pub fn NodesPage() -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let nodes = Resource::new(move || tick.get(), |_| cluster_nodes());
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(5),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }
    view! {
        <Title text="Nodes — CyBorgBackup"/>
        <h1>"Nodes"</h1>
        <p class="help">
            "Each server process that runs jobs on this database is a node. A node whose "
            "heartbeat is older than its lease is dead: another node stops its running jobs and "
            "marks them, and the others run what was queued (docs/OPERATIONS.md)."
        </p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match nodes.await {
                    Ok(page) => view! { <NodeTable nodes=page.results/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn NodeTable(nodes: Vec<Node>) -> impl IntoView {
    if nodes.is_empty() {
        return view! { <p class="muted" id="nodes-empty">"No node runs jobs yet."</p> }.into_any();
    }
    let rows = nodes
        .into_iter()
        .map(|n| {
            let state = match (&n.taken_over_by, &n.taken_over) {
                (Some(by), Some(at)) => {
                    format!("{} (taken over by {by} at {})", n.state, second(at))
                }
                _ => n.state.clone(),
            };
            view! {
                <tr data-node=n.id.clone() data-state=n.state.clone()>
                    <td><code>{n.id.clone()}</code></td>
                    <td>{n.hostname.clone()}</td>
                    <td class="node-state">{state}</td>
                    <td title=second(&n.heartbeat)>{age(n.heartbeat_age)}</td>
                    <td>{format!("{} / {}", n.running, n.capacity)}</td>
                    <td>{n.labels.join(", ")}</td>
                    <td>{n.version.clone()}</td>
                    <td>{second(&n.started)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table id="nodes-table">
                <thead>
                    <tr>
                        <th scope="col">"Node"</th>
                        <th scope="col">"Host"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Heartbeat"</th>
                        <th scope="col">"Jobs running / capacity"</th>
                        <th scope="col">"Labels"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Started"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_ages() {
        assert_eq!(age(4.2), "4 s ago");
        assert_eq!(age(-1.0), "0 s ago");
        assert_eq!(age(180.0), "3 min ago");
    }
}
