//! `orgstream`: the worker from a terminal. Mint a token, publish (checked against the catalog
//! here first), follow an org's stream, read its history, set or clear the pending version, read
//! its metrics. `orgstream <command> --help` says more of each.
//!
//! Exit codes: 0 done; 2 a usage or setup problem (no secret, a bad flag); 3 the server refused
//! (4xx, its message printed); 4 the worker is unreachable or failed (5xx); 65 an event does not
//! fit the catalog (nothing was sent).

mod api;
mod auth;
mod failure;
mod publish;
mod tail;

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use api::Api;
use auth::{mint, parse_ttl, Minting};
use failure::{emit, Failure};

fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

#[derive(Parser)]
#[command(
    name = "orgstream",
    version,
    about = "orgstream from a terminal: tokens, publishing, tailing an org's stream, history, versions, metrics."
)]
struct Cli {
    #[command(flatten)]
    who: Who,
    #[command(subcommand)]
    command: Command,
}

/// Where the worker is and who is asking. Without --token, a token is minted with TOKEN_SECRET (or
/// the nearest .dev.vars) for --org and --sub, with the scope the command needs.
#[derive(Args)]
struct Who {
    /// The worker's address.
    #[arg(long, global = true, env = "ORGSTREAM_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// A token to send instead of minting one.
    #[arg(long, global = true, env = "ORGSTREAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The org (a minted token's `org`).
    #[arg(long, global = true, default_value = "dev")]
    org: String,
    /// The subject (a minted token's `sub`).
    #[arg(long, global = true, default_value = "orgstream-cli")]
    sub: String,
}

