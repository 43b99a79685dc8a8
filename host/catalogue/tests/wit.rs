//! The catalogue holds exactly the handle functions of the WIT, each under its interface, with the
//! WIT's parameter names as its arguments: a function added to `wit/handles.wit` without its tool, or
//! a tool whose function moved, fails here.

use std::collections::BTreeMap;
use std::path::Path;

use arena_catalogue::{Permission, TOOLS, granted};
use wit_parser::Resolve;

/// Every function of the six handle interfaces, as `(interface, function) -> parameter names`.
fn wit_handle_functions() -> BTreeMap<(String, String), Vec<String>> {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(&wit).expect("the WIT parses");
    let mut functions = BTreeMap::new();
    for (_, interface) in &resolve.interfaces {
        if interface.package != Some(package) {
            continue;
        }
        let Some(name) = interface.name.as_deref() else {
            continue;
        };
        if Permission::from_name(name).is_none() {
            continue;
        }
        for (function, f) in &interface.functions {
            let params = f.params.iter().map(|p| p.name.clone()).collect();
            functions.insert((name.to_string(), function.clone()), params);
        }
    }
    functions
}

#[test]
fn every_handle_function_of_the_wit_is_one_tool_and_nothing_else_is() {
    let wit: Vec<_> = wit_handle_functions().into_keys().collect();
    let mut catalogue: Vec<_> = TOOLS
        .iter()
        .map(|t| (t.permission.name().to_string(), t.function.to_string()))
        .collect();
    catalogue.sort();
    assert_eq!(catalogue, wit);
}

#[test]
fn a_tool_is_named_for_its_function_with_underscores() {
    for tool in TOOLS {
        assert_eq!(tool.name, tool.function.replace('-', "_"));
    }
}

#[test]
fn a_tool_takes_its_functions_parameters() {
    let wit = wit_handle_functions();
    // Records the WIT passes whole are spread into their fields, and `metadata` and `kind` may be
    // left out; what must hold is that every argument but `key` names a WIT parameter or a field of
    // the record parameter.
    let record_fields: BTreeMap<&str, &[&str]> = [
        (
            "draft",
            &["kind", "content", "metadata", "confidence", "tags"][..],
        ),
        ("query", &["tag", "text"][..]),
        ("request", &["kind", "content", "sources", "metadata"][..]),
        ("participant", &["agent", "role", "permissions"][..]),
    ]
    .into();
    for tool in TOOLS {
        let params = &wit[&(
            tool.permission.name().to_string(),
            tool.function.to_string(),
        )];
        let schema = tool.input_schema();
        let arguments: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|a| *a != "key")
            .collect();
        for argument in &arguments {
            let direct = params.iter().any(|p| p == argument);
            let in_record = params.iter().any(|p| {
                record_fields
                    .get(p.as_str())
                    .is_some_and(|f| f.contains(argument))
            });
            assert!(
                direct || in_record,
                "{}: argument {argument} is no parameter of {} ({params:?})",
                tool.name,
                tool.function
            );
        }
        if params.is_empty() {
            assert!(arguments.is_empty(), "{} takes no arguments", tool.name);
        } else {
            assert!(!arguments.is_empty(), "{} takes {params:?}", tool.name);
        }
    }
}

#[test]
fn only_writes_take_a_key() {
    for tool in TOOLS {
        let schema = tool.input_schema();
        assert_eq!(
            schema["properties"].get("key").is_some(),
            tool.writes,
            "{}",
            tool.name
        );
    }
}

#[test]
fn an_observer_is_offered_only_reading_tools() {
    let names: Vec<_> = granted(&[Permission::Observe, Permission::ReadSlots])
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        [
            "info",
            "goal",
            "status",
            "progress",
            "participants",
            "events",
            "leave",
            "facts",
            "list_slots",
            "read_slot",
            "read_artifact"
        ]
    );
    // `leave` is the one write an observer holds: it changes only the observer's own membership.
    assert!(
        granted(&[Permission::Observe, Permission::ReadSlots])
            .filter(|t| t.writes)
            .all(|t| t.name == "leave")
    );
}

#[test]
fn a_grant_lists_exactly_its_interfaces() {
    for permission in Permission::ALL {
        for tool in granted(&[permission]) {
            assert_eq!(tool.permission, permission);
        }
    }
    assert_eq!(granted(&Permission::ALL).count(), TOOLS.len());
    assert_eq!(granted(&[]).count(), 0);
}
