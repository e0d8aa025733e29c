//! A minimal native SSE broadcaster: this machine's ceiling for `npm run bench`. One thread, like
//! one workerd isolate and one nginx worker. No auth, no storage, no validation: `POST /publish`
//! takes orgstream publish bodies (one event, or `{"events": [...]}`), gives each event an id,
//! encodes its frame once (`id`, `event`, `data` = the envelope) and hands the same bytes to every
//! `GET /stream` subscriber.
//!
//!   sse-native --port 9100

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

type Body = BoxBody<Bytes, Infallible>;

struct Hub {
    frames: broadcast::Sender<Bytes>,
    latest: AtomicU64,
}

#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    type_name: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(serde::Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<Event<'a>>,
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

async fn publish(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return text(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let events: Vec<Event<'_>> = match serde_json::from_slice::<Batch<'_>>(&body) {
        Ok(batch) => batch.events,
        Err(_) => match serde_json::from_slice::<Event<'_>>(&body) {
            Ok(one) => vec![one],
            Err(_) => return text(StatusCode::BAD_REQUEST, "not an event"),
        },
    };
    let mut out = String::new();
    for event in &events {
        let id = hub.latest.fetch_add(1, Ordering::Relaxed) + 1;
        out.push_str(&format!(
            "id: {id}\nevent: {}\ndata: {{\"id\":\"{id}\",\"type\":\"{}\",\"data\":{}}}\n\n",
            event.type_name,
            event.type_name,
            event.data.get()
        ));
    }
    // One chunk per batch, shared by every subscriber.
    let _ = hub.frames.send(Bytes::from(out));
    text(StatusCode::ACCEPTED, "{\"ok\":true}")
}

fn subscribe(hub: &Hub) -> Response<Body> {
    let rx = hub.frames.subscribe();
    let opening = stream::once(async { Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"retry: 1000\n:ok\n\n"))) });
    let live = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(bytes) => Some((Ok::<_, Infallible>(Frame::data(bytes)), rx)),
            // A subscriber that fell behind the channel is cut off, like stream.overflow.
            Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    use futures_util::StreamExt;
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(opening.chain(live))));
    r.headers_mut().insert("content-type", "text/event-stream".parse().expect("a valid header value"));
    r
}

fn port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--port"), Some(p)) => p.parse().map_err(|_| format!("--port takes a number, got {p:?}")),
        (None, None) => Ok(9100),
        _ => Err("usage: sse-native [--port PORT]".into()),
    }
}

fn main() {
    let port = port().unwrap_or_else(|e| {
        eprintln!("sse-native: {e}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| {
            eprintln!("sse-native: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        eprintln!("sse-native listening on {addr}");
        let (frames, _) = broadcast::channel(16_384);
        let hub = Arc::new(Hub { frames, latest: AtomicU64::new(0) });
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let hub = hub.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let hub = hub.clone();
                    async move {
                        Ok::<_, Infallible>(match (req.method(), req.uri().path()) {
                            (&Method::GET, "/stream") => subscribe(&hub),
                            (&Method::POST, "/publish") => publish(&hub, req).await,
                            (_, "/healthz") => text(StatusCode::OK, "{\"ok\":true}"),
                            _ => text(StatusCode::NOT_FOUND, "not found"),
                        })
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
