//! May this stream open? Every check a connect goes through, in one place and in this order, and
//! nothing recorded until all of them pass: a refused connect changes nothing (but for the
//! once-a-minute forgetting of unused request ids), and replays of a used ticket cost its owner
//! nothing, not even a connect of its budget.
//!
//! 1. the token's expiry (the front worker checked it; the hub checks at every step),
//! 2. the ticket: not expired, not used before,
//! 3. room: the subject's and the org's open streams (`limits`),
//! 4. the request id: the subject's own, or nobody's (`ownership`),
//! 5. then, recording: the connect rate (which may still refuse, recording nothing else), the
//!    ticket's use, the request id's owner.

use super::limits::{self, Rate};
use super::ownership::{self, Claim};
use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::hub::sockets::SubTag;
use crate::token;
use crate::wire::hub_api::{Connect, UsedTicket};

/// A connect that passed every check, to be recorded.
pub struct Admitted<'a> {
    connect: &'a Connect,
    claim: Option<Claim<'a>>,
    pub sub: SubTag,
}

/// Checks a connect, recording nothing.
pub fn check<'a>(
    hub: &Hub,
    sockets: &RuntimeSockets,
    connect: &'a Connect,
    now: u64,
) -> Result<Admitted<'a>, ApiError> {
    if now >= token::valid_until_ms(connect.exp) {
        return Err(ApiError::unauthorized("token expired; get a new one"));
    }
    if let Some(ticket) = &connect.ticket {
        if now >= ticket.expires_ms {
            return Err(ApiError::unauthorized(UsedTicket::EXPIRED));
        }
        if hub.admission.ticket_used(&ticket.nonce).map_err(internal("reading a ticket's use"))? {
            return Err(ApiError::unauthorized(UsedTicket::USED));
        }
    }
    let sub = SubTag::of(&connect.sub);
    limits::room_for_stream(hub, sockets, &sub, connect.request_id.as_ref())?;
    let claim = match &connect.request_id {
        Some(request_id) => Some(ownership::check(hub, sockets, request_id, &connect.sub, now)?),
        None => None,
    };
    Ok(Admitted { connect, claim, sub })
}

impl Admitted<'_> {
    /// Records the connect: its rate (a refusal here records nothing else), its ticket's use, its
    /// request id's owner.
    pub fn record(&self, hub: &Hub, now: u64) -> Result<(), ApiError> {
        limits::admit(hub, Rate::Connect, &self.connect.sub)?;
        if let Some(ticket) = &self.connect.ticket {
            hub.admission
                .use_ticket(&ticket.nonce, ticket.expires_ms, now)
                .map_err(internal("recording a ticket's use"))?;
        }
        if let Some(claim) = &self.claim {
            ownership::record(hub, claim, now)?;
        }
        Ok(())
    }
}
