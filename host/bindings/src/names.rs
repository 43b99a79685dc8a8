//! The names of the WIT types, spelled as the WIT spells them, defined once: `name()`, `Display` and
//! `FromStr` where a name is read back, and the step ranges of pipeline stages as text.

use std::fmt;
use std::str::FromStr;

use crate::types::{ArenaStatus, Outcome, Permission, Role, SlotStatus, StepRange};

/// A name that names no value of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named: `role`, `permission`, ...
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.what, self.name)
    }
}

impl std::error::Error for UnknownName {}

/// Finds the value among `all` whose name is `name`.
fn by_name<T: Copy>(
    all: &[T],
    name_of: fn(T) -> &'static str,
    what: &'static str,
    name: &str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|value| name_of(*value) == name)
        .ok_or_else(|| UnknownName {
            what,
            name: name.to_string(),
        })
}

impl ArenaStatus {
    /// Every state, in lifecycle order.
    pub const ALL: [ArenaStatus; 4] = [
        ArenaStatus::Created,
        ArenaStatus::Active,
        ArenaStatus::Settling,
        ArenaStatus::Archived,
    ];

    /// The state's name as the WIT spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ArenaStatus::Created => "created",
            ArenaStatus::Active => "active",
            ArenaStatus::Settling => "settling",
            ArenaStatus::Archived => "archived",
        }
    }
}

impl SlotStatus {
    /// The slot status's name as the WIT spells it.
    pub const fn name(self) -> &'static str {
        match self {
            SlotStatus::Idle => "idle",
            SlotStatus::Working => "working",
            SlotStatus::Done => "done",
            SlotStatus::Failed => "failed",
        }
    }
}

impl Permission {
    /// All six permissions, in declaration order.
    pub const ALL: [Permission; 6] = [
        Permission::Observe,
        Permission::ReadSlots,
        Permission::Contribute,
        Permission::ShareFacts,
        Permission::Steer,
        Permission::Coordinate,
    ];

    /// The permission's name, which is also its handle interface's name.
    pub const fn name(self) -> &'static str {
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

impl Role {
    /// The three roles, in declaration order.
    pub const ALL: [Role; 3] = [Role::Coordinator, Role::Worker, Role::Observer];

    /// The role's name.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
            Role::Observer => "observer",
        }
    }
}

macro_rules! display_by_name {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}

display_by_name!(ArenaStatus, SlotStatus, Permission, Role);

impl FromStr for ArenaStatus {
    type Err = UnknownName;

    /// The state named `name` (`created`, `active`, `settling`, `archived`).
    fn from_str(name: &str) -> Result<Self, UnknownName> {
        by_name(&ArenaStatus::ALL, ArenaStatus::name, "state", name)
    }
}

impl FromStr for Permission {
    type Err = UnknownName;

    /// The permission named `name` (`observe`, `read-slots`, ...).
    fn from_str(name: &str) -> Result<Self, UnknownName> {
        by_name(&Permission::ALL, Permission::name, "permission", name)
    }
}

impl FromStr for Role {
    type Err = UnknownName;

    /// The role named `name` (`coordinator`, `worker`, `observer`).
    fn from_str(name: &str) -> Result<Self, UnknownName> {
        by_name(&Role::ALL, Role::name, "role", name)
    }
}

/// The outcome in words: `completed` or `aborted: REASON`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::Aborted(reason) => write!(f, "aborted: {reason}"),
        }
    }
}

/// `N` for a one-step range, `N-M` otherwise.
impl fmt::Display for StepRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A part of a step list that is not a step number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepsError {
    /// The text that should have been a step number.
    pub text: String,
}

impl fmt::Display for StepsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a step number (steps are N or N-M, comma-separated)",
            self.text
        )
    }
}

impl std::error::Error for StepsError {}

/// Parses step ranges written as `N` or `N-M`, separated by commas (`1-3,5`).
///
/// # Failure
/// [`StepsError`] naming the first part that is not a step number.
pub fn parse_steps(text: &str) -> Result<Vec<StepRange>, StepsError> {
    let number = |n: &str| {
        n.trim().parse::<u32>().map_err(|_| StepsError {
            text: n.to_string(),
        })
    };
    text.split(',')
        .map(|part| {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (number(first)?, number(last)?),
                None => {
                    let n = number(part)?;
                    (n, n)
                }
            };
            Ok(StepRange { first, last })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_value() {
        for permission in Permission::ALL {
            assert_eq!(permission.name().parse(), Ok(permission));
        }
        for role in Role::ALL {
            assert_eq!(role.to_string().parse(), Ok(role));
        }
        for status in ArenaStatus::ALL {
            assert_eq!(status.name().parse(), Ok(status));
        }
    }

    #[test]
    fn an_unknown_role_is_refused_with_its_name() {
        assert_eq!(
            "boss".parse::<Role>(),
            Err(UnknownName {
                what: "role",
                name: "boss".into()
            })
        );
    }

    #[test]
    fn steps_parse_as_single_steps_and_ranges() {
        let ranges = parse_steps("1-3, 5").unwrap();
        assert_eq!(
            ranges,
            [
                StepRange { first: 1, last: 3 },
                StepRange { first: 5, last: 5 }
            ]
        );
        let text: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["1-3", "5"]);
    }

    #[test]
    fn a_step_that_is_no_number_is_named_in_the_error() {
        assert_eq!(
            parse_steps("1,x").unwrap_err().to_string(),
            r#""x" is not a step number (steps are N or N-M, comma-separated)"#
        );
    }
}
