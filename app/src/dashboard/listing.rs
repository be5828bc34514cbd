//! What every list page of the dashboard shares: its address (`?search=…&order_by=…&page=…`,
//! the page's whole state), the sort links of its headers and its pager.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{LIST_PAGE_SIZE, percent_encode};
use crate::dto::FieldErrors;

/// `base?search=…&order_by=…&page=…` with the empty parts left out.
pub fn list_href(base: &str, search: &str, order_by: &str, page: u64) -> String {
    let mut parts = Vec::new();
    if !search.is_empty() {
        parts.push(format!("search={}", percent_encode(search, b"")));
    }
    if !order_by.is_empty() {
        parts.push(format!("order_by={}", percent_encode(order_by, b"")));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

/// The `order_by` a column header links to: ascending first, descending when already ascending
/// (an empty `current` is the list's default order, `default_field` ascending).
pub fn toggled(current: &str, field: &str, default_field: &str) -> String {
    if current == field || (current.is_empty() && field == default_field) {
        format!("-{field}")
    } else {
        field.to_string()
    }
}

/// The `aria-sort` of a column header.
pub fn sort_state(current: &str, field: &str, default_field: &str) -> &'static str {
    if current == field || (current.is_empty() && field == default_field) {
        "ascending"
    } else if current.strip_prefix('-') == Some(field) {
        "descending"
    } else {
        "none"
    }
}

/// The messages of one field, joined.
pub fn field_error(errors: &FieldErrors, field: &str) -> String {
    errors.get(field).map(|m| m.join(" ")).unwrap_or_default()
}

/// The list state read from the address.
#[derive(Clone, Copy)]
pub struct ListQuery {
    pub search: Signal<String>,
    pub order_by: Signal<String>,
    pub page: Signal<u64>,
}

impl ListQuery {
    pub fn from_address() -> Self {
        let query = use_query_map();
        Self {
            search: Signal::derive(move || query.with(|q| q.get("search").unwrap_or_default())),
            order_by: Signal::derive(move || query.with(|q| q.get("order_by").unwrap_or_default())),
            page: Signal::derive(move || {
                query.with(|q| {
                    q.get("page")
                        .and_then(|p| p.parse::<u64>().ok())
                        .unwrap_or(1)
                })
            }),
        }
    }
}

/// A `method="get"` form (a search, the filters of a list): submitting it goes to
/// `action?<its fields>` inside the app, without a page load; before the WASM has loaded, the
/// browser submits it itself, to the same address.
///
/// The router's `<Form>` does the same, and much more this dashboard never uses (POST, actions,
/// submitter values): 7–15 KB gzip more a page (docs/PERFORMANCE.md, session 11).
#[component]
pub fn GetForm(
    action: String,
    class: &'static str,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(optional)] role: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let navigate = leptos_router::hooks::use_navigate();
    let target = action.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            use web_sys::{FormData, HtmlFormElement, UrlSearchParams};
            let query = ev
                .target()
                .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
                .and_then(|form| FormData::new_with_form(&form).ok())
                .and_then(|data| UrlSearchParams::new_with_str_sequence_sequence(&data).ok());
            // Without its fields the browser's own submit still goes to the right place.
            let Some(query) = query else { return };
            ev.prevent_default();
            navigate(
                &format!("{target}?{}", String::from(query.to_string())),
                Default::default(),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&ev, &navigate, &target);
    };
    view! {
        <form method="get" action=action class=class id=id role=role on:submit=submit>
            {children()}
        </form>
    }
}

/// "N things, page X of Y" with previous/next links.
#[component]
pub fn Pager(
    base: &'static str,
    count: u64,
    noun: &'static str,
    plural: &'static str,
    search: String,
    order_by: String,
    current: u64,
    id: String,
) -> impl IntoView {
    page_links(count, (noun, plural), current, id, &|page| {
        list_href(base, &search, &order_by, page)
    })
}

/// The pager's markup, for any list: "N things, page X of Y" and links to the pages before and
/// after (`href` of a page number).
pub fn page_links(
    count: u64,
    (noun, plural): (&'static str, &'static str),
    current: u64,
    id: String,
    href: &dyn Fn(u64) -> String,
) -> impl IntoView + use<> {
    let pages = count.div_ceil(LIST_PAGE_SIZE).max(1);
    let previous = (current > 1).then(|| href(current - 1));
    let next = (current < pages).then(|| href(current + 1));
    view! {
        <nav class="pager" aria-label="Pages">
            <span id=id>
                {format!("{count} {}, page {current} of {pages}", if count == 1 { noun } else { plural })}
            </span>
            {previous.map(|href| view! { <a href=href rel="prev">"Previous"</a> })}
            {next.map(|href| view! { <a href=href rel="next">"Next"</a> })}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_links_keep_the_other_parts_and_encode_the_search() {
        assert_eq!(list_href("/schedules", "", "", 1), "/schedules");
        assert_eq!(
            list_href("/schedules", "a b&c", "-name", 3),
            "/schedules?search=a%20b%26c&order_by=-name&page=3"
        );
        assert_eq!(
            list_href("/clients", "", "port", 2),
            "/clients?order_by=port&page=2"
        );
    }

    #[test]
    fn headers_toggle_the_order() {
        assert_eq!(toggled("", "name", "name"), "-name");
        assert_eq!(toggled("name", "name", "name"), "-name");
        assert_eq!(toggled("-name", "name", "name"), "name");
        assert_eq!(toggled("name", "crontab", "name"), "crontab");
        assert_eq!(toggled("", "hostname", "hostname"), "-hostname");
        assert_eq!(sort_state("", "hostname", "hostname"), "ascending");
        assert_eq!(sort_state("-port", "port", "hostname"), "descending");
        assert_eq!(sort_state("-port", "hostname", "hostname"), "none");
    }
}
