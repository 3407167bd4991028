//! Reports and proofs: answering a slot's challenges (D18), sending and resending the
//! report, proving new replicas (D30).

use super::*;

/// A slot's report, kept to be resent with fresh answers.
pub(super) struct SentReport {
    pub(super) slot: u64,
    pub(super) slot_hash: [u8; 32],
    pub(super) report: swork::WorkReport,
    pub(super) signature: crust_primitives::Signature,
}

/// Answers the slot's challenges (D18) and submits the report with them. A challenge on
/// damaged data repairs the file first (re-fetched from the other replica holders). Returns
/// how many files it repaired.
pub(super) fn send_report(
    client: &ChainClient,
    account: &Keypair,
    worker: &mut Worker,
    net: &Net,
    anchor: &[u8; 32],
    me: &AccountId,
    this: &mut SentReport,
) -> u64 {
    let mut repaired = 0;
    let slot = this.slot;
    let answered = challenge_picks(client, anchor, &this.slot_hash).and_then(|picks| {
        let answers = match worker.answers(&picks) {
            Err(WorkerError::Unanswerable { cid, reason }) => {
                tracing::info!(
                    target: "crust::sworker", "challenged on {cid}, which is damaged here ({reason}); repairing it before answering"
                );
                let info = client.read::<FileInfo>(&market::file_key(&cid))?;
                let holders = replica_addrs(client, info.as_ref(), me);
                net.repair(worker, cid, &holders)?;
                repaired += 1;
                super::metrics::add(&super::metrics::COUNTERS.files_repaired, 1);
                tracing::warn!(target: "crust::sworker", "{cid} was damaged; re-fetched and re-sealed");
                worker.answers(&picks).map_err(|e| e.to_string())?
            }
            other => other.map_err(|e| e.to_string())?,
        };
        let srd = worker
            .srd_answers(&this.slot_hash)
            .map_err(|e| e.to_string())?;
        Ok((answers, srd))
    });
    let (answers, srd_answers) = match answered {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(
                target: "crust::sworker", "cannot answer slot {slot}'s storage challenges ({e}); without a report this slot the chain drops this node's replicas and it reports them anew"
            );
            super::metrics::add(&super::metrics::COUNTERS.challenges_unanswered, 1);
            return repaired;
        }
    };
    let (added, deleted) = (this.report.added.len(), this.report.deleted.len());
    let challenged = answers.len() + srd_answers.len();
    match client.submit(
        account,
        Call::Swork(SworkCall::ReportWorks {
            report: this.report.clone(),
            signature: this.signature,
            answers,
            srd_answers,
        }),
    ) {
        Ok(_) => {
            super::metrics::add(&super::metrics::COUNTERS.reports_sent, 1);
            super::metrics::add(
                &super::metrics::COUNTERS.challenges_answered,
                challenged as u64,
            );
            tracing::info!(
                target: "crust::sworker", "report for slot {slot} sent (+{added} −{deleted} files, SRD {} MiB, {challenged} challenges answered)",
                worker.srd().size() >> 20
            )
        }
        Err(e) => tracing::warn!(target: "crust::sworker", "report for slot {slot}: {e}"),
    }
    repaired
}

/// This slot's challenges on `anchor`'s proven replicas (D18), each with the CID the chain's
/// list holds at the picked position.
pub(super) fn challenge_picks(
    client: &ChainClient,
    anchor: &[u8; 32],
    slot_hash: &[u8; 32],
) -> Result<Vec<(challenge::Challenge, Cid)>, String> {
    let count = client
        .read::<u64>(&market::index::count_key(anchor))?
        .unwrap_or(0);
    challenge::challenges(slot_hash, anchor, count)
        .into_iter()
        .map(|c| {
            let at = client
                .read::<market::index::IndexedReplica>(&market::index::position_key(
                    anchor, c.position,
                ))?
                .ok_or_else(|| format!("no replica at position {} on chain", c.position))?;
            Ok((c, at.cid))
        })
        .collect()
}

/// Proves the replicas of `to_prove` that the chain holds as pending for this identity (D30),
/// once their seed block is final, [`challenge::PROVE_BATCH`] per transaction; a file whose
/// replica is proven, or that is no longer held, leaves the set. A proof is not resent within
/// 30 s.
#[allow(clippy::too_many_arguments)]
pub(super) fn prove_pending(
    client: &ChainClient,
    account: &Keypair,
    worker: &Worker,
    anchor: &[u8; 32],
    owner: &AccountId,
    height: u64,
    to_prove: &mut std::collections::BTreeSet<Cid>,
    proof_sent: &mut BTreeMap<Cid, Instant>,
) -> Result<(), String> {
    use market::index::AnchorEntry;
    let mut proofs = Vec::new();
    for cid in to_prove.clone() {
        if worker.sealed().file(&cid).is_none() {
            to_prove.remove(&cid);
            continue;
        }
        match client.read::<AnchorEntry>(&market::index::entry_key(anchor, &cid, owner))? {
            Some(AnchorEntry::Proven { .. }) => {
                to_prove.remove(&cid);
                proof_sent.remove(&cid);
            }
            Some(AnchorEntry::Pending { since, .. }) if since < height => {
                if proof_sent
                    .get(&cid)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
                {
                    continue;
                }
                // The proof is checked against the order's commitment: a file sealed for
                // another one (a superseded order) cannot prove and must not sink a batch.
                let ordered = client
                    .read::<FileInfo>(&market::file_key(&cid))?
                    .map(|f| f.commitment);
                let held = worker
                    .sealed()
                    .content_index(&cid)
                    .ok()
                    .map(|i| i.commitment);
                if ordered.is_none() || ordered != held {
                    tracing::warn!(
                        target: "crust::sworker", "not proving {cid}: the order's commitment is not the content held"
                    );
                    to_prove.remove(&cid);
                    continue;
                }
                let seed = client.block(since)?.hash.0;
                match worker.pending_proof(&cid, &seed, anchor) {
                    Ok(p) => proofs.push(p),
                    Err(e) => tracing::warn!(target: "crust::sworker", "cannot prove {cid}: {e}"),
                }
            }
            // Not reported yet, or its seed block is not final yet.
            _ => {}
        }
    }
    for batch in proofs.chunks(challenge::PROVE_BATCH) {
        let call = SworkCall::ProveReplicas {
            proofs: batch.to_vec(),
        };
        match client.submit(account, Call::Swork(call)) {
            Ok(_) => {
                for p in batch {
                    proof_sent.insert(p.cid, Instant::now());
                }
                tracing::info!(target: "crust::sworker", "proving {} new replica(s)", batch.len());
            }
            Err(e) => tracing::warn!(target: "crust::sworker", "proving new replicas: {e}"),
        }
    }
    Ok(())
}
