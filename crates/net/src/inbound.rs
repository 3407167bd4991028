//! Inbound Bitswap streams, buffered.
//!
//! Kubo and Helia send each Bitswap response on a new stream, so a fetch of N blocks arrives as
//! a burst of up to N streams. `libp2p-stream` hands inbound streams over through a channel
//! without a buffer and drops whatever arrives while the application is busy, which turned
//! into lost blocks (measured: Kubo sent 114 blocks for 114 wants, ~30% never reached us).
//! This behaviour accepts the Bitswap protocols itself and queues negotiated streams in a
//! bounded channel large enough for any honest burst; beyond it a stream is dropped (and the
//! want is re-sent by the client), so a hostile peer cannot make the queue grow without bound.

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{DeniedUpgrade, InboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Inbound streams waiting for the application.
pub const INBOUND_QUEUE: usize = 4096;

/// An inbound stream and who opened it.
pub type Inbound = (PeerId, Stream, StreamProtocol);

/// Accepts the given protocols on every connection and queues the streams.
pub struct Behaviour {
    protocols: Vec<StreamProtocol>,
    queue: mpsc::Sender<Inbound>,
}

impl Behaviour {
    /// The behaviour and the receiving end of its queue.
    pub fn new(protocols: Vec<StreamProtocol>) -> (Self, mpsc::Receiver<Inbound>) {
        let (queue, rx) = mpsc::channel(INBOUND_QUEUE);
        (Self { protocols, queue }, rx)
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            protocols: self.protocols.clone(),
            queue: self.queue.clone(),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Per-connection handler: advertises the protocols and forwards negotiated streams.
pub struct Handler {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    queue: mpsc::Sender<Inbound>,
}

/// Negotiates one of several protocols and yields the raw stream.
pub struct Accept(Vec<StreamProtocol>);

impl UpgradeInfo for Accept {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Accept {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        std::future::ready(Ok((stream, protocol)))
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Accept;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Accept> {
        SubstreamProtocol::new(Accept(self.protocols.clone()), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Accept, DeniedUpgrade>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, protocol),
            ..
        }) = event
        {
            // Full queue: drop the stream; the sender's client re-sends unanswered wants.
            if self.queue.try_send((self.peer, stream, protocol)).is_err() {
                tracing::debug!(
                    target: "crust::bitswap",
                    "inbound queue full, dropping a stream from {}",
                    self.peer
                );
            }
        }
    }
}
