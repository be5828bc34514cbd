use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use server::{
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
            server::data_dir::open_database(&cli.config).await?;
            println!("migrations applied");
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

async fn create_user(
    config: &server::config::Config,
    email: String,
    password: String,
    superuser: bool,
) -> anyhow::Result<()> {
    use sea_orm::{ActiveModelTrait, Set};
    use server::{entities::user, services};

    let email = email.trim().to_lowercase();
    services::validate::email(&email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    if password.chars().count() < services::users::MIN_PASSWORD {
        anyhow::bail!(
            "the password needs at least {} characters",
            services::users::MIN_PASSWORD
        );
    }
    let conn = server::data_dir::open_database(config).await?;
    let t = services::now();
    let hash = hash_password_now(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    user::ActiveModel {
        email: Set(email.clone()),
        first_name: Set(String::new()),
        last_name: Set(String::new()),
        password_hash: Set(hash),
        is_superuser: Set(superuser),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .with_context(|| format!("creating {email} (does it exist already?)"))?;
    println!(
        "created {email}{}",
        if superuser { " (superuser)" } else { "" }
    );
    Ok(())
}
