//! Shared facts: knowledge an agent found along the way, with its confidence and tags.
//!
//! The source of a fact is always the agent that shared it. Facts belong to their arena, are part of its
//! state (so they survive settling, archiving and aborting), and are found by tag (exact match) and by
//! text: Unicode default case folding of both sides, then a substring test, so `STRASSE` finds `Straße`.

use serde::{Deserialize, Serialize};

use crate::types::{AgentId, ArenaError, check_count, check_label, check_text, limits};

/// A fact as an agent shares it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FactDraft {
    /// What the fact says.
    pub content: String,
    /// How sure its source is, in [0, 1] (NaN refused).
    pub confidence: f64,
    /// Tags to find it by.
    pub tags: Vec<String>,
}

/// A stored fact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Minted by the arena from the sequence number of the event that added it.
    pub id: String,
    /// What the fact says.
    pub content: String,
    /// How sure its source is, in [0, 1].
    pub confidence: f64,
    /// Tags to find it by.
    pub tags: Vec<String>,
    /// The participant who shared it.
    pub source: AgentId,
    /// When it was shared (RFC 3339 UTC, from its event).
    pub created_at: String,
    /// The event that added it.
    pub seq: u64,
}

/// Which facts to return; every given condition must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactQuery {
    /// Only facts carrying this tag.
    pub tag: Option<String>,
    /// Only facts whose content contains this text, ignoring case.
    pub text: Option<String>,
}

/// The id the arena mints for the fact stored by event `seq`.
pub fn fact_id(seq: u64) -> String {
    format!("fact-{seq}")
}

/// Checks a draft: content within bounds, a confidence in [0, 1] (NaN refused), and at most 8
/// distinct, well-formed tags.
pub fn check_draft(draft: &FactDraft) -> Result<(), ArenaError> {
    check_text("fact content", &draft.content, limits::FACT_BYTES)?;
    if !(0.0..=1.0).contains(&draft.confidence) {
        return Err(ArenaError::InvalidInput(format!(
            "confidence must be a number in [0, 1], not {}",
            draft.confidence
        )));
    }
    check_count("tags per fact", draft.tags.len(), limits::TAGS)?;
    for (i, tag) in draft.tags.iter().enumerate() {
        check_label("tag", tag, limits::TAG_BYTES)?;
        if draft.tags[..i].contains(tag) {
            return Err(ArenaError::InvalidInput(format!(
                "tag {tag:?} is given twice"
            )));
        }
    }
    Ok(())
}

/// A query checked and prepared: the tag as given, the text case-folded.
pub struct Matcher {
    tag: Option<String>,
    folded: Option<String>,
}

impl Matcher {
    /// Checks `query`: a tag as for facts, a text of 1 to 256 bytes.
    pub fn new(query: &FactQuery) -> Result<Matcher, ArenaError> {
        if let Some(tag) = &query.tag {
            check_label("tag", tag, limits::TAG_BYTES)?;
        }
        if let Some(text) = &query.text {
            check_text("query text", text, limits::QUERY_BYTES)?;
        }
        Ok(Matcher {
            tag: query.tag.clone(),
            folded: query.text.as_deref().map(caseless::default_case_fold_str),
        })
    }

    /// Whether `fact` satisfies the query.
    pub fn matches(&self, fact: &Fact) -> bool {
        self.tag.as_ref().is_none_or(|tag| fact.tags.contains(tag))
            && self.folded.as_ref().is_none_or(|text| {
                caseless::default_case_fold_str(&fact.content).contains(text.as_str())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(content: &str, tags: &[&str]) -> Fact {
        Fact {
            id: "fact-1".into(),
            content: content.into(),
            confidence: 0.5,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            source: "w".into(),
            created_at: String::new(),
            seq: 1,
        }
    }

    #[test]
    fn text_matching_case_folds_unicode() {
        let m = Matcher::new(&FactQuery {
            tag: None,
            text: Some("STRASSE".into()),
        })
        .unwrap();
        assert!(m.matches(&fact("Die Straße ist nass", &[])));
        assert!(!m.matches(&fact("Die Strasze", &[])));
        let m = Matcher::new(&FactQuery {
            tag: Some("db".into()),
            text: Some("ΣΊΣΥΦΟΣ".into()),
        })
        .unwrap();
        assert!(m.matches(&fact("σίσυφος pushes", &["db"])));
        assert!(!m.matches(&fact("σίσυφος pushes", &["DB"])));
    }

    #[test]
    fn confidence_must_be_a_number_in_the_unit_interval() {
        for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            let draft = FactDraft {
                content: "x".into(),
                confidence: bad,
                tags: vec![],
            };
            assert!(
                matches!(check_draft(&draft), Err(ArenaError::InvalidInput(_))),
                "{bad}"
            );
        }
        for good in [0.0, 0.5, 1.0] {
            let draft = FactDraft {
                content: "x".into(),
                confidence: good,
                tags: vec![],
            };
            assert_eq!(check_draft(&draft), Ok(()));
        }
    }
}
