//! Tool-call arguments, decoded into plain Rust calls.
//!
//! Decoding checks shapes and types only: an unknown tool, an unknown, missing or mistyped argument.
//! What the values may be (lengths, ranges, which step exists) is the arena's to check, so that every
//! way in is refused with the same `arena-error` for the same value.

use std::fmt;

use serde_json::{Map, Value};

use crate::{Permission, TOOLS, Tool, schema, tool};

/// A slot's status, as `set_slot_status` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotStatus {
    /// Nothing started.
    Idle,
    /// Work in progress.
    Working,
    /// Finished; in a pipeline, the owner's stage is done.
    Done,
    /// Given up.
    Failed,
}

/// A participant's role, as `invite` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// All six permissions.
    Coordinator,
    /// observe, read-slots, contribute, share-facts.
    Worker,
    /// observe, read-slots.
    Observer,
}

/// One handle call, decoded from a tool call. Each variant is the handle function of the same name.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `observe.info`
    Info,
    /// `observe.goal`
    Goal,
    /// `observe.status`
    Status,
    /// `observe.progress`
    Progress,
    /// `observe.participants`
    Participants,
    /// `observe.events`
    Events {
        /// Only events with a greater sequence number.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// `observe.leave`
    Leave,
    /// `observe.facts`
    Facts {
        /// Only facts carrying exactly this tag.
        tag: Option<String>,
        /// Only facts whose content contains this text.
        text: Option<String>,
    },
    /// `read-slots.list-slots`
    ListSlots,
    /// `read-slots.read-slot`
    ReadSlot {
        /// Whose slot.
        agent: String,
    },
    /// `read-slots.read-artifact`
    ReadArtifact {
        /// The artifact's id.
        id: String,
    },
    /// `contribute.complete-step`
    CompleteStep {
        /// The step, from 1.
        step: u32,
    },
    /// `contribute.report-progress`
    ReportProgress {
        /// The note.
        note: String,
    },
    /// `contribute.put-artifact`
    PutArtifact {
        /// The artifact's kind (`text` unless given).
        kind: String,
        /// Its content.
        content: String,
        /// Its metadata, sorted by key.
        metadata: Vec<(String, String)>,
    },
    /// `contribute.set-slot-status`
    SetSlotStatus {
        /// The new status.
        status: SlotStatus,
    },
    /// `contribute.own-slot`
    OwnSlot,
    /// `share-facts.add-fact`
    AddFact {
        /// The fact.
        content: String,
        /// In [0, 1] (1 unless given).
        confidence: f64,
        /// Its tags.
        tags: Vec<String>,
    },
    /// `steer.update-goal`
    UpdateGoal {
        /// The new goal.
        goal: String,
    },
    /// `coordinate.activate`
    Activate,
    /// `coordinate.settle`
    Settle,
    /// `coordinate.archive`
    Archive,
    /// `coordinate.abort`
    Abort {
        /// Why.
        reason: String,
    },
    /// `coordinate.invite`
    Invite {
        /// Who.
        agent: String,
        /// With which role.
        role: Role,
        /// Narrowed to these permissions, if given.
        permissions: Option<Vec<Permission>>,
    },
    /// `coordinate.merge`
    Merge {
        /// The merged artifact's kind (`text` unless given).
        kind: String,
        /// The merged content.
        content: String,
        /// The artifacts it came from.
        sources: Vec<String>,
        /// Its metadata, sorted by key.
        metadata: Vec<(String, String)>,
    },
}

impl Call {
    /// The tool this call is made through.
    pub fn tool(&self) -> &'static Tool {
        let name = match self {
            Call::Info => "info",
            Call::Goal => "goal",
            Call::Status => "status",
            Call::Progress => "progress",
            Call::Participants => "participants",
            Call::Events { .. } => "events",
            Call::Leave => "leave",
            Call::Facts { .. } => "facts",
            Call::ListSlots => "list_slots",
            Call::ReadSlot { .. } => "read_slot",
            Call::ReadArtifact { .. } => "read_artifact",
            Call::CompleteStep { .. } => "complete_step",
            Call::ReportProgress { .. } => "report_progress",
            Call::PutArtifact { .. } => "put_artifact",
            Call::SetSlotStatus { .. } => "set_slot_status",
            Call::OwnSlot => "own_slot",
            Call::AddFact { .. } => "add_fact",
            Call::UpdateGoal { .. } => "update_goal",
            Call::Activate => "activate",
            Call::Settle => "settle",
            Call::Archive => "archive",
            Call::Abort { .. } => "abort",
            Call::Invite { .. } => "invite",
            Call::Merge { .. } => "merge",
        };
        TOOLS
            .iter()
            .find(|t| t.name == name)
            .expect("every call has its tool in the catalogue")
    }
}