#[derive(Subcommand)]
enum Command {
    /// Print a token signed with TOKEN_SECRET (or the one in the nearest .dev.vars).
    Token {
        /// Space-separated scopes: subscribe, publish, metrics.
        #[arg(long, default_value = "subscribe publish")]
        scope: String,
        /// Lifetime: a number and s, m, h or d.
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: u64,
    },
    /// Publish one event or a batch, checked against the catalog before it is sent.
    ///
    /// The body is a file (or - for standard input) holding one event {"type","data","target"?}
    /// or {"events": [...]} of up to 100; or --type and --data for one event.
    Publish {
        /// The body's file, or - for standard input.
        file: Option<String>,
        /// The event's type (with --data).
        #[arg(long = "type", requires = "data", conflicts_with = "file")]
        type_name: Option<String>,
        /// The event's data, as JSON (with --type).
        #[arg(long, requires = "type_name")]
        data: Option<String>,
        /// Send with this Idempotency-Key: a retry with the same key and body is stored once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Follow the org's stream, printing each event (resumes by id after every drop).
    Tail {
        /// Start after this event id (else live).
        #[arg(long)]
        since: Option<String>,
        /// Print each event's envelope as JSON, one per line.
        #[arg(long)]
        json: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Print the org's history, oldest first (or newest first with --desc).
    History {
        /// Events after this id.
        #[arg(long, conflicts_with = "desc")]
        after: Option<String>,
        /// At most this many events (1..1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only events of this type.
        #[arg(long = "type")]
        type_name: Option<String>,
        /// Newest first.
        #[arg(long)]
        desc: bool,
        /// With --desc: events before this id.
        #[arg(long, requires = "desc")]
        before: Option<String>,
        /// Print each event's envelope as JSON, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Set or clear the pending "new version available" notice.
    Versions {
        #[command(subcommand)]
        action: Versions,
    },
    /// Print the org's Prometheus metrics.
    Metrics,
}

#[derive(Subcommand)]
enum Versions {
    /// Publish version.available and keep it for every later connect.
    Set {
        version: String,
        #[arg(long)]
        changelog: Option<String>,
        /// For this request id only.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Clear the pending version (of the org, or of one request id).
    Clear {
        #[arg(long)]
        request_id: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("orgstream: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A client for the worker with `scope`: --token, or a token minted for it.
fn client(who: &Who, scope: &str) -> Result<Api, Failure> {
    let token = match &who.token {
        Some(token) => token.clone(),
        None => mint(&minting(who, scope, 3600), &auth::secret(is_local(&who.url))?)?,
    };
    Ok(Api::new(&who.url, token))
}

/// Whether `url` is a worker on this machine (whose secret a `.dev.vars` may hold).
fn is_local(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', '?']).next().unwrap_or("");
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn minting(who: &Who, scope: &str, ttl_seconds: u64) -> Minting {
    Minting { org: who.org.clone(), sub: who.sub.clone(), scope: scope.to_string(), ttl_seconds }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let who = &cli.who;
    match cli.command {
        Command::Token { scope, ttl } => {
            emit(&mut stdout(), &mint(&minting(who, &scope, ttl), &auth::secret(is_local(&who.url))?)?)?;
        }
        Command::Publish { file, type_name, data, idempotency_key } => {
            let body = match (file, type_name, data) {
                (_, Some(type_name), Some(data)) => publish::one_event(&type_name, &data)?,
                (Some(path), _, _) => read_body(&path)?,
                _ => return Err(Failure::Usage("give a file (or - for standard input), or --type and --data".into())),
            };
            let events = publish::check(&body)?;
            let answer = client(who, "publish")?.send("POST", "/v1/events", &body, idempotency_key.as_deref())?;
            let note = if answer.replayed { " (answered before: stored once)" } else { "" };
            eprintln!("orgstream: published {events} event{}{note}", if events == 1 { "" } else { "s" });
            emit(&mut stdout(), &answer.body)?;
        }
        Command::Tail { since, json, count } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            tail::follow(&|| client(who, "subscribe"), &tail::Tail { since, json, count }, &mut out)?;
        }
        Command::History { after, limit, type_name, desc, before, json } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(after) = after {
                query.push(("after", after));
            }
            if desc {
                query.push(("order", "desc".into()));
            }
            if let Some(before) = before {
                query.push(("before", before));
            }
            if let Some(t) = type_name {
                query.push(("type", t));
            }
            let answer = client(who, "subscribe")?.get(&format!("/v1/events?{}", encode(&query)))?;
            print_history(&answer.body, json, desc)?;
        }
        Command::Versions { action } => {
            let api = client(who, "publish")?;
            let answer = match action {
                Versions::Set { version, changelog, request_id } => {
                    let mut body = serde_json::json!({ "version": version });
                    if let Some(c) = changelog {
                        body["changelog"] = c.into();
                    }
                    if let Some(r) = request_id {
                        body["target"] = serde_json::json!({ "requestId": r });
                    }
                    api.send("PUT", "/v1/versions", &body.to_string(), None)?
                }
                Versions::Clear { request_id } => match request_id {
                    Some(r) => api.delete(&format!("/v1/versions?{}", encode(&[("requestId", r)])))?,
                    None => api.delete("/v1/versions")?,
                },
            };
            emit(&mut stdout(), &answer.body)?;
        }
        Command::Metrics => emit(&mut stdout(), client(who, "metrics")?.get("/v1/metrics")?.body.trim_end())?,
    }
    Ok(())
}

fn read_body(path: &str) -> Result<String, Failure> {
    let mut body = String::new();
    let read = if path == "-" {
        std::io::stdin().read_to_string(&mut body).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|text| body = text)
    };
    read.map_err(|e| Failure::Usage(format!("cannot read {path}: {e}")))?;
    Ok(body)
}

/// A query string (`application/x-www-form-urlencoded`).
fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Prints a history page: one line per event, then where it stands on stderr.
fn print_history(body: &str, json: bool, desc: bool) -> Result<(), Failure> {
    let page: schema_wasm::HistoryPage<Box<serde_json::value::RawValue>> = serde_json::from_str(body)
        .map_err(|e| Failure::Unavailable(format!("the worker's answer is not a history page: {e}")))?;
    let mut out = stdout();
    for event in &page.events {
        let text = event.get();
        emit(&mut out, &if json { text.to_string() } else { tail::summary(text) })?;
    }
    eprintln!(
        "orgstream: {} event{}; the log holds {}..{}{}{}",
        page.events.len(),
        if page.events.len() == 1 { "" } else { "s" },
        page.earliest_id.as_deref().unwrap_or("-"),
        page.latest_id.as_deref().unwrap_or("-"),
        match (page.has_more, desc) {
            (false, _) => "",
            (true, false) => "; more: --after <the last id>",
            (true, true) => "; older: --before <the last id>",
        },
        if page.gap { "; a gap: events after --after are no longer kept" } else { "" },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn only_a_worker_on_this_machine_is_local() {
        for url in ["http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:8787", "http://127.0.0.1"] {
            assert!(is_local(url), "{url}");
        }
        for url in ["https://events.example.com", "http://127.0.0.1.example.com:8787", "http://10.0.0.5:8787"] {
            assert!(!is_local(url), "{url}");
        }
    }
}
