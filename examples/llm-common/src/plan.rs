//! Which steps a turn works on, and step lists as reports show them. Pure.

use std::collections::BTreeSet;

/// The steps of inclusive ranges `(first, last)`, in order.
pub fn range_steps(ranges: &[(u32, u32)]) -> Vec<u32> {
    ranges
        .iter()
        .flat_map(|&(first, last)| first..=last)
        .collect()
}

/// The lowest step of `1..=total` not in `done`.
pub fn lowest_open(total: u32, done: &BTreeSet<u32>) -> Option<u32> {
    (1..=total).find(|step| !done.contains(step))
}

/// The step a `step-completed` event's payload (`{"step": N, "v": 1}`) names.
pub fn completed_step(payload: &str) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    u32::try_from(value.get("step")?.as_u64()?).ok()
}

/// Steps as a report shows them: `1, 2, 3`, or `none`.
pub fn step_list(steps: &[u32]) -> String {
    if steps.is_empty() {
        return "none".into();
    }
    steps
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_in_order() {
        assert_eq!(range_steps(&[(1, 3), (5, 5)]), [1, 2, 3, 5]);
        assert!(range_steps(&[]).is_empty());
    }

    #[test]
    fn the_lowest_open_step() {
        let done: BTreeSet<u32> = [1, 2, 4].into();
        assert_eq!(lowest_open(5, &done), Some(3));
        assert_eq!(lowest_open(2, &done), None);
        assert_eq!(lowest_open(0, &done), None);
    }

    #[test]
    fn step_payloads() {
        assert_eq!(completed_step(r#"{"step":2,"v":1}"#), Some(2));
        assert_eq!(completed_step(r#"{"v":1}"#), None);
        assert_eq!(completed_step("nope"), None);
    }
}
