//! The HTML document and the routes of the dashboard (see `dashboard` for the pages).
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment,
    components::{ParentRoute, Route, Router, Routes},
    hooks::use_location,
    lazy_route,
};

use crate::{
    dashboard::{
        AlertsPage, ArchivesPage, CalendarPage, CatalogPage, DashboardLayout, HostKeyPage, JobPage,
        JobsPage, LoginPage, NodesPage, OverviewPage, RepositoryKeyPage, ResourcePage,
        RetentionPage, SchedulesPage, SettingsPage,
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
    // Every dashboard page is rendered whole before it is sent (`SsrMode::Async`), so the
    // session guard can still answer an HTTP redirect to the login page.
    view! {
        <Stylesheet id="leptos" href="/pkg/cyborgbackup.css"/>
        <Title text="CyBorgBackup"/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=StaticSegment("login") view={Lazy::<Login>::new()}/>
                <ParentRoute path=StaticSegment("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view={Lazy::<Overview>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=StaticSegment("calendar")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("jobs") view={Lazy::<Jobs>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("jobs"), ParamSegment("id"))
                        view={Lazy::<Job>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("clients")
                        view={Lazy::<ResourcePages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("repositories")
                        view={Lazy::<ResourcePages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("schedules")
                        view={Lazy::<Schedules>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("policies")
                        view={Lazy::<ResourcePages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("users") view={Lazy::<ResourcePages>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=StaticSegment("catalog")
                        view={Lazy::<Catalog>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("archives")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("repository-key")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("host-key")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("retention")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("alerts")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("settings")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("nodes")
                        view={Lazy::<PolicyPages>::new()}
                        ssr=SsrMode::Async
                    />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The dashboard's pages as lazily loaded routes. Built with `cargo leptos build --split` (as
/// `scripts/run.sh` and `scripts/test.sh` do), each page's code is cut out of the main WASM file
/// into chunks that the browser fetches when the page is first shown (the server's HTML names
/// a page's chunks, so a page loaded directly fetches them beside the main file); code that
/// several pages share lands in shared chunks. The main file keeps the shell, the router and
/// the session guard (the login page is a chunk too). Without `--split` the routes work the same
/// from one file.
///
/// Each page reads its own data (resources created by the page component), so `data` is empty.
macro_rules! lazy_pages {
    ($($route:ident => $page:expr;)*) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _ = this; // no route data: the page reads its own
                mark_hydrated();
                $page.into_any()
            }
        }
    )*};
}

lazy_pages! {
    Login => view! { <LoginPage/> };
    Overview => view! { <OverviewPage/> };
    Jobs => view! { <JobsPage/> };
    Job => view! { <JobPage/> };
    Schedules => view! { <SchedulesPage/> };
    Catalog => view! { <CatalogPage/> };
}

/// `/clients`, `/repositories`, `/policies` and `/users` are one page component drawn from the
/// resource's description, so they are one lazily loaded route (one split point): their code is
/// one chunk instead of a chunk shared by four routes plus a small one each, and a browser that
/// has shown one of them has the others too. The route's data is the kind its address names.
struct ResourcePages(ResourceKind);

#[lazy_route]
impl LazyRoute for ResourcePages {
    fn data() -> Self {
        let path = use_location().pathname.get_untracked();
        let path = path.trim_end_matches('/');
        // Only the four routes above use this view, so one of the kinds always matches.
        let kind = ResourceKind::ALL
            .into_iter()
            .find(|k| k.page_path() == path)
            .unwrap_or(ResourceKind::Clients);
        Self(kind)
    }

    fn view(this: Self) -> AnyView {
        mark_hydrated();
        view! { <ResourcePage kind=this.0/> }.into_any()
    }
}

/// The calendar, the pages reached from a policy's or a client's row that show what the
/// server does on its own (when it runs, what a prune keeps, which host it trusts), the alerts
/// the settings, the nodes, the archives (with their diffs) and a repository's key: one lazily
/// loaded route. Every split point of its own splits the code the pages share further and makes
/// every page heavier (docs/PERFORMANCE.md: a route of their own added 10-16 KB to every other
/// page); the calendar's first load has the room for them.
enum PolicyPages {
    Calendar,
    HostKey,
    Retention,
    Alerts,
    Settings,
    Nodes,
    Archives,
    RepositoryKey,
}

#[lazy_route]
impl LazyRoute for PolicyPages {
    fn data() -> Self {
        let path = use_location().pathname.get_untracked();
        match path.trim_end_matches('/') {
            "/host-key" => PolicyPages::HostKey,
            "/retention" => PolicyPages::Retention,
            "/alerts" => PolicyPages::Alerts,
            "/settings" => PolicyPages::Settings,
            "/nodes" => PolicyPages::Nodes,
            "/archives" => PolicyPages::Archives,
            "/repository-key" => PolicyPages::RepositoryKey,
            _ => PolicyPages::Calendar,
        }
    }

    fn view(this: Self) -> AnyView {
        mark_hydrated();
        match this {
            PolicyPages::Calendar => view! { <CalendarPage/> }.into_any(),
            PolicyPages::HostKey => view! { <HostKeyPage/> }.into_any(),
            PolicyPages::Retention => view! { <RetentionPage/> }.into_any(),
            PolicyPages::Alerts => view! { <AlertsPage/> }.into_any(),
            PolicyPages::Settings => view! { <SettingsPage/> }.into_any(),
            PolicyPages::Nodes => view! { <NodesPage/> }.into_any(),
            PolicyPages::Archives => view! { <ArchivesPage/> }.into_any(),
            PolicyPages::RepositoryKey => view! { <RepositoryKeyPage/> }.into_any(),
        }
    }
}

/// Marks the page (`<body data-hydrated="true">`) once the WASM bundle has taken over the page
/// shown, so tests (and curious operators) can tell a hydrated page from the server's HTML.
/// Called by each page's route: a lazily loaded page is hydrated only after its chunk arrived,
/// later than the shell around it.
fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Answers with the server's version (a cheap liveness check for scripts and tests).
#[server(prefix = "/rpc", endpoint = "server_version")]
pub async fn server_version() -> Result<String, crate::dashboard::RpcError> {
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
    mark_hydrated();
    view! {
        <Title text="Not found — CyBorgBackup"/>
        <main id="main">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the overview"</a></p>
        </main>
    }
}
