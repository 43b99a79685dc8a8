//! The six permissions and the roles that preset them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One capability; each is a handle interface of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Read goal, status, aggregate, participants, events and facts; leave.
    Observe,
    /// Read other participants' slots and artifacts.
    ReadSlots,
    /// Complete steps, report progress, write one's own slot.
    Contribute,
    /// Share facts.
    ShareFacts,
    /// Update the goal.
    Steer,
    /// Activate, settle, archive, abort, invite, merge.
    Coordinate,
}

impl Permission {
    /// All six, in declaration order.
    pub const ALL: [Permission; 6] = [
        Permission::Observe,
        Permission::ReadSlots,
        Permission::Contribute,
        Permission::ShareFacts,
        Permission::Steer,
        Permission::Coordinate,
    ];

    /// The permission's name, which is also its handle interface's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Observe => "observe",
            Permission::ReadSlots => "read-slots",
            Permission::Contribute => "contribute",
            Permission::ShareFacts => "share-facts",
            Permission::Steer => "steer",
            Permission::Coordinate => "coordinate",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Every permission.
    Coordinator,
    /// `observe`, `read-slots`, `contribute`, `share-facts`.
    Worker,
    /// `observe`, `read-slots`.
    Observer,
}

impl Role {
    /// The permissions the role grants, per DESIGN.md's table.
    pub fn permissions(self) -> BTreeSet<Permission> {
        use Permission::*;
        let list: &[Permission] = match self {
            Role::Coordinator => &Permission::ALL,
            Role::Worker => &[Observe, ReadSlots, Contribute, ShareFacts],
            Role::Observer => &[Observe, ReadSlots],
        };
        list.iter().copied().collect()
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
            Role::Observer => "observer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