/// A decoded tool call: the call, and the idempotency key it carried (writes only).
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// What to call.
    pub call: Call,
    /// The idempotency key, if the call is a write that carried one.
    pub key: Option<String>,
}

/// Why a tool call's arguments could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgumentError {
    /// No tool has this name.
    UnknownTool(String),
    /// The arguments do not fit the tool's schema: `what` names the argument and what was expected.
    Invalid {
        /// The tool called.
        tool: &'static str,
        /// What is wrong, naming the argument.
        what: String,
    },
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgumentError::UnknownTool(name) => write!(f, "there is no tool named {name:?}"),
            ArgumentError::Invalid { tool, what } => write!(f, "{tool}: {what}"),
        }
    }
}

impl std::error::Error for ArgumentError {}

/// The arguments of one call, with the tool they were given to, read one by one.
struct Arguments<'a> {
    tool: &'static Tool,
    map: &'a Map<String, Value>,
}

impl<'a> Arguments<'a> {
    fn invalid(&self, what: impl Into<String>) -> ArgumentError {
        ArgumentError::Invalid {
            tool: self.tool.name,
            what: what.into(),
        }
    }

    /// `name`'s value, `None` when absent or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn required<T>(
        &self,
        name: &str,
        read: impl Fn(&Self, &str, &'a Value) -> Result<T, ArgumentError>,
    ) -> Result<T, ArgumentError> {
        match self.get(name) {
            Some(value) => read(self, name, value),
            None => Err(self.invalid(format!("the argument `{name}` is required"))),
        }
    }

    fn optional<T>(
        &self,
        name: &str,
        read: impl Fn(&Self, &str, &'a Value) -> Result<T, ArgumentError>,
    ) -> Result<Option<T>, ArgumentError> {
        self.get(name).map(|v| read(self, name, v)).transpose()
    }

    fn string(&self, name: &str, value: &Value) -> Result<String, ArgumentError> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(format!("`{name}` must be a string")))
    }

    fn unsigned(&self, name: &str, value: &Value) -> Result<u64, ArgumentError> {
        // Models write integers as floats (`3.0`) and sometimes as strings ("3"); both are clear.
        let number = match value {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        };
        match (value.as_u64(), number) {
            (Some(n), _) => Ok(n),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(53) => Ok(f as u64),
            _ => Err(self.invalid(format!("`{name}` must be a whole number of at least 0"))),
        }
    }

    fn u32(&self, name: &str, value: &Value) -> Result<u32, ArgumentError> {
        let n = self.unsigned(name, value)?;
        u32::try_from(n).map_err(|_| self.invalid(format!("`{name}` must be at most {}", u32::MAX)))
    }

    fn number(&self, name: &str, value: &Value) -> Result<f64, ArgumentError> {
        let number = match value {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        };
        number.ok_or_else(|| self.invalid(format!("`{name}` must be a number")))
    }

    fn strings(&self, name: &str, value: &Value) -> Result<Vec<String>, ArgumentError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.invalid(format!("`{name}` must be an array of strings")))?;
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.invalid(format!("`{name}` must be an array of strings")))
            })
            .collect()
    }

    fn metadata(&self, name: &str, value: &Value) -> Result<Vec<(String, String)>, ArgumentError> {
        let entries = value
            .as_object()
            .ok_or_else(|| self.invalid(format!("`{name}` must be an object of string values")))?;
        let mut pairs = entries
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => Ok((k.clone(), v.to_string())),
                None => Err(self.invalid(format!("`{name}.{k}` must be a string"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Sorted as the arena keeps them, whatever order the map was built in.
        pairs.sort();
        Ok(pairs)
    }

    fn one_of<T: Copy>(
        &self,
        name: &str,
        value: &Value,
        choices: &[(&str, T)],
    ) -> Result<T, ArgumentError> {
        let text = value.as_str().unwrap_or_default();
        choices
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<_> = choices.iter().map(|(n, _)| *n).collect();
                self.invalid(format!("`{name}` must be one of {}", names.join(", ")))
            })
    }

    fn kind(&self) -> Result<String, ArgumentError> {
        Ok(self
            .optional("kind", Self::string)?
            .unwrap_or_else(|| "text".to_string()))
    }

    fn metadata_or_none(&self) -> Result<Vec<(String, String)>, ArgumentError> {
        Ok(self
            .optional("metadata", Self::metadata)?
            .unwrap_or_default())
    }
}

const STATUSES: &[(&str, SlotStatus)] = &[
    ("idle", SlotStatus::Idle),
    ("working", SlotStatus::Working),
    ("done", SlotStatus::Done),
    ("failed", SlotStatus::Failed),
];

