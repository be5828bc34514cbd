//! The operator dashboard: the shell (header, navigation, session guard), the login page, the
//! overview and the pages still to come. Data comes from server functions (under `/rpc`) that
//! call the core's services directly (`rpc`).
mod archives;
mod calendar;
mod catalog;
mod catalog_history;
mod chart;
mod confirm;
mod health;
mod jobs;
mod listing;
#[cfg(feature = "hydrate")]
mod live;
mod nodes;
mod on_demand;
mod overview;
mod repository_key;
#[cfg(feature = "ssr")]
mod resource_calls;
mod resource_page;
mod rpc;
mod rpc_error;
mod schedules;
mod shell;
mod trust;

pub use archives::ArchivesPage;
pub use calendar::CalendarPage;
pub use catalog::CatalogPage;
pub use health::{AlertsPage, SettingsPage};
pub use jobs::{JobPage, JobsPage};
pub use nodes::NodesPage;
pub use overview::OverviewPage;
pub use repository_key::RepositoryKeyPage;
pub use resource_page::ResourcePage;
pub use rpc::*;
pub use schedules::SchedulesPage;
pub use shell::{DashboardLayout, LoginPage};
pub use trust::{HostKeyPage, RetentionPage};

/// Where a login may send the operator afterwards: only a path of this site. Anything else
/// (`//evil.example`, `http://…`, `/\evil`, a control character) would make the login page an
/// open redirect, and becomes `/`.
pub fn safe_next(next: &str) -> String {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if local {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// `/login?next=<path>`: the login page that comes back to `path`.
pub fn login_url(path: &str) -> String {
    format!("/login?next={}", percent_encode(&safe_next(path), b"/"))
}

/// Percent-encodes `text` for a query value: everything but the unreserved characters and the
/// bytes in `keep`.
pub fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A button that puts `text` on the clipboard (in the browser; the text stays selectable
/// beside it for browsers that refuse).
#[leptos::component]
pub fn CopyButton(text: String) -> impl leptos::IntoView {
    use leptos::prelude::*;
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::{JsValue, closure::Closure};
            let written = window().navigator().clipboard().write_text(&text);
            copied.set(true);
            // A browser that refuses (no permission, not a secure context) rejects the promise:
            // say so instead of an unhandled rejection.
            let refused = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| copied.set(false));
            let _ = written.catch(&refused);
            refused.forget();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="copy" on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// The message of a server function's error, for the operator.
pub fn error_text(e: &RpcError) -> String {
    e.message.clone()
}
