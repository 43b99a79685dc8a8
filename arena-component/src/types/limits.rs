//! Bounds on every input, each enforced by a check that raises `limit-exceeded` past it.

/// Bytes in an agent id.
pub const AGENT_ID_BYTES: usize = 128;
/// Bytes in a goal.
pub const GOAL_BYTES: usize = 4096;
/// Bytes in a progress note.
pub const NOTE_BYTES: usize = 4096;
/// Bytes in an abort reason.
pub const REASON_BYTES: usize = 1024;
/// Steps in an arena.
pub const TOTAL_STEPS: u32 = 100_000;
/// Participants an arena has ever had (leaving does not free a place: the log keeps them).
pub const PARTICIPANTS: usize = 64;
/// Events or arenas returned by one paged read.
pub const PAGE: u32 = 1000;
/// Bytes in an idempotency key.
pub const KEY_BYTES: usize = 128;
/// Idempotency keys an arena remembers (the oldest are forgotten first).
pub const IDEMPOTENCY_KEYS: usize = 1024;
/// Times an operation is retried after a `conflict` before it is returned to the caller.
pub const CONFLICT_RETRIES: u32 = 32;
/// Bytes in an artifact's content.
pub const ARTIFACT_BYTES: usize = 64 << 10;
/// Bytes in an artifact's kind.
pub const KIND_BYTES: usize = 32;
/// Metadata entries on one artifact.
pub const METADATA_ENTRIES: usize = 16;
/// Bytes in a metadata key.
pub const METADATA_KEY_BYTES: usize = 64;
/// Bytes in a metadata value.
pub const METADATA_VALUE_BYTES: usize = 1024;
/// Artifacts in one slot, merges included.
pub const ARTIFACTS_PER_SLOT: usize = 64;
/// Source artifacts named by one merge.
pub const MERGE_SOURCES: usize = 64;
/// Bytes in a fact's content.
pub const FACT_BYTES: usize = 4096;
/// Facts in one arena.
pub const FACTS: usize = 256;
/// Tags on one fact.
pub const TAGS: usize = 8;
/// Bytes in a tag.
pub const TAG_BYTES: usize = 64;
/// Bytes in a fact query's text.
pub const QUERY_BYTES: usize = 256;
/// Stages in a pipeline.
pub const STAGES: usize = 64;
/// Step ranges in one stage.
pub const STAGE_RANGES: usize = 64;
/// Bytes in an arena's whole log (see [`Event::log_bytes`](crate::events::Event::log_bytes)). Only the
/// lifecycle's own transitions (settle, archive, abort) may pass it, so a full arena can still end.
pub const LOG_BYTES: u64 = 256 << 20;
