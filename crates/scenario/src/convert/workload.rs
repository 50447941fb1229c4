//! `[[workload]]` tables to [`Workload`]s: kind, command, and exactly one arrival form.

use std::ops::Range;
use std::time::Duration;

use sshrace_core::limits;
use toml::Spanned;

use super::{Context, FirstSeen, MAX_ARRIVALS, name as valid_name, non_empty};
use crate::raw::{RawCommand, RawKind, RawPurpose, RawWorkload};
use crate::{Arrivals, CommandTemplate, Purpose, ScenarioError, Step, Workload, WorkloadKind};

pub(super) fn workload(
    cx: &Context<'_>,
    raw: &[Spanned<RawWorkload>],
) -> Result<Vec<Workload>, ScenarioError> {
    if raw.is_empty() {
        return Err(cx
            .source
            .top("workload", "at least one [[workload]] is required"));
    }
    let mut seen = FirstSeen::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, item) in raw.iter().enumerate() {
        let name = &item.get_ref().name;
        let field = format!("workload[{index}].name");
        valid_name(&cx.source, name, &field)?;
        if let Some(first) = seen.insert(name.get_ref(), index) {
            return Err(cx.source.at(
                name,
                field,
                format!(
                    "duplicate workload name {:?} (also workload[{first}])",
                    name.get_ref()
                ),
            ));
        }
        out.push(item_of(cx, index, item)?);
    }
    let mut total = 0.0;
    for (index, (item, workload)) in raw.iter().zip(&out).enumerate() {
        total += workload.arrivals.expected_count();
        if total > MAX_ARRIVALS as f64 {
            return Err(cx.source.at(
                item,
                format!("workload[{index}]"),
                format!(
                    "the workload plans {total:.0} operations per run up to here, more than the limit of {MAX_ARRIVALS} (all items together)"
                ),
            ));
        }
    }
    Ok(out)
}

fn item_of(
    cx: &Context<'_>,
    index: usize,
    item: &Spanned<RawWorkload>,
) -> Result<Workload, ScenarioError> {
    let source = &cx.source;
    let prefix = format!("workload[{index}]");
    let field = |key: &str| format!("{prefix}.{key}");
    let raw = item.get_ref();
    let kind = raw.kind.unwrap_or(RawKind::Command);

    let kind = match kind {
        RawKind::Command | RawKind::Interactive => {
            let kind_name = if kind == RawKind::Command {
                "command"
            } else {
                "interactive"
            };
            if let Some(hosts) = &raw.hosts {
                return Err(source.at(
                    hosts,
                    field("hosts"),
                    format!("only jobs have `hosts`; a {kind_name} runs on one `host`"),
                ));
            }
            if let Some(step) = &raw.step {
                return Err(source.at(
                    step,
                    field("step"),
                    format!("only jobs have [[workload.step]]; a {kind_name} has its command keys in [[workload]]"),
                ));
            }
            let host = raw.host.as_ref().ok_or_else(|| {
                source.at(
                    item,
                    field("host"),
                    format!("missing field `host` (required for kind {kind_name:?})"),
                )
            })?;
            cx.check_host(host, &field("host"))?;
            let host = host.get_ref().clone();
            let command = command(cx, &raw.command(), &prefix)?;
            if kind == RawKind::Command {
                WorkloadKind::Command { host, command }
            } else {
                WorkloadKind::Interactive { host, command }
            }
        }
        RawKind::Job => job(cx, &prefix, item)?,
    };

    let timeout = match &raw.timeout_ms {
        Some(timeout) if *timeout.get_ref() == 0 => {
            return Err(source.at(
                timeout,
                field("timeout_ms"),
                "must be > 0 (leave it out for no deadline)",
            ));
        }
        Some(timeout) if *timeout.get_ref() > limits::DURATION_MS => {
            return Err(source.at(
                timeout,
                field("timeout_ms"),
                format!(
                    "{} is more than the limit of {} ms (7 days)",
                    timeout.get_ref(),
                    limits::DURATION_MS
                ),
            ));
        }
        Some(timeout) => Some(Duration::from_millis(*timeout.get_ref())),
        None => None,
    };
    let identity = match &raw.identity {
        Some(identity) => {
            non_empty(source, identity, &field("identity"))?;
            identity.get_ref().clone()
        }
        None => "default".to_owned(),
    };
    Ok(Workload {
        name: raw.name.get_ref().clone(),
        kind,
        purpose: match raw.purpose {
            None | Some(RawPurpose::Work) => Purpose::Work,
            Some(RawPurpose::HealthCheck) => Purpose::HealthCheck,
        },
        retryable: raw.retryable.unwrap_or(false),
        measured: raw.measured.unwrap_or(true),
        timeout,
        identity,
        arrivals: arrivals(cx, &prefix, item)?,
    })
}

