//! Multi-epoch validator: one marshal for all epochs + one simplex engine per epoch,
//! started by an orchestrator when the executor applies an epoch's last block.

use crate::app::{App, EpochHook, Mempool, SharedRecords, start_executor};
use crate::node::{Channels, InlineApp, MarshalMailbox, start_engine, start_marshal};
use crate::{NAMESPACE, PK, Scheme};
use commonware_consensus::{
    marshal::standard::Inline,
    types::{Epoch, Epocher as _, FixedEpocher},
};
use commonware_cryptography::{
    Signer as _,
    certificate::{Provider as SchemeProvider, Scoped},
    ed25519,
};
use commonware_macros::select;
use commonware_p2p::{
    Blocker, Provider, Receiver, Sender,
    utils::mux::{Builder as _, MuxHandle, Muxer},
};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_utils::{channel::mpsc, non_empty_vec, ordered::Set};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Committee of `epoch`. Demo rule: every validator, every epoch. In the real chain this is read
/// from finalized state (e.g. the election result written in the last block of epoch e-2).
pub type CommitteeFn = Arc<dyn Fn(Epoch) -> Set<PK> + Send + Sync>;

/// `certificate::Provider` for marshal: the scheme (participants + maybe our key) per epoch.
#[derive(Clone)]
pub struct EpochProvider {
    signer: ed25519::PrivateKey,
    committee: CommitteeFn,
    cache: Arc<Mutex<BTreeMap<Epoch, Scoped<Scheme>>>>,
}

impl EpochProvider {
    pub fn new(signer: ed25519::PrivateKey, committee: CommitteeFn) -> Self {
        Self {
            signer,
            committee,
            cache: Default::default(),
        }
    }
}

impl SchemeProvider for EpochProvider {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let mut cache = self.cache.lock().unwrap();
        let scoped = cache.entry(epoch).or_insert_with(|| {
            let participants = (self.committee)(epoch);
            match Scheme::signer(NAMESPACE, participants.clone(), self.signer.clone()) {
                Some(s) => Scoped::scheme(Arc::new(s)),
                // not in this committee: verify-only (follower for that epoch)
                None => Scoped::verifier(Arc::new(Scheme::verifier(NAMESPACE, participants))),
            }
        });
        Some(scoped.clone())
        // A real provider returns None for epochs it cannot know yet / has pruned.
    }
}

pub struct EpochNodeParams {
    pub index: usize,
    pub signer: ed25519::PrivateKey,
    pub committee: CommitteeFn,
    pub mempool: Mempool,
    pub records: SharedRecords,
    pub epocher: FixedEpocher,
}

/// Start a multi-epoch validator. Votes/certs/resolver channels are muxed by epoch
/// (subchannel id = epoch); backfill/broadcast are shared by all epochs (marshal).
pub async fn start_epoch_node<E, S, R, B, P>(
    context: E,
    params: EpochNodeParams,
    channels: Channels<S, R>,
    blocker: B,
    peer_provider: P,
) -> Handle<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    S: Sender<PublicKey = PK>,
    R: Receiver<PublicKey = PK>,
    B: Blocker<PublicKey = PK> + Clone,
    P: Provider<PublicKey = PK> + Clone,
{
    let EpochNodeParams {
        index,
        signer,
        committee,
        mempool,
        records,
        epocher,
    } = params;
    let public_key = signer.public_key();
    let provider = EpochProvider::new(signer, committee);

    let (hook_tx, hook_rx) = mpsc::unbounded_channel();
    let finalizer = start_executor(
        context.child("app"),
        index,
        records,
        Some((epocher.clone(), hook_tx)),
    );
    let marshal = start_marshal(
        &context,
        index,
        public_key,
        provider.clone(),
        epocher.clone(),
        channels.backfill,
        channels.broadcast,
        blocker.clone(),
        peer_provider,
        finalizer,
    )
    .await;

    // Per-epoch subchannels. The certificate muxer has a backup queue: messages for epochs we
    // do not run land there, which tells us peers are ahead (=> hint marshal to catch up).
    let (votes_mux, votes) = Muxer::new(context.child("votes_mux"), channels.votes.0, channels.votes.1);
    votes_mux.start();
    let (certs_mux, certs, backup) =
        Muxer::builder(context.child("certs_mux"), channels.certs.0, channels.certs.1)
            .with_backup()
            .build();
    certs_mux.start();
    let (resolver_mux, resolver) =
        Muxer::new(context.child("resolver_mux"), channels.resolver.0, channels.resolver.1);
    resolver_mux.start();

    let app = App {
        mempool,
        max_txs_per_block: 4,
    };
    let orchestrator = Orchestrator {
        index,
        provider,
        epocher,
        marshal,
        app,
        blocker,
        votes,
        certs,
        resolver,
    };
    context
        .child("orchestrator")
        .spawn(move |ctx| orchestrator.run(ctx, hook_rx, backup))
}

