//! The HTML document and the routes of the dashboard (see `dashboard` for the pages).
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{ParentRoute, Route, Router, Routes},
};

use crate::{
    dashboard::{
        CalendarPage, CatalogPage, DashboardLayout, JobPage, JobsPage, LoginPage, OverviewPage,
        ResourcePage, SchedulesPage,
    },
    resources::ResourceKind,
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
    // Marks the page once the WASM bundle has taken over, so tests (and curious operators) can
    // tell a hydrated page from the server's HTML.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    // Every dashboard page is rendered whole before it is sent (`SsrMode::Async`), so the
    // session guard can still answer an HTTP redirect to the login page.
    let resource = |kind: ResourceKind| move || view! { <ResourcePage kind/> };
    view! {
        <Stylesheet id="leptos" href="/pkg/cyborgbackup.css"/>
        <Title text="CyBorgBackup"/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=StaticSegment("login") view=LoginPage/>
                <ParentRoute path=StaticSegment("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("calendar") view=CalendarPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("jobs") view=JobsPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("jobs"), ParamSegment("id"))
                        view=JobPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("clients")
                        view=resource(ResourceKind::Clients)
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("repositories")
                        view=resource(ResourceKind::Repositories)
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("schedules") view=SchedulesPage ssr=SsrMode::Async/>
                    <Route
                        path=StaticSegment("policies")
                        view=resource(ResourceKind::Policies)
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("users")
                        view=resource(ResourceKind::Users)
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("catalog") view=CatalogPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Answers with the server's version (a cheap liveness check for scripts and tests).
#[server(prefix = "/rpc", endpoint = "server_version")]
pub async fn server_version() -> Result<String, ServerFnError> {
    Ok(crate::VERSION.to_string())
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
        <main id="main">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the overview"</a></p>
        </main>
    }
}
