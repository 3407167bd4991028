//! Groups (D19): an owner's allowlist, members joining, quitting and being kicked out, and the
//! reset of a departing member's files.

use super::storage::{group, group_key, identity, identity_key, report_key, work_report};
use super::{Group, Identity, MAX_GROUP_SIZE, SworkError, SworkEvent, hooks};
use crate::market;
use crate::state::{State, StateExt};
use crate::{CallContext, Event};
use crust_primitives::AccountId;

/// Creates a group owned by the caller, who must never have reported works.
pub fn create_group(state: &mut impl State, ctx: &CallContext) -> Result<(), SworkError> {
    if identity(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupOwnerForbidden);
    }
    if group(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupAlreadyExist);
    }
    state.write(&group_key(&ctx.caller), &Group::default());
    state.emit(Event::Swork(SworkEvent::CreateGroupSuccess {
        owner: ctx.caller,
    }));
    Ok(())
}

/// Allows `target` to join the caller's group.
pub fn add_member_into_allowlist(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, &ctx.caller)?.ok_or(SworkError::NotOwner(ctx.caller))?;
    if identity(state, target)?.is_some_and(|i| i.group.is_some()) {
        return Err(SworkError::AlreadyJoint);
    }
    if let Err(pos) = g.allowlist.binary_search(target) {
        if g.allowlist.len() >= MAX_GROUP_SIZE {
            return Err(SworkError::ExceedAllowlistLimit {
                max: MAX_GROUP_SIZE,
            });
        }
        g.allowlist.insert(pos, *target);
    }
    state.write(&group_key(&ctx.caller), &g);
    state.emit(Event::Swork(SworkEvent::AddIntoAllowlistSuccess {
        owner: ctx.caller,
        who: *target,
    }));
    Ok(())
}

/// Removes `target` from the caller's allowlist.
pub fn remove_member_from_allowlist(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, &ctx.caller)?.ok_or(SworkError::NotOwner(ctx.caller))?;
    g.allowlist.retain(|a| a != target);
    state.write(&group_key(&ctx.caller), &g);
    state.emit(Event::Swork(SworkEvent::RemoveFromAllowlistSuccess {
        owner: ctx.caller,
        who: *target,
    }));
    Ok(())
}

/// Joins `owner`'s group. The caller must have an identity with no spower (D19).
pub fn join_group(
    state: &mut impl State,
    ctx: &CallContext,
    owner: &AccountId,
) -> Result<(), SworkError> {
    let mut id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    if id.group.is_some() {
        return Err(SworkError::AlreadyJoint);
    }
    let mut g = group(state, owner)?.ok_or(SworkError::NotOwner(*owner))?;
    if g.members.len() >= MAX_GROUP_SIZE {
        return Err(SworkError::ExceedGroupLimit {
            max: MAX_GROUP_SIZE,
        });
    }
    let Ok(pos) = g.allowlist.binary_search(&ctx.caller) else {
        return Err(SworkError::NotInAllowlist);
    };
    let spower = market::anchor_spower(state, &id.anchor)?;
    if spower > 0 {
        return Err(SworkError::IllegalSpower { spower });
    }
    g.allowlist.remove(pos);
    if let Err(pos) = g.members.binary_search(&ctx.caller) {
        g.members.insert(pos, ctx.caller);
    }
    state.write(&group_key(owner), &g);
    id.group = Some(*owner);
    state.write(&identity_key(&ctx.caller), &id);
    state.emit(Event::Swork(SworkEvent::JoinGroupSuccess {
        member: ctx.caller,
        owner: *owner,
    }));
    Ok(())
}

/// Leaves the caller's group; the worker's file record resets so it re-adds its files under
/// its own account, and the replicas it held for the group are purged in the background.
pub fn quit_group(state: &mut impl State, ctx: &CallContext) -> Result<(), SworkError> {
    let id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    let owner = id.group.ok_or(SworkError::NotJoint)?;
    leave_group(state, &ctx.caller, id, &owner)?;
    state.emit(Event::Swork(SworkEvent::QuitGroupSuccess {
        member: ctx.caller,
        owner,
    }));
    Ok(())
}

/// Removes `member` from the caller's group, with the same reset as quitting (D19).
pub fn kick_out(
    state: &mut impl State,
    ctx: &CallContext,
    member: &AccountId,
) -> Result<(), SworkError> {
    if group(state, &ctx.caller)?.is_none() {
        return Err(SworkError::NotOwner(ctx.caller));
    }
    let id = identity(state, member)?.ok_or(SworkError::IdentityNotExist)?;
    if id.group != Some(ctx.caller) {
        return Err(SworkError::NotJoint);
    }
    leave_group(state, member, id, &ctx.caller)?;
    state.emit(Event::Swork(SworkEvent::KickOutSuccess { member: *member }));
    Ok(())
}

fn leave_group(
    state: &mut impl State,
    member: &AccountId,
    mut id: Identity,
    owner: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, owner)?.ok_or(SworkError::NotJoint)?;
    g.members.retain(|m| m != member);
    state.write(&group_key(owner), &g);
    id.group = None;
    state.write(&identity_key(member), &id);
    if let Some(mut wr) = work_report(state, &id.anchor)? {
        wr.reported_files_size = 0;
        wr.files_root = [0; 32];
        wr.files_count = 0;
        state.write(&report_key(&id.anchor), &wr);
    }
    hooks::schedule_purge(state, &id.anchor, Some(owner));
    Ok(())
}
