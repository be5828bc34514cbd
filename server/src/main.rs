use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use cyborg_core::{
    config::{Cli, Command},
    services::auth::hash_password_now,
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&cli.config.log).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => server::start(cli.config, None).await,
        Command::Migrate => {
            cyborg_core::data_dir::open_database(&cli.config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::RestoreServer {
            repository,
            archive,
        } => {
            let r = cyborg_core::self_backup::restore(&cli.config, &repository, archive.as_deref())
                .await?;
            println!(
                "restored {} ({} database) into {}; start the server as usual",
                r.archive,
                r.database,
                cli.config.data_dir.display()
            );
            Ok(())
        }
        Command::CreateUser {
            email,
            password_stdin: _,
            superuser,
        } => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            create_user(&cli.config, email, password, superuser).await
        }
    }
}

/// `cyborgbackup create-user`: the API's rules for a new user (`services::users::checked_new`).
async fn create_user(
    config: &cyborg_core::config::Config,
    email: String,
    password: String,
    superuser: bool,
) -> anyhow::Result<()> {
    use cyborg_core::{
        error::{Error, fields_line},
        services::users,
    };
    use sea_orm::{ActiveModelTrait, Set};

    let conn = cyborg_core::data_dir::open_database(config).await?;
    let input = cyborg_dto::UserInput {
        email: Some(email.clone()),
        password: Some(password.clone()),
        is_superuser: Some(superuser),
        ..Default::default()
    };
    let mut model = users::checked_new(&conn, &input)
        .await
        .map_err(|e| match e {
            Error::Validation(fields) => {
                anyhow::anyhow!("{}", fields_line(&fields, |field| format!("--{field}")))
            }
            e => anyhow::anyhow!("{}", e.client_message()),
        })?;
    model.password_hash = Set(hash_password_now(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?);
    let row = model
        .insert(&conn)
        .await
        .with_context(|| format!("creating {email}"))?;
    println!(
        "created {}{}",
        row.email,
        if superuser { " (superuser)" } else { "" }
    );
    Ok(())
}
