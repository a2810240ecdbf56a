//! A loopback HTTP server for the client's tests: it answers each request with the next
//! scripted response and records what it received, so tests can assert exactly what the
//! client sent (headers, cursors, retries) and how it reacted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;
use url::Url;

/// One scripted reply.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    hang: bool,
    /// A body of this many bytes, generated while it is sent instead of `body`.
    generated: Option<u64>,
}

impl Scripted {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self::raw(status, &body.to_string()).header("content-type", "application/json")
    }

    pub(crate) fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            hang: false,
            generated: None,
        }
    }

    /// An `{"error": {...}}` body in the API's format.
    pub(crate) fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}}),
        )
    }

    /// Never answers, to exercise the client's timeout.
    pub(crate) fn hang() -> Self {
        Self {
            hang: true,
            ..Self::raw(200, "")
        }
    }

    /// A body of `size` bytes made while it is sent, 64 KiB at a time, so a huge response never
    /// sits in the server's memory. With `declare_length` it carries a `Content-Length`;
    /// without, it is chunked and only reading it shows its size.
    pub(crate) fn generated(size: u64, declare_length: bool) -> Self {
        let reply = Self {
            generated: Some(size),
            ..Self::raw(200, "")
        };
        if declare_length {
            reply.header("content-length", &size.to_string())
        } else {
            reply
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
}

impl Recorded {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Recorded>>,
}

pub(crate) struct ScriptedServer {
    pub(crate) base_url: Url,
    script: Arc<Script>,
    task: JoinHandle<()>,
}

impl ScriptedServer {
    pub(crate) async fn start(replies: Vec<Scripted>) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(reply)
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        let base_url = Url::parse(&format!("http://{address}/")).expect("base url");
        Self {
            base_url,
            script,
            task,
        }
    }

    pub(crate) fn push(&self, reply: Scripted) {
        self.script.replies.lock().expect("script").push_back(reply);
    }

    pub(crate) fn received(&self) -> Vec<Recorded> {
        self.script.received.lock().expect("received").clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn reply(State(script): State<Arc<Script>>, request: Request) -> Response {
    let query = request
        .uri()
        .query()
        .map(|raw| {
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let sequence = {
        let mut received = script.received.lock().expect("received");
        received.push(Recorded {
            path: request.uri().path().to_owned(),
            query,
            headers: request.headers().clone(),
        });
        received.len()
    };
    let next = script.replies.lock().expect("script").pop_front();
    let Some(next) = next else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header("x-should-retry", "false")
            .body(Body::from("script exhausted"))
            .expect("response");
    };
    if next.hang {
        std::future::pending::<()>().await;
    }
    let mut builder = Response::builder()
        .status(next.status)
        .header("request-id", format!("req_{sequence:03}"));
    for (name, value) in &next.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match next.generated {
        Some(size) => generated_body(size),
        None => Body::from(next.body),
    };
    builder.body(body).expect("response")
}

fn generated_body(size: u64) -> Body {
    const CHUNK: u64 = 64 * 1024;
    let chunk = axum::body::Bytes::from(vec![b' '; CHUNK as usize]);
    let chunks = futures::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            (sent < size).then(|| {
                let length = CHUNK.min(size - sent);
                let part = chunk.slice(..length as usize);
                (Ok::<_, std::convert::Infallible>(part), sent + length)
            })
        }
    });
    Body::from_stream(chunks)
}