fn job(
    cx: &Context<'_>,
    prefix: &str,
    item: &Spanned<RawWorkload>,
) -> Result<WorkloadKind, ScenarioError> {
    let source = &cx.source;
    let field = |key: &str| format!("{prefix}.{key}");
    let raw = item.get_ref();
    if let Some(host) = &raw.host {
        return Err(source.at(
            host,
            field("host"),
            "a job runs on `hosts` (a list), not `host`",
        ));
    }
    if let Some((key, span)) = raw.command().first_present() {
        return Err(source.error(
            span,
            field(key),
            "a job's command keys go in its [[workload.step]] tables",
        ));
    }
    let hosts = raw.hosts.as_ref().ok_or_else(|| {
        source.at(
            item,
            field("hosts"),
            "missing field `hosts` (required for kind \"job\")",
        )
    })?;
    if hosts.get_ref().is_empty() {
        return Err(source.at(hosts, field("hosts"), "must list at least one host"));
    }
    let mut seen = FirstSeen::new();
    for (index, host) in hosts.get_ref().iter().enumerate() {
        let host_field = format!("{prefix}.hosts[{index}]");
        cx.check_host(host, &host_field)?;
        if let Some(first) = seen.insert(host.get_ref(), index) {
            return Err(source.at(
                host,
                host_field,
                format!("{:?} is listed twice (also hosts[{first}])", host.get_ref()),
            ));
        }
    }
    let steps = raw.step.as_ref().ok_or_else(|| {
        source.at(
            item,
            field("step"),
            "a job needs at least one [[workload.step]]",
        )
    })?;
    if steps.get_ref().is_empty() {
        return Err(source.at(
            steps,
            field("step"),
            "a job needs at least one [[workload.step]]",
        ));
    }
    let mut names = Vec::with_capacity(steps.get_ref().len());
    for (index, step) in steps.get_ref().iter().enumerate() {
        let step_prefix = format!("{prefix}.step[{index}]");
        let name = match &step.get_ref().name {
            Some(name) => {
                valid_name(source, name, &format!("{step_prefix}.name"))?;
                name.get_ref().clone()
            }
            None => format!("step{index}"),
        };
        if let Some(first) = names.iter().position(|(other, _)| *other == name) {
            let span = step
                .get_ref()
                .name
                .as_ref()
                .map_or(step.span(), Spanned::span);
            return Err(source.error(
                span,
                format!("{step_prefix}.name"),
                format!("duplicate step name {name:?} (also step[{first}])"),
            ));
        }
        let command = command(cx, &step.get_ref().command(), &step_prefix)?;
        names.push((name, command));
    }
    Ok(WorkloadKind::Job {
        hosts: hosts
            .get_ref()
            .iter()
            .map(|host| host.get_ref().clone())
            .collect(),
        steps: names
            .into_iter()
            .map(|(name, command)| Step { name, command })
            .collect(),
    })
}

