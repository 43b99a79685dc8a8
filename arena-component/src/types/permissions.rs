//! The six permissions and the roles that preset them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One capability; each is a handle interface of the same name. Defined once, in `arena-permissions`,
/// for the arena's logic and the tool catalogue alike.
pub use arena_permissions::Permission;

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
