//! The `$cbs` links a client has open on one connection, followed in the order their frames
//! arrive on the wire: the transport shim reports every attach, detach and end as it reads it,
//! before fe2o3 hands the frame to a session or link task.
//!
//! Why wire order: SDK 0.15 drops its `$cbs` link pair right after each put-token, and fe2o3
//! 0.14 sends their detaches (queued from `Drop`) and the session's end before the next
//! authorization's begin and attach. The service reads a connection's frames in order, so that
//! next attach finds no link open ("one authorization at a time is safe, because the previous
//! link is gone before the next one attaches", the SDK 0.16 fix's description). The emulator's
//! link tasks see a detach only when the runtime schedules them, which under load can be after
//! another session routed the next attach: counting there refused well-ordered authorizations.

use crate::address::{Entity, parse_address};
use crate::server::node_address;
use fe2o3_types::performatives::{Attach, Detach};
use std::collections::{HashMap, VecDeque};

/// Open `$cbs` links by (channel, handle), and the verdicts of attaches not yet routed.
#[derive(Debug, Default)]
pub(crate) struct CbsLinks {
    /// Each open link's role (the client's: `true` when it receives, i.e. the reply link).
    open: HashMap<(u16, u32), bool>,
    /// Per (channel, handle): whether each attach found another link of its role open.
    verdicts: HashMap<(u16, u32), VecDeque<bool>>,
}

impl CbsLinks {
    /// A `$cbs` attach arrived; it overlaps when a link of the same role is open. One that
    /// overlaps is refused, so it never counts as open itself.
    pub fn attached(&mut self, channel: u16, handle: u32, receiving: bool) {
        let overlaps = self.open.values().any(|open| *open == receiving);
        if !overlaps {
            self.open.insert((channel, handle), receiving);
        }
        self.verdicts.entry((channel, handle)).or_default().push_back(overlaps);
    }

    pub fn detached(&mut self, channel: u16, handle: u32) {
        self.open.remove(&(channel, handle));
    }

    /// The session on `channel` ended: its links are gone with it.
    pub fn ended(&mut self, channel: u16) {
        self.open.retain(|(c, _), _| *c != channel);
    }

    /// Whether the `$cbs` attach now being routed found another link of its role open when it
    /// arrived (`false` for one the shim did not see).
    pub fn overlapped(&mut self, channel: u16, handle: u32) -> bool {
        let Some(queue) = self.verdicts.get_mut(&(channel, handle)) else { return false };
        let overlapped = queue.pop_front().unwrap_or(false);
        if queue.is_empty() {
            self.verdicts.remove(&(channel, handle));
        }
        overlapped
    }

    /// Follows one complete incoming frame: attaches to `$cbs`, detaches and ends.
    pub fn observe(&mut self, frame: &[u8]) {
        let (Some(&doff), Some(&frame_type)) = (frame.get(4), frame.get(5)) else { return };
        let doff = doff as usize * 4;
        if frame_type != 0 || doff < 8 || frame.len() < doff + 3 {
            return;
        }
        let channel = u16::from_be_bytes([frame[6], frame[7]]);
        let body = &frame[doff..];
        match body[..3] {
            [0x00, 0x53, 0x12] => {
                if let Ok(attach) = serde_amqp::from_slice::<Attach>(body)
                    && node_address(&attach).as_deref().and_then(parse_address) == Some(Entity::Cbs)
                {
                    self.attached(channel, attach.handle.0, bool::from(attach.role));
                }
            }
            [0x00, 0x53, 0x16] => {
                if let Ok(detach) = serde_amqp::from_slice::<Detach>(body) {
                    self.detached(channel, detach.handle.0);
                }
            }
            [0x00, 0x53, 0x17] => self.ended(channel),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_overlaps_only_while_another_of_its_role_is_open_in_wire_order() {
        let mut links = CbsLinks::default();
        links.attached(1, 0, false);
        links.attached(1, 1, true);
        assert!(!links.overlapped(1, 0) && !links.overlapped(1, 1));
        // A second pair on another session while the first is open: both refused.
        links.attached(2, 0, false);
        links.attached(2, 1, true);
        assert!(links.overlapped(2, 0) && links.overlapped(2, 1));
        // The refused pair's detaches do not free the open one.
        links.detached(2, 0);
        links.attached(3, 0, false);
        assert!(links.overlapped(3, 0));
        // The first pair's detach and its session's end, then the next pair: allowed.
        links.detached(1, 0);
        links.ended(1);
        links.attached(1, 0, false);
        links.attached(1, 1, true);
        assert!(!links.overlapped(1, 0) && !links.overlapped(1, 1));
        assert!(!links.overlapped(9, 9), "an attach the shim did not see is not refused");
    }

    #[test]
    fn frames_are_read_for_attach_detach_and_end() {
        use fe2o3_types::definitions::{Handle, Role};
        use fe2o3_types::messaging::Target;
        use fe2o3_types::performatives::End;
        fn frame(channel: u16, performative: Vec<u8>) -> Vec<u8> {
            let mut f = ((8 + performative.len()) as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&[2, 0]);
            f.extend_from_slice(&channel.to_be_bytes());
            f.extend(performative);
            f
        }
        let attach = |address: &str| Attach {
            name: "rust_amqp_cbs-mgmt-sender".into(),
            handle: Handle(0),
            role: Role::Sender,
            snd_settle_mode: Default::default(),
            rcv_settle_mode: Default::default(),
            source: None,
            target: Some(Box::new(Target::builder().address(address).build().into())),
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: Some(0),
            max_message_size: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let mut links = CbsLinks::default();
        links.observe(&frame(4, serde_amqp::to_vec(&attach("$cbs")).unwrap()));
        links.observe(&frame(5, serde_amqp::to_vec(&attach("$cbs")).unwrap()));
        links.observe(&frame(6, serde_amqp::to_vec(&attach("amqps://ns/hub")).unwrap()));
        assert!(!links.overlapped(4, 0) && links.overlapped(5, 0));
        assert!(!links.overlapped(6, 0), "not a $cbs link");
        let detach = Detach { handle: Handle(0), closed: true, error: None };
        links.observe(&frame(4, serde_amqp::to_vec(&detach).unwrap()));
        links.observe(&frame(7, serde_amqp::to_vec(&attach("$cbs")).unwrap()));
        assert!(!links.overlapped(7, 0), "the detach freed the role");
        links.observe(&frame(7, serde_amqp::to_vec(&End { error: None }).unwrap()));
        links.observe(&frame(8, serde_amqp::to_vec(&attach("$cbs")).unwrap()));
        assert!(!links.overlapped(8, 0), "the end freed the role");
    }
}