fn command(
    cx: &Context<'_>,
    raw: &RawCommand<'_>,
    prefix: &str,
) -> Result<CommandTemplate, ScenarioError> {
    let millis =
        |value: Option<&Spanned<u64>>| Duration::from_millis(value.map_or(0, |v| *v.get_ref()));
    let fail_probability = match raw.fail_probability {
        Some(p) if !(0.0..=1.0).contains(p.get_ref()) => {
            return Err(cx.source.at(
                p,
                format!("{prefix}.fail_probability"),
                format!("{} is not in [0, 1]", p.get_ref()),
            ));
        }
        Some(p) => *p.get_ref(),
        None => 0.0,
    };
    let at_most = |value: Option<&Spanned<u64>>, key: &str, limit: u64, what: &str| match value {
        Some(v) if *v.get_ref() > limit => Err(cx.source.at(
            v,
            format!("{prefix}.{key}"),
            format!("{} is more than the limit of {what}", v.get_ref()),
        )),
        _ => Ok(()),
    };
    at_most(
        raw.duration_ms,
        "duration_ms",
        limits::DURATION_MS,
        "604800000 ms (7 days)",
    )?;
    at_most(
        raw.duration_jitter_ms,
        "duration_jitter_ms",
        limits::DURATION_MS,
        "604800000 ms (7 days)",
    )?;
    at_most(
        raw.stdout_bytes,
        "stdout_bytes",
        limits::COMMAND_BYTES,
        "1073741824 bytes (1 GiB)",
    )?;
    at_most(
        raw.stderr_bytes,
        "stderr_bytes",
        limits::COMMAND_BYTES,
        "1073741824 bytes (1 GiB)",
    )?;
    if let Some(chunks) = raw.chunks {
        let count = u64::from(*chunks.get_ref());
        let field = format!("{prefix}.chunks");
        if count > limits::CHUNKS {
            return Err(cx.source.at(
                chunks,
                field,
                format!("{count} is more than the limit of {}", limits::CHUNKS),
            ));
        }
        let duration = raw.duration_ms.map_or(0, |v| *v.get_ref());
        let tick = cx.tick.as_millis() as u64;
        if count > 1 && duration / count < tick {
            return Err(cx.source.at(
                chunks,
                field,
                format!(
                    "{count} chunks in {duration} ms are closer than one per sim.tick_ms ({tick} ms): at most {}",
                    (duration / tick).max(1)
                ),
            ));
        }
    }
    Ok(CommandTemplate {
        duration: millis(raw.duration_ms),
        duration_jitter: millis(raw.duration_jitter_ms),
        exit_code: raw.exit_code.map_or(0, |v| *v.get_ref()),
        fail_probability,
        stdout_bytes: raw.stdout_bytes.map_or(0, |v| *v.get_ref()),
        stderr_bytes: raw.stderr_bytes.map_or(0, |v| *v.get_ref()),
        chunks: raw.chunks.map_or(0, |v| *v.get_ref()),
        hang: raw.hang.is_some_and(|v| *v.get_ref()),
    })
}

/// The arrival forms, by the key that selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Once,
    Burst,
    Periodic,
    Poisson,
}

impl Form {
    /// The key that names the form.
    fn key(self) -> &'static str {
        match self {
            Form::Once => "at_ms",
            Form::Burst => "burst",
            Form::Periodic => "every_ms",
            Form::Poisson => "rate_per_hour",
        }
    }

    /// Every key the form may use.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Form::Once => &["at_ms"],
            Form::Burst => &["burst", "at_ms"],
            Form::Periodic => &["every_ms", "start_ms", "until_ms", "jitter_ms"],
            Form::Poisson => &["rate_per_hour", "start_ms", "until_ms"],
        }
    }
}

const NO_ARRIVALS: &str =
    "no arrivals: set `at_ms`, `burst` with `at_ms`, `every_ms` or `rate_per_hour`";

