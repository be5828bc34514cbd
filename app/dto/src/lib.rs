//! Serde types exchanged by the REST API and the dashboard. Entities never leave the server; these do.
//! Output types are what the API answers; `*Input` types are what it accepts on create and update
//! (every field optional, so one type serves POST, PUT and PATCH; the server decides what is required).
mod archives;
mod calendar;
mod catalog;
mod common;
mod dashboard;
mod health;
mod jobs;
mod kinds;
mod nodes;
mod resources;
mod retention;
mod settings;

pub use archives::*;
pub use calendar::*;
pub use catalog::*;
pub use common::*;
pub use dashboard::*;
pub use health::*;
pub use jobs::*;
pub use kinds::*;
pub use nodes::*;
pub use resources::*;
pub use retention::*;
pub use settings::*;
