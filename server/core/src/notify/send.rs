//! One message to one channel, in the channel's own format.
use std::time::Duration;

use anyhow::{Context, bail};
use cyborg_dto::ChannelKind;
use hmac::{Hmac, Mac};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor, message::header::ContentType,
    transport::smtp::authentication::Credentials,
};
use sha2::Sha256;

use super::{Message, RAISED};
use crate::{entities::notification_channel, secrets::Secrets};

const TIMEOUT: Duration = Duration::from_secs(15);

/// A channel with its secrets decrypted, for the length of one delivery.
pub struct Channel {
    pub kind: ChannelKind,
    pub url: String,
    pub secret: String,
    pub email_from: String,
    pub email_to: Vec<String>,
    pub username: String,
    pub password: String,
}

impl Channel {
    pub fn open(c: &notification_channel::Model, secrets: &Secrets) -> anyhow::Result<Self> {
        let plain = |stored: &str| -> anyhow::Result<String> {
            if stored.is_empty() {
                Ok(String::new())
            } else {
                secrets.decrypt(stored)
            }
        };
        Ok(Self {
            kind: c.kind,
            url: plain(&c.url).context("decrypting the channel's URL")?,
            secret: plain(&c.secret).context("decrypting the channel's signing key")?,
            email_from: c.email_from.clone(),
            email_to: split_addresses(&c.email_to),
            username: c.username.clone(),
            password: plain(&c.password).context("decrypting the channel's password")?,
        })
    }
}

pub fn split_addresses(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect()
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `key`: the webhook's signature header.
pub fn signature(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The plain-text body of chat and email messages.
fn text(m: &Message) -> String {
    let mut lines = vec![m.message.clone()];
    if let Some(j) = m.job {
        lines.push(format!("Job: /jobs/{j}"));
    }
    if let Some(a) = m.alert {
        lines.push(format!("Alert: {a} ({})", m.key));
    }
    lines.join("\n")
}

/// Sends `m` through `ch`; an error says why (the receiver's status and answer, or the SMTP
/// server's reply).
pub async fn deliver(ch: &Channel, m: &Message) -> anyhow::Result<()> {
    match ch.kind {
        ChannelKind::Email => email(ch, m).await,
        kind => {
            let http = reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let req = match kind {
                ChannelKind::Webhook => {
                    let body = serde_json::to_vec(m)?;
                    http.post(&ch.url)
                        .header("content-type", "application/json")
                        .header("x-cyborg-event", m.event.as_str())
                        .header("x-cyborg-signature", signature(&ch.secret, &body))
                        .body(body)
                }
                ChannelKind::Slack => http.post(&ch.url).json(&serde_json::json!({
                    "text": format!("*{}*\n{}", m.title(), text(m)),
                })),
                _ if is_gotify(&ch.url) => http.post(&ch.url).json(&serde_json::json!({
                    "title": m.title(),
                    "message": text(m),
                    "priority": if m.event == RAISED { 8 } else { 4 },
                })),
                _ => {
                    // ntfy: the title and priority as query parameters (headers would have to
                    // be ASCII; a policy's name need not be).
                    let mut url = url::Url::parse(&ch.url)?;
                    url.query_pairs_mut()
                        .append_pair("title", &m.title())
                        .append_pair(
                            "priority",
                            if m.event == RAISED { "high" } else { "default" },
                        )
                        .append_pair(
                            "tags",
                            if m.event == RAISED {
                                "rotating_light"
                            } else {
                                "white_check_mark"
                            },
                        );
                    http.post(url).body(text(m))
                }
            };
            let resp = req.send().await.context("sending the request")?;
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                bail!(
                    "the receiver answered {status}: {}",
                    body.chars().take(300).collect::<String>()
                );
            }
            Ok(())
        }
    }
}

/// Whether `url` is where a channel of `kind` can send: an SMTP URL for email, an `http(s)://`
/// URL with a host for the others. The message says what is wrong.
pub fn check_target(kind: ChannelKind, url: &str) -> Result<(), String> {
    if kind == ChannelKind::Email {
        return smtp_target(url).map(|_| ());
    }
    let u = url::Url::parse(url).map_err(|e| format!("Not a valid URL: {e}."))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("Use an http:// or https:// URL.".into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("The URL names no host.".into());
    }
    Ok(())
}

/// A Gotify URL posts to `…/message` (with `?token=`); anything else is an ntfy topic.
fn is_gotify(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.path().trim_end_matches('/').ends_with("/message"))
}

/// How an SMTP URL wants the connection secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS, required (port 587 by default).
    StartTls,
    /// `smtps://`: TLS from the first byte (port 465).
    Tls,
    /// `smtp+plain://`: no encryption (port 25), for a relay on the same host or network.
    Plain,
}

/// The host, port and security of an SMTP URL; the message says what is wrong with it.
pub fn smtp_target(url: &str) -> Result<(String, u16, SmtpSecurity), String> {
    let u = url::Url::parse(url).map_err(|e| format!("Not a valid URL: {e}."))?;
    let (security, default_port) = match u.scheme() {
        "smtp" => (SmtpSecurity::StartTls, 587),
        "smtps" => (SmtpSecurity::Tls, 465),
        "smtp+plain" => (SmtpSecurity::Plain, 25),
        other => {
            return Err(format!(
                "The scheme {other}: is not one of smtp: (STARTTLS), smtps: (TLS), smtp+plain: (no encryption)."
            ));
        }
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("The URL names no host.")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !u.username().is_empty() || u.password().is_some() {
        return Err("Put the user and password in their own fields, not in the URL.".into());
    }
    Ok((host, u.port().unwrap_or(default_port), security))
}

async fn email(ch: &Channel, m: &Message) -> anyhow::Result<()> {
    let (host, port, security) = smtp_target(&ch.url).map_err(anyhow::Error::msg)?;
    let builder = match security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?,
        SmtpSecurity::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
    };
    let mut builder = builder.port(port).timeout(Some(TIMEOUT));
    if !ch.username.is_empty() {
        builder = builder.credentials(Credentials::new(ch.username.clone(), ch.password.clone()));
    }
    let transport = builder.build();
    let mut mail = lettre::Message::builder()
        .from(ch.email_from.parse().context("the sender address")?)
        .subject(m.title());
    for to in &ch.email_to {
        mail = mail.to(to.parse().with_context(|| format!("the address {to}"))?);
    }
    let mail = mail.header(ContentType::TEXT_PLAIN).body(text(m))?;
    transport.send(mail).await.context("the SMTP server")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn smtp_urls_choose_the_security() {
        assert_eq!(
            smtp_target("smtp://mail.example.com").unwrap(),
            ("mail.example.com".into(), 587, SmtpSecurity::StartTls)
        );
        assert_eq!(smtp_target("smtps://mail.example.com").unwrap().1, 465);
        assert_eq!(
            smtp_target("smtp+plain://127.0.0.1:2525").unwrap(),
            ("127.0.0.1".into(), 2525, SmtpSecurity::Plain)
        );
        assert!(smtp_target("http://x").is_err());
        assert!(smtp_target("smtp://user:pw@x").is_err());
        assert!(smtp_target("smtp:").is_err());
    }

    #[test]
    fn gotify_is_told_by_its_path() {
        assert!(is_gotify("https://gotify.example.com/message?token=abc"));
        assert!(!is_gotify("https://ntfy.sh/backups"));
    }
}