fn arrivals(
    cx: &Context<'_>,
    prefix: &str,
    item: &Spanned<RawWorkload>,
) -> Result<Arrivals, ScenarioError> {
    let source = &cx.source;
    let field = |key: &str| format!("{prefix}.{key}");
    let raw = item.get_ref();
    let present: Vec<(&'static str, Range<usize>)> = [
        ("at_ms", raw.at_ms.as_ref().map(Spanned::span)),
        ("burst", raw.burst.as_ref().map(Spanned::span)),
        ("every_ms", raw.every_ms.as_ref().map(Spanned::span)),
        (
            "rate_per_hour",
            raw.rate_per_hour.as_ref().map(Spanned::span),
        ),
        ("start_ms", raw.start_ms.as_ref().map(Spanned::span)),
        ("until_ms", raw.until_ms.as_ref().map(Spanned::span)),
        ("jitter_ms", raw.jitter_ms.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|span| (key, span)))
    .collect();
    let span_of = |key: &str| {
        present
            .iter()
            .find(|(present, _)| *present == key)
            .map(|(_, span)| span.clone())
    };

    // The form: named by burst, every_ms or rate_per_hour, else at_ms.
    let selectors: Vec<Form> = [Form::Burst, Form::Periodic, Form::Poisson]
        .into_iter()
        .filter(|form| span_of(form.key()).is_some())
        .collect();
    let form = match selectors.as_slice() {
        [] if span_of("at_ms").is_some() => Form::Once,
        [] => {
            return match present.first() {
                Some((key, span)) => Err(source.error(
                    span.clone(),
                    field(key),
                    format!("`{key}` needs `every_ms` or `rate_per_hour`"),
                )),
                None => Err(source.at(item, prefix, NO_ARRIVALS)),
            };
        }
        [form] => *form,
        [first, second, ..] => {
            return Err(mixed(
                cx,
                prefix,
                (first.key(), span_of(first.key())),
                (second.key(), span_of(second.key())),
            ));
        }
    };
    if let Some((stray, span)) = present.iter().find(|(key, _)| !form.keys().contains(key)) {
        return Err(mixed(
            cx,
            prefix,
            (form.key(), span_of(form.key())),
            (stray, Some(span.clone())),
        ));
    }

    let duration = cx.duration_ms();
    let before_end = |value: &Spanned<u64>, key: &str| {
        if u128::from(*value.get_ref()) >= duration {
            Err(source.at(
                value,
                field(key),
                format!(
                    "{} is not before sim.duration_ms ({duration})",
                    value.get_ref()
                ),
            ))
        } else {
            Ok(Duration::from_millis(*value.get_ref()))
        }
    };
    match (form, &raw.every_ms, &raw.rate_per_hour) {
        (Form::Periodic, Some(every), _) => {
            let (start, until) = window(cx, prefix, raw)?;
            periodic(cx, prefix, raw, every, start, until)
        }
        (Form::Poisson, _, Some(rate)) => {
            let (start, until) = window(cx, prefix, raw)?;
            poisson(cx, prefix, rate, start, until)
        }
        _ => {
            let Some(at_ms) = &raw.at_ms else {
                let span = span_of("burst").unwrap_or(item.span());
                return Err(source.error(span, field("burst"), "`burst` needs `at_ms`"));
            };
            let at = before_end(at_ms, "at_ms")?;
            match &raw.burst {
                None => Ok(Arrivals::Once { at }),
                Some(count) if *count.get_ref() == 0 => {
                    Err(source.at(count, field("burst"), "must be >= 1"))
                }
                Some(count) if u64::from(*count.get_ref()) > limits::PARALLEL_CONNECTIONS => {
                    Err(source.at(
                        count,
                        field("burst"),
                        format!(
                            "{} is more than the limit of {} parallel connections",
                            count.get_ref(),
                            limits::PARALLEL_CONNECTIONS
                        ),
                    ))
                }
                Some(count) => Ok(Arrivals::Burst {
                    at,
                    count: *count.get_ref(),
                }),
            }
        }
    }
}

/// An error naming two keys of different arrival forms, at whichever comes later in the file.
fn mixed(
    cx: &Context<'_>,
    prefix: &str,
    one: (&str, Option<Range<usize>>),
    other: (&str, Option<Range<usize>>),
) -> ScenarioError {
    let (first, second) = if one.1.as_ref().map(|s| s.start) <= other.1.as_ref().map(|s| s.start) {
        (one, other)
    } else {
        (other, one)
    };
    cx.source.error(
        second.1.unwrap_or(0..0),
        format!("{prefix}.{}", second.0),
        format!(
            "mixes arrival forms: `{}` and `{}` (use one of `at_ms`, `burst` with `at_ms`, `every_ms` or `rate_per_hour`)",
            first.0, second.0
        ),
    )
}

