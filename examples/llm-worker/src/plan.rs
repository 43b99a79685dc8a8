//! How a turn's report reads. Pure, so it is tested natively. The step plan itself is
//! `example_llm_common::plan`'s.

use example_llm_common::plan::step_list;

/// The report of a turn that asked the model:
/// `asked <model>: wrote <artifact id>[, <fact id>], steps <list>`.
pub fn asked_report(model: &str, artifact: &str, fact: Option<&str>, steps: &[u32]) -> String {
    let fact = fact.map(|id| format!(", {id}")).unwrap_or_default();
    format!(
        "asked {model}: wrote {artifact}{fact}, steps {}",
        step_list(steps)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports() {
        assert_eq!(
            asked_report("llama3.2", "art-7", Some("fact-8"), &[1, 2]),
            "asked llama3.2: wrote art-7, fact-8, steps 1, 2"
        );
        assert_eq!(
            asked_report("m", "art-3", None, &[]),
            "asked m: wrote art-3, steps none"
        );
    }
}
