//! Server-sent events in the browser: the pages that follow jobs live (overview, jobs list, job
//! page) open an `EventSource` on the REST API's streams (the session cookie authenticates it)
//! for as long as they are shown. Compiled into the WASM bundle only.
use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};

/// Opens `url` once the component is in the browser and calls `on(event, data)` for each event
/// named in `events`; closes the source when `on` answers `false` (a finished job: a stream the
/// server ends would otherwise be reopened by the browser) or when the component goes.
pub fn follow_events(
    url: String,
    events: &'static [&'static str],
    on: impl Fn(&str, String) -> bool + Clone + 'static,
) {
    Effect::new(move |_| {
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let mut listeners = Vec::new();
        for &name in events {
            let on = on.clone();
            let own = source.clone();
            let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |ev: web_sys::MessageEvent| {
                    if let Some(data) = ev.data().as_string()
                        && !on(name, data)
                    {
                        own.close();
                    }
                },
            );
            let _ =
                source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        }
        // The source and its listeners live until the component is dropped; both are browser
        // objects (not Send), which the cleanup only ever touches on this thread.
        let held = send_wrapper::SendWrapper::new((source, listeners));
        on_cleanup(move || held.0.close());
    });
}
