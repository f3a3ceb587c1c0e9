//! The bridge as a member of the cores' mesh (`ringwire_net::stream::mesh_with_bridge`).

use super::{Bridge, BridgeConfig, Cores, Interest, Message, Outbox, Port};
use ringwire_net::stream::{BridgeCores, BridgeOutbox, BridgeSeed};
use std::{future::Future, io};

impl Outbox for BridgeOutbox {
    async fn recv(&self) -> Option<Message> {
        let out = BridgeOutbox::recv(self).await?;
        Some(Message {
            channel: out.channel,
            payload: out.payload,
            traceparent: out.traceparent,
        })
    }
}

impl Cores for BridgeCores {
    async fn interest(&self) -> Option<Interest> {
        let (channel, core, on) = BridgeCores::interest(self).await?;
        Some(Interest { channel, core, on })
    }

    fn try_deliver(&self, core: usize, msg: Message) -> Result<(), Message> {
        BridgeCores::try_deliver(self, core, msg.channel, msg.payload).map_err(
            |(channel, payload)| Message {
                channel,
                payload,
                traceparent: None,
            },
        )
    }

    fn room(&self) -> impl Future<Output = Option<()>> {
        BridgeCores::room(self)
    }
}

impl Bridge {
    /// Starts the bridge on its seed from `mesh_with_bridge`.
    pub fn start(
        config: BridgeConfig,
        seed: BridgeSeed,
        js: Option<super::super::jetstream::port::JsPort>,
    ) -> io::Result<Bridge> {
        let port = Port {
            outbox: seed.outbox,
            cores: seed.cores,
            refusing: seed.gate.refusing.clone(),
            refused: seed.gate.refused.clone(),
            js,
        };
        Bridge::spawn(config, port)
    }
}
