//! The delete confirmation of every list page: it names what depends on the object before
//! anything is deleted, and shows the server's refusal (an object in use) when there is one.
use std::future::Future;

use leptos::prelude::*;

use super::RpcError;

use super::error_text;

/// An inline alert dialog for the object in `pending` (id, name). `load` asks what depends on it,
/// `describe` words that list, `delete` deletes (answering `Some(message)` when refused); a
/// deletion bumps `version` so the list is read again.
#[component]
pub fn DeleteConfirm<L, LF, D, DF, W>(
    noun: &'static str,
    pending: RwSignal<Option<(i32, String)>>,
    version: RwSignal<u32>,
    load: L,
    delete: D,
    describe: W,
) -> impl IntoView
where
    L: Fn(i32) -> LF + Copy + Send + Sync + 'static,
    LF: Future<Output = Result<Vec<String>, RpcError>> + Send + 'static,
    D: Fn(i32) -> DF + Copy + Send + Sync + 'static,
    DF: Future<Output = Result<Option<String>, RpcError>> + Send + 'static,
    W: Fn(&[String]) -> String + Copy + Send + Sync + 'static,
{
    let deletion = Action::new(move |id: &i32| delete(*id));
    let dependents = Resource::new(
        move || pending.get().map(|p| p.0),
        move |id| async move {
            match id {
                Some(id) => load(id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let failure = RwSignal::new(String::new());
    Effect::new(move |_| match deletion.value().get() {
        Some(Ok(None)) => {
            pending.set(None);
            failure.set(String::new());
            version.update(|v| *v += 1);
        }
        Some(Ok(Some(refused))) => failure.set(refused),
        Some(Err(e)) => failure.set(error_text(&e)),
        None => {}
    });
    let name = move || pending.with(|p| p.as_ref().map(|p| p.1.clone()).unwrap_or_default());
    view! {
        <Show when=move || pending.with(|p| p.is_some())>
            <div class="card confirm" role="alertdialog" aria-labelledby="confirm-title" id="delete-confirm">
                <h3 id="confirm-title">{move || format!("Delete the {noun} “{}”?", name())}</h3>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match dependents.await {
                            Ok(names) => view! { <p id="delete-dependents">{describe(&names)}</p> }
                                .into_any(),
                            Err(e) => view! { <p class="form-error">{error_text(&e)}</p> }.into_any(),
                        }
                    })}
                </Transition>
                <p class="form-error" id="delete-error" role="alert">{move || failure.get()}</p>
                <div class="buttons">
                    <button
                        type="button"
                        class="danger"
                        id="confirm-delete"
                        disabled=move || deletion.pending().get()
                        on:click=move |_| {
                            if let Some((id, _)) = pending.get_untracked() {
                                deletion.dispatch(id);
                            }
                        }
                    >
                        "Delete"
                    </button>
                    <button
                        type="button"
                        class="secondary"
                        on:click=move |_| {
                            failure.set(String::new());
                            pending.set(None)
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            </div>
        </Show>
    }
    .into_any()
}
