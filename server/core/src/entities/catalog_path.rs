use sea_orm::entity::prelude::*;

/// Each distinct archived path is stored once, however many archives hold it. `path_hash` (the
/// SHA-256 of the path) is the uniqueness key and `parent_hash` finds a directory's children; both
/// are derived from `path` (see `crate::catalog::hash`) and filled in on save.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_paths")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub path: String,
    pub path_hash: Vec<u8>,
    pub parent_hash: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let sea_orm::ActiveValue::Set(path) | sea_orm::ActiveValue::Unchanged(path) = &self.path
        {
            let path = path.clone();
            self.path_hash =
                sea_orm::ActiveValue::Set(crate::catalog::hash::path_hash(&path).to_vec());
            self.parent_hash = sea_orm::ActiveValue::Set(crate::catalog::hash::parent_hash(&path));
        }
        Ok(self)
    }

    /// A path written through the ORM (not the catalog ingestion's bulk statements, which bump
    /// it themselves) makes the in-memory search indexes out of date as well.
    async fn after_save<C>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        db.execute_unprepared(crate::catalog::search_index::BUMP_VERSION)
            .await?;
        Ok(model)
    }
}
