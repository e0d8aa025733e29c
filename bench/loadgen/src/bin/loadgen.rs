//! The load generator of `npm run bench`: N subscribers (SSE, or the hub's WebSocket with
//! --hub-socket) and one or more publishers against one server,
//! with one clock for send and receive times. Prints one JSON object with its figures.
//!
//!   loadgen --addr 127.0.0.1:8787 --subscribe '/v1/stream?token=T' --publish /v1/events \
//!           --publish-header 'authorization: Bearer T' --subscribers 1000 --events 1000
//!
//! Options:
//!   --addr HOST:PORT          the server
//!   --subscribe PATH          the SSE path; --subscribe-header 'name: value' (repeatable)
//!   --subscribe-each FILE     one path per line, at least one per subscriber: subscriber i
//!                             opens line i instead of PATH (a token of its own: its own user)
//!   --hub-socket              subscribers open PATH as a WebSocket and read the hub's binary
//!                             messages, standing where orgstream's front workers stand
//!                             (`GET /v1/dev/hub-socket`, dev builds: the hub alone)
//!   --publish PATH            the publish path; --publish-header 'name: value' (repeatable)
//!   --style orgstream|raw     publish bodies: orgstream events (batches as {"events": [...]}),
//!                             or one raw message per request (Nchan: a batch is sent as B requests)
//!   --subscribers N           subscribers to open (default 1)
//!   --connect-concurrency C   at most C of them connecting at once (default 0: all at once)
//!   --events E                events to publish (default 100)
//!   --batch B                 events per publish (default 1)
//!   --rate R                  events per second, open loop: each publish is sent when it is due,
//!                             whether or not earlier ones were answered (default 0: closed loop,
//!                             each publisher sends right after its last answer)
//!   --publishers P            closed loop: P publishers at once, each on its own connection
//!                             (default 1)
//!   --expect K                with --events 0: wait until each subscriber has K events
//!                             (a catch-up: the events were published before)
//!   --hold S                  after connecting, print READY to stderr and hold the
//!                             connections S seconds (memory per connection)
//!   --hold-stdin              the same, holding them until stdin ends (the driver
//!                             closes it once it has measured)
//!   --timeout S               give up waiting for connections, and then for deliveries,
//!                             after S seconds each (default 60)

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use orgstream_bench::hub::frames as hub_frames;
use orgstream_bench::sse::{seq, Splitter};
use orgstream_bench::{cpu_seconds, stats::percentile};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::LocalSet;

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Orgstream,
    Raw,
}

struct Args {
    addr: SocketAddr,
    subscribe: String,
    /// Each subscriber's own path (`--subscribe-each`); `subscribe` when empty.
    subscribe_each: Vec<String>,
    subscribe_headers: Vec<(String, String)>,
    hub_socket: bool,
    publish: String,
    publish_headers: Vec<(String, String)>,
    style: Style,
    subscribers: usize,
    events: usize,
    batch: usize,
    rate: f64,
    publishers: usize,
    expect: usize,
    hold: u64,
    hold_stdin: bool,
    connect_concurrency: usize,
    timeout: u64,
}

