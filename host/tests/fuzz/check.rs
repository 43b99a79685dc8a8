//! What the host stores, compared with the model: after operations, now and then in full, and at
//! the end through verification, replay and a fresh host.

use std::collections::BTreeMap;

use arena_host::ArenaHost;

use super::model::ArenaModel;
use super::model::bits;
use super::{Fuzz, all_facts, open};

impl Fuzz {
    /// Arena `id` as the host shows it equals the model's: status, goal, participants, progress.
    pub(crate) fn compare(&self, id: &str) {
        self.compare_on(&self.host, id, false);
    }

    /// [`Fuzz::compare`] on `host`; `deep` adds slots and facts.
    fn compare_on(&self, host: &ArenaHost, id: &str, deep: bool) {
        let model = &self.model.arenas[id];
        let info = host
            .get(id)
            .unwrap_or_else(|e| self.fail(format!("get {id}: {e}")));
        let participants: BTreeMap<String, (_, u8)> = info
            .participants
            .iter()
            .map(|p| (p.agent.clone(), (p.role, bits(&p.permissions))))
            .collect();
        let progress: BTreeMap<String, (u32, Option<String>)> = info
            .aggregate
            .progress
            .iter()
            .map(|p| (p.agent.clone(), (p.steps_completed, p.note.clone())))
            .collect();
        let expected_progress: BTreeMap<String, (u32, Option<String>)> = model
            .ever
            .iter()
            .map(|agent| {
                let steps = model.steps_by.get(agent).copied().unwrap_or(0);
                (agent.clone(), (steps, model.notes.get(agent).cloned()))
            })
            .collect();
        let same = info.status == model.status
            && info.goal == model.goal
            && info.last_seq == model.last_seq
            && info.aggregate.total_steps == model.total
            && info.aggregate.completed_steps as usize == model.done.len()
            && participants == model.participants
            && progress == expected_progress;
        if !same {
            self.fail(format!("arena {id}: stored {info:?}\nmodel {model:?}"));
        }
        if deep {
            self.compare_contents(host, id, model);
        }
    }

    /// Slots (status and artifact count) and facts.
    fn compare_contents(&self, host: &ArenaHost, id: &str, model: &ArenaModel) {
        let slots: BTreeMap<String, (_, usize)> = host
            .slots(id)
            .unwrap_or_else(|e| self.fail(format!("slots of {id}: {e}")))
            .into_iter()
            .map(|s| (s.agent, (s.status, s.artifacts.len())))
            .collect();
        if slots != model.slots {
            self.fail(format!(
                "arena {id}: slots {slots:?}, model {:?}",
                model.slots
            ));
        }
        let facts = host
            .query_facts(Some(id), &all_facts(), None, 1000)
            .unwrap_or_else(|e| self.fail(format!("facts of {id}: {e}")))
            .len();
        if facts != model.facts {
            self.fail(format!("arena {id}: {facts} facts, model {}", model.facts));
        }
    }

    /// The database holds exactly the model's arenas: none lost, none the model does not know of.
    /// Read with SQL, which costs no component call per arena.
    pub(crate) fn compare_count(&self) {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the database to list arenas");
        let mut stmt = conn.prepare("SELECT id FROM arenas ORDER BY id").unwrap();
        let stored: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .unwrap_or_else(|e| self.fail(format!("listing arenas: {e}")));
        if !stored.iter().eq(self.model.arenas.keys()) {
            let known: Vec<&String> = self.model.arenas.keys().collect();
            self.fail(format!("stored arenas {stored:?}, model {known:?}"));
        }
    }

    fn compare_count_on(&self, host: &ArenaHost) {
        let stored: Vec<String> = host
            .arenas()
            .map(|a| a.map(|a| a.id))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| self.fail(format!("listing arenas: {e}")));
        let known: Vec<&String> = self.model.arenas.keys().collect();
        let mut sorted = stored.clone();
        sorted.sort();
        if sorted.iter().collect::<Vec<_>>() != known {
            self.fail(format!("stored arenas {sorted:?}, model {known:?}"));
        }
    }

    /// Every arena touched since the last call in full, and with `count` the arenas stored.
    pub(crate) fn compare_touched(&mut self, count: bool) {
        for id in std::mem::take(&mut self.touched) {
            if self.model.arenas.contains_key(&id) {
                self.compare_on(&self.host, &id, true);
            }
        }
        if count {
            self.compare_count();
        }
    }

    /// The end of a run: every arena verifies, replaying its log gives its live state, and a fresh
    /// host without faults finds exactly the model.
    pub(crate) fn finish(&mut self) {
        for id in self.model.arenas.keys() {
            self.compare_on(&self.host, id, true);
        }
        self.compare_count();
        for (id, model) in &self.model.arenas {
            let report = self
                .host
                .verify(id)
                .unwrap_or_else(|e| self.fail(format!("verify {id}: {e}")));
            if report.problem.is_some() || report.events != model.last_seq {
                self.fail(format!("verify {id}: {report:?}"));
            }
            let live = self.host.get(id).expect("read above");
            let replayed = self
                .host
                .get_at(id, model.last_seq)
                .unwrap_or_else(|e| self.fail(format!("replay {id}: {e}")));
            if replayed != live {
                self.fail(format!("arena {id}: replayed {replayed:?}\nlive {live:?}"));
            }
        }
        let fresh = open(&self.path, None);
        for id in self.model.arenas.keys() {
            self.compare_on(&fresh, id, true);
        }
        self.compare_count_on(&fresh);
        println!(
            "{} operations on {} arenas: {:?}",
            self.ops,
            self.model.arenas.len(),
            self.stats
        );
    }
}
