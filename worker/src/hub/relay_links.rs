//! Posting the hub's hand-offs and closes to its relays (the glue around `relays::Links`).
//!
//! Each is a `POST` to the relay object, so both sides can sleep between events. The hub does not
//! wait for the answers in the turn that sends them: each answer is handled when it comes (the
//! relay's confirmed id, the frames it sent), and the next hand-off to that relay goes then.

use std::rc::Rc;

use worker::ObjectNamespace;

use super::relays::{Handoff, HANDOFF_MAX_BYTES, RETRY_MS};
use super::sending::store_soon;
use super::{runtime, Hub};
use crate::hub::metrics::name;
use crate::wire::call;
use crate::wire::relay_api::{
    Census, CloseStreams, DeliverOut, Delivery, Held, RelayAddress, CENSUS_URL, CLOSE_URL, DELIVER_URL, RELAY_BINDING,
};

/// Posts every hand-off and close that is due.
pub fn kick(hub: &Rc<Hub>, relays: &Rc<Option<ObjectNamespace>>) {
    let closing = hub.relays.take_closing();
    let deliveries = hub.relays.next(|after, through, limit| {
        // A relay handed on from the log (it fell behind, or the hub restarted): its next page.
        hub.log.handed_after(after, through, limit as u64, HANDOFF_MAX_BYTES as u64).map_err(|e| {
            worker::console_error!("reading the log for a relay failed ({e}); it restarts its streams");
            e.to_string()
        })
    });
    let censuses = hub.relays.take_censuses();
    if closing.is_empty() && deliveries.is_empty() && censuses.is_empty() {
        return;
    }
    let Some(namespace) = relays.as_ref() else {
        return worker::console_error!(
            "relays are linked but the {RELAY_BINDING} binding is missing; see wrangler.toml"
        );
    };
    for close in closing {
        let namespace = namespace.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = post_close(&namespace, &close).await {
                worker::console_error!("closing replaced streams on relay {} failed: {e}", close.to.relay);
            }
        });
    }
    for to in censuses {
        census(hub, namespace, to);
    }
    for handoff in deliveries {
        let (hub, relays, namespace) = (hub.clone(), relays.clone(), namespace.clone());
        worker::wasm_bindgen_futures::spawn_local(async move {
            let relay = handoff.to.relay;
            let through = handoff.through();
            let answer = post_deliver(&namespace, &handoff).await;
            if let Ok(delivery) = &answer {
                let label = relay.to_string();
                hub.tally.add(name::FRAMES_SENT, "", delivery.sent);
                hub.tally.add(name::RELAY_HANDOFFS, &label, 1);
                hub.tally.add(name::RELAY_WAKEUPS, &label, u64::from(delivery.woke));
                hub.tally.add(name::RELAY_RESTARTS, &label, u64::from(delivery.restarted));
            }
            if let Err(e) = &answer {
                worker::console_error!("handing events to relay {relay} failed ({e}); trying again in {RETRY_MS} ms");
            }
            if let Ok(delivery) = &answer {
                if let Some(held) = delivery.held {
                    census_if_short(&hub, &namespace, &handoff.to, held);
                }
            }
            let failed = hub.relays.answered(relay, through, &answer);
            hub.sent_unstored.set(Some(hub.sent_through()));
            store_soon(&hub);
            if failed {
                let (retry_hub, retry_relays) = (hub.clone(), relays.clone());
                if let Err(e) = runtime::after_ms(RETRY_MS, move || kick(&retry_hub, &retry_relays)) {
                    worker::console_error!("scheduling a hand-off again failed: {e}");
                }
            } else {
                kick(&hub, &relays);
            }
        });
    }
}

/// When a relay holds fewer streams than the hub has recorded for it (they ended without the
/// relay telling: the runtime restarted it), asks it which it holds and forgets the others.
fn census_if_short(hub: &Rc<Hub>, namespace: &ObjectNamespace, to: &RelayAddress, held: u64) {
    let recorded = match hub.relayed.held_by(to.relay) {
        Ok(n) => n,
        Err(e) => return worker::console_error!("counting relay {}'s streams failed: {e}", to.relay),
    };
    if hub.relays.census_due(to.relay, held, recorded, crate::clock::now_ms()) {
        census(hub, namespace, to.clone());
    }
}

/// Asks a relay which streams it holds, and forgets the others.
fn census(hub: &Rc<Hub>, namespace: &ObjectNamespace, to: RelayAddress) {
    let newest = match hub.relayed.newest() {
        Ok(n) => n,
        Err(e) => return worker::console_error!("reading the newest relayed stream failed: {e}"),
    };
    let (hub, namespace) = (hub.clone(), namespace.clone());
    worker::wasm_bindgen_futures::spawn_local(async move {
        let body = match serde_json::to_string(&Census { to: to.clone() }) {
            Ok(body) => body,
            Err(e) => return worker::console_error!("encoding a census failed: {e}"),
        };
        let census = post(&namespace, &to, CENSUS_URL, body)
            .await
            .and_then(|text| serde_json::from_str::<Held>(&text).map_err(|e| e.to_string()));
        match census.map(|held| hub.relayed.forget_missing(to.relay, newest, &held.streams)) {
            Ok(Ok(0)) => {}
            Ok(Ok(forgotten)) => {
                worker::console_log!("relay {} no longer held {forgotten} streams; forgotten", to.relay);
                if hub.relayed.held_by(to.relay).is_ok_and(|n| n == 0) {
                    hub.relays.unlink(to.relay);
                }
                hub.tally.add(name::CONNECTIONS, crate::hub::metrics::Action::Disconnect.label(), forgotten);
                // Counted afresh at the next connect.
                *hub.open.borrow_mut() = None;
                store_soon(&hub);
            }
            Ok(Err(e)) => worker::console_error!("forgetting relay {}'s ended streams failed: {e}", to.relay),
            Err(e) => worker::console_error!("asking relay {} which streams it holds failed: {e}", to.relay),
        }
    });
}

async fn post(namespace: &ObjectNamespace, to: &RelayAddress, url: &str, body: String) -> Result<String, String> {
    let stub = namespace
        .id_from_name(&to.object_name())
        .and_then(|id| id.get_stub())
        .map_err(|e| format!("finding the relay: {e}"))?;
    let response = call::post(stub, url, &body).await?;
    let text = String::from_utf8(call::body(&response).await?).map_err(|e| e.to_string())?;
    match response.status() {
        200..=299 => Ok(text),
        status => Err(format!("status {status}: {text}")),
    }
}

async fn post_deliver(namespace: &ObjectNamespace, handoff: &Handoff) -> Result<Delivery, String> {
    let out = DeliverOut {
        to: &handoff.to,
        after: handoff.after,
        restart: handoff.restart,
        events: handoff.events.iter().map(|e| &**e).collect(),
    };
    let body = serde_json::to_string(&out).map_err(|e| e.to_string())?;
    let text = post(namespace, &handoff.to, DELIVER_URL, body).await?;
    serde_json::from_str(&text).map_err(|e| format!("an answer that does not parse: {e}"))
}

async fn post_close(namespace: &ObjectNamespace, close: &CloseStreams) -> Result<(), String> {
    let body = serde_json::to_string(close).map_err(|e| e.to_string())?;
    post(namespace, &close.to, CLOSE_URL, body).await.map(|_| ())
}
