//! Working together: slots and artifacts, shared facts, pipelines, merges and the settle report —
//! who may do what, the bounds, and how the log replays them.

use std::fmt::Debug;

use arena_host::types::{
    ArenaConfig, ArenaError, ArenaInfo, ArenaStatus, Artifact, ArtifactDraft, Contribution,
    FactCursor, FactDraft, FactQuery, Limit, MergeRequest, Outcome, ParticipantSpec, Permission,
    Pipeline, Role, SlotStatus, Stage, StepRange, Strategy,
};
use arena_host::{AgentHandle, ArenaHost, HostError, HostOptions, Operation};
use arena_tests::{
    STATES, arena_error, arena_in, chain_hash, config, event_count, fresh_host, spec,
};

// ---- helpers ----

/// A draft of `kind` with `content` and no metadata.
fn draft(kind: &str, content: &str) -> ArtifactDraft {
    ArtifactDraft {
        kind: kind.into(),
        content: content.into(),
        metadata: vec![],
    }
}

/// A text draft.
fn text(content: &str) -> ArtifactDraft {
    draft("text", content)
}

/// A metadata entry.
fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_string(), value.to_string())
}

/// A text draft carrying `metadata`.
fn with_metadata(metadata: Vec<(String, String)>) -> ArtifactDraft {
    ArtifactDraft {
        metadata,
        ..text("annotated")
    }
}

