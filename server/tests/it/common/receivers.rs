//! Real receivers on 127.0.0.1 for notification tests: an HTTP server that records every
//! request (webhooks, ntfy, Slack) and a small SMTP server that accepts and records mail.
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub struct HttpReceiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    /// While true the receiver answers 503 (a channel that is down).
    pub failing: Arc<Mutex<bool>>,
}

impl HttpReceiver {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failing: Arc<Mutex<bool>> = Arc::default();
        let state = (got.clone(), failing.clone());
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, got, failing }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "only {} of {n} requests came: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<bool>>);

async fn record(
    State((got, failing)): State<ReceiverState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    if *failing.lock().unwrap() {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    got.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
    });
    axum::http::StatusCode::OK
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// Speaks enough SMTP (RFC 5321: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for a real client
/// library to deliver to it; offers no STARTTLS, so only `smtp+plain://` reaches it.
pub struct SmtpSink {
    pub port: u16,
    got: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let store = got.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(sock, store).await;
                });
            }
        });
        Self { port, got }
    }

    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Mail> {
        self.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < end, "only {} of {n} mails came", got.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn session(sock: tokio::net::TcpStream, store: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    w.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().trim_matches(['<', '>']).to_string();
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_matches(['<', '>']).to_string());
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            store.lock().unwrap().push(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            w.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 Command not implemented\r\n").await?;
        }
    }
}
