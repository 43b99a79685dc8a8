//! Creating arenas, with or without an idempotency key.

use sha2::{Digest, Sha256};

use super::ArenaManager;
use crate::clock::{Clock, mint_arena_id};
use crate::events::{Change, Keyed};
use crate::storage::Storage;
use crate::types::{
    ArenaConfig, ArenaError, ArenaId, Permission, check_agent_id, check_key,
    check_participant_count, check_text, limits,
};

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Creates an arena in `created` state: an `arena-created` event, then an `agent-joined` event per
    /// declared participant. Refuses duplicates, a strategy whose coordinator is not a declared
    /// coordinator, and out-of-bounds input.
    pub fn create(&self, config: &ArenaConfig) -> Result<ArenaId, ArenaError> {
        let joined = creation_joins(config)?;
        for _ in 0..=limits::CONFLICT_RETRIES {
            let id = mint_arena_id(&self.clock);
            let changes = creation_changes(&id, config, &joined);
            match self.commit(&id, None, &config.created_by, &changes, None) {
                Ok(created) => {
                    self.states.put(created);
                    return Ok(id);
                }
                // The id was taken between minting and appending: mint another.
                Err(ArenaError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ArenaError::Conflict)
    }

    /// [`ArenaManager::create`] with an idempotency key: the arena's id is derived from the creator
    /// and `key` (see [`keyed_arena_id`]), so the first call creates it and every retry with the same
    /// key and the same config returns the same id, writing nothing — even when the answer to the
    /// first call was lost. The same key with another config is refused with `invalid-input`.
    pub fn create_keyed(&self, config: &ArenaConfig, key: &str) -> Result<ArenaId, ArenaError> {
        check_key(key)?;
        let joined = creation_joins(config)?;
        let digest = config.digest();
        let id = keyed_arena_id(&config.created_by, key);
        let changes = creation_changes(&id, config, &joined);
        let keyed = Keyed {
            key,
            digest: &digest,
        };
        for _ in 0..=limits::CONFLICT_RETRIES {
            if let Some(head) = self.storage.head(&id)? {
                return self.created_with(&id, head.seq, &config.created_by, key, &digest);
            }
            match self.commit(&id, None, &config.created_by, &changes, Some(keyed)) {
                Ok(created) => {
                    self.states.put(created);
                    return Ok(id);
                }
                // Another caller created it with this key in the meantime: compare with theirs.
                Err(ArenaError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ArenaError::Conflict)
    }

    /// `id` (whose log's head is event `head`) if its creation recorded `key` by `creator` with
    /// `digest`; else why not.
    fn created_with(
        &self,
        id: &str,
        head: u64,
        creator: &str,
        key: &str,
        digest: &str,
    ) -> Result<ArenaId, ArenaError> {
        // The creation is the first event and one per participant; the last of them carries the key.
        let creation =
            self.read_events_checked(id, 0, limits::PARTICIPANTS as u32 + 1, Some(head))?;
        let recorded = creation.iter().find_map(|event| {
            let (_, keyed) = Change::decode_with_key(event).ok()?;
            keyed.filter(|(k, _)| k == key && event.actor == creator)
        });
        match recorded {
            Some((_, Some(stored))) if stored == digest => Ok(id.to_string()),
            Some((_, Some(_))) => Err(ArenaError::InvalidInput(format!(
                "idempotency key {key:?} already created arena {id} with a different config; \
                 nothing was written (use a new key for a new arena)"
            ))),
            _ => Err(ArenaError::InvalidInput(format!(
                "arena {id}, the one idempotency key {key:?} names, does not record that key \
                 with its creation; nothing was written"
            ))),
        }
    }
}

/// The `agent-joined` changes of a new arena's participants, once `config` is checked: duplicates, a
/// strategy whose coordinator is not a declared coordinator, and out-of-bounds input are refused.
fn creation_joins(config: &ArenaConfig) -> Result<Vec<Change>, ArenaError> {
    check_text("goal", &config.goal, limits::GOAL_BYTES)?;
    check_agent_id(&config.created_by)?;
    if config.total_steps == 0 {
        return Err(ArenaError::InvalidInput(
            "total steps must be at least 1".into(),
        ));
    }
    if config.total_steps > limits::TOTAL_STEPS {
        return Err(ArenaError::LimitExceeded {
            what: "total steps".into(),
            limit: limits::TOTAL_STEPS.into(),
        });
    }
    check_participant_count(config.participants.len())?;
    let mut joined = Vec::with_capacity(config.participants.len());
    for spec in &config.participants {
        let participant = spec.resolve()?;
        if joined.iter().any(|c: &Change| matches!(c, Change::AgentJoined { agent, .. } if *agent == participant.agent)) {
            return Err(ArenaError::InvalidInput(format!(
                "duplicate participant {:?}",
                participant.agent
            )));
        }
        joined.push(Change::AgentJoined {
            agent: participant.agent,
            role: participant.role,
            permissions: participant.permissions.into_iter().collect(),
        });
    }
    let granted: std::collections::BTreeMap<&str, &[Permission]> = joined
        .iter()
        .filter_map(|c| match c {
            Change::AgentJoined {
                agent, permissions, ..
            } => Some((agent.as_str(), permissions.as_slice())),
            _ => None,
        })
        .collect();
    let coordinator = config.strategy.coordinator();
    let coordinates = granted
        .get(coordinator)
        .is_some_and(|p| p.contains(&Permission::Coordinate));
    if !coordinates {
        return Err(ArenaError::InvalidInput(format!(
            "the coordinator {coordinator:?} must be a declared participant holding coordinate"
        )));
    }
    if let Some(pipeline) = config.strategy.pipeline() {
        pipeline.validate(config.total_steps, &granted)?;
    }
    Ok(joined)
}

/// Every change creating arena `id` from `config`: `arena-created`, then the joins.
fn creation_changes(id: &str, config: &ArenaConfig, joined: &[Change]) -> Vec<Change> {
    let mut changes = vec![Change::ArenaCreated {
        id: id.to_string(),
        goal: config.goal.clone(),
        total_steps: config.total_steps,
        strategy: config.strategy.clone(),
        created_by: config.created_by.clone(),
    }];
    changes.extend(joined.iter().cloned());
    changes
}

/// The id of the arena `creator` creates with idempotency `key`: a UUID of version 8 (RFC 9562's
/// custom layout) whose bits are SHA-256 over both, so it is the same on every retry and on every
/// host. Unlike a minted UUIDv7 it carries no time: keyed arenas do not sort by creation.
pub fn keyed_arena_id(creator: &str, key: &str) -> ArenaId {
    let mut hasher = Sha256::new();
    for field in ["arena-id", creator, key] {
        hasher.update((field.len() as u32).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}
