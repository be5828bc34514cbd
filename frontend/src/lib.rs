//! The browser entry point: compiled to WASM, it hydrates the page the server rendered.
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The lazy variant: the dashboard's pages are lazily loaded routes (app/src/pages.rs), whose
    // code may still have to arrive before the page can be hydrated.
    leptos::mount::hydrate_lazy(app::App);
}
