//! A fan-out: the sends that carry queued events to every stream they are for, planned at once
//! and made a slice at a time.
//!
//! One message per stream per batch, frames in id order. Broadcast frames are encoded into one
//! message shared by every stream; only a stream that has targeted frames in the batch gets a
//! message of its own. The plan is made when the batch is taken (the streams open then), and a
//! stream's messages are planned in batch order, so sending the plan in slices keeps every
//! stream's order. The hub sends a slice per turn (`outbox`), so a publish that arrives meanwhile
//! is appended and answered between two slices instead of waiting for every send.
//!
//! Pure: over `Sockets`, tested on the host.

use std::collections::VecDeque;

use crate::hub::log::Appended;
use crate::hub::request_owner;
use crate::hub::sockets::{request_tag, Sockets, SubTag, STREAM_TAG};
use crate::wire::frame::Frame;
use crate::wire::frames::Frames;

/// The frames of one message, in id order (each frame shared, not copied).
type Parts = Vec<(u64, Frame)>;

/// What one planned send carries.
enum Body {
    /// The broadcast message of a batch (`FanOut::shared`), the same for every stream.
    Shared(usize),
    /// A stream's own message: a batch with frames targeted at it.
    Own(Parts),
}

/// One planned send: a socket, and what it gets.
struct Send<Socket> {
    socket: Socket,
    body: Body,
    frames: u64,
}

/// A broadcast message: its frames, encoded for the runtime when its first send is made and
/// dropped once a later batch's sends begin.
struct Shared<Message> {
    parts: Parts,
    message: Option<Message>,
}

/// The sends planned and not made yet. Messages are encoded when sent, not when planned: a
/// planned send holds the frames (shared with the queue that had them), so a fan-out under way
/// holds no more than the events it carries, plus one encoded broadcast message.
pub struct FanOut<S: Sockets> {
    shared: Vec<Shared<S::Message>>,
    /// The broadcast messages before this one are sent to every stream, and dropped.
    shared_from: usize,
    sends: VecDeque<Send<S::Socket>>,
}

impl<S: Sockets> Default for FanOut<S> {
    fn default() -> Self {
        FanOut { shared: Vec::new(), shared_from: 0, sends: VecDeque::new() }
    }
}

impl<S: Sockets> FanOut<S> {
    /// Plans the sends of one batch (after any planned before: a stream gets them in order).
    pub fn plan(&mut self, sockets: &S, batch: &[Appended]) {
        let broadcast: Parts = batch.iter().filter(|o| o.target.is_none()).map(|o| (o.id, o.frame.clone())).collect();
        let mut targets: Vec<_> = batch.iter().filter_map(|o| o.target.as_ref().map(|t| &t.request_id)).collect();
        targets.sort();
        targets.dedup();
        // The subject each targeted frame names, as sockets are tagged.
        let named: Vec<Option<SubTag>> =
            batch.iter().map(|o| o.target.as_ref().and_then(|t| t.sub.as_deref()).map(SubTag::of)).collect();

        for target in &targets {
            for socket in sockets.tagged(&request_tag(target)) {
                let Some(owner) = SubTag::among(&sockets.tags_of(&socket)) else { continue };
                let parts: Parts = batch
                    .iter()
                    .zip(&named)
                    .filter(|(o, named)| match &o.target {
                        None => true,
                        Some(t) => &t.request_id == *target && request_owner::may_see(named.as_ref(), &owner),
                    })
                    .map(|(o, _)| (o.id, o.frame.clone()))
                    .collect();
                if parts.is_empty() {
                    continue;
                }
                let frames = parts.len() as u64;
                self.sends.push_back(Send { socket, body: Body::Own(parts), frames });
            }
        }
        if broadcast.is_empty() {
            return;
        }
        let served: Vec<String> = targets.iter().map(|t| request_tag(t)).collect();
        let frames = broadcast.len() as u64;
        self.shared.push(Shared { parts: broadcast, message: None });
        let shared = self.shared.len() - 1;
        for socket in sockets.tagged(STREAM_TAG) {
            // Only when the batch has targets: a stream of a target has its own message.
            if !served.is_empty() && sockets.tags_of(&socket).iter().any(|t| served.contains(t)) {
                continue;
            }
            self.sends.push_back(Send { socket, body: Body::Shared(shared), frames });
        }
    }

    /// Makes at most `at_most` of the planned sends, in order; the frames sent (a stream that
    /// closed meanwhile takes none).
    pub fn send(&mut self, sockets: &S, at_most: usize) -> u64 {
        let mut sent = 0;
        for _ in 0..at_most {
            let Some(send) = self.sends.pop_front() else { break };
            let delivered = match send.body {
                Body::Own(parts) => sockets.send(&send.socket, &sockets.message(encode(&parts))),
                Body::Shared(index) => self.send_shared(sockets, &send.socket, index),
            };
            if delivered {
                sent += send.frames;
            }
        }
        if self.sends.is_empty() {
            self.shared.clear();
            self.shared_from = 0;
        }
        sent
    }