/// A fact of confidence 0.5.
fn fact(content: &str, tags: &[&str]) -> FactDraft {
    FactDraft {
        content: content.into(),
        confidence: 0.5,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn query(tag: Option<&str>, text: Option<&str>) -> FactQuery {
    FactQuery {
        tag: tag.map(str::to_string),
        text: text.map(str::to_string),
    }
}

fn by_tag(tag: &str) -> FactQuery {
    query(Some(tag), None)
}

/// A text merge of `sources`.
fn merge_of(sources: &[String]) -> MergeRequest {
    MergeRequest {
        kind: "text".into(),
        content: "merged".into(),
        sources: sources.to_vec(),
        metadata: vec![],
    }
}

fn limit(what: &str, limit: u64) -> ArenaError {
    ArenaError::LimitExceeded(Limit {
        what: what.into(),
        limit,
    })
}

fn invalid_input(message: &str) -> ArenaError {
    ArenaError::InvalidInput(message.into())
}

fn invalid_state(message: &str) -> ArenaError {
    ArenaError::InvalidState(message.into())
}

/// The error `op` fails with, asserting that it wrote no event.
fn refused<T: Debug>(
    host: &ArenaHost,
    id: &str,
    op: impl FnOnce() -> Result<T, HostError>,
) -> ArenaError {
    let before = event_count(host, id);
    let error = arena_error(op());
    assert_eq!(
        event_count(host, id),
        before,
        "a refused call ({error:?}) wrote"
    );
    error
}

/// The message of an `invalid-input` error, panicking on any other.
fn input_message(error: ArenaError) -> String {
    match error {
        ArenaError::InvalidInput(message) => message,
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

/// The arena of [`config`] in `status`, with its three participants' handles.
struct Team {
    id: String,
    lead: AgentHandle,
    wendy: AgentHandle,
    otto: AgentHandle,
}

fn team(host: &ArenaHost, status: ArenaStatus) -> Team {
    let id = arena_in(host, status);
    let handle = |agent| host.handle(&id, agent).unwrap();
    Team {
        lead: handle("lead"),
        wendy: handle("wendy"),
        otto: handle("otto"),
        id,
    }
}

/// Ids of the artifacts `handle` puts, one per content.
fn put_all(handle: &AgentHandle, contents: impl IntoIterator<Item = String>) -> Vec<String> {
    contents
        .into_iter()
        .map(|c| handle.put_artifact(&text(&c)).unwrap().id)
        .collect()
}

fn ids(artifacts: &[Artifact]) -> Vec<&str> {
    artifacts.iter().map(|a| a.id.as_str()).collect()
}

fn stage(agent: &str, steps: &[(u32, u32)], depends_on: &[&str]) -> Stage {
    Stage {
        agent: agent.into(),
        steps: steps
            .iter()
            .map(|&(first, last)| StepRange { first, last })
            .collect(),
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
    }
}

/// Five steps: `drafter` owns 1-2, `reviewer` 3 after the drafter, `editor` 4-5 after both;
/// `lead` coordinates and `otto` watches.
fn editorial() -> ArenaConfig {
    ArenaConfig {
        goal: "publish the field guide".into(),
        total_steps: 5,
        strategy: Strategy::Pipeline(Pipeline {
            coordinator: "lead".into(),
            stages: vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("reviewer", &[(3, 3)], &["drafter"]),
                stage("editor", &[(4, 5)], &["drafter", "reviewer"]),
            ],
        }),
        participants: vec![
            spec("lead", Role::Coordinator),
            spec("drafter", Role::Worker),
            spec("reviewer", Role::Worker),
            spec("editor", Role::Worker),
            spec("otto", Role::Observer),
        ],
        created_by: "operator".into(),
    }
}

fn pipeline_of(config: &mut ArenaConfig) -> &mut Pipeline {
    match &mut config.strategy {
        Strategy::Pipeline(pipeline) => pipeline,
        Strategy::Peer(_) => panic!("not a pipeline"),
    }
}

/// [`editorial`] with other stages.
fn editorial_with(stages: Vec<Stage>) -> ArenaConfig {
    let mut config = editorial();
    pipeline_of(&mut config).stages = stages;
    config
}

/// The [`editorial`] arena, activated, and a handle maker for it.
fn active_editorial(host: &ArenaHost) -> (String, impl Fn(&str) -> AgentHandle) {
    let id = host.create(&editorial()).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    let (host, arena) = (host.clone(), id.clone());
    (id, move |agent: &str| host.handle(&arena, agent).unwrap())
}

// ---- partition isolation ----

#[test]
fn an_artifact_always_lands_in_its_authors_own_slot() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active);
    let w = wendy.put_artifact(&text("wendy's notes")).unwrap();
    let l = lead.put_artifact(&text("lead's notes")).unwrap();
    assert_eq!((w.author.as_str(), l.author.as_str()), ("wendy", "lead"));

    let slots = host.slots(&id).unwrap();
    let owners: Vec<(&str, Vec<&str>)> = slots
        .iter()
        .map(|s| (s.agent.as_str(), ids(&s.artifacts)))
        .collect();
    assert_eq!(
        owners,
        [
            ("lead", vec![l.id.as_str()]),
            ("otto", vec![]),
            ("wendy", vec![w.id.as_str()])
        ]
    );
    for event in host.all_events(&id, 0).unwrap() {
        if event.kind == "artifact-put" {
            let author = if event.seq == w.seq { "wendy" } else { "lead" };
            assert_eq!(event.actor, author, "event {}", event.seq);
        }
    }
}

#[test]
fn reading_slots_needs_read_slots_in_the_host_grant_and_in_the_arena() {
    let (_dir, host) = fresh_host();
    let Team {
        id, wendy, otto, ..
    } = team(&host, ArenaStatus::Active);
    let art = wendy.put_artifact(&text("secret plan")).unwrap();
    // The observer reads everything its role allows.
    assert_eq!(otto.read_artifact(&art.id).unwrap(), art);

    let reads = |h: &AgentHandle| {
        [
            h.read_slot("wendy").map(drop),
            h.list_slots().map(drop),
            h.read_artifact(&art.id).map(drop),
        ]
    };
    // The host grants otto less than the arena does: the host refuses.
    let narrow_grant = host.handle_with_grant(&id, "otto", vec![Permission::Observe]);
    for result in reads(&narrow_grant) {
        assert_eq!(
            arena_error(result),
            ArenaError::PermissionDenied(Permission::ReadSlots)
        );
    }

    // Narrowed at creation to observe, granted read-slots by the host: the arena refuses.
    let mut narrowed = config(5);
    narrowed.participants[2].permissions = Some(vec![Permission::Observe]);
    let id = host.create(&narrowed).unwrap();
    let overgranted = host.handle_with_grant(
        &id,
        "otto",
        vec![Permission::Observe, Permission::ReadSlots],
    );
    for result in reads(&overgranted) {
        assert_eq!(
            arena_error(result),
            ArenaError::PermissionDenied(Permission::ReadSlots)
        );
    }
    assert_eq!(
        host.handle(&id, "otto").unwrap().grant(),
        &[Permission::Observe]
    );
}

#[test]
fn a_forged_put_is_refused_and_writes_nothing() {
    let (_dir, host) = fresh_host();
    let Team { id, otto, .. } = team(&host, ArenaStatus::Active);
    let contribute = ArenaError::PermissionDenied(Permission::Contribute);
    let put = Operation::PutArtifact(text("forged"));
    // A stranger's ordinary handle holds nothing: the host refuses.
    let stranger = host.handle(&id, "mallory").unwrap();
    assert_eq!(
        refused(&host, &id, || stranger.put_artifact(&text("x"))),
        contribute
    );
    // Handed every interface, a stranger and an observer are refused by the arena.
    for agent in ["mallory", "otto"] {
        let forged = host.handle_with_grant(&id, agent, Permission::ALL.to_vec());
        assert_eq!(
            refused(&host, &id, || forged.put_artifact(&text("x"))),
            contribute
        );
        assert_eq!(
            refused(&host, &id, || forged.perform(None, &put)),
            contribute
        );
        assert_eq!(
            refused(&host, &id, || forged.set_slot_status(SlotStatus::Done)),
            contribute
        );
        assert_eq!(refused(&host, &id, || forged.own_slot()), contribute);
    }
    assert_eq!(arena_error(otto.read_slot("mallory")), ArenaError::NotFound);
    assert!(
        host.slots(&id)
            .unwrap()
            .iter()
            .all(|s| s.artifacts.is_empty())
    );
}

/// Appends to `arena`'s log, behind the component's back (triggers forbid only UPDATE and DELETE),
/// an `artifact-put` by `actor` that chains correctly onto the last event, leaving the arena's head
/// alone; returns its sequence number.
fn inject_put(host: &ArenaHost, arena: &str, actor: &str) -> u64 {
    let last = host.all_events(arena, 0).unwrap().pop().unwrap();
    let (seq, kind, payload) = (
        last.seq + 1,
        "artifact-put",
        r#"{"content":"forged","kind":"text","v":1}"#,
    );
    let hash = chain_hash(&last.hash, seq, kind, actor, &last.at, payload);
    rusqlite::Connection::open(host.path().expect("an SQLite host"))
        .unwrap()
        .execute(
            "INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![arena, seq, last.at, actor, kind, payload, hash],
        )
        .unwrap();
    seq
}

#[test]
fn verify_finds_an_injected_artifact_by_an_agent_that_never_participated() {
    let (_dir, host) = fresh_host();
    let Team { id, wendy, .. } = team(&host, ArenaStatus::Active);
    wendy.put_artifact(&text("honest work")).unwrap();
    // The forger chains the way the arena does (checked against a real event).
    let events = host.all_events(&id, 0).unwrap();
    let (prev, real) = (&events[events.len() - 2], &events[events.len() - 1]);
    let rehashed = chain_hash(
        &prev.hash,
        real.seq,
        &real.kind,
        &real.actor,
        &real.at,
        &real.payload,
    );
    assert_eq!(rehashed, real.hash);

    let seq = inject_put(&host, &id, "mallory");
    let problem = host
        .verify(&id)
        .unwrap()
        .problem
        .expect("the forgery must be found");
    assert_eq!(
        problem,
        format!(
            "event {seq}: artifact-put by mallory, who is not a participant at that point: the \
             event was not written by the arena"
        )
    );

    // The same event by a participant would replay; only the head it did not move gives it away.
    let Team { id, .. } = team(&host, ArenaStatus::Active);
    inject_put(&host, &id, "wendy");
    let problem = host
        .verify(&id)
        .unwrap()
        .problem
        .expect("the injection must be found");
    assert!(problem.contains("the stored head"), "{problem}");
}

// ---- artifacts ----

#[test]
fn artifacts_get_minted_ids_and_keep_creation_order_and_sorted_metadata() {
    let (_dir, host) = fresh_host();
    let Team {
        id, wendy, otto, ..
    } = team(&host, ArenaStatus::Active);
    let mut stored = Vec::new();
    for content in ["first", "second", "third"] {
        let artifact = wendy
            .put_artifact(&ArtifactDraft {
                metadata: vec![pair("zone", "north"), pair("author-note", "é ok")],
                ..text(content)
            })
            .unwrap();
        let info = host.get(&id).unwrap();
        let event = host.all_events(&id, 0).unwrap().pop().unwrap();
        assert_eq!(artifact.id, format!("art-{}", info.last_seq));
        assert_eq!(
            (artifact.seq, artifact.created_at.as_str()),
            (event.seq, event.at.as_str())
        );
        assert_eq!(
            artifact.metadata,
            [pair("author-note", "é ok"), pair("zone", "north")]
        );
        assert!(artifact.sources.is_empty());
        stored.push(artifact);
    }
    let slot = otto.read_slot("wendy").unwrap();
    assert_eq!(slot.artifacts, stored);
    assert_eq!(wendy.own_slot().unwrap(), slot);
    for artifact in &stored {
        assert_eq!(&otto.read_artifact(&artifact.id).unwrap(), artifact);
    }
    let listed = otto.list_slots().unwrap();
    let wendys = listed.iter().find(|s| s.agent == "wendy").unwrap();
    assert_eq!(wendys.artifacts, ids(&stored));
    assert_eq!(
        listed.iter().map(|s| s.agent.as_str()).collect::<Vec<_>>(),
        ["lead", "otto", "wendy"]
    );
}

#[test]
fn a_draft_is_checked_and_a_refused_one_writes_nothing() {
    let (_dir, host) = fresh_host();
    let Team { id, wendy, .. } = team(&host, ArenaStatus::Active);
    let structured = wendy
        .put_artifact(&draft("structured", r#"{"depth": [3, 4]}"#))
        .unwrap();
    assert_eq!(structured.kind, "structured");
    for kind in ["code", "text", "x", "map-2"] {
        wendy.put_artifact(&draft(kind, "fine")).unwrap();
    }
    let message = input_message(refused(&host, &id, || {
        wendy.put_artifact(&draft("structured", "{not json"))
    }));
    assert!(
        message.starts_with("structured artifact content is not JSON"),
        "{message}"
    );
    for kind in ["", "Text", "te xt", "a_b", "tëxt", "x/y"] {
        let message = input_message(refused(&host, &id, || {
            wendy.put_artifact(&draft(kind, "x"))
        }));
        assert!(
            message.contains("must be 1 to 32 bytes of a-z, 0-9 and -"),
            "{kind:?}: {message}"
        );
    }
    for content in ["", "   "] {
        assert_eq!(
            refused(&host, &id, || wendy.put_artifact(&text(content))),
            invalid_input("artifact content is empty")
        );
    }
    assert_eq!(
        refused(&host, &id, || {
            wendy.put_artifact(&with_metadata(vec![pair("k", "1"), pair("k", "2")]))
        }),
        invalid_input(r#"metadata key "k" is given twice"#)
    );
    for key in ["", " k", "k\n"] {
        let message = input_message(refused(&host, &id, || {
            wendy.put_artifact(&with_metadata(vec![pair(key, "v")]))
        }));
        assert!(message.starts_with("metadata key"), "{message}");
    }
    assert_eq!(
        refused(&host, &id, || {
            wendy.put_artifact(&with_metadata(vec![pair("k", "bell\u{7}")]))
        }),
        invalid_input(r#"metadata value of "k" contains a control character"#)
    );
}

#[test]
fn slot_status_is_set_by_its_owner_and_seen_by_every_reader() {
    let (_dir, host) = fresh_host();
    let Team {
        id,
        lead,
        wendy,
        otto,
    } = team(&host, ArenaStatus::Active);
    assert_eq!(otto.read_slot("wendy").unwrap().status, SlotStatus::Idle);
    wendy.set_slot_status(SlotStatus::Working).unwrap();
    assert_eq!(otto.read_slot("wendy").unwrap().status, SlotStatus::Working);
    assert_eq!(
        refused(&host, &id, || wendy.set_slot_status(SlotStatus::Working)),
        ArenaError::AlreadyDone
    );
    wendy.set_slot_status(SlotStatus::Failed).unwrap();
    let statuses: Vec<_> = lead
        .list_slots()
        .unwrap()
        .into_iter()
        .map(|s| (s.agent, s.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("lead".to_string(), SlotStatus::Idle),
            ("otto".to_string(), SlotStatus::Idle),
            ("wendy".to_string(), SlotStatus::Failed)
        ]
    );
    let own = wendy.own_slot().unwrap();
    assert_eq!(
        (own.agent.as_str(), own.status),
        ("wendy", SlotStatus::Failed)
    );
    assert_eq!(arena_error(otto.read_slot("nobody")), ArenaError::NotFound);
    let last = host.all_events(&id, 0).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("slot-updated", "wendy")
    );
}

#[test]
fn an_unknown_artifact_id_is_not_found() {
    let (_dir, host) = fresh_host();
    let Team { wendy, otto, .. } = team(&host, ArenaStatus::Active);
    let art = wendy.put_artifact(&text("real")).unwrap();
    assert_eq!(otto.read_artifact(&art.id).unwrap(), art);
    // Another arena with one more artifact: ids are minted per arena.
    let other = team(&host, ArenaStatus::Active);
    let there = put_all(&other.wendy, ["same seq".into(), "one further".into()]);
    assert_eq!(there[0], art.id);
    let seq = art.seq;
    for id in [
        "art-999".to_string(),
        "art-1".to_string(), // event 1 created the arena: not an artifact
        format!("art-0{seq}"),
        format!("art-+{seq}"),
        format!("fact-{seq}"),
        format!("art-{}", seq + 1), // only the other arena has it
        "art-".to_string(),
        String::new(),
    ] {
        assert_eq!(
            arena_error(otto.read_artifact(&id)),
            ArenaError::NotFound,
            "{id:?}"
        );
    }
    assert_eq!(
        other.otto.read_artifact(&art.id).unwrap().content,
        "same seq"
    );
}

#[test]
fn artifacts_are_put_only_while_active_and_read_in_every_state() {
    let (_dir, host) = fresh_host();
    for status in STATES {
        let Team {
            id, wendy, otto, ..
        } = team(&host, status);
        if status == ArenaStatus::Active {
            wendy.put_artifact(&text("on time")).unwrap();
            continue;
        }
        let state = status.name();
        assert_eq!(
            refused(&host, &id, || wendy.put_artifact(&text("late"))),
            invalid_state(&format!(
                "put-artifact needs the arena active, and it is {state}"
            ))
        );
        assert_eq!(
            refused(&host, &id, || wendy.set_slot_status(SlotStatus::Working)),
            invalid_state(&format!(
                "set-slot-status needs the arena active, and it is {state}"
            ))
        );
        assert!(otto.read_slot("wendy").unwrap().artifacts.is_empty());
        assert!(wendy.own_slot().unwrap().artifacts.is_empty());
        assert_eq!(otto.list_slots().unwrap().len(), 3);
    }
}

// ---- facts ----

#[test]
fn a_fact_is_sourced_by_its_caller_and_checked() {
    let (_dir, host) = fresh_host();
    let Team {
        id,
        lead,
        wendy,
        otto,
    } = team(&host, ArenaStatus::Active);
    let shared = wendy
        .add_fact(&fact("the bay is shallow", &["bay", "depth"]))
        .unwrap();
    let last = host.get(&id).unwrap().last_seq;
    assert_eq!(
        (
            shared.id.clone(),
            shared.source.as_str(),
            shared.seq,
            shared.arena.as_str()
        ),
        (format!("fact-{last}"), "wendy", last, id.as_str())
    );
    assert_eq!(shared.tags, ["bay", "depth"]);
    assert_eq!(
        lead.add_fact(&fact("tide at noon", &[])).unwrap().source,
        "lead"
    );
    for confidence in [0.0, 1.0] {
        wendy
            .add_fact(&FactDraft {
                confidence,
                ..fact("edge", &[])
            })
            .unwrap();
    }
    for confidence in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        let error = refused(&host, &id, || {
            wendy.add_fact(&FactDraft {
                confidence,
                ..fact("unsure", &[])
            })
        });
        assert!(
            input_message(error).starts_with("confidence must be a number in [0, 1]"),
            "{confidence}"
        );
    }
    let bad_tags: [&[&str]; 5] = [&[""], &[" bay"], &["bay "], &["b\tay"], &["bay", "bay"]];
    for tags in bad_tags {
        let error = refused(&host, &id, || wendy.add_fact(&fact("tagged", tags)));
        assert!(
            matches!(error, ArenaError::InvalidInput(_)),
            "{tags:?}: {error:?}"
        );
    }
    assert_eq!(
        refused(&host, &id, || wendy.add_fact(&fact(" ", &[]))),
        invalid_input("fact content is empty")
    );
    assert_eq!(
        refused(&host, &id, || otto.add_fact(&fact("watching", &[]))),
        ArenaError::PermissionDenied(Permission::ShareFacts)
    );
    let overgranted = host.handle_with_grant(&id, "otto", Permission::ALL.to_vec());
    assert_eq!(
        refused(&host, &id, || overgranted.add_fact(&fact("watching", &[]))),
        ArenaError::PermissionDenied(Permission::ShareFacts)
    );
    lead.settle().unwrap();
    assert_eq!(
        refused(&host, &id, || wendy.add_fact(&fact("too late", &[]))),
        invalid_state("add-fact needs the arena active, and it is settling")
    );
    assert_eq!(otto.facts(&query(None, None)).unwrap().len(), 4);
}

// PRODUCT BUG — this test fails on purpose until the arena is fixed. About one confidence in ten
// (some values with 16-17 significant digits, e.g. 0.9856906946328695) is stored one ulp off
// (0.9856906946328696): the event payload keeps the exact decimal, but the component's serde_json,
// built without its `float_roundtrip` feature, parses it back imprecisely when the event is folded
// into the state, so the fact returned and stored differs from the draft. Replay agrees with
// itself, so `verify` sees nothing wrong. Enabling `float_roundtrip` fixes it.
#[test]
fn a_fact_keeps_the_exact_confidence_its_source_gave() {
    let (_dir, host) = fresh_host();
    let Team {
        id, wendy, otto, ..
    } = team(&host, ArenaStatus::Active);
    let confidences = [
        0.1,
        0.75,
        1.0 / 3.0,
        0.9856906946328695,
        0.21291890726713458,
    ];
    let returned: Vec<f64> = confidences
        .iter()
        .map(|&confidence| {
            let draft = FactDraft {
                confidence,
                ..fact("measured", &[])
            };
            wendy.add_fact(&draft).unwrap().confidence
        })
        .collect();
    let stored: Vec<f64> = otto
        .facts(&query(None, None))
        .unwrap()
        .iter()
        .map(|f| f.confidence)
        .collect();
    assert_eq!(host.verify(&id).unwrap().problem, None);
    assert_eq!(returned, confidences, "as returned by add-fact");
    assert_eq!(stored, confidences, "as read back");
}

#[test]
fn facts_are_found_by_exact_tag_and_case_folded_text() {
    let (_dir, host) = fresh_host();
    let Team {
        id, wendy, otto, ..
    } = team(&host, ArenaStatus::Active);
    let street = wendy
        .add_fact(&fact("Die Straße ist nass", &["de", "road"]))
        .unwrap();
    let myth = wendy
        .add_fact(&fact("σίσυφος pushes uphill", &["road"]))
        .unwrap();
    let other = wendy.add_fact(&fact("a quiet harbour", &["sea"])).unwrap();
    let found = |q: FactQuery| -> Vec<String> {
        let via_handle: Vec<String> = otto.facts(&q).unwrap().into_iter().map(|f| f.id).collect();
        let via_host: Vec<String> = host
            .query_facts(Some(&id), &q, None, 1000)
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(via_handle, via_host);
        via_handle
    };
    assert_eq!(
        found(query(None, None)),
        [street.id.as_str(), myth.id.as_str(), other.id.as_str()]
    );
    assert_eq!(
        found(by_tag("road")),
        [street.id.as_str(), myth.id.as_str()]
    );
    for inexact in ["Road", "roa", "roads"] {
        assert!(found(by_tag(inexact)).is_empty(), "{inexact:?}");
    }
    assert_eq!(found(query(None, Some("STRASSE"))), [street.id.as_str()]);
    assert_eq!(found(query(None, Some("straße"))), [street.id.as_str()]);
    assert_eq!(found(query(None, Some("ΣΊΣΥΦΟΣ"))), [myth.id.as_str()]);
    assert_eq!(
        found(query(Some("sea"), Some("STRASSE"))),
        Vec::<String>::new()
    );
    assert_eq!(found(query(Some("de"), Some("NASS"))), [street.id.as_str()]);
    for bad in [
        query(None, Some("")),
        query(Some(""), None),
        query(Some(" road"), None),
    ] {
        assert!(
            matches!(arena_error(otto.facts(&bad)), ArenaError::InvalidInput(_)),
            "{bad:?}"
        );
    }
}

#[test]
fn facts_outlive_their_arena_however_it_ends() {
    let (_dir, host) = fresh_host();
    let mut shared = Vec::new();
    for ending in ["archive", "abort while active", "abort while settling"] {
        let Team {
            id,
            lead,
            wendy,
            otto,
        } = team(&host, ArenaStatus::Active);
        let kept = wendy
            .add_fact(&fact(&format!("kept through {ending}"), &["survey"]))
            .unwrap();
        wendy.add_fact(&fact("local only", &["local"])).unwrap();
        match ending {
            "archive" => {
                lead.settle().unwrap();
                lead.archive().unwrap();
            }
            "abort while active" => {
                lead.abort("called off").unwrap();
            }
            _ => {
                lead.settle().unwrap();
                lead.abort("called off").unwrap();
            }
        }
        assert_eq!(host.get(&id).unwrap().status, ArenaStatus::Archived);
        assert_eq!(
            otto.facts(&by_tag("survey")).unwrap(),
            std::slice::from_ref(&kept),
            "{ending}"
        );
        assert_eq!(
            host.query_facts(Some(&id), &by_tag("survey"), None, 10)
                .unwrap(),
            std::slice::from_ref(&kept)
        );
        assert_eq!(host.get(&id).unwrap().report.unwrap().facts, 2, "{ending}");
        shared.push(kept);
    }
    // Across arenas by tag: ordered by arena id, then sequence.
    shared.sort_by(|a, b| (&a.arena, a.seq).cmp(&(&b.arena, b.seq)));
    assert_eq!(
        host.query_facts(None, &by_tag("survey"), None, 1000)
            .unwrap(),
        shared
    );
    assert_eq!(host.all_facts(None, &by_tag("survey")).unwrap(), shared);
    assert_eq!(host.all_facts(None, &by_tag("local")).unwrap().len(), 3);
    assert!(host.all_facts(None, &by_tag("absent")).unwrap().is_empty());
    // Paging one fact at a time with a cursor.
    let mut paged = Vec::new();
    let mut cursor: Option<FactCursor> = None;
    loop {
        let page = host
            .query_facts(None, &by_tag("survey"), cursor.as_ref(), 1)
            .unwrap();
        let Some(last) = page.last() else { break };
        assert_eq!(page.len(), 1);
        cursor = Some(FactCursor {
            arena: last.arena.clone(),
            seq: last.seq,
        });
        paged.extend(page);
    }
    assert_eq!(paged, shared);
    assert_eq!(
        arena_error(host.query_facts(None, &query(None, Some("kept")), None, 10)),
        invalid_input("a fact query across arenas needs a tag")
    );
}

// ---- the settle report ----

#[test]
fn the_settle_report_counts_what_the_arena_kept() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active); // events 1-5
    wendy.complete_step(1).unwrap(); // 6
    wendy.complete_step(2).unwrap(); // 7
    lead.complete_step(3).unwrap(); // 8
    let draft_a = wendy.put_artifact(&text("a")).unwrap(); // 9
    wendy.put_artifact(&text("b")).unwrap(); // 10
    lead.put_artifact(&text("c")).unwrap(); // 11
    wendy.add_fact(&fact("one", &[])).unwrap(); // 12
    lead.add_fact(&fact("two", &[])).unwrap(); // 13
    wendy.add_fact(&fact("three", &[])).unwrap(); // 14
    lead.invite(&spec("will", Role::Worker)).unwrap(); // 15
    let will = host.handle(&id, "will").unwrap();
    let draft_w = will.put_artifact(&text("d")).unwrap(); // 16
    will.complete_step(4).unwrap(); // 17
    will.leave().unwrap(); // 18
    lead.settle().unwrap(); // 19
    lead.merge(&merge_of(&[draft_a.id, draft_w.id])).unwrap(); // 20
    assert_eq!(
        host.get(&id).unwrap().report,
        None,
        "no report while settling"
    );
    lead.archive().unwrap(); // 21

    let info = host.get(&id).unwrap();
    let report = info.report.clone().expect("an archived arena has a report");
    let contribution = |agent: &str, steps, artifacts, facts| Contribution {
        agent: agent.into(),
        steps,
        artifacts,
        facts,
    };
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!((report.completed_steps, report.total_steps), (4, 5));
    assert_eq!((report.facts, report.artifacts, report.merges), (3, 5, 1));
    assert_eq!((report.events, info.last_seq), (21, 21));
    assert_eq!(
        report.contributions,
        [
            contribution("lead", 1, 2, 1),
            contribution("otto", 0, 0, 0),
            contribution("wendy", 2, 2, 2),
            contribution("will", 1, 1, 0),
        ]
    );
    assert_eq!(info.outcome, Some(Outcome::Completed));
    assert_eq!(host.get_at(&id, 21).unwrap().report, Some(report));
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

#[test]
fn the_settle_report_names_the_last_merge_as_the_result_and_ends_at_the_archiving_event() {
    let (dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active); // events 1-5
    let draft = wendy.put_artifact(&text("a")).unwrap(); // 6
    let first = lead
        .merge(&merge_of(std::slice::from_ref(&draft.id)))
        .unwrap(); // 7
    lead.settle().unwrap(); // 8
    let last = lead
        .merge(&merge_of(&[first.id.clone(), draft.id]))
        .unwrap(); // 9
    lead.archive().unwrap(); // 10

    let report = host.get(&id).unwrap().report.expect("archived");
    let archiving = host.events(&id, 9, 1).unwrap().remove(0);
    assert_eq!(archiving.kind, "arena-archived");
    assert_eq!(report.result.as_deref(), Some(last.id.as_str()));
    assert_eq!(
        (report.head_seq, report.head_hash.as_str()),
        (10, archiving.hash.as_str())
    );
    assert_eq!(report.events, report.head_seq);
    // The head is what the chain says: recomputed over the stored events, it ends at the same hash.
    let recomputed = host
        .all_events(&id, 0)
        .unwrap()
        .iter()
        .fold(String::new(), |prev, e| {
            chain_hash(&prev, e.seq, &e.kind, &e.actor, &e.at, &e.payload)
        });
    assert_eq!(recomputed, report.head_hash);
    // A host that loads the arena afresh serves the same report, and so does the state at event 10.
    drop(host);
    let reopened = ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).unwrap();
    assert_eq!(reopened.get(&id).unwrap().report, Some(report.clone()));
    assert_eq!(reopened.get_at(&id, 10).unwrap().report, Some(report));
}

#[test]
fn an_arena_completed_without_a_merge_has_no_result() {
    let (_dir, host) = fresh_host();
    let Team { id, lead, .. } = team(&host, ArenaStatus::Active);
    lead.put_artifact(&text("not merged")).unwrap();
    lead.settle().unwrap();
    lead.archive().unwrap();
    let info = host.get(&id).unwrap();
    let report = info.report.expect("archived");
    assert_eq!((report.outcome, report.result), (Outcome::Completed, None));
    assert_eq!(report.head_seq, info.last_seq);
}

#[test]
fn an_aborted_arena_has_no_result_even_after_a_merge() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active);
    let draft = wendy.put_artifact(&text("a")).unwrap();
    let merged = lead.merge(&merge_of(&[draft.id])).unwrap();
    lead.abort("out of time").unwrap();
    let report = host.get(&id).unwrap().report.expect("archived");
    assert_eq!(report.result, None);
    assert_eq!(report.merges, 1);
    let last = host.all_events(&id, 0).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), report.head_seq, report.head_hash),
        ("arena-aborted", last.seq, last.hash)
    );
    // The merge stays readable as an artifact.
    assert_eq!(
        host.handle(&id, "otto")
            .unwrap()
            .read_artifact(&merged.id)
            .unwrap(),
        merged
    );
}