/// `start_ms` (default 0) and `until_ms` (default sim.duration_ms), checked.
fn window(cx: &Context<'_>, prefix: &str, raw: &RawWorkload) -> Result<(u64, u64), ScenarioError> {
    let duration = cx.duration_ms();
    let start = raw.start_ms.as_ref().map_or(0, |v| *v.get_ref());
    let until = match &raw.until_ms {
        Some(until) if u128::from(*until.get_ref()) > duration => {
            return Err(cx.source.at(
                until,
                format!("{prefix}.until_ms"),
                format!("{} is after sim.duration_ms ({duration})", until.get_ref()),
            ));
        }
        Some(until) => *until.get_ref(),
        None => u64::try_from(duration).unwrap_or(u64::MAX),
    };
    if start >= until {
        let message = format!("start {start} is not before until {until}");
        return Err(match (&raw.start_ms, &raw.until_ms) {
            (_, Some(until_ms)) => cx
                .source
                .at(until_ms, format!("{prefix}.until_ms"), message),
            (Some(start_ms), None) => cx
                .source
                .at(start_ms, format!("{prefix}.start_ms"), message),
            (None, None) => cx.source.top(format!("{prefix}.start_ms"), message),
        });
    }
    Ok((start, until))
}

fn periodic(
    cx: &Context<'_>,
    prefix: &str,
    raw: &RawWorkload,
    every: &Spanned<u64>,
    start: u64,
    until: u64,
) -> Result<Arrivals, ScenarioError> {
    let every_ms = *every.get_ref();
    if every_ms == 0 {
        return Err(cx
            .source
            .at(every, format!("{prefix}.every_ms"), "must be > 0"));
    }
    let count = (until - start - 1) / every_ms + 1;
    if count > MAX_ARRIVALS {
        return Err(cx.source.at(
            every,
            format!("{prefix}.every_ms"),
            format!("{count} arrivals, more than {MAX_ARRIVALS}"),
        ));
    }
    let jitter = raw.jitter_ms.as_ref().map_or(0, |v| *v.get_ref());
    Ok(Arrivals::Periodic {
        start: Duration::from_millis(start),
        every: Duration::from_millis(every_ms),
        until: Duration::from_millis(until),
        jitter: Duration::from_millis(jitter),
    })
}

