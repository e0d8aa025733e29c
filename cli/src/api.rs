//! The worker's HTTP API as the commands use it (docs/protocol.md 4): one agent, the token in the
//! `Authorization` header, and refusals read into `Failure`s with the server's own message.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::failure::Failure;

pub struct Api {
    agent: Agent,
    base: String,
    token: String,
}

/// A successful answer: its body, and whether it was replayed for an idempotency key.
pub struct Answer {
    pub body: String,
    pub replayed: bool,
}

impl Api {
    pub fn new(base: &str, token: String) -> Api {
        // Statuses are read, not raised: a refusal's body says why.
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api { agent, base: base.trim_end_matches('/').to_string(), token }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn get(&self, path: &str) -> Result<Answer, Failure> {
        answer(self.agent.get(self.url(path)).header("authorization", self.bearer()).call(), &self.base)
    }

    /// `method` (POST or PUT) with a JSON body, and an idempotency key when given.
    pub fn send(&self, method: &str, path: &str, body: &str, key: Option<&str>) -> Result<Answer, Failure> {
        let request = match method {
            "PUT" => self.agent.put(self.url(path)),
            _ => self.agent.post(self.url(path)),
        };
        let mut request = request.header("authorization", self.bearer()).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        answer(request.send(body), &self.base)
    }

    pub fn delete(&self, path: &str) -> Result<Answer, Failure> {
        answer(self.agent.delete(self.url(path)).header("authorization", self.bearer()).call(), &self.base)
    }

    /// Opens the org's stream after `last_event_id` (none: live); the body reads as it arrives.
    pub fn stream(&self, last_event_id: Option<&str>) -> Result<impl Read, Failure> {
        // A stream has no end: no overall time limit for it.
        let mut request = self
            .agent
            .get(self.url("/v1/stream"))
            .config()
            .timeout_global(None)
            .build()
            .header("authorization", self.bearer());
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.call().map_err(|e| unreachable(&self.base, &e))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.into_body().read_to_string().unwrap_or_default();
            return Err(refusal(status, &text));
        }
        Ok(response.into_body().into_reader())
    }
}

fn unreachable(base: &str, e: &ureq::Error) -> Failure {
    Failure::Unavailable(format!(
        "cannot reach the worker at {base} ({e}); is it running (npm run dev), or is --url / ORGSTREAM_URL wrong?"
    ))
}

fn answer(result: Result<Response<Body>, ureq::Error>, base: &str) -> Result<Answer, Failure> {
    let response = result.map_err(|e| unreachable(base, &e))?;
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let body = response.into_body().read_to_string().map_err(|e| unreachable(base, &e))?;
    if (200..300).contains(&status) {
        Ok(Answer { body, replayed })
    } else {
        Err(refusal(status, &body))
    }
}

/// The server's error envelope (`{"error": {"code", "message"}}`, protocol 2) as a `Failure`.
fn refusal(status: u16, body: &str) -> Failure {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    let (code, message) = match serde_json::from_str::<Envelope>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => ("unknown".into(), body.chars().take(300).collect()),
    };
    if status >= 500 {
        return Failure::Unavailable(format!("the worker failed ({status} {code}): {message}"));
    }
    Failure::Refused { status, code, message }
}