#[test]
fn an_aborted_arena_reports_its_reason_and_keeps_its_facts() {
    let (_dir, host) = fresh_host();
    let Team {
        id,
        lead,
        wendy,
        otto,
    } = team(&host, ArenaStatus::Active);
    wendy.put_artifact(&text("half a map")).unwrap();
    let kept = wendy.add_fact(&fact("the reef moves", &["reef"])).unwrap();
    lead.abort("out of budget").unwrap();
    let info = host.get(&id).unwrap();
    let report = info.report.expect("an aborted arena has a report");
    assert_eq!(report.outcome, Outcome::Aborted("out of budget".into()));
    assert_eq!(info.outcome, Some(report.outcome.clone()));
    assert_eq!((report.facts, report.artifacts, report.merges), (1, 1, 0));
    assert_eq!(report.events, info.last_seq);
    assert_eq!(report.completed_steps, 0);
    assert_eq!(otto.facts(&query(None, None)).unwrap(), [kept]);
    assert_eq!(otto.read_slot("wendy").unwrap().artifacts.len(), 1);
}

#[test]
fn there_is_no_report_before_archiving() {
    let (_dir, host) = fresh_host();
    for status in STATES {
        let info = host.get(&arena_in(&host, status)).unwrap();
        assert_eq!(
            info.report.is_some(),
            status == ArenaStatus::Archived,
            "{status:?}"
        );
    }
}

