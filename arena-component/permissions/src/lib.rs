//! The six permissions, one per WIT handle interface.
//!
//! One definition serves both sides of the grant: the arena's logic (`arena-component`, which records
//! permissions in events and snapshots by these names) and the tool catalogue (`arena-catalogue`,
//! which files every handle function under the permission of its interface). Both build for native
//! and wasm targets, so this crate depends only on `serde`.
//!
//! # Example
//!
//! ```
//! use arena_permissions::Permission;
//!
//! assert_eq!(Permission::ReadSlots.name(), "read-slots");
//! assert_eq!(Permission::from_name("steer"), Some(Permission::Steer));
//! assert_eq!(Permission::from_name("Steer"), None);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// One capability; each is the WIT handle interface of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// `observe`: read goal, status, aggregate, participants, events and facts; leave.
    Observe,
    /// `read-slots`: read every participant's slot and artifacts.
    ReadSlots,
    /// `contribute`: complete steps, report progress, write one's own slot.
    Contribute,
    /// `share-facts`: add shared facts.
    ShareFacts,
    /// `steer`: update the goal.
    Steer,
    /// `coordinate`: activate, settle, archive, abort, invite, merge.
    Coordinate,
}

impl Permission {
    /// Every permission, in WIT order.
    pub const ALL: [Permission; 6] = [
        Permission::Observe,
        Permission::ReadSlots,
        Permission::Contribute,
        Permission::ShareFacts,
        Permission::Steer,
        Permission::Coordinate,
    ];

    /// The WIT name of the permission, which is also the name of its interface (`read-slots`).
    pub fn name(self) -> &'static str {
        match self {
            Permission::Observe => "observe",
            Permission::ReadSlots => "read-slots",
            Permission::Contribute => "contribute",
            Permission::ShareFacts => "share-facts",
            Permission::Steer => "steer",
            Permission::Coordinate => "coordinate",
        }
    }

    /// The permission of a WIT name; `None` for anything else (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_permission() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        assert_eq!(Permission::from_name("admin"), None);
    }

    #[test]
    fn events_and_snapshots_record_a_permission_by_its_wit_name() {
        let recorded = serde_json::to_string(&Permission::ALL).unwrap();
        assert_eq!(
            recorded,
            r#"["observe","read-slots","contribute","share-facts","steer","coordinate"]"#
        );
        let read: Vec<Permission> = serde_json::from_str(&recorded).unwrap();
        assert_eq!(read, Permission::ALL);
    }
}