struct Orchestrator<S: Sender, B> {
    index: usize,
    provider: EpochProvider,
    epocher: FixedEpocher,
    marshal: MarshalMailbox,
    app: App,
    blocker: B,
    votes: MuxHandle<S>,
    certs: MuxHandle<S>,
    resolver: MuxHandle<S>,
}

impl<S, B> Orchestrator<S, B>
where
    S: Sender<PublicKey = PK>,
    B: Blocker<PublicKey = PK> + Clone,
{
    async fn run<E>(
        mut self,
        context: E,
        mut hooks: mpsc::UnboundedReceiver<EpochHook>,
        mut backup: mpsc::Receiver<(u64, commonware_p2p::Message<PK>)>,
    ) where
        E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    {
        let mut current: Option<Epoch> = None;
        let mut engines: BTreeMap<Epoch, Handle<()>> = BTreeMap::new();
        loop {
            select! {
                hook = hooks.recv() => {
                    let Some(EpochHook { epoch, genesis }) = hook else { break };
                    if current.is_some_and(|c| epoch <= c) {
                        continue; // duplicate (at-least-once redelivery)
                    }
                    current = Some(epoch);
                    let Some(scheme) = self.provider.scheme(epoch) else {
                        continue; // not in committee: follow via marshal only
                    };
                    let sub = epoch.get();
                    let votes = self.votes.register(sub).await.expect("votes subchannel");
                    let certs = self.certs.register(sub).await.expect("certs subchannel");
                    let resolver = self.resolver.register(sub).await.expect("resolver subchannel");
                    let ctx = context.child("epoch").with_attribute("epoch", sub);
                    let inline: InlineApp<E> = Inline::new(
                        ctx.child("inline"),
                        self.app.clone(),
                        self.marshal.clone(),
                        self.epocher.clone(),
                    );
                    let handle = start_engine(
                        ctx.child("engine"),
                        self.index,
                        epoch,
                        (*scheme).clone(),
                        genesis,
                        inline,
                        self.blocker.clone(),
                        votes,
                        certs,
                        resolver,
                    );
                    engines.insert(epoch, handle);
                    // Keep the previous epoch's engine (lagging peers may still need its votes /
                    // certificates); stop anything older. Dropping its receivers deregisters the
                    // subchannels.
                    while engines.len() > 2 {
                        let (_, old) = engines.pop_first().unwrap();
                        old.abort();
                    }
                },
                msg = backup.recv() => {
                    let Some((sub, (peer, _))) = msg else { break };
                    // A peer speaks in an epoch we don't run. If it is ahead of us, ask marshal
                    // for the finalization of our epoch's last block from that peer. Marshal
                    // backfills the gap; the executor then emits the next EpochHook.
                    // (CWPROTO_NO_HINT=1 demonstrates the pitfall: the lagging node never catches up)
                    if std::env::var("CWPROTO_NO_HINT").is_ok() { continue; }
                    if let Some(c) = current
                        && sub > c.get()
                        && let Some(last) = self.epocher.last(c)
                    {
                        self.marshal.hint_finalized(last, non_empty_vec![peer]);
                    }
                },
            }
        }
    }
}
