//! The manager's reads: the arena now, the arenas listed, pages of the log checked up to the head,
//! the arenas an agent takes part in, the slots with their content, and facts.

use super::*;

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// The arena's current state; `not-found` for an unknown id.
    pub fn get(&self, arena: &str) -> Result<Arena, ArenaError> {
        self.current(arena)
    }

    /// Up to `limit` (at most one page) arenas with ids after `after`, oldest first.
    pub fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Arena>, ArenaError> {
        if let Some(after) = after {
            check_arena_id(after)?;
        }
        let limit = limit.min(limits::PAGE);
        let ids = self.storage.list_arenas(after, limit)?;
        check_ids("list-arenas", after, Some(limit), &ids)?;
        ids.iter()
            .map(|id| self.listed(id, "list-arenas"))
            .collect()
    }

    /// The state of arena `id`, which storage's `call` listed: one it listed without a log is
    /// storage's error.
    fn listed(&self, id: &str, call: &str) -> Result<Arena, ArenaError> {
        self.get(id).map_err(|e| match e {
            ArenaError::NotFound => ArenaError::Storage(format!(
                "storage broke its contract in {call}: it returned arena {id}, which has no log"
            )),
            other => other,
        })
    }

    /// Up to `limit` (at most one page) events with `seq > after`.
    ///
    /// The page is checked against the chain: each event's hash is recomputed from the event before
    /// (event `after` is read for the first), and the page's last event must chain to the head's
    /// hash: the page's own end when it reaches the head, else the events after the page, hashes
    /// only (see [`reach`]). Content altered in storage, re-hashed or not, is a `storage` error,
    /// never an answer.
    pub fn events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        let head = self.head(arena)?;
        let page =
            self.read_events_checked(arena, after, limit.min(limits::PAGE), Some(head.seq))?;
        self.check_chained(arena, after, &page, &head)?;
        if let Some(last) = page.last() {
            self.check_reaches_head(arena, last.seq, &last.hash, &head)?;
        }
        Ok(page)
    }

    /// Checks that `page`, read after event `after`, chains from that event, and ends with `head`'s
    /// hash if it reaches the head.
    fn check_chained(
        &self,
        arena: &str,
        after: u64,
        page: &[Event],
        head: &LogHead,
    ) -> Result<(), ArenaError> {
        if page.is_empty() {
            return Ok(());
        }
        let mut prev = if after == 0 {
            String::new()
        } else {
            self.read_events_checked(arena, after - 1, 1, None)?
                .pop()
                .filter(|event| event.seq == after)
                .map(|event| event.hash)
                .ok_or_else(|| {
                    ArenaError::Storage(format!("arena {arena}: event {after} is missing"))
                })?
        };
        for event in page {
            let computed = events::chain_hash(
                &prev,
                event.seq,
                &event.kind,
                &event.actor,
                &event.at,
                &event.payload,
            );
            if computed != event.hash {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: event {} does not chain to the event before: the log was \
                     altered (`arena verify {arena}` names the damage)",
                    event.seq
                )));
            }
            prev = computed;
        }
        match page.last() {
            Some(last) if last.seq == head.seq && last.hash != head.hash => {
                Err(ArenaError::Storage(format!(
                    "arena {arena}: the log's event {} does not have the head's hash",
                    head.seq
                )))
            }
            _ => Ok(()),
        }
    }

    /// `read-events`, checked with [`check_page`] against the log's `head` when it is known, and cut
    /// at that head: events appended since it was read belong to a later read.
    pub(crate) fn read_events_checked(
        &self,
        arena: &str,
        after: u64,
        limit: u32,
        head: Option<u64>,
    ) -> Result<Vec<Event>, ArenaError> {
        let mut page = self.storage.read_events(arena, after, limit)?;
        check_page(arena, after, limit, head, &page)?;
        if let Some(head) = head {
            page.retain(|event| event.seq <= head);
        }
        Ok(page)
    }

    /// Ids of the non-archived arenas where `agent` currently participates, sorted.
    pub fn active_arenas_for(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        check_agent_id(agent)?;
        let mut ids = self.storage.participating(agent)?;
        check_ids("participating", None, None, &ids)?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The artifact `entry` of `owner`'s slot, its content read from the event that stored it.
    pub(crate) fn artifact(
        &self,
        arena: &str,
        owner: &str,
        entry: &ArtifactEntry,
    ) -> Result<Artifact, ArenaError> {
        let event = self
            .read_events_checked(arena, entry.seq - 1, 1, None)?
            .pop()
            .filter(|e| e.seq == entry.seq)
            .ok_or_else(|| {
                ArenaError::Storage(format!("arena {arena}: event {} is missing", entry.seq))
            })?;
        let change = Change::decode(&event).map_err(|e| {
            ArenaError::Storage(format!("arena {arena}: the log does not decode: {e}"))
        })?;
        let (content, metadata): (String, std::collections::BTreeMap<String, String>) = match change
        {
            Change::ArtifactPut {
                content, metadata, ..
            }
            | Change::ArtifactMerged {
                content, metadata, ..
            } => (content, metadata),
            _ => {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: event {} does not store an artifact",
                    entry.seq
                )));
            }
        };
        if let Some(digest) = &entry.digest
            && artifact_digest(&content, &metadata) != *digest
        {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: event {} does not hold the content of artifact {}: its digest \
                 differs from the one the state holds",
                entry.seq, entry.id
            )));
        }
        Ok(Artifact {
            id: entry.id.clone(),
            author: owner.to_string(),
            kind: entry.kind.clone(),
            content,
            metadata: metadata.into_iter().collect(),
            sources: entry.sources.clone(),
            created_at: event.at,
            seq: entry.seq,
        })
    }

    /// `agent`'s slot in `state` with its artifacts' content; `not-found` if it never participated.
    pub(crate) fn slot_contents(
        &self,
        state: &Arena,
        agent: &str,
    ) -> Result<SlotContents, ArenaError> {
        let slot = state.slot(agent).ok_or(ArenaError::NotFound)?;
        let artifacts = slot
            .artifacts
            .iter()
            .map(|entry| self.artifact(&state.id, agent, entry))
            .collect::<Result<_, _>>()?;
        Ok(SlotContents {
            agent: agent.to_string(),
            status: slot.status,
            artifacts,
        })
    }

    /// Every slot of `arena` with its artifacts, sorted by agent: the operator's view.
    pub fn slots(&self, arena: &str) -> Result<Vec<SlotContents>, ArenaError> {
        let state = self.get(arena)?;
        state
            .all_slots()
            .iter()
            .map(|(agent, _)| self.slot_contents(&state, agent))
            .collect()
    }

    /// Up to `limit` (at most one page) facts matching `query`, ordered by arena id and sequence, after
    /// `after` (an arena id and a sequence number). With `arena` only that arena's facts; without, the
    /// facts of every arena carrying the query's tag, which is then required.
    pub fn query_facts(
        &self,
        arena: Option<&str>,
        query: &FactQuery,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<(ArenaId, Fact)>, ArenaError> {
        let matcher = Matcher::new(query)?;
        if let Some((id, _)) = after {
            check_arena_id(id)?;
        }
        let limit = limit.min(limits::PAGE) as usize;
        let mut found = Vec::new();
        let take = |state: &Arena, found: &mut Vec<(ArenaId, Fact)>| {
            let from = match after {
                Some((id, seq)) if id == state.id => seq,
                Some((id, _)) if id > state.id.as_str() => u64::MAX,
                _ => 0,
            };
            for fact in &state.facts {
                if found.len() == limit {
                    break;
                }
                if fact.seq > from && matcher.matches(fact) {
                    found.push((state.id.clone(), fact.clone()));
                }
            }
        };
        if let Some(arena) = arena {
            take(&self.get(arena)?, &mut found);
            return Ok(found);
        }
        let Some(tag) = query.tag.as_deref() else {
            return Err(ArenaError::InvalidInput(
                "a fact query across arenas needs a tag".into(),
            ));
        };
        let mut cursor = match after {
            Some((id, _)) => {
                if self.storage.head(id)?.is_some() {
                    take(&self.get(id)?, &mut found);
                }
                Some(id.to_string())
            }
            None => None,
        };
        // Each page starts after the last (checked), so the walk ends; and it reads at most
        // `TAGGED_PAGES` pages.
        let mut pages = 0;
        while found.len() < limit {
            if pages == TAGGED_PAGES {
                return Err(ArenaError::Storage(format!(
                    "storage returned more than {TAGGED_PAGES} pages of arenas tagged {tag:?}"
                )));
            }
            pages += 1;
            let page = self.storage.tagged(tag, cursor.as_deref(), limits::PAGE)?;
            check_ids("tagged", cursor.as_deref(), Some(limits::PAGE), &page)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for id in &page {
                if found.len() == limit {
                    break;
                }
                take(&self.listed(id, "tagged")?, &mut found);
            }
            cursor = Some(last);
        }
        Ok(found)
    }
}
