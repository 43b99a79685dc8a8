//! The JSON Schema of each tool's arguments, in the subset that tool-calling models and MCP clients
//! read: an object of typed, described properties, the required ones listed, no others allowed.

use serde_json::{Map, Value, json};

use crate::{Permission, Tool};

/// The properties of `tool`'s arguments, each `(name, schema, required)`, in the WIT's order.
fn properties(tool: &Tool) -> Vec<(&'static str, Value, bool)> {
    let text = |description: &str| json!({ "type": "string", "description": description });
    let metadata = json!({
        "type": "object",
        "description": "Optional string metadata: at most 16 entries, keys of 1 to 64 bytes, values up to 1024 bytes.",
        "additionalProperties": { "type": "string" },
    });
    let kind = json!({
        "type": "string",
        "description": "What the content is: 1 to 32 characters of a-z, 0-9 and -, such as text, markdown, code or structured (JSON). Default text.",
        "pattern": "^[a-z0-9-]{1,32}$",
    });
    match tool.name {
        "events" => vec![
            (
                "after",
                json!({ "type": "integer", "minimum": 0, "description": "Only events with a greater sequence number (default 0: from the start)." }),
                false,
            ),
            (
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many events (default 100)." }),
                false,
            ),
        ],
        "facts" => vec![
            ("tag", text("Only facts carrying exactly this tag."), false),
            (
                "text",
                text(
                    "Only facts whose content contains this text, regardless of case (1 to 256 bytes).",
                ),
                false,
            ),
        ],
        "read_slot" => vec![("agent", text("The agent whose slot to read."), true)],
        "read_artifact" => vec![("id", text("The artifact's id, such as art-12."), true)],
        "complete_step" => vec![(
            "step",
            json!({ "type": "integer", "minimum": 1, "description": "The step to mark complete, from 1 to the arena's total." }),
            true,
        )],
        "report_progress" => vec![("note", text("Your progress note (1 to 4096 bytes)."), true)],
        "put_artifact" => vec![
            ("content", text("The work itself (1 byte to 64 KiB)."), true),
            ("kind", kind, false),
            ("metadata", metadata, false),
        ],
        "set_slot_status" => vec![(
            "status",
            json!({ "type": "string", "enum": ["idle", "working", "done", "failed"], "description": "Your slot's new status." }),
            true,
        )],
        "add_fact" => vec![
            ("content", text("The fact (1 to 4096 bytes)."), true),
            (
                "confidence",
                json!({ "type": "number", "minimum": 0, "maximum": 1, "description": "How sure you are, from 0 to 1 (default 1)." }),
                false,
            ),
            (
                "tags",
                json!({ "type": "array", "items": { "type": "string" }, "maxItems": 8, "description": "At most 8 distinct tags of 1 to 64 bytes." }),
                false,
            ),
        ],
        "update_goal" => vec![("goal", text("The new goal (1 to 4096 bytes)."), true)],
        "abort" => vec![("reason", text("Why the arena is given up."), true)],
        "invite" => vec![
            ("agent", text("The agent to add."), true),
            (
                "role",
                json!({ "type": "string", "enum": ["coordinator", "worker", "observer"], "description": "The agent's role." }),
                true,
            ),
            (
                "permissions",
                json!({
                    "type": "array",
                    "items": { "type": "string", "enum": Permission::ALL.iter().map(|p| p.name()).collect::<Vec<_>>() },
                    "description": "Narrows the role's permissions to these; a permission outside the role is refused.",
                }),
                false,
            ),
        ],
        "merge" => vec![
            (
                "content",
                text("The merged result (1 byte to 64 KiB)."),
                true,
            ),
            (
                "sources",
                json!({ "type": "array", "items": { "type": "string" }, "minItems": 1, "maxItems": 64, "description": "The ids of the artifacts it came from (1 to 64, distinct, each of this arena)." }),
                true,
            ),
            ("kind", kind, false),
            ("metadata", metadata, false),
        ],
        _ => Vec::new(),
    }
}

/// The names of `tool`'s arguments, the idempotency key included for writes.
pub(crate) fn argument_names(tool: &Tool) -> Vec<&'static str> {
    let mut names: Vec<_> = properties(tool).into_iter().map(|(n, _, _)| n).collect();
    if tool.writes {
        names.push("key");
    }
    names
}

pub(crate) fn input_schema(tool: &Tool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema, is_required) in properties(tool) {
        props.insert(name.to_string(), schema);
        if is_required {
            required.push(Value::from(name));
        }
    }
    if tool.writes {
        props.insert(
            "key".to_string(),
            json!({
                "type": "string",
                "description": "Optional idempotency key (1 to 128 bytes): a retry with the same key writes nothing and answers as the first call did.",
            }),
        );
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}