fn poisson(
    cx: &Context<'_>,
    prefix: &str,
    rate: &Spanned<f64>,
    start: u64,
    until: u64,
) -> Result<Arrivals, ScenarioError> {
    let rate_per_hour = *rate.get_ref();
    if !(rate_per_hour > 0.0 && rate_per_hour.is_finite()) {
        return Err(cx.source.at(
            rate,
            format!("{prefix}.rate_per_hour"),
            format!("{rate_per_hour} is not a positive number"),
        ));
    }
    let expected = rate_per_hour * (until - start) as f64 / 3_600_000.0;
    if expected > MAX_ARRIVALS as f64 {
        return Err(cx.source.at(
            rate,
            format!("{prefix}.rate_per_hour"),
            format!("{expected:.0} arrivals expected, more than {MAX_ARRIVALS}"),
        ));
    }
    Ok(Arrivals::Poisson {
        start: Duration::from_millis(start),
        until: Duration::from_millis(until),
        rate_per_hour,
    })
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{MINIMAL, assert_rejected, minimal_with};
    use crate::{Arrivals, Scenario};
    use std::time::Duration;

    /// MINIMAL with its workload's `at_ms = 1000` (line 13) replaced by `lines`.
    fn workload_with(lines: &str) -> String {
        MINIMAL.replace("at_ms = 1000\n", &format!("{lines}\n"))
    }

    fn arrivals_of(lines: &str) -> Arrivals {
        let scenario = Scenario::from_str(&workload_with(lines), "s.toml")
            .unwrap_or_else(|error| panic!("{error}"));
        scenario.workload[0].arrivals.clone()
    }

    #[test]
    fn an_unknown_key_inside_a_workload_is_an_error_at_the_key() {
        assert_rejected(
            &workload_with("at_ms = 1000\ndurration_ms = 5"),
            "s.toml:14:1: workload[0].durration_ms: ",
            "unknown field `durration_ms`",
        );
    }

    #[test]
    fn a_missing_workload_name_is_an_error_at_its_header() {
        let text = minimal_with("\n[[workload]]\nhost = \"target\"\nat_ms = 5\n");
        assert_rejected(
            &text,
            "s.toml:15:1: workload[1].name: ",
            "missing field `name`",
        );
    }

    #[test]
    fn at_ms_after_duration_is_an_error_at_its_line() {
        assert_rejected(
            &workload_with("at_ms = 60000"),
            "s.toml:13:9: workload[0].at_ms: ",
            "60000 is not before sim.duration_ms (60000)",
        );
    }

    #[test]
    fn a_workload_host_that_is_not_defined_is_an_error_at_the_name() {
        let text = MINIMAL.replace("host = \"target\"", "host = \"web\"");
        assert_rejected(
            &text,
            "s.toml:12:8: workload[0].host: ",
            "\"web\" is not a [[host]]",
        );
    }

    #[test]
    fn a_command_without_host_is_an_error_at_its_header() {
        let text = MINIMAL.replace("host = \"target\"\n", "");
        assert_rejected(
            &text,
            "s.toml:10:1: workload[0].host: ",
            "missing field `host`",
        );
    }

    #[test]
    fn a_duplicate_workload_name_is_an_error_at_the_second_name() {
        let text =
            minimal_with("\n[[workload]]\nname = \"deploy\"\nhost = \"target\"\nat_ms = 5\n");
        assert_rejected(
            &text,
            "s.toml:16:8: workload[1].name: ",
            "duplicate workload name \"deploy\" (also workload[0])",
        );
    }

    #[test]
    fn mixed_arrival_forms_are_an_error_naming_both_keys() {
        assert_rejected(
            &workload_with("at_ms = 1000\nevery_ms = 60000"),
            "s.toml:14:12: workload[0].every_ms: ",
            "mixes arrival forms: `at_ms` and `every_ms`",
        );
        assert_rejected(
            &workload_with("rate_per_hour = 3.0\nevery_ms = 60000"),
            "s.toml:14:12: workload[0].every_ms: ",
            "`rate_per_hour` and `every_ms`",
        );
        assert_rejected(
            &workload_with("rate_per_hour = 3.0\njitter_ms = 5"),
            "s.toml:14:13: workload[0].jitter_ms: ",
            "`rate_per_hour` and `jitter_ms`",
        );
        assert_rejected(
            &workload_with("start_ms = 5\nat_ms = 1000"),
            "s.toml:14:9: workload[0].at_ms: ",
            "`start_ms` and `at_ms`",
        );
    }

    #[test]
    fn a_workload_without_arrivals_is_an_error_at_its_header() {
        assert_rejected(
            &workload_with(""),
            "s.toml:10:1: workload[0]: ",
            "no arrivals",
        );
        assert_rejected(
            &workload_with("until_ms = 5"),
            "s.toml:13:12: workload[0].until_ms: ",
            "needs `every_ms` or `rate_per_hour`",
        );
        assert_rejected(
            &workload_with("burst = 3"),
            "s.toml:13:9: workload[0].burst: ",
            "`burst` needs `at_ms`",
        );
    }

    #[test]
    fn each_arrival_form_reads_with_its_defaults() {
        let ms = Duration::from_millis;
        assert_eq!(
            arrivals_of("burst = 80\nat_ms = 1000"),
            Arrivals::Burst {
                at: ms(1000),
                count: 80
            }
        );
        assert_eq!(
            arrivals_of("every_ms = 10000"),
            Arrivals::Periodic {
                start: ms(0),
                every: ms(10_000),
                until: ms(60_000),
                jitter: ms(0)
            }
        );
        assert_eq!(
            arrivals_of("rate_per_hour = 7\nstart_ms = 100"),
            Arrivals::Poisson {
                start: ms(100),
                until: ms(60_000),
                rate_per_hour: 7.0
            }
        );
    }

    #[test]
    fn periodic_arrivals_must_all_fall_before_the_end() {
        assert_rejected(
            &workload_with("every_ms = 10000\nuntil_ms = 70000"),
            "s.toml:14:12: workload[0].until_ms: ",
            "70000 is after sim.duration_ms (60000)",
        );
        assert_rejected(
            &workload_with("every_ms = 10000\nstart_ms = 20000\nuntil_ms = 20000"),
            "s.toml:15:12: workload[0].until_ms: ",
            "start 20000 is not before until 20000",
        );
        assert_rejected(
            &workload_with("every_ms = 0"),
            "s.toml:13:12: workload[0].every_ms: ",
            "must be > 0",
        );
    }

    #[test]
    fn absurd_arrival_counts_are_errors() {
        let text = MINIMAL
            .replace("duration_ms = 60000", "duration_ms = 86400000")
            .replace("at_ms = 1000", "every_ms = 1");
        assert_rejected(
            &text,
            "s.toml:13:12: workload[0].every_ms: ",
            "more than 100000",
        );
        assert_rejected(
            &workload_with("rate_per_hour = -1.0"),
            "s.toml:13:17: workload[0].rate_per_hour: ",
            "not a positive number",
        );
    }

    #[test]
    fn a_job_with_host_is_an_error_at_host() {
        let text = MINIMAL.replace(
            "host = \"target\"\n",
            "kind = \"job\"\nhost = \"target\"\nhosts = [\"target\"]\n",
        );
        assert_rejected(
            &text,
            "s.toml:13:8: workload[0].host: ",
            "a job runs on `hosts`",
        );
    }

    #[test]
    fn a_job_keeps_its_command_keys_in_steps() {
        let text = MINIMAL.replace(
            "host = \"target\"\n",
            "kind = \"job\"\nhosts = [\"target\"]\nduration_ms = 5\n",
        );
        assert_rejected(
            &text,
            "s.toml:14:15: workload[0].duration_ms: ",
            "[[workload.step]]",
        );
        let text = MINIMAL.replace(
            "host = \"target\"\n",
            "kind = \"job\"\nhosts = [\"target\"]\n",
        );
        assert_rejected(
            &text,
            "s.toml:10:1: workload[0].step: ",
            "at least one [[workload.step]]",
        );
    }

    #[test]
    fn job_hosts_must_be_defined_and_distinct() {
        let job = |hosts: &str| {
            minimal_with(&format!(
                "\n[[workload]]\nname = \"j\"\nkind = \"job\"\nhosts = {hosts}\nat_ms = 0\n[[workload.step]]\n"
            ))
        };
        assert_rejected(
            &job("[\"target\", \"web\"]"),
            "s.toml:18:20: workload[1].hosts[1]: ",
            "not a [[host]]",
        );
        assert_rejected(
            &job("[\"target\", \"target\"]"),
            "s.toml:18:20: workload[1].hosts[1]: ",
            "listed twice",
        );
        assert_rejected(
            &job("[]"),
            "s.toml:18:9: workload[1].hosts: ",
            "at least one host",
        );
    }

    #[test]
    fn a_step_with_an_unknown_key_is_an_error_at_the_key() {
        let text = minimal_with(
            "\n[[workload]]\nname = \"j\"\nkind = \"job\"\nhosts = [\"target\"]\nat_ms = 0\n\n[[workload.step]]\nname = \"a\"\n\n[[workload.step]]\nhost = \"target\"\n",
        );
        assert_rejected(
            &text,
            "s.toml:25:1: workload[1].step[1].host: ",
            "unknown field `host`",
        );
    }

    #[test]
    fn steps_only_belong_to_jobs() {
        let text = minimal_with("\n[[workload.step]]\nduration_ms = 5\n");
        assert_rejected(
            &text,
            "s.toml:15:1: workload[0].step: ",
            "only jobs have [[workload.step]]",
        );
    }

    #[test]
    fn command_values_out_of_range_are_errors() {
        assert_rejected(
            &workload_with("at_ms = 1\nfail_probability = 1.5"),
            "s.toml:14:20: workload[0].fail_probability: ",
            "not in [0, 1]",
        );
        assert_rejected(
            &workload_with("at_ms = 1\ntimeout_ms = 0"),
            "s.toml:14:14: workload[0].timeout_ms: ",
            "must be > 0",
        );
        assert_rejected(
            &workload_with("at_ms = 1\nkind = \"batch\""),
            "s.toml:14:8: workload[0].kind: ",
            "unknown variant `batch`",
        );
    }
}
