//! The frame of every dashboard page, the session guard and the login page.
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::{
    components::{A, Outlet},
    hooks::{use_location, use_query_map},
};

#[cfg(not(feature = "ssr"))]
use leptos_router::components::Redirect;

use super::{Login, Logout, current_user, error_text, login_url};

/// The sections of the dashboard, in the order of the navigation.
pub const SECTIONS: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/calendar", "Calendar"),
    ("/jobs", "Jobs"),
    ("/clients", "Clients"),
    ("/repositories", "Repositories"),
    ("/schedules", "Schedules"),
    ("/policies", "Policies"),
    ("/users", "Users"),
    ("/archives", "Archives"),
    ("/catalog", "Catalog"),
    ("/alerts", "Alerts"),
    ("/settings", "Settings"),
    ("/nodes", "Nodes"),
];

/// Header, navigation and the page. The session is checked again on every navigation: without a
/// live session the operator is sent to `/login?next=<this page>` (on the server render an HTTP
/// redirect, in the browser a navigation).
#[component]
pub fn DashboardLayout() -> impl IntoView {
    let location = use_location();
    let me = Resource::new(move || location.pathname.get(), |_| current_user());
    // The phone menu is a checkbox so it opens without JavaScript; a navigation closes it.
    let (menu_open, set_menu_open) = signal(false);
    let user = move || {
        Suspend::new(async move {
            match me.await {
                Ok(Some(u)) => view! {
                    <span class="user-email" title="Logged in as">{u.email}</span>
                }
                .into_any(),
                // Leaving for the login page (a logout) also lands here: stay quiet then.
                Ok(None) if location.pathname.get_untracked().starts_with("/login") => {
                    ().into_any()
                }
                Ok(None) => {
                    let here = format!(
                        "{}{}",
                        location.pathname.get_untracked(),
                        location.search.with_untracked(|s| {
                            if s.is_empty() {
                                String::new()
                            } else {
                                format!("?{s}")
                            }
                        })
                    );
                    let to = login_url(&here);
                    // On the server: a plain 302 (SsrMode::Async renders the page before the
                    // response starts), for browsers and scripts alike; in the browser: a
                    // navigation.
                    #[cfg(feature = "ssr")]
                    {
                        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                            res.set_status(http::StatusCode::FOUND);
                            if let Ok(v) = http::HeaderValue::from_str(&to) {
                                res.insert_header(http::header::LOCATION, v);
                            }
                        }
                        ().into_any()
                    }
                    #[cfg(not(feature = "ssr"))]
                    view! { <Redirect path=to/> }.into_any()
                }
                Err(e) => view! { <span class="form-error">{error_text(&e)}</span> }.into_any(),
            }
        })
    };
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">"CyBorgBackup"</a>
            <input
                type="checkbox"
                id="menu-toggle"
                class="menu-toggle"
                aria-controls="main-nav"
                prop:checked=menu_open
                on:change=move |ev| set_menu_open.set(event_target_checked(&ev))
            />
            <label for="menu-toggle" class="menu-button">"Menu"</label>
            <nav id="main-nav" class="main-nav" aria-label="Main">
                <ul>
                    {SECTIONS
                        .iter()
                        .map(|(href, name)| {
                            view! {
                                <li>
                                    <A href=*href on:click=move |_| set_menu_open.set(false)>
                                        {*name}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <div class="session">
                <Transition fallback=|| ()>{user}</Transition>
                // A plain form, not an `ActionForm`: the logout ends in a new page load of
                // /login anyway, and the main WASM file then needs no form-data decoding.
                <form method="post" action={<Logout as ServerFn>::PATH} class="logout-form">
                    <button type="submit" class="secondary" id="logout">"Log out"</button>
                </form>
            </div>
        </header>
        <main id="main">
            <Outlet/>
        </main>
    }
}

/// `/login`: email and password; a wrong pair shows the service's message on the form.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || {
        query
            .with(|q| q.get("next"))
            .unwrap_or_else(|| "/".to_string())
    };
    let action = ServerAction::<Login>::new();
    let error = move || {
        action.value().get().and_then(|r| match r {
            // A refused pair: the service's message.
            Ok(refused) => refused,
            Err(e) => Some(error_text(&e)),
        })
    };
    view! {
        <Title text="Log in — CyBorgBackup"/>
        <main id="main" class="login-main">
            <section class="card login-card">
                <h1>"CyBorgBackup"</h1>
                <p class="lead">"Log in to manage your backups."</p>
                <ActionForm action=action attr:class="login-form" attr:id="login-form">
                    <input type="hidden" name="next" value=next/>
                    <label for="email">"Email"</label>
                    <input
                        id="email"
                        name="email"
                        type="email"
                        autocomplete="username"
                        required
                    />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                    <p class="form-error" id="login-error" role="alert">{error}</p>
                    <button type="submit" disabled=move || action.pending().get()>
                        "Log in"
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
