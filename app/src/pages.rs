//! The dashboard shell. The operator pages arrive with the dashboard issue; until then the landing
//! page says what this is and where the API lives, and proves hydration with a live server call.
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/cyborgbackup.css"/>
        <Title text="CyBorgBackup"/>
        <Router>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=StaticSegment("") view=Landing/>
                </Routes>
            </main>
        </Router>
    }
}

/// Answers with the server's version; the landing page calls it to show the app is live.
#[server(prefix = "/rpc", endpoint = "server_version")]
pub async fn server_version() -> Result<String, ServerFnError> {
    Ok(crate::VERSION.to_string())
}

#[component]
fn Landing() -> impl IntoView {
    let check = ServerAction::<ServerVersion>::new();
    let status = move || match check.value().get() {
        None => "not checked yet".to_string(),
        Some(Ok(version)) => format!("server is up, version {version}"),
        Some(Err(e)) => format!("server did not answer: {e}"),
    };
    view! {
        <section class="landing">
            <h1>"CyBorgBackup"</h1>
            <p class="lead">
                "A self-hosted manager for BorgBackup: register machines, repositories, schedules and "
                "policies; the server runs the backups over SSH, keeps every job's log and indexes "
                "every archived file."
            </p>
            <h2>"REST API"</h2>
            <ul>
                <li><a href="/api/v1/">"/api/v1/"</a>" — the sub-APIs"</li>
                <li><a href="/api/v1/ping/">"/api/v1/ping/"</a>" — health check"</li>
                <li><a href="/api/v1/openapi.json">"/api/v1/openapi.json"</a>" — OpenAPI 3 document"</li>
            </ul>
            <p>
                "Authenticate with HTTP Basic (email and password) or a bearer token from "
                <code>"POST /api/token/obtain/"</code>"."
            </p>
            <p class="status">
                <button id="check-server" on:click=move |_| { check.dispatch(ServerVersion {}); }>
                    "Check server"
                </button>
                " "
                <span id="server-status">{status}</span>
            </p>
        </section>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found — CyBorgBackup"/>
        <section class="landing">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the start page"</a></p>
        </section>
    }
}
