//! Shared facts: `fact` shares one as an agent, `facts` queries them as the operator.

use anyhow::{Result, anyhow};

use arena_host::types::{FactDraft, FactQuery};
use arena_host::{Created, Operation};

use super::Session;
use super::render::{fact_header, quoted};
use super::views::FactView;

/// `fact`: shares a fact as the agent and prints it.
pub(crate) fn share(
    s: &Session,
    id: &str,
    content: String,
    confidence: f64,
    tags: Vec<String>,
    agent: &str,
) -> Result<()> {
    let draft = FactDraft {
        content,
        confidence,
        tags,
    };
    match s
        .act_and_fetch(id, agent, Operation::AddFact(draft))?
        .created
    {
        Some(Created::Fact(fact)) => s.out.fact(&fact),
        _ => Err(anyhow!("arena {id} shared no fact for this operation")),
    }
}

/// `facts`: the facts of one arena, or across arenas by tag; each with its content.
pub(crate) fn query(
    s: &Session,
    id: Option<&str>,
    tag: Option<String>,
    text: Option<String>,
) -> Result<()> {
    for fact in s.host.all_facts(id, &FactQuery { tag, text })? {
        if s.out.json {
            s.out.json(&FactView::from(&fact))?;
            continue;
        }
        // Across arenas each fact names its arena.
        let arena = if id.is_none() {
            format!("{} ", fact.arena)
        } else {
            String::new()
        };
        println!("{arena}{}", fact_header(&fact));
        println!("{}", quoted(&fact.content));
    }
    Ok(())
}
