//! The integration tests of the server, one binary: each module starts the real server (or the
//! engine) on 127.0.0.1 over a fresh SQLite or PostgreSQL database (`CYBORG_TEST_DB`), with a real
//! sshd and real borg where a test needs them. One binary instead of one per file: the test
//! command links the (large) test code once.
mod common;

mod api_root;
mod archives;
mod auth;
mod catalog_ingest;
mod catalog_search;
mod catalog_versions;
mod catalogs;
mod dashboard;
mod engine;
mod engine_process;
mod engine_streams;
mod fuzz;
mod health;
mod integrity;
mod jobs_api;
mod lists;
mod modules;
mod nodes;
mod pull;
mod resources;
mod restore;
mod retention;
mod schedules_time;
mod self_backup;
mod settings;
mod ssh_exec;
mod web_security;
