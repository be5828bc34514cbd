//! SeaORM entities: the database rows. They stay on the server; the API speaks `cyborg_dto`.
pub mod alert;
pub mod api_token;
pub mod archive;
pub mod auth_token;
pub mod catalog_entry;
pub mod catalog_path;
pub mod client;
pub mod job;
pub mod job_event;
pub mod notification_channel;
pub mod notification_outbox;
pub mod policy;
pub mod policy_client;
pub mod repository;
pub mod schedule;
pub mod setting;
pub mod user;
