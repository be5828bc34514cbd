//! A page's create/edit form, put on the page only when the operator asks for it ("New …", or a
//! row's "Edit"). The form's code is a lazily loaded function (`#[lazy]`, a WASM chunk of its
//! own in a `--split` build) that the browser fetches the first time the form opens: reading a
//! list, which is what most visits do, does not download the forms (docs/DASHBOARD.md).
use std::future::Future;

use leptos::{either::Either, lazy, prelude::*};

use super::{
    catalog::RestoreForm,
    resource_page::{self, ResourceEditor},
    schedules::{self, ScheduleEditor},
};
use crate::{dto::ArchiveRef, resources::ResourceKind};

/// The forms drawn only on demand, with what each needs.
pub enum Form {
    Resource(ResourceKind, resource_page::Editor, RwSignal<u32>),
    Schedule(schedules::Editor, RwSignal<u32>),
    Restore(ArchiveRef, String, RwSignal<Vec<String>>),
}

/// All of them are one lazily loaded function, i.e. one split point: every split point
/// multiplies the shared chunks (code used by a different set of split points lands in a chunk
/// of its own), and a page then needs more, smaller files, which compress worse one by one
/// (measured in docs/PERFORMANCE.md).
#[lazy]
pub fn form_view(form: Form) -> AnyView {
    match form {
        Form::Resource(kind, editor, version) => {
            view! { <ResourceEditor kind editor version/> }.into_any()
        }
        Form::Schedule(editor, version) => view! { <ScheduleEditor editor version/> }.into_any(),
        Form::Restore(archive, dir, selected) => {
            view! { <RestoreForm archive dir selected/> }.into_any()
        }
    }
}

/// `form` draws the form (`form_view`'s future); while `open` is false a button (`id`,
/// `label`) stands in its place and opens it.
#[component]
pub fn FormOnDemand<F, Fut>(
    open: RwSignal<bool>,
    #[prop(into)] label: String,
    id: &'static str,
    form: F,
) -> impl IntoView
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AnyView> + Send + 'static,
{
    // The button goes when the form comes: keyboard focus moves to the form's heading (only
    // when the button opened it, not when a row's "Edit" did). The heading, not the first
    // field: some forms draw their fields only once their choices have loaded.
    let focus_first = RwSignal::new(false);
    view! {
        <Transition fallback=|| view! { <p class="loading card editor">"Loading the form…"</p> }>
            {move || {
                if open.get() {
                    let form = form();
                    Either::Left(Suspend::new(async move {
                        let form = form.await;
                        if focus_first.get_untracked() {
                            focus_first.set(false);
                            // On the next frame the form is in the document.
                            request_animation_frame(move || focus_heading(id));
                        }
                        view! { <div id=format!("{id}-form")>{form}</div> }.into_any()
                    }))
                } else {
                    Either::Right(
                        view! {
                            <section class="card editor editor-closed">
                                <button
                                    type="button"
                                    id=id
                                    on:click=move |_| {
                                        focus_first.set(true);
                                        open.set(true);
                                    }
                                >
                                    {label.clone()}
                                </button>
                            </section>
                        },
                    )
                }
            }}
        </Transition>
    }
}

#[cfg(feature = "hydrate")]
fn focus_heading(button_id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Ok(Some(heading)) = document().query_selector(&format!("#{button_id}-form :is(h2, h3)"))
        && let Ok(heading) = heading.dyn_into::<leptos::web_sys::HtmlElement>()
    {
        // Focusable by script, not a stop of the Tab order.
        let _ = heading.set_attribute("tabindex", "-1");
        let _ = heading.focus();
    }
}

/// The server never focuses anything.
#[cfg(not(feature = "hydrate"))]
fn focus_heading(_button_id: &str) {}
