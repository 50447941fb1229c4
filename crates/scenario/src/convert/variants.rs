//! `[strategy.NAME]` tables to [`StrategyVariant`]s.
//!
//! A variant table is `base` plus [`StrategyParams`] keys side by side. serde's `flatten` would
//! lose both unknown-key errors and positions, so each table is taken from the parsed document,
//! `base` is read on its own, and the remaining keys are deserialized as [`StrategyParams`] with
//! their original spans.

use std::collections::BTreeMap;

use serde::Deserialize;
use sshrace_core::{ParamError, StrategyParams};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::location::{Source, line_column};
use crate::{ScenarioError, StrategyVariant};

/// The variants, and where each one's name is (line, column).
pub(super) type Variants = (
    BTreeMap<String, StrategyVariant>,
    BTreeMap<String, (usize, usize)>,
);

pub(super) fn variants(
    source: &Source<'_>,
    doc: &Spanned<DeTable<'_>>,
) -> Result<Variants, ScenarioError> {
    let mut out = BTreeMap::new();
    let mut positions = BTreeMap::new();
    let Some(strategy) = doc.get_ref().get("strategy") else {
        return Ok((out, positions));
    };
    let DeValue::Table(table) = strategy.get_ref() else {
        return Err(source.at(
            strategy,
            "strategy",
            "expected tables [strategy.NAME] with `base` and parameters",
        ));
    };
    for (name, value) in table.iter() {
        let field = format!("strategy.{}", name.get_ref());
        let DeValue::Table(keys) = value.get_ref() else {
            return Err(source.at(value, field, "expected a table with `base` and parameters"));
        };
        if name.get_ref().trim().is_empty() {
            return Err(source.at(name, field, "a variant needs a name"));
        }
        if let Err(message) = sshrace_core::limits::check_name(name.get_ref()) {
            return Err(source.at(name, field, message));
        }
        let base = match keys.get("base") {
            Some(base) => String::deserialize(ValueDeserializer::from(base.clone()))
                .map_err(|error| source.serde_error(&error, doc))?,
            None => {
                return Err(source.at(value, format!("{field}.base"), "missing field `base`"));
            }
        };
        if base.trim().is_empty() {
            let span = keys.get("base").map_or(value.span(), Spanned::span);
            return Err(source.error(span, format!("{field}.base"), "must not be empty"));
        }
        let params: DeTable<'_> = keys
            .iter()
            .filter(|(key, _)| key.get_ref() != "base")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let params = StrategyParams::deserialize(ValueDeserializer::from(Spanned::new(
            value.span(),
            DeValue::Table(params),
        )))
        .map_err(|error| source.serde_error(&error, doc))?;
        if let Err(ParamError::Value { name: key, reason }) = params.check() {
            let span = keys
                .iter()
                .find(|(k, _)| k.get_ref() == key.as_str())
                .map_or(value.span(), |(_, v)| v.span());
            let reason = reason.replacen(&format!("{key}: "), "", 1);
            return Err(source.error(span, format!("{field}.{key}"), reason));
        }
        positions.insert(
            name.get_ref().to_string(),
            line_column(source.text, name.span().start),
        );
        out.insert(name.get_ref().to_string(), StrategyVariant { base, params });
    }
    Ok((out, positions))
}

#[cfg(test)]
mod tests {
    use crate::Scenario;
    use crate::fixtures::{assert_rejected, minimal_with};

    #[test]
    fn a_variant_is_a_base_with_parameters() {
        let text = minimal_with("\n[strategy.short]\nbase = \"mux-exit\"\npersist_ms = 5000\n");
        let scenario = Scenario::from_str(&text, "s.toml").expect("valid");
        let variant = &scenario.variants["short"];
        assert_eq!(variant.base, "mux-exit");
        assert_eq!(variant.params.persist_ms, Some(5000));
        assert_eq!(variant.params.max_age_ms, None);
    }

    #[test]
    fn an_unknown_parameter_is_an_error_at_its_key() {
        let text =
            minimal_with("\n[strategy.coolify-3600]\nbase = \"mux-exit\"\nmax_age = 3600000\n");
        assert_rejected(
            &text,
            "s.toml:17:1: strategy.coolify-3600.max_age: ",
            "unknown field `max_age`",
        );
    }

    #[test]
    fn a_parameter_of_the_wrong_type_is_an_error_at_its_value() {
        let text = minimal_with("\n[strategy.x]\nbase = \"mux-exit\"\nmax_age_ms = \"1h\"\n");
        assert_rejected(
            &text,
            "s.toml:17:14: strategy.x.max_age_ms: ",
            "invalid type",
        );
        let text = minimal_with("\n[strategy.x]\nbase = 3\n");
        assert_rejected(&text, "s.toml:16:8: strategy.x.base: ", "invalid type");
    }

    #[test]
    fn a_variant_without_base_is_an_error_at_its_header() {
        let text = minimal_with("\n[strategy.x]\nattempts = 2\n");
        assert_rejected(
            &text,
            "s.toml:15:1: strategy.x.base: ",
            "missing field `base`",
        );
    }

    #[test]
    fn a_zero_count_or_an_out_of_range_interval_is_an_error_at_its_value() {
        for key in sshrace_core::AT_LEAST_ONE {
            let text = minimal_with(&format!("\n[strategy.x]\nbase = \"pool\"\n{key} = 0\n"));
            let at = format!("s.toml:17:{}: strategy.x.{key}: ", key.len() + 4);
            assert_rejected(&text, &at, "must be >= 1 (0 is not rounded up)");
        }
        let text = minimal_with("\n[strategy.x]\nbase = \"agent-status\"\npoll_interval_ms = 5\n");
        assert_rejected(
            &text,
            "s.toml:17:20: strategy.x.poll_interval_ms: ",
            "5 is less than the limit of 10 ms",
        );
        let text = minimal_with(
            "\n[strategy.x]\nbase = \"pool\"\nconnect_timeout_ms = 9223372036854775807\n",
        );
        assert_rejected(
            &text,
            "s.toml:17:22: strategy.x.connect_timeout_ms: ",
            "more than the limit of 604800000 ms (7 days)",
        );
    }
}
