//! `/repository-key?repository=ID` (linked as *Key* from each repository's row): what to keep
//! where so that the repository can still be read when this server is lost — the key export
//! (plain and paper, superusers) stored offline, the passphrase apart from it, and how to
//! import the key again — and borg's lock of the repository with *Break lock* (superusers).
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    CopyButton, RepositoryKeyView, RpcError, error_text, percent_encode, repository_break_lock,
    repository_key_export,
};
use crate::{display::second, dto::RepositoryLock};

#[component]
pub fn RepositoryKeyPage() -> impl IntoView {
    let query = use_query_map();
    let repository =
        move || query.with(|q| q.get("repository").and_then(|v| v.parse::<i32>().ok()));
    let data = Resource::new(repository, |r| async move {
        match r {
            Some(r) => repository_key_export(r).await,
            None => Err(RpcError::new(400, "Name a repository.")),
        }
    });
    view! {
        <Title text="Repository key — CyBorgBackup"/>
        <h1>"Repository key"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => key_view(v).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
        <p><a href="/repositories">"Back to the repositories"</a></p>
    }
    .into_any()
}

fn key_view(v: RepositoryKeyView) -> impl IntoView {
    let location = v.path.clone();
    let export = match v.key {
        Ok(k) => {
            let file = format!("{}.borg-key", v.name);
            let download = format!(
                "data:text/plain;charset=utf-8,{}",
                percent_encode(&k.key, b"")
            );
            view! {
                <h2>"Key export"</h2>
                <p class="muted">
                    "borg key export: save it as a file (or copy it) and keep it offline."
                </p>
                <pre class="log" id="repository-key-plain">{k.key.clone()}</pre>
                <p class="buttons">
                    <CopyButton text=k.key.clone()/>
                    <a class="download" href=download download=file>"Download"</a>
                </p>
                <h2>"Paper key"</h2>
                <p class="muted">
                    "borg key export --paper: print it; each line has a checksum, so it can be "
                    "typed back in by hand."
                </p>
                <pre class="log" id="repository-key-paper">{k.paper.clone()}</pre>
                <p class="buttons"><CopyButton text=k.paper/></p>
            }
            .into_any()
        }
        Err(m) => view! {
            <p class="form-error" id="repository-key-error" role="alert">{m}</p>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="repository-key-title">
            <h2 id="repository-key-title">{v.name.clone()} " (" <code>{v.path.clone()}</code> ")"</h2>
            <p id="repository-encryption">
                "Encryption: " <strong>{v.encryption.clone()}</strong>
            </p>
            <h2>"What to keep, and where"</h2>
            <ul class="key-advice">
                <li>
                    <strong>"The key export"</strong>
                    " (below, plain or paper): offline, away from this server — a printout in a "
                    "safe, a file on a USB stick in a drawer — and separately from the passphrase."
                </li>
                <li>
                    <strong>"The passphrase"</strong>
                    " (set on the repository's form, never shown again): in a password manager or "
                    "a sealed envelope, not next to the key."
                </li>
                <li>
                    "Both are needed to read the repository. If this server is lost, whoever "
                    "restores needs the repository, the key and the passphrase; without them "
                    "the archives cannot be decrypted."
                </li>
                <li>
                    "To restore the key on another machine: "
                    <code>{format!("borg key import {location} FILE")}</code>
                    " (FILE: the plain export) or "
                    <code>{format!("borg key import --paper {location}")}</code>
                    " (type the paper lines in), then give the passphrase when borg asks."
                </li>
            </ul>
            {export}
        </section>
        <LockCard id=v.id name=v.name lock=v.lock is_superuser=v.is_superuser/>
    }
}

/// The state in words.
fn lock_words(l: &RepositoryLock) -> String {
    match l.state.as_str() {
        "free" => "Free: no borg holds the repository's lock.".into(),
        "busy" => match l.job {
            Some(j) => format!("Busy: job #{j} of this server runs on it."),
            None => "Busy: a job of this server runs on it.".into(),
        },
        "locked" => "Locked while no job of this server runs on it: maybe a borg run by hand or \
                     from elsewhere, maybe a lock left behind by a borg that died."
            .into(),
        other => other.to_string(),
    }
}

/// borg's lock of the repository, and *Break lock* behind a confirmation.
#[component]
fn LockCard(id: i32, name: String, lock: RepositoryLock, is_superuser: bool) -> impl IntoView {
    let shown = RwSignal::new(lock);
    let asking = RwSignal::new(false);
    let message = RwSignal::new(String::new());
    let breaking = Action::new(move |_: &()| repository_break_lock(id));
    Effect::new(move |_| match breaking.value().get() {
        Some(Ok(Ok(l))) => {
            shown.set(l);
            asking.set(false);
            message.set(String::new());
        }
        Some(Ok(Err(m))) => message.set(m),
        Some(Err(e)) => message.set(error_text(&e)),
        None => {}
    });
    let broken = move || {
        shown.with(|l| match (&l.lock_broken, l.lock_broken_by.is_empty()) {
            (Some(at), false) => format!("Last broken by {} at {}.", l.lock_broken_by, second(at)),
            (Some(at), true) => format!("Last broken at {}.", second(at)),
            (None, _) => "Never broken through this server.".into(),
        })
    };
    let button = is_superuser.then(|| {
        view! {
            <p>
                <button
                    type="button"
                    class="danger"
                    id="repository-break-lock"
                    on:click=move |_| asking.set(true)
                >
                    "Break lock…"
                </button>
            </p>
        }
    });
    view! {
        <section class="card" aria-labelledby="repository-lock-title">
            <h2 id="repository-lock-title">"Lock"</h2>
            <p id="repository-lock-state" data-state=move || shown.with(|l| l.state.clone())>
                {move || shown.with(lock_words)}
            </p>
            <p class="muted" id="repository-lock-detail">{move || shown.with(|l| if l.holder.is_empty() {
                l.detail.clone()
            } else {
                format!(
                    "Held by {}{}.",
                    l.holder,
                    l.locked_since.as_ref().map(|t| format!(" since {}", second(t))).unwrap_or_default()
                )
            })}</p>
            <p id="repository-lock-broken">{broken}</p>
            {button}
            <p class="form-error" id="break-lock-error" role="alert">{move || message.get()}</p>
            <Show when=move || asking.get()>
                <div
                    class="card confirm"
                    role="alertdialog"
                    aria-labelledby="break-lock-title"
                    id="break-lock-confirm"
                >
                    <h3 id="break-lock-title">{format!("Break the lock of “{name}”?")}</h3>
                    <p>
                        "This is only allowed while no job of this server runs on the repository. "
                        "If a borg still runs on it — started by hand, or from another machine — "
                        "breaking the lock it holds can damage the repository. Break it only when "
                        "you know that borg is gone."
                    </p>
                    <div class="buttons">
                        <button
                            type="button"
                            class="danger"
                            id="confirm-break-lock"
                            disabled=move || breaking.pending().get()
                            on:click=move |_| {
                                breaking.dispatch(());
                            }
                        >
                            "Break the lock"
                        </button>
                        <button
                            type="button"
                            class="secondary"
                            on:click=move |_| {
                                message.set(String::new());
                                asking.set(false)
                            }
                        >
                            "Cancel"
                        </button>
                    </div>
                </div>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_states_in_words() {
        let mut l = RepositoryLock {
            repository: 1,
            state: "busy".into(),
            job: Some(7),
            detail: String::new(),
            holder: String::new(),
            locked_since: None,
            lock_broken_by: String::new(),
            lock_broken: None,
        };
        assert_eq!(lock_words(&l), "Busy: job #7 of this server runs on it.");
        l.state = "free".into();
        assert!(lock_words(&l).starts_with("Free"));
    }
}