fn header(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw.split_once(':').ok_or_else(|| format!("a header is 'name: value', got {raw:?}"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        addr: "127.0.0.1:8787".parse().map_err(|_| "bad default address")?,
        subscribe: "/v1/stream".into(),
        subscribe_each: Vec::new(),
        subscribe_headers: Vec::new(),
        hub_socket: false,
        publish: "/v1/events".into(),
        publish_headers: Vec::new(),
        style: Style::Orgstream,
        subscribers: 1,
        events: 100,
        batch: 1,
        rate: 0.0,
        publishers: 1,
        expect: 0,
        hold: 0,
        hold_stdin: false,
        connect_concurrency: 0,
        timeout: 60,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => a.addr = parser.value()?.parse()?,
            Long("subscribe") => a.subscribe = parser.value()?.string()?,
            Long("subscribe-each") => {
                let file = parser.value()?.string()?;
                let text = std::fs::read_to_string(&file).map_err(|e| format!("--subscribe-each {file}: {e}"))?;
                a.subscribe_each = text.lines().filter(|l| !l.is_empty()).map(String::from).collect();
                if a.subscribe_each.is_empty() {
                    return Err(format!("--subscribe-each {file}: no paths in it").into());
                }
            }
            Long("subscribe-header") => a.subscribe_headers.push(header(&parser.value()?.string()?)?),
            Long("hub-socket") => a.hub_socket = true,
            Long("publish") => a.publish = parser.value()?.string()?,
            Long("publish-header") => a.publish_headers.push(header(&parser.value()?.string()?)?),
            Long("style") => {
                a.style = match parser.value()?.string()?.as_str() {
                    "orgstream" => Style::Orgstream,
                    "raw" => Style::Raw,
                    other => return Err(format!("--style is orgstream or raw, got {other:?}").into()),
                }
            }
            Long("subscribers") => a.subscribers = parser.value()?.parse()?,
            Long("events") => a.events = parser.value()?.parse()?,
            Long("batch") => a.batch = parser.value()?.parse::<usize>()?.max(1),
            Long("rate") => a.rate = parser.value()?.parse()?,
            Long("publishers") => a.publishers = parser.value()?.parse::<usize>()?.max(1),
            Long("expect") => a.expect = parser.value()?.parse()?,
            Long("hold") => a.hold = parser.value()?.parse()?,
            Long("hold-stdin") => a.hold_stdin = true,
            Long("connect-concurrency") => a.connect_concurrency = parser.value()?.parse()?,
            Long("timeout") => a.timeout = parser.value()?.parse()?,
            Long("help") => {
                println!("see the comment at the top of bench/loadgen/src/bin/loadgen.rs");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if !a.subscribe_each.is_empty() && a.subscribe_each.len() < a.subscribers {
        let (paths, subscribers) = (a.subscribe_each.len(), a.subscribers);
        return Err(
            format!("--subscribe-each has {paths} paths for {subscribers} subscribers: give each its own").into()
        );
    }
    Ok(a)
}

/// Settles once stdin reaches its end (or fails): read on a thread of its own, as tokio's
/// current-thread runtime has no stdin of its own.
async fn stdin_ended() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// What every subscriber records, on one clock.
struct Recorder {
    sent: Vec<Option<Instant>>,
    latencies_ms: Vec<f64>,
    per_subscriber: Vec<usize>,
    connected: usize,
    first_sent: Option<Instant>,
    last_received: Option<Instant>,
    failures: Vec<String>,
    /// How long each publish request took to be answered.
    answers_ms: Vec<f64>,
    /// Publish requests sent again on a new connection.
    retries: usize,
}

async fn open(addr: SocketAddr) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Counts the benchmark events in SSE bytes that arrived `now`.
fn received(rec: &RefCell<Recorder>, index: usize, splitter: &mut Splitter, data: &[u8], now: Instant) {
    let mut r = rec.borrow_mut();
    splitter.feed(data, |f| {
        if let Some(s) = seq(f) {
            r.per_subscriber[index] += 1;
            if let Some(Some(sent)) = r.sent.get(s as usize) {
                let ms = now.duration_since(*sent).as_secs_f64() * 1000.0;
                r.latencies_ms.push(ms);
            }
            r.last_received = Some(now);
        }
    });
}

impl Args {
    /// The path subscriber `index` opens (`parse_args` checked there is one for each).
    fn subscribe_path(&self, index: usize) -> &str {
        self.subscribe_each.get(index).unwrap_or(&self.subscribe)
    }
}

/// Let go once a subscriber is connected (or failed): `--connect-concurrency`.
type Opening = tokio::sync::OwnedSemaphorePermit;

async fn subscriber(args: Rc<Args>, index: usize, rec: Rc<RefCell<Recorder>>, opening: Opening) -> Result<(), String> {
    if args.hub_socket {
        return hub_subscriber(args, index, rec, opening).await;
    }
    let stream = TcpStream::connect(args.addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let mut req = Request::get(args.subscribe_path(index))
        .header("host", args.addr.to_string())
        .header("accept", "text/event-stream");
    for (k, v) in &args.subscribe_headers {
        req = req.header(k, v);
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("subscribe answered {}", res.status()));
    }
    rec.borrow_mut().connected += 1;
    drop(opening);
    let mut body = res.into_body();
    let mut splitter = Splitter::default();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else { continue };
        received(&rec, index, &mut splitter, &data, Instant::now());
    }
    Ok(())
}

/// A subscriber where a front worker stands: the hub's stream socket, its binary messages read as
/// the front worker reads them (a header, then SSE frames), nothing written to an SSE client.
async fn hub_subscriber(
    args: Rc<Args>,
    index: usize,
    rec: Rc<RefCell<Recorder>>,
    opening: Opening,
) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let stream = TcpStream::connect(args.addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut req =
        format!("ws://{}{}", args.addr, args.subscribe_path(index)).into_client_request().map_err(|e| e.to_string())?;
    for (k, v) in &args.subscribe_headers {
        let name = hyper::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        req.headers_mut().insert(name, v.parse().map_err(|e: hyper::header::InvalidHeaderValue| e.to_string())?);
    }
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.map_err(|e| format!("hub socket: {e}"))?;
    rec.borrow_mut().connected += 1;
    drop(opening);
    let mut splitter = Splitter::default();
    while let Some(message) = ws.next().await {
        match message.map_err(|e| e.to_string())? {
            Message::Binary(bytes) => {
                let frames = hub_frames(&bytes).ok_or("a message from the hub that is not frames")?;
                received(&rec, index, &mut splitter, frames, Instant::now());
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

fn event(seq: usize) -> String {
    format!(r#"{{"type":"task.progress","data":{{"taskId":"s{seq}","progress":0.5}}}}"#)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle publish connections, reused by whichever publish needs one next.
type Pool = Rc<RefCell<Vec<Sender>>>;

/// Publishes events `seq..seq + n` (one request, or one per event for the raw style), on a
/// connection from the pool (a new one when none is idle).
async fn publish(args: &Args, rec: &RefCell<Recorder>, pool: &Pool, seq: usize, n: usize) -> Result<(), String> {
    let bodies: Vec<String> = match (args.style, n) {
        (Style::Orgstream, 1) => vec![event(seq)],
        (Style::Orgstream, _) => {
            vec![format!(r#"{{"events":[{}]}}"#, (seq..seq + n).map(event).collect::<Vec<_>>().join(","))]
        }
        (Style::Raw, _) => (seq..seq + n).map(event).collect(),
    };
    let per_body = if bodies.len() == 1 { n } else { 1 };
    let idle = pool.borrow_mut().pop();
    let mut sender = match idle {
        Some(sender) => sender,
        None => open(args.addr).await?,
    };
    for (k, body) in bodies.into_iter().enumerate() {
        let first = seq + k * per_body;
        let now = Instant::now();
        {
            let mut r = rec.borrow_mut();
            r.first_sent.get_or_insert(now);
            for s in first..first + per_body {
                if let Some(slot) = r.sent.get_mut(s) {
                    *slot = Some(now);
                }
            }
        }
        // A pooled connection the server closed meanwhile fails the request: send it again on a
        // new connection. orgstream's requests carry an Idempotency-Key, so a retry of one that
        // was stored is stored once.
        let mut attempt = 0;
        let res = loop {
            let mut req = Request::post(&args.publish)
                .header("host", args.addr.to_string())
                .header("content-type", "application/json");
            if args.style == Style::Orgstream {
                req = req.header("idempotency-key", format!("loadgen-{}-{first}", std::process::id()));
            }
            for (k, v) in &args.publish_headers {
                req = req.header(k, v);
            }
            let req = req.body(Full::new(Bytes::from(body.clone()))).map_err(|e| e.to_string())?;
            if sender.ready().await.is_err() {
                sender = open(args.addr).await?;
            }
            match sender.send_request(req).await {
                Ok(res) => break res,
                Err(e) if attempt < 3 && !e.to_string().is_empty() => {
                    attempt += 1;
                    rec.borrow_mut().retries += 1;
                    sender = open(args.addr).await?;
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let status = res.status();
        let _ = res.into_body().collect().await;
        rec.borrow_mut().answers_ms.push(now.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            return Err(format!("publish answered {status}"));
        }
    }
    pool.borrow_mut().push(sender);
    Ok(())
}

/// Sends every event: closed loop (`--publishers` at once, each right after its last answer), or
/// open loop at `--rate` (each publish when it is due, answered or not).
async fn publisher(args: Rc<Args>, rec: Rc<RefCell<Recorder>>) -> Result<(), String> {
    let pool: Pool = Rc::new(RefCell::new(Vec::new()));
    let units: Vec<(usize, usize)> =
        (0..args.events).step_by(args.batch).map(|seq| (seq, args.batch.min(args.events - seq))).collect();
    let mut tasks = Vec::new();
    if args.rate > 0.0 {
        let started = Instant::now();
        for (seq, n) in units {
            let due = started + Duration::from_secs_f64(seq as f64 / args.rate);
            tokio::time::sleep_until(due.into()).await;
            let (args, rec, pool) = (args.clone(), rec.clone(), pool.clone());
            tasks.push(tokio::task::spawn_local(async move { publish(&args, &rec, &pool, seq, n).await }));
        }
    } else {
        let queue = Rc::new(RefCell::new(units.into_iter()));
        for _ in 0..args.publishers {
            let (args, rec, pool, queue) = (args.clone(), rec.clone(), pool.clone(), queue.clone());
            tasks.push(tokio::task::spawn_local(async move {
                loop {
                    let next = queue.borrow_mut().next();
                    let Some((seq, n)) = next else { return Ok(()) };
                    publish(&args, &rec, &pool, seq, n).await?;
                }
            }));
        }
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

#[derive(Serialize)]
struct Report {
    subscribers: usize,
    connected: usize,
    events: usize,
    batch: usize,
    rate: f64,
    publishers: usize,
    /// How long publish requests took to be answered.
    publish_answer_ms: Latency,
    /// Publish requests sent again on a new connection (the server had closed a pooled one).
    publish_retries: usize,
    expected_frames: usize,
    delivered_frames: usize,
    subscribers_missing_events: usize,
    connect_seconds: f64,
    duration_seconds: f64,
    frames_per_second: f64,
    latency_ms: Latency,
    /// Latency percentiles 1..=100, for a CDF.
    latency_cdf_ms: Vec<f64>,
    loadgen_cpu_seconds: f64,
    failures: Vec<String>,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

async fn run(args: Args) -> Report {
    let args = Rc::new(args);
    let per = if args.events > 0 { args.events } else { args.expect };
    let rec = Rc::new(RefCell::new(Recorder {
        sent: vec![None; args.events],
        latencies_ms: Vec::with_capacity(args.subscribers * args.events),
        per_subscriber: vec![0; args.subscribers],
        connected: 0,
        first_sent: None,
        last_received: None,
        failures: Vec::new(),
        answers_ms: Vec::new(),
        retries: 0,
    }));
    let connect_started = Instant::now();
    let openings = match args.connect_concurrency {
        0 => tokio::sync::Semaphore::MAX_PERMITS,
        c => c,
    };
    let openings = Arc::new(tokio::sync::Semaphore::new(openings));
    for i in 0..args.subscribers {
        let (args, rec, openings) = (args.clone(), rec.clone(), openings.clone());
        tokio::task::spawn_local(async move {
            let Ok(opening) = openings.acquire_owned().await else { return };
            if let Err(e) = subscriber(args, i, rec.clone(), opening).await {
                rec.borrow_mut().failures.push(e);
            }
        });
    }
    // Wait until every subscriber is connected (or failed).
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while {
        let r = rec.borrow();
        r.connected + r.failures.len() < args.subscribers
    } && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    if args.hold_stdin {
        eprintln!("READY {}", rec.borrow().connected);
        stdin_ended().await;
    } else if args.hold > 0 {
        eprintln!("READY {}", rec.borrow().connected);
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
    }
    // A catch-up has no publisher: time from connecting.
    if args.events == 0 {
        rec.borrow_mut().first_sent = Some(connect_started);
    }
    if let Err(e) = publisher(args.clone(), rec.clone()).await {
        rec.borrow_mut().failures.push(e);
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while rec.borrow().per_subscriber.iter().any(|&n| n < per)
        && Instant::now() < deadline
        && rec.borrow().failures.is_empty()
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut r = rec.borrow_mut();
    let delivered: usize = r.per_subscriber.iter().sum();
    let duration = match (r.first_sent, r.last_received) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    r.latencies_ms.sort_by(f64::total_cmp);
    r.answers_ms.sort_by(f64::total_cmp);
    let answers = &r.answers_ms;
    let publish_answer_ms = Latency {
        p50: percentile(answers, 50.0),
        p99: percentile(answers, 99.0),
        max: answers.last().copied().unwrap_or(0.0),
    };
    let lat = &r.latencies_ms;
    Report {
        subscribers: args.subscribers,
        connected: r.connected,
        events: args.events,
        batch: args.batch,
        rate: args.rate,
        publishers: if args.rate > 0.0 { 0 } else { args.publishers },
        publish_answer_ms,
        publish_retries: r.retries,
        expected_frames: per * args.subscribers,
        delivered_frames: delivered,
        subscribers_missing_events: r.per_subscriber.iter().filter(|&&n| n < per).count(),
        connect_seconds,
        duration_seconds: duration,
        frames_per_second: if duration > 0.0 { delivered as f64 / duration } else { 0.0 },
        latency_ms: Latency {
            p50: percentile(lat, 50.0),
            p99: percentile(lat, 99.0),
            max: lat.last().copied().unwrap_or(0.0),
        },
        latency_cdf_ms: (1..=100).map(|p| percentile(lat, p as f64)).collect(),
        loadgen_cpu_seconds: cpu_seconds(),
        failures: r.failures.iter().take(5).cloned().collect(),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}; see --help");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let report = LocalSet::new().block_on(&runtime, run(args));
    match serde_json::to_string(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}
