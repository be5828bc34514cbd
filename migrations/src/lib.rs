//! Database schema of CyBorgBackup, applied at every start of the server.
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_init;
mod m20261127_000002_engine;
mod m20261127_000003_catalog_state;
mod m20261128_000004_archive_roots;
mod m20261128_000005_job_extra_vars;
mod m20261128_000006_integrity_schedule;
mod m20261128_000007_catalog_pg_references;
mod m20261202_000008_trust;
mod m20261202_000009_health;
mod m20261203_000010_catalog_versions;
mod m20261203_000011_nodes;
mod m20261203_000012_catalog_open_keys;
mod m20261203_000013_repository_options;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_init::Migration),
            Box::new(m20261127_000002_engine::Migration),
            Box::new(m20261127_000003_catalog_state::Migration),
            Box::new(m20261128_000004_archive_roots::Migration),
            Box::new(m20261128_000005_job_extra_vars::Migration),
            Box::new(m20261128_000006_integrity_schedule::Migration),
            Box::new(m20261128_000007_catalog_pg_references::Migration),
            Box::new(m20261202_000008_trust::Migration),
            Box::new(m20261202_000009_health::Migration),
            Box::new(m20261203_000010_catalog_versions::Migration),
            Box::new(m20261203_000011_nodes::Migration),
            Box::new(m20261203_000012_catalog_open_keys::Migration),
            Box::new(m20261203_000013_repository_options::Migration),
        ]
    }
}