// ---- pipelines ----

#[test]
fn a_malformed_pipeline_is_refused_and_creates_nothing() {
    let (_dir, host) = fresh_host();
    let mut cycle = editorial_with(vec![
        stage("drafter", &[(1, 2)], &["editor"]),
        stage("reviewer", &[(3, 3)], &["drafter"]),
        stage("editor", &[(4, 5)], &["reviewer"]),
    ]);
    let mut narrowed_reviewer = editorial();
    narrowed_reviewer.participants[2].permissions =
        Some(vec![Permission::Observe, Permission::ReadSlots]);
    let mut no_coordinator = editorial();
    pipeline_of(&mut no_coordinator).coordinator = "ghost".into();
    let mut worker_coordinator = editorial();
    pipeline_of(&mut worker_coordinator).coordinator = "drafter".into();
    let cases: Vec<(ArenaConfig, &str)> = vec![
        (
            cycle.clone(),
            "the stages depend on each other in a cycle: drafter → editor → reviewer → drafter",
        ),
        (
            editorial_with(vec![stage("drafter", &[(1, 5)], &["drafter"])]),
            "the stages depend on each other in a cycle: drafter → drafter",
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("ghost", &[(3, 5)], &[]),
            ]),
            r#"stage "ghost" is not a declared participant"#,
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("reviewer", &[(3, 5)], &["ghost"]),
            ]),
            r#"stage "reviewer" depends on "ghost", which is not a stage"#,
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("reviewer", &[(3, 5)], &["drafter", "drafter"]),
            ]),
            r#"stage "reviewer" names "drafter" twice in depends-on"#,
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("drafter", &[(3, 5)], &[]),
            ]),
            r#"duplicate stage "drafter""#,
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("editor", &[(4, 5)], &["drafter"]),
            ]),
            "step 3 is owned by no stage",
        ),
        (
            editorial_with(vec![stage("drafter", &[(1, 4)], &[])]),
            "step 5 is owned by no stage",
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("reviewer", &[(2, 3)], &[]),
                stage("editor", &[(4, 5)], &[]),
            ]),
            r#"step 2 is owned by both stage "drafter" and stage "reviewer""#,
        ),
        (
            editorial_with(vec![stage("drafter", &[(1, 6)], &[])]),
            r#"stage "drafter": steps 1-6 are not a range within 1..=5"#,
        ),
        (
            editorial_with(vec![
                stage("drafter", &[(1, 2)], &[]),
                stage("otto", &[(3, 5)], &["drafter"]),
            ]),
            r#"stage "otto" does not hold contribute"#,
        ),
        (
            narrowed_reviewer,
            r#"stage "reviewer" does not hold contribute"#,
        ),
        (
            no_coordinator,
            r#"the coordinator "ghost" must be a declared participant holding coordinate"#,
        ),
        (
            worker_coordinator,
            r#"the coordinator "drafter" must be a declared participant holding coordinate"#,
        ),
        (
            editorial_with(vec![]),
            "a pipeline needs at least one stage",
        ),
    ];
    for (config, message) in cases {
        assert_eq!(arena_error(host.create(&config)), invalid_input(message));
    }
    assert!(host.list(None, 1000).unwrap().is_empty());
    // Breaking the cycle makes the same pipeline valid.
    pipeline_of(&mut cycle).stages[0].depends_on.clear();
    host.create(&cycle).unwrap();
    assert_eq!(host.list(None, 1000).unwrap().len(), 1);
}

