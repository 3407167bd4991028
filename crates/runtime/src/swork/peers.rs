//! Peer records: where a storage identity serves its replicas, signed by its peer key.

use super::storage::{MODULE, identity, peer_key};
use super::{PeerRecord, SworkError, SworkEvent};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event};
use crust_primitives::codec;
use crust_primitives::{AccountId, Signature};

/// What a peer key signs to bind its peer ID and addresses to a storage account: a node
/// vouches for where it can be dialed, so an account cannot point others at a false address
/// under a real node's name.
pub fn peer_binding_payload(who: &AccountId, record: &PeerRecord) -> Vec<u8> {
    [
        b"crust/swork/peer/v2".as_slice(),
        who.as_bytes(),
        &codec::encode(record),
    ]
    .concat()
}

/// Records where the caller's storage identity serves its replicas. The caller must have
/// reported works (only identities hold replicas); the peer ID must be an ed25519 peer ID
/// (base58 `12D3Koo…`) whose key signed [`peer_binding_payload`], and each address a
/// `/`-separated multiaddr in printable ASCII. An empty record removes it.
pub fn set_peer(
    state: &mut impl State,
    ctx: &CallContext,
    record: &PeerRecord,
    signature: &Signature,
) -> Result<(), SworkError> {
    if identity(state, &ctx.caller)?.is_none() {
        return Err(SworkError::IdentityNotExist);
    }
    if record.peer_id.is_empty() {
        if !record.addrs.is_empty() {
            return Err(SworkError::IllegalPeer("addresses without a peer ID"));
        }
        state.delete(&peer_key(&ctx.caller));
    } else {
        let Some(key) = AccountId::from_peer_id(&record.peer_id) else {
            return Err(SworkError::IllegalPeer("not an ed25519 peer ID in base58"));
        };
        if !key.verify(&peer_binding_payload(&ctx.caller, record), signature) {
            return Err(SworkError::IllegalPeer(
                "the peer key did not sign this account",
            ));
        }
        let printable = |a: &Vec<u8>| a.iter().all(|b| b.is_ascii_graphic());
        if !record
            .addrs
            .iter()
            .all(|a| a.len() > 1 && a.first() == Some(&b'/') && printable(a))
        {
            return Err(SworkError::IllegalPeer("address is not a multiaddr"));
        }
        state.write(&peer_key(&ctx.caller), record);
    }
    state.emit(Event::Swork(SworkEvent::PeerSet { who: ctx.caller }));
    Ok(())
}

/// Where `who` serves its replicas, if it said.
pub fn peer(state: &impl State, who: &AccountId) -> Result<Option<PeerRecord>, SworkError> {
    Ok(state.read(&peer_key(who))?)
}

/// Up to `limit` peer records of accounts after `after`, in account order.
pub fn peers(
    state: &impl State,
    after: Option<&AccountId>,
    limit: usize,
) -> Result<Vec<(AccountId, PeerRecord)>, SworkError> {
    let prefix = key(MODULE, "peer", &[]);
    let after = after.map(|a| [prefix.as_slice(), a.as_bytes()].concat());
    Ok(state.scan_decoded(&prefix, after.as_deref(), limit)?)
}
