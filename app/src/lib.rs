//! The CyBorgBackup web application: the Leptos pages (rendered on the server, hydrated in the
//! browser) and the DTOs, the one definition of every object the API and the dashboard exchange.
pub mod dashboard;
pub mod display;
pub use cyborg_dto as dto;
mod pages;
pub mod resources;
#[cfg(feature = "ssr")]
pub mod session;

pub use pages::{App, shell};

/// The product version, reported by `/api/v1/ping/` and shown in the dashboard.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