#[test]
fn a_stage_waits_for_the_stages_it_depends_on() {
    let (_dir, host) = fresh_host();
    let (id, handle) = active_editorial(&host);
    let (lead, drafter, reviewer, editor) = (
        handle("lead"),
        handle("drafter"),
        handle("reviewer"),
        handle("editor"),
    );
    let blocked = |stage: &str, doing: &str, dep: &str| {
        invalid_state(&format!(
            "stage {stage:?} cannot {doing}: stage {dep:?} it depends on is not done"
        ))
    };
    assert_eq!(
        refused(&host, &id, || reviewer.complete_step(3)),
        blocked("reviewer", "complete step 3", "drafter")
    );
    assert_eq!(
        refused(&host, &id, || reviewer.set_slot_status(SlotStatus::Done)),
        blocked("reviewer", "be marked done", "drafter")
    );
    assert_eq!(
        refused(&host, &id, || editor.complete_step(4)),
        blocked("editor", "complete step 4", "drafter")
    );
    for (who, step) in [(&reviewer, 1), (&editor, 3), (&lead, 1), (&drafter, 5)] {
        let owner = match step {
            1 | 2 => "drafter",
            3 => "reviewer",
            _ => "editor",
        };
        assert_eq!(
            refused(&host, &id, || who.complete_step(step)),
            invalid_input(&format!("step {step} belongs to stage {owner:?}")),
            "{}",
            who.agent()
        );
    }
    // Work in progress is not gated; only `done` is.
    reviewer.set_slot_status(SlotStatus::Working).unwrap();
    reviewer.put_artifact(&text("notes while waiting")).unwrap();

    drafter.complete_step(1).unwrap();
    drafter.complete_step(2).unwrap();
    drafter.set_slot_status(SlotStatus::Done).unwrap();
    for back in [SlotStatus::Working, SlotStatus::Idle, SlotStatus::Failed] {
        assert_eq!(
            refused(&host, &id, || drafter.set_slot_status(back)),
            invalid_state(r#"stage "drafter" is done and stays done"#)
        );
    }
    assert_eq!(
        refused(&host, &id, || editor.complete_step(4)),
        blocked("editor", "complete step 4", "reviewer")
    );
    assert_eq!(
        refused(&host, &id, || editor.set_slot_status(SlotStatus::Done)),
        blocked("editor", "be marked done", "reviewer")
    );
    reviewer.complete_step(3).unwrap();
    reviewer.set_slot_status(SlotStatus::Done).unwrap();
    editor.complete_step(4).unwrap();
    assert_eq!(host.get(&id).unwrap().aggregate.completed_steps, 4);
    // The coordinator is not a stage: its own slot is not gated.
    lead.set_slot_status(SlotStatus::Done).unwrap();
    lead.set_slot_status(SlotStatus::Working).unwrap();
}

#[test]
fn a_three_stage_pipeline_runs_to_its_archive() {
    let (_dir, host) = fresh_host();
    let (id, handle) = active_editorial(&host);
    let (lead, drafter, reviewer, editor) = (
        handle("lead"),
        handle("drafter"),
        handle("reviewer"),
        handle("editor"),
    );
    drafter.set_slot_status(SlotStatus::Working).unwrap();
    let rough = drafter.put_artifact(&text("chapter one, rough")).unwrap();
    drafter.complete_step(1).unwrap();
    drafter.complete_step(2).unwrap();
    drafter.set_slot_status(SlotStatus::Done).unwrap();

    let read = reviewer.read_slot("drafter").unwrap();
    assert_eq!(
        (read.status, read.artifacts),
        (SlotStatus::Done, vec![rough.clone()])
    );
    let review = reviewer
        .put_artifact(&draft("structured", r#"{"verdict":"tighten"}"#))
        .unwrap();
    reviewer
        .add_fact(&fact("chapter one runs long", &["review"]))
        .unwrap();
    reviewer.complete_step(3).unwrap();
    reviewer.set_slot_status(SlotStatus::Done).unwrap();

    editor.complete_step(4).unwrap();
    let edited = editor.put_artifact(&text("chapter one, final")).unwrap();
    editor.complete_step(5).unwrap();
    editor.set_slot_status(SlotStatus::Done).unwrap();

    let sources = vec![rough.id.clone(), review.id.clone(), edited.id.clone()];
    let merged = lead.merge(&merge_of(&sources)).unwrap();
    lead.settle().unwrap();
    lead.archive().unwrap();

    let info = host.get(&id).unwrap();
    assert_eq!(info.status, ArenaStatus::Archived);
    let report = info.report.unwrap();
    assert_eq!((report.completed_steps, report.total_steps), (5, 5));
    assert_eq!((report.artifacts, report.merges, report.facts), (4, 1, 1));
    let steps: Vec<(String, u32)> = report
        .contributions
        .iter()
        .map(|c| (c.agent.clone(), c.steps))
        .collect();
    assert_eq!(
        steps,
        [
            ("drafter", 2),
            ("editor", 2),
            ("lead", 0),
            ("otto", 0),
            ("reviewer", 1)
        ]
        .map(|(a, s)| (a.to_string(), s))
    );
    let statuses: Vec<SlotStatus> = host.slots(&id).unwrap().iter().map(|s| s.status).collect();
    use SlotStatus::{Done, Idle};
    assert_eq!(statuses, [Done, Done, Idle, Idle, Done]);
    assert_eq!(
        handle("otto").read_artifact(&merged.id).unwrap().sources,
        sources
    );
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

// ---- merges ----

#[test]
fn a_merge_records_its_sources_in_the_order_named() {
    let (_dir, host) = fresh_host();
    let Team {
        id,
        lead,
        wendy,
        otto,
    } = team(&host, ArenaStatus::Active);
    let a = wendy.put_artifact(&text("west coast")).unwrap();
    let b = wendy.put_artifact(&text("east coast")).unwrap();
    let c = lead.put_artifact(&text("north coast")).unwrap();
    let sources = vec![c.id.clone(), a.id.clone(), b.id.clone()];
    let merged = lead
        .merge(&MergeRequest {
            metadata: vec![pair("z", "1"), pair("a", "2")],
            ..merge_of(&sources)
        })
        .unwrap();
    let last = host.get(&id).unwrap().last_seq;
    assert_eq!(
        (
            merged.id.as_str(),
            merged.author.as_str(),
            merged.sources.clone()
        ),
        (format!("art-{last}").as_str(), "lead", sources.clone())
    );
    assert_eq!(merged.metadata, [pair("a", "2"), pair("z", "1")]);
    assert_eq!(otto.read_artifact(&merged.id).unwrap(), merged);
    assert_eq!(
        ids(&otto.read_slot("lead").unwrap().artifacts),
        [c.id.as_str(), merged.id.as_str()]
    );
    let event = host.all_events(&id, 0).unwrap().pop().unwrap();
    assert_eq!(
        (event.kind.as_str(), event.actor.as_str()),
        ("artifact-merged", "lead")
    );
    // A merge may itself be merged.
    let again = lead
        .merge(&merge_of(&[merged.id.clone(), a.id.clone()]))
        .unwrap();
    assert_eq!(again.sources, [merged.id.clone(), a.id]);
    lead.settle().unwrap();
    lead.archive().unwrap();
    let report = host.get(&id).unwrap().report.unwrap();
    assert_eq!((report.artifacts, report.merges), (5, 2));
}

#[test]
fn a_merge_is_checked() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active);
    let a = wendy.put_artifact(&text("a")).unwrap().id;
    // Another arena's artifact, under an id this arena has not minted.
    let other = team(&host, ArenaStatus::Active);
    let elsewhere = put_all(&other.wendy, ["x".into(), "y".into()])
        .pop()
        .unwrap();
    let cases = [
        (
            vec![],
            "a merge names at least one source artifact".to_string(),
        ),
        (
            vec![a.clone(), "art-999".into()],
            r#"source "art-999" is not an artifact of this arena"#.to_string(),
        ),
        (
            vec![elsewhere.clone()],
            format!("source {elsewhere:?} is not an artifact of this arena"),
        ),
        (
            vec![a.clone(), a.clone()],
            format!("source {a:?} is named twice"),
        ),
    ];
    for (sources, message) in cases {
        assert_eq!(
            refused(&host, &id, || lead.merge(&merge_of(&sources))),
            invalid_input(&message)
        );
    }
    let just_a = merge_of(std::slice::from_ref(&a));
    // Only coordinate merges: the host refuses a worker's handle, the arena an overgranted one.
    let coordinate = ArenaError::PermissionDenied(Permission::Coordinate);
    assert_eq!(refused(&host, &id, || wendy.merge(&just_a)), coordinate);
    let overgranted = host.handle_with_grant(&id, "wendy", Permission::ALL.to_vec());
    assert_eq!(
        refused(&host, &id, || overgranted.merge(&just_a)),
        coordinate
    );
    assert_eq!(
        refused(&host, &id, || overgranted
            .perform(None, &Operation::Merge(just_a.clone()))),
        coordinate
    );
    // Active or settling only.
    lead.settle().unwrap();
    lead.merge(&just_a).unwrap();
    lead.archive().unwrap();
    assert_eq!(
        refused(&host, &id, || lead.merge(&just_a)),
        invalid_state("merge needs the arena active or settling, and it is archived")
    );
    let created = team(&host, ArenaStatus::Created);
    assert_eq!(
        refused(&host, &created.id, || created.lead.merge(&just_a)),
        invalid_state("merge needs the arena active or settling, and it is created")
    );
}

// ---- limits, each at its edge ----

/// Puts `at_limit` (accepted), then `past_limit` (refused with `what`/`limit`, writing nothing).
fn at_the_edge(
    host: &ArenaHost,
    team: &Team,
    at_limit: ArtifactDraft,
    past_limit: ArtifactDraft,
    what: &str,
    bound: u64,
) {
    let stored = team.wendy.put_artifact(&at_limit).unwrap();
    assert_eq!(
        (&stored.kind, &stored.content),
        (&at_limit.kind, &at_limit.content)
    );
    assert_eq!(
        refused(host, &team.id, || team.wendy.put_artifact(&past_limit)),
        limit(what, bound)
    );
}

#[test]
fn artifact_drafts_are_bounded_at_their_edges() {
    let (_dir, host) = fresh_host();
    let team = team(&host, ArenaStatus::Active);
    // Bytes, not characters: 32768 two-byte characters are exactly 64 KiB.
    let full = "é".repeat(32 * 1024);
    at_the_edge(
        &host,
        &team,
        text(&full),
        text(&format!("{full}a")),
        "artifact content bytes",
        65536,
    );
    let entries =
        |n: usize| with_metadata((0..n).map(|i| (format!("k{i:02}"), "v".into())).collect());
    at_the_edge(
        &host,
        &team,
        entries(16),
        entries(17),
        "artifact metadata entries",
        16,
    );
    let key = |n: usize| with_metadata(vec![("k".repeat(n), "v".into())]);
    at_the_edge(&host, &team, key(64), key(65), "metadata key bytes", 64);
    let value = |s: String| with_metadata(vec![("k".into(), s)]);
    at_the_edge(
        &host,
        &team,
        value("é".repeat(512)),
        value("é".repeat(512) + "a"),
        "metadata value bytes",
        1024,
    );
    at_the_edge(
        &host,
        &team,
        draft(&"a".repeat(32), "x"),
        draft(&"a".repeat(33), "x"),
        "artifact kind bytes",
        32,
    );
    // The largest artifact reads back whole.
    let slot = team.otto.read_slot("wendy").unwrap();
    assert_eq!(slot.artifacts[0].content.len(), 65536);
    assert_eq!(slot.artifacts[1].metadata.len(), 16);
}

#[test]
fn slots_and_merges_are_bounded_at_their_edges() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active);
    let full_slot = put_all(&wendy, (1..=64).map(|i| format!("piece {i}")));
    assert_eq!(
        refused(&host, &id, || wendy.put_artifact(&text("one too many"))),
        limit("artifacts per slot", 64)
    );
    // 64 sources (one slot's worth) merge; a 65th from another slot is one too many.
    let extra = lead.put_artifact(&text("lead's own")).unwrap().id;
    let merged = lead.merge(&merge_of(&full_slot)).unwrap();
    assert_eq!(merged.sources.len(), 64);
    let too_many: Vec<String> = full_slot.iter().cloned().chain([extra]).collect();
    assert_eq!(
        refused(&host, &id, || lead.merge(&merge_of(&too_many))),
        limit("merge sources", 64)
    );
    // Merges count against the coordinator's slot too.
    put_all(&lead, (3..=64).map(|i| format!("lead {i}")));
    assert_eq!(lead.own_slot().unwrap().artifacts.len(), 64);
    assert_eq!(
        refused(&host, &id, || lead.merge(&merge_of(&full_slot[..1]))),
        limit("artifacts per slot", 64)
    );
}