    /// Sends broadcast message `index`, encoded at its first send; the ones before it are done.
    fn send_shared(&mut self, sockets: &S, socket: &S::Socket, index: usize) -> bool {
        while self.shared_from < index {
            if let Some(done) = self.shared.get_mut(self.shared_from) {
                *done = Shared { parts: Vec::new(), message: None };
            }
            self.shared_from += 1;
        }
        let Some(shared) = self.shared.get_mut(index) else { return false };
        let message = shared.message.get_or_insert_with(|| sockets.message(encode(&shared.parts)));
        sockets.send(socket, message)
    }

    /// Sends planned and not made yet.
    pub fn len(&self) -> usize {
        self.sends.len()
    }

    /// Every planned send is made.
    pub fn is_done(&self) -> bool {
        self.sends.is_empty()
    }
}

/// The live message of `parts`.
fn encode(parts: &Parts) -> Vec<u8> {
    let parts: Vec<(u64, &[u8])> = parts.iter().map(|(id, frame)| (*id, frame.as_bytes())).collect();
    Frames::encode_live(&parts)
}

/// Sends a batch to every stream it is meant for, at once; the frames sent (the tests' shorthand).
#[cfg(test)]
pub fn fan_out<S: Sockets>(sockets: &S, batch: &[Appended]) -> u64 {
    let mut plan = FanOut::default();
    plan.plan(sockets, batch);
    plan.send(sockets, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::probes::Runtime;
    use crate::hub::sockets::Targeted;
    use schema_wasm::RequestId;

    fn to(request_id: &str) -> Option<Targeted> {
        Some(Targeted { request_id: RequestId::parse(request_id).unwrap(), sub: None })
    }

    /// Event `id`, for everyone (`None`) or for `target`.
    fn event(id: u64, target: Option<Targeted>) -> Appended {
        Appended::new(id, 0, "t", "{}".to_string(), target)
    }

    #[test]
    fn a_broadcast_batch_is_one_shared_message_to_every_stream() {
        let rt = Runtime::default();
        let (a, b) = (rt.accept(None), rt.accept(Some("tab")));
        let batch: Vec<Appended> = (1..=3).map(|id| event(id, None)).collect();
        assert_eq!(fan_out(&rt, &batch), 6);
        assert_eq!((a.got.borrow().len(), b.got.borrow().len()), (1, 1), "one message each");
        assert_eq!(a.got.borrow()[0], b.got.borrow()[0], "the same bytes");
        assert_eq!(a.event_ids(), vec![1, 2, 3]);
    }

    #[test]
    fn targeted_frames_reach_only_their_request_id_and_keep_their_place_in_the_batch() {
        let rt = Runtime::default();
        let (all, one, two) = (rt.accept(None), rt.accept(Some("one")), rt.accept(Some("two")));
        let batch = [event(1, None), event(2, to("two")), event(3, None), event(4, to("one"))];
        fan_out(&rt, &batch);
        assert_eq!(all.event_ids(), vec![1, 3]);
        assert_eq!(one.event_ids(), vec![1, 3, 4]);
        assert_eq!(two.event_ids(), vec![1, 2, 3]);
        assert_eq!(two.got.borrow().len(), 1, "one message per stream, also with targets");
    }

    #[test]
    fn a_targeted_frame_alone_sends_nothing_to_the_others() {
        let rt = Runtime::default();
        let (all, mine) = (rt.accept(None), rt.accept(Some("mine")));
        assert_eq!(fan_out(&rt, &[event(1, to("mine"))]), 1);
        assert!(all.got.borrow().is_empty());
        assert_eq!(mine.event_ids(), vec![1]);
    }

    #[test]
    fn a_plan_sent_in_slices_reaches_every_stream_once_in_order() {
        let rt = Runtime::default();
        let streams: Vec<_> = (0..5).map(|_| rt.accept(None)).collect();
        let mine = rt.accept(Some("mine"));
        let mut plan = FanOut::default();
        plan.plan(&rt, &[event(1, None), event(2, to("mine"))]);
        plan.plan(&rt, &[event(3, None)]);
        // 6 sends for the first batch (mine has its own), 6 for the second.
        assert_eq!(plan.send(&rt, 4), 4 + 1);
        assert!(!plan.is_done());
        assert_eq!(streams[0].event_ids(), vec![1], "the first slice went to the first streams");
        assert!(streams[4].event_ids().is_empty(), "the rest wait for the next slice");
        assert_eq!(plan.send(&rt, 4), 4);
        assert_eq!(plan.send(&rt, 4), 4);
        assert!(plan.is_done());
        assert_eq!(plan.send(&rt, 4), 0, "nothing left");
        for stream in &streams {
            assert_eq!(stream.event_ids(), vec![1, 3]);
        }
        assert_eq!(mine.event_ids(), vec![1, 2, 3]);
    }

    #[test]
    fn a_stream_that_closes_before_its_slice_is_not_counted() {
        let rt = Runtime::default();
        let (a, b) = (rt.accept(None), rt.accept(None));
        let mut plan = FanOut::default();
        plan.plan(&rt, &[event(1, None)]);
        assert_eq!(plan.send(&rt, 1), 1);
        b.close(crate::wire::hub_api::CloseCode::ClientLeft);
        assert_eq!(plan.send(&rt, 1), 0);
        assert_eq!((a.event_ids(), b.event_ids()), (vec![1], vec![]));
    }
}