const ROLES: &[(&str, Role)] = &[
    ("coordinator", Role::Coordinator),
    ("worker", Role::Worker),
    ("observer", Role::Observer),
];

/// Decodes a call of the tool `name` with JSON `arguments` (an object; `null` counts as `{}`).
///
/// # Failure
///
/// [`ArgumentError::UnknownTool`] for a name the catalogue does not have; [`ArgumentError::Invalid`],
/// naming the argument, for arguments that are not an object, an argument the tool does not take, a
/// required one missing, or a value of the wrong type.
pub fn decode(name: &str, arguments: &Value) -> Result<Invocation, ArgumentError> {
    let tool = tool(name).ok_or_else(|| ArgumentError::UnknownTool(name.to_string()))?;
    let empty = Map::new();
    let map = match arguments {
        Value::Null => &empty,
        Value::Object(map) => map,
        _ => {
            return Err(ArgumentError::Invalid {
                tool: tool.name,
                what: "the arguments must be a JSON object".to_string(),
            });
        }
    };
    let args = Arguments { tool, map };
    let known = schema::argument_names(tool);
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        let expected = if known.is_empty() {
            "it takes no arguments".to_string()
        } else {
            format!("it takes {}", known.join(", "))
        };
        return Err(args.invalid(format!("unknown argument `{unknown}`: {expected}")));
    }
    let key = if tool.writes {
        args.optional("key", Arguments::string)?
    } else {
        None
    };
    let call = match tool.name {
        "info" => Call::Info,
        "goal" => Call::Goal,
        "status" => Call::Status,
        "progress" => Call::Progress,
        "participants" => Call::Participants,
        "events" => Call::Events {
            after: args.optional("after", Arguments::unsigned)?.unwrap_or(0),
            limit: args.optional("limit", Arguments::u32)?.unwrap_or(100),
        },
        "leave" => Call::Leave,
        "facts" => Call::Facts {
            tag: args.optional("tag", Arguments::string)?,
            text: args.optional("text", Arguments::string)?,
        },
        "list_slots" => Call::ListSlots,
        "read_slot" => Call::ReadSlot {
            agent: args.required("agent", Arguments::string)?,
        },
        "read_artifact" => Call::ReadArtifact {
            id: args.required("id", Arguments::string)?,
        },
        "complete_step" => Call::CompleteStep {
            step: args.required("step", Arguments::u32)?,
        },
        "report_progress" => Call::ReportProgress {
            note: args.required("note", Arguments::string)?,
        },
        "put_artifact" => Call::PutArtifact {
            kind: args.kind()?,
            content: args.required("content", Arguments::string)?,
            metadata: args.metadata_or_none()?,
        },
        "set_slot_status" => Call::SetSlotStatus {
            status: args.required("status", |a, n, v| a.one_of(n, v, STATUSES))?,
        },
        "own_slot" => Call::OwnSlot,
        "add_fact" => Call::AddFact {
            content: args.required("content", Arguments::string)?,
            confidence: args
                .optional("confidence", Arguments::number)?
                .unwrap_or(1.0),
            tags: args
                .optional("tags", Arguments::strings)?
                .unwrap_or_default(),
        },
        "update_goal" => Call::UpdateGoal {
            goal: args.required("goal", Arguments::string)?,
        },
        "activate" => Call::Activate,
        "settle" => Call::Settle,
        "archive" => Call::Archive,
        "abort" => Call::Abort {
            reason: args.required("reason", Arguments::string)?,
        },
        "invite" => Call::Invite {
            agent: args.required("agent", Arguments::string)?,
            role: args.required("role", |a, n, v| a.one_of(n, v, ROLES))?,
            permissions: args
                .optional("permissions", Arguments::strings)?
                .map(|names| {
                    names
                        .iter()
                        .map(|n| {
                            Permission::from_name(n).ok_or_else(|| {
                                args.invalid(format!("`permissions`: {n:?} is not a permission"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
        },
        "merge" => Call::Merge {
            kind: args.kind()?,
            content: args.required("content", Arguments::string)?,
            sources: args.required("sources", Arguments::strings)?,
            metadata: args.metadata_or_none()?,
        },
        other => unreachable!("the catalogue's tool {other} has no decoder"),
    };
    Ok(Invocation { call, key })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invalid(tool: &'static str, what: &str) -> ArgumentError {
        ArgumentError::Invalid {
            tool,
            what: what.to_string(),
        }
    }

    #[test]
    fn every_tool_decodes_from_its_required_arguments() {
        for tool in TOOLS {
            let schema = tool.input_schema();
            let mut args = Map::new();
            for name in schema["required"].as_array().unwrap() {
                let name = name.as_str().unwrap();
                let value = match schema["properties"][name]["type"].as_str().unwrap() {
                    "integer" => json!(1),
                    "array" => json!(["art-1"]),
                    _ => match schema["properties"][name]["enum"].get(0) {
                        Some(first) => first.clone(),
                        None => json!("x"),
                    },
                };
                args.insert(name.to_string(), value);
            }
            let call = decode(tool.name, &Value::Object(args)).unwrap().call;
            assert_eq!(call.tool(), tool);
        }
    }

    #[test]
    fn an_unknown_tool_is_named() {
        assert_eq!(
            decode("drop_table", &json!({})),
            Err(ArgumentError::UnknownTool("drop_table".into()))
        );
    }

    #[test]
    fn a_missing_argument_is_named() {
        assert_eq!(
            decode("complete_step", &json!({})),
            Err(invalid("complete_step", "the argument `step` is required"))
        );
    }

    #[test]
    fn an_unknown_argument_is_refused_with_the_ones_the_tool_takes() {
        assert_eq!(
            decode("complete_step", &json!({"step": 1, "agent": "mallory"})),
            Err(invalid(
                "complete_step",
                "unknown argument `agent`: it takes step, key"
            ))
        );
        assert_eq!(
            decode("info", &json!({"arena": "x"})),
            Err(invalid(
                "info",
                "unknown argument `arena`: it takes no arguments"
            ))
        );
    }

    #[test]
    fn reads_take_no_key() {
        assert_eq!(
            decode("info", &json!({"key": "k"})),
            Err(invalid(
                "info",
                "unknown argument `key`: it takes no arguments"
            ))
        );
    }

    #[test]
    fn mistyped_arguments_are_named() {
        assert_eq!(
            decode("complete_step", &json!({"step": -2})),
            Err(invalid(
                "complete_step",
                "`step` must be a whole number of at least 0"
            ))
        );
        assert_eq!(
            decode("set_slot_status", &json!({"status": "finished"})),
            Err(invalid(
                "set_slot_status",
                "`status` must be one of idle, working, done, failed"
            ))
        );
        assert_eq!(
            decode(
                "put_artifact",
                &json!({"content": "x", "metadata": {"n": 1}})
            ),
            Err(invalid("put_artifact", "`metadata.n` must be a string"))
        );
        assert_eq!(
            decode("merge", &json!("all")),
            Err(invalid("merge", "the arguments must be a JSON object"))
        );
    }

    #[test]
    fn whole_numbers_written_as_floats_or_strings_are_read() {
        let expected = Call::CompleteStep { step: 3 };
        assert_eq!(
            decode("complete_step", &json!({"step": 3.0})).unwrap().call,
            expected
        );
        assert_eq!(
            decode("complete_step", &json!({"step": "3"})).unwrap().call,
            expected
        );
        assert!(decode("complete_step", &json!({"step": 3.5})).is_err());
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        assert_eq!(
            decode("put_artifact", &json!({"content": "draft"})).unwrap(),
            Invocation {
                call: Call::PutArtifact {
                    kind: "text".into(),
                    content: "draft".into(),
                    metadata: vec![],
                },
                key: None,
            }
        );
        assert_eq!(
            decode("events", &Value::Null).unwrap().call,
            Call::Events {
                after: 0,
                limit: 100
            }
        );
        assert_eq!(
            decode("add_fact", &json!({"content": "c", "key": "f1"})).unwrap(),
            Invocation {
                call: Call::AddFact {
                    content: "c".into(),
                    confidence: 1.0,
                    tags: vec![],
                },
                key: Some("f1".into()),
            }
        );
    }

    #[test]
    fn metadata_comes_out_sorted_by_key() {
        let call = decode(
            "merge",
            &json!({"content": "m", "sources": ["art-2"], "metadata": {"z": "1", "a": "2"}}),
        )
        .unwrap()
        .call;
        assert_eq!(
            call,
            Call::Merge {
                kind: "text".into(),
                content: "m".into(),
                sources: vec!["art-2".into()],
                metadata: vec![("a".into(), "2".into()), ("z".into(), "1".into())],
            }
        );
    }

    #[test]
    fn an_invitation_names_a_bad_permission() {
        assert_eq!(
            decode(
                "invite",
                &json!({"agent": "eve", "role": "worker", "permissions": ["observe", "root"]})
            ),
            Err(invalid(
                "invite",
                "`permissions`: \"root\" is not a permission"
            ))
        );
        assert_eq!(
            decode(
                "invite",
                &json!({"agent": "eve", "role": "worker", "permissions": ["observe"]})
            )
            .unwrap()
            .call,
            Call::Invite {
                agent: "eve".into(),
                role: Role::Worker,
                permissions: Some(vec![Permission::Observe]),
            }
        );
    }
}