#[test]
fn facts_are_bounded_at_their_edges() {
    let (_dir, host) = fresh_host();
    let Team {
        id, wendy, otto, ..
    } = team(&host, ArenaStatus::Active);
    let mut added = 0;
    let mut edge = |at: FactDraft, past: FactDraft, what: &str, bound: u64| {
        assert_eq!(wendy.add_fact(&at).unwrap().content, at.content);
        added += 1;
        assert_eq!(
            refused(&host, &id, || wendy.add_fact(&past)),
            limit(what, bound)
        );
    };
    edge(
        fact(&"é".repeat(2048), &[]),
        fact(&("é".repeat(2048) + "a"), &[]),
        "fact content bytes",
        4096,
    );
    let tags: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
    let tagged = |n: usize| {
        fact(
            "tagged",
            &tags[..n].iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    edge(tagged(8), tagged(9), "tags per fact", 8);
    let long_tag = "t".repeat(64);
    let too_long_tag = format!("{long_tag}t");
    edge(
        fact("long tag", &[long_tag.as_str()]),
        fact("long tag", &[too_long_tag.as_str()]),
        "tag bytes",
        64,
    );
    for i in added..256 {
        wendy
            .add_fact(&fact(&format!("fact {i}"), &["bulk"]))
            .unwrap();
    }
    assert_eq!(otto.facts(&query(None, None)).unwrap().len(), 256);
    assert_eq!(
        refused(&host, &id, || wendy.add_fact(&fact("one too many", &[]))),
        limit("facts per arena", 256)
    );
    // Queries: text up to 256 bytes, tags as for facts.
    // The 256-byte text finds the 4096-byte fact that contains it.
    let full_text = query(None, Some(&"é".repeat(128)));
    assert_eq!(otto.facts(&full_text).unwrap().len(), 1);
    let long_text = query(None, Some(&("é".repeat(128) + "a")));
    assert_eq!(
        arena_error(otto.facts(&long_text)),
        limit("query text bytes", 256)
    );
    assert_eq!(
        arena_error(host.query_facts(Some(&id), &long_text, None, 10)),
        limit("query text bytes", 256)
    );
    assert_eq!(otto.facts(&by_tag(&long_tag)).unwrap().len(), 1);
    assert_eq!(
        arena_error(host.query_facts(None, &by_tag(&too_long_tag), None, 10)),
        limit("tag bytes", 64)
    );
}

#[test]
fn pipelines_are_bounded_at_their_edges() {
    let (_dir, host) = fresh_host();
    let agents: Vec<String> = std::iter::once("lead".to_string())
        .chain((1..64).map(|i| format!("w{i:02}")))
        .collect();
    let participants: Vec<ParticipantSpec> = agents
        .iter()
        .map(|a| {
            spec(
                a,
                if a == "lead" {
                    Role::Coordinator
                } else {
                    Role::Worker
                },
            )
        })
        .collect();
    let pipeline = |total: u32, stages: Vec<Stage>| ArenaConfig {
        total_steps: total,
        strategy: Strategy::Pipeline(Pipeline {
            coordinator: "lead".into(),
            stages,
        }),
        participants: participants.clone(),
        ..config(1)
    };
    let one_step_each: Vec<Stage> = (1..=64u32)
        .map(|i| stage(&agents[i as usize - 1], &[(i, i)], &[]))
        .collect();
    let id = host.create(&pipeline(64, one_step_each.clone())).unwrap();
    assert_eq!(host.get(&id).unwrap().participants.len(), 64);
    // A 65th stage cannot be a 65th participant; the stage count is checked before duplicates.
    let mut sixty_five = one_step_each;
    sixty_five.push(stage("w01", &[(65, 65)], &[]));
    let before = host.list(None, 1000).unwrap().len();
    assert_eq!(
        arena_error(host.create(&pipeline(65, sixty_five))),
        limit("pipeline stages", 64)
    );
    let mut crowded = pipeline(64, vec![stage("lead", &[(1, 64)], &[])]);
    crowded.participants.push(spec("w64", Role::Worker));
    assert_eq!(
        arena_error(host.create(&crowded)),
        limit("participants", 64)
    );
    // Step ranges per stage.
    let ranges = |n: u32| {
        vec![stage(
            "lead",
            &(1..=n).map(|i| (i, i)).collect::<Vec<_>>(),
            &[],
        )]
    };
    host.create(&pipeline(64, ranges(64))).unwrap();
    assert_eq!(
        arena_error(host.create(&pipeline(65, ranges(65)))),
        limit("step ranges per stage", 64)
    );
    assert_eq!(host.list(None, 1000).unwrap().len(), before + 1);
}

// ---- replay ----

#[test]
fn a_mixed_log_replays_to_every_state_it_passed_through() {
    let (_dir, host) = fresh_host();
    let (id, handle) = active_editorial(&host);
    let (lead, drafter, reviewer, editor) = (
        handle("lead"),
        handle("drafter"),
        handle("reviewer"),
        handle("editor"),
    );
    let mut seen: Vec<ArenaInfo> = vec![host.get(&id).unwrap()];
    let mut record = || seen.push(host.get(&id).unwrap());

    drafter.set_slot_status(SlotStatus::Working).unwrap();
    record();
    let a = drafter
        .put_artifact(&draft("structured", r#"{"n":1}"#))
        .unwrap();
    record();
    drafter.add_fact(&fact("cliffs erode", &["geo"])).unwrap();
    record();
    drafter
        .perform(Some("step-1"), &Operation::CompleteStep(1))
        .unwrap();
    record();
    drafter.complete_step(2).unwrap();
    record();
    drafter.set_slot_status(SlotStatus::Done).unwrap();
    record();
    lead.invite(&spec("will", Role::Worker)).unwrap();
    record();
    let will = handle("will");
    let w = will
        .put_artifact(&with_metadata(vec![pair("src", "field")]))
        .unwrap();
    record();
    will.report_progress("dropped off a sketch").unwrap();
    record();
    will.leave().unwrap();
    record();
    let b = reviewer
        .perform(Some("review"), &Operation::PutArtifact(text("looks fine")))
        .unwrap();
    record();
    reviewer.complete_step(3).unwrap();
    record();
    reviewer.set_slot_status(SlotStatus::Done).unwrap();
    record();
    editor.complete_step(4).unwrap();
    record();
    editor
        .perform(
            None,
            &Operation::AddFact(fact("the guide is done", &["geo"])),
        )
        .unwrap();
    record();
    editor.complete_step(5).unwrap();
    record();
    lead.update_goal("publish the field guide, illustrated")
        .unwrap();
    record();
    lead.merge(&merge_of(&[
        a.id.clone(),
        w.id.clone(),
        format!("art-{}", b.last_seq),
    ]))
    .unwrap();
    record();
    lead.settle().unwrap();
    record();
    lead.perform(Some("late-merge"), &Operation::Merge(merge_of(&[a.id])))
        .unwrap();
    record();
    lead.archive().unwrap();
    record();

    assert_eq!(host.verify(&id).unwrap().problem, None);
    let last = seen.last().unwrap().last_seq;
    assert_eq!(event_count(&host, &id) as u64, last);
    assert_eq!(seen.len(), 22);
    for info in &seen {
        assert_eq!(
            &host.get_at(&id, info.last_seq).unwrap(),
            info,
            "event {}",
            info.last_seq
        );
    }
    assert_eq!(host.get_at(&id, last).unwrap(), host.get(&id).unwrap());
    for seq in 1..=last {
        assert_eq!(host.get_at(&id, seq).unwrap().last_seq, seq);
    }
}

#[test]
fn a_retried_keyed_put_writes_once() {
    let (_dir, host) = fresh_host();
    let Team {
        id, lead, wendy, ..
    } = team(&host, ArenaStatus::Active);
    let put = Operation::PutArtifact(text("sent once"));
    let first = wendy.perform(Some("put-1"), &put).unwrap();
    let events = event_count(&host, &id);
    lead.complete_step(1).unwrap();
    let again = wendy.perform(Some("put-1"), &put).unwrap();
    assert_eq!(again, first);
    // The same key with other content is another operation: refused, never answered as done.
    let changed = wendy.perform(
        Some("put-1"),
        &Operation::PutArtifact(text("a changed mind")),
    );
    assert!(
        matches!(&changed, Err(HostError::Arena(ArenaError::InvalidInput(why))) if why.contains("\"put-1\"")),
        "{changed:?}"
    );
    assert_eq!(
        event_count(&host, &id),
        events + 1,
        "only the step was written"
    );
    let slot = wendy.own_slot().unwrap();
    assert_eq!(
        ids(&slot.artifacts),
        [format!("art-{}", first.last_seq).as_str()]
    );
    assert_eq!(slot.artifacts[0].content, "sent once");
    // The key is the caller's: another agent's put with it is its own.
    let leads = lead.perform(Some("put-1"), &put).unwrap();
    assert_eq!(leads.last_seq, first.last_seq + 2);
    assert_eq!(lead.own_slot().unwrap().artifacts.len(), 1);
    assert_eq!(host.verify(&id).unwrap().problem, None);
}
