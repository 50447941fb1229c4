use sshrace_scenario::Scenario;

use crate::RunError;

/// Count only the operations of the workload items named in `items` toward the failure rate:
/// the others still run (and load the hosts as before) but are no longer measured. Nothing
/// changes when `items` is empty. An item the scenario does not have is an error naming the
/// ones it has.
pub fn measure_only(scenario: &mut Scenario, items: &[String]) -> Result<(), RunError> {
    if items.is_empty() {
        return Ok(());
    }
    for item in items {
        if !scenario.workload.iter().any(|w| w.name == *item) {
            return Err(RunError::UnknownWorkload {
                name: item.clone(),
                known: scenario
                    .workload
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    for workload in &mut scenario.workload {
        if !items.contains(&workload.name) {
            workload.measured = false;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_items_stay_measured() {
        let text = "description = \"m\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 60000\n[[host]]\nname = \"t\"\n[[workload]]\nname = \"a\"\nhost = \"t\"\nat_ms = 1000\n[[workload]]\nname = \"b\"\nhost = \"t\"\nat_ms = 2000\n";
        let mut scenario = Scenario::from_str(text, "m.toml").unwrap();
        measure_only(&mut scenario, &[]).unwrap();
        assert!(scenario.workload.iter().all(|w| w.measured));
        measure_only(&mut scenario, &["b".to_owned()]).unwrap();
        assert_eq!(
            scenario
                .workload
                .iter()
                .map(|w| w.measured)
                .collect::<Vec<_>>(),
            [false, true]
        );
        let error = measure_only(&mut scenario, &["c".to_owned()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--measure c: no such workload item (the scenario has a, b)"
        );
    }
}
