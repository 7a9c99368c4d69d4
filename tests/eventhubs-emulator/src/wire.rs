//! A transport shim between the socket and fe2o3. Writes: it puts the max message size into
//! the server's outgoing attach frames and sends every performative full length (see
//! `wire_pad`). Reads: see `wire_in` (repairs oversize sends, makes room for the padding).
//!
//! Why the write half: fe2o3 0.18 enforces the `max-message-size` it advertises by closing the link and then
//! waiting for the peer's detach, while the SDK's fe2o3 0.14 client, busy awaiting the
//! disposition of its oversize send, never answers: both sides hang. Azure instead rejects the
//! delivery with `amqp:link:message-size-exceeded`. So publishing links are accepted without a
//! limit (fe2o3 then enforces nothing), this shim advertises the limit on the wire (the SDK
//! sizes batches by it and refuses to batch at 0), and `publish` rejects oversize deliveries.

use crate::cbs_links::CbsLinks;
use crate::wire_in::IncomingFrames;
use fe2o3_types::definitions::Role;
use fe2o3_types::performatives::Attach;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Frames up to this size are buffered whole so attach frames can be inspected.
const INSPECT_LIMIT: usize = 64 * 1024;

/// Wraps the server side of a connection.
#[derive(Debug)]
pub(crate) struct WireShim<S> {
    inner: S,
    incoming: IncomingFrames,
    limit: u64,
    /// Written by fe2o3, not yet framed.
    pending: Vec<u8>,
    /// Bytes of the current frame to copy without inspection.
    passthrough: usize,
    /// Framed bytes ready for the socket.
    out: Vec<u8>,
}

impl<S> WireShim<S> {
    /// `cbs_links` follows the connection's `$cbs` links in wire order.
    pub fn new(inner: S, limit: u64, cbs_links: Arc<Mutex<CbsLinks>>) -> Self {
        let incoming = IncomingFrames::new(cbs_links);
        Self { inner, incoming, limit, pending: Vec::new(), passthrough: 0, out: Vec::new() }
    }

    /// Moves complete frames from `pending` to `out`, rewriting receiver attaches.
    fn frame(&mut self, flushing: bool) {
        loop {
            if self.passthrough > 0 {
                let n = self.passthrough.min(self.pending.len());
                self.out.extend(self.pending.drain(..n));
                self.passthrough -= n;
                if self.pending.is_empty() {
                    return;
                }
                continue;
            }
            if self.pending.len() < 8 {
                if flushing && !self.pending.is_empty() && !self.pending.starts_with(b"AMQP") {
                    self.out.append(&mut self.pending);
                }
                return;
            }
            if self.pending.starts_with(b"AMQP") {
                // Protocol header (AMQP or SASL layer), not a frame.
                self.out.extend(self.pending.drain(..8));
                continue;
            }
            let size = u32::from_be_bytes(self.pending[..4].try_into().unwrap()) as usize;
            if !(8..=INSPECT_LIMIT).contains(&size) {
                self.passthrough = size.max(8);
                continue;
            }
            if self.pending.len() < size {
                if flushing {
                    // fe2o3 writes whole frames; should it ever flush mid-frame, keep framing
                    // in sync by letting this one through uninspected.
                    self.passthrough = size;
                    continue;
                }
                return;
            }
            let frame: Vec<u8> = self.pending.drain(..size).collect();
            let frame = rewrite(&frame, self.limit).unwrap_or(frame);
            match crate::wire_pad::pad(&frame) {
                Some(padded) => self.out.extend(padded),
                None => self.out.extend(frame),
            }
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

/// Returns the frame with `max-message-size` set when it is an AMQP attach sent by the server
/// as receiver without a limit; `None` leaves the frame unchanged.
fn rewrite(frame: &[u8], limit: u64) -> Option<Vec<u8>> {
    let (doff, frame_type) = (frame[4] as usize * 4, frame[5]);
    // Type 0 = AMQP frame; an attach body starts with described(smallulong 0x12).
    if frame_type != 0 || doff < 8 || frame.get(doff..doff + 3) != Some(&[0x00, 0x53, 0x12]) {
        return None;
    }
    let mut attach: Attach = serde_amqp::from_slice(&frame[doff..]).ok()?;
    if attach.role != Role::Receiver || attach.max_message_size.is_some() {
        return None;
    }
    attach.max_message_size = Some(limit);
    let body = serde_amqp::to_vec(&attach).ok()?;
    let mut out = Vec::with_capacity(doff + body.len());
    out.extend_from_slice(&((doff + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&frame[4..doff]);
    out.extend_from_slice(&body);
    Some(out)
}

impl<S: AsyncRead + Unpin> AsyncRead for WireShim<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.incoming.ready.is_empty() {
                let n = buf.remaining().min(this.incoming.ready.len());
                buf.put_slice(&this.incoming.ready[..n]);
                this.incoming.ready.drain(..n);
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let eof = read.filled().is_empty();
            this.incoming.raw.extend_from_slice(read.filled());
            this.incoming.process(eof);
            if eof && this.incoming.ready.is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WireShim<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // Backpressure: accept new bytes only once earlier ones reached the socket.
        ready!(self.poll_drain(cx))?;
        self.pending.extend_from_slice(buf);
        self.frame(false);
        // Start writing right away; completion is reported by flush.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frame(true);
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frame(true);
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_types::definitions::{ReceiverSettleMode, SenderSettleMode};

    fn attach_frame(role: Role) -> Vec<u8> {
        let attach = Attach {
            name: "l".into(),
            handle: 0.into(),
            role,
            snd_settle_mode: SenderSettleMode::Mixed,
            rcv_settle_mode: ReceiverSettleMode::First,
            source: None,
            target: None,
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: None,
            max_message_size: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let body = serde_amqp::to_vec(&attach).unwrap();
        let mut frame = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 0, 0, 1]);
        frame.extend(body);
        frame
    }

    #[test]
    fn rewrites_only_receiver_attaches() {
        let rewritten = rewrite(&attach_frame(Role::Receiver), 1024).unwrap();
        assert_eq!(u32::from_be_bytes(rewritten[..4].try_into().unwrap()) as usize, rewritten.len());
        assert_eq!(&rewritten[4..8], &[2, 0, 0, 1]);
        let attach: Attach = serde_amqp::from_slice(&rewritten[8..]).unwrap();
        assert_eq!(attach.max_message_size, Some(1024));
        assert!(rewrite(&attach_frame(Role::Sender), 1024).is_none());
    }

    #[test]
    fn frames_split_across_writes_are_reassembled() {
        let mut shim = WireShim::new(Vec::<u8>::new(), 7, Arc::default());
        let mut bytes = b"AMQP\x00\x01\x00\x00".to_vec();
        bytes.extend(attach_frame(Role::Receiver));
        for chunk in bytes.chunks(5) {
            shim.pending.extend_from_slice(chunk);
            shim.frame(false);
        }
        shim.frame(true);
        let attach: Attach = serde_amqp::from_slice(&shim.out[16..]).unwrap();
        assert_eq!(attach.max_message_size, Some(7));
    }
}
