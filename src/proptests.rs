//! Property tests of the parsers that read what breakglass does not control (issue #11, point
//! 6): runbooks, inventories, durations, sizes, selectors and host sets here; journal records and
//! heads, and the answers nodes give (firewall facts, dead-man and confirm reports, service
//! states, crictl's pods), beside their private parsers, with [`config`]. The property everywhere
//! is "no panic on any input": a panic after a change started would leave a fleet half changed
//! and unjournaled. Where a formatter exists the parse of its output gives back the value.
//!
//! Bounded for the normal `cargo test` (`.ci/run`): [`CASES`] cases per property, inputs of at
//! most a few hundred bytes; the whole set runs in seconds. `PROPTEST_CASES=100000 cargo test
//! --lib proptest` searches longer. A failure is kept as a plain unit test of its minimised case
//! beside the parser it broke, not in a regressions file.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::actions::args::duration;
use crate::inventory::{Format, Inventory, Selector, hostset};
use crate::runbook::Runbook;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
pub(crate) const CASES: u32 = 256;

/// The configuration of every property test: [`CASES`] (or `PROPTEST_CASES`), no regressions
/// file written into the source tree.
pub(crate) fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Text that looks enough like TOML to reach past the TOML parser: `key = value` lines and
/// tables made of the words the runbook and inventory schemas use, with odd values.
fn tomlish(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    let key = prop::sample::select(words);
    let value = prop_oneof![
        "\"[ -~]{0,24}\"".prop_map(|s| s.replace('\\', "")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        "\"[0-9]{1,4}(ms|s|m|h|d|y)\"".prop_map(|s| s.clone()),
        "\"(node|n|10\\.0\\.0\\.)\\[[0-9]{1,3}-[0-9]{1,3}\\]\"".prop_map(|s| s.clone()),
    ];
    let line = prop_oneof![
        (key.clone(), value).prop_map(|(k, v)| format!("{k} = {v}")),
        key.clone().prop_map(|k| format!("[{k}]")),
        key.prop_map(|k| format!("[[{k}]]")),
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

const RUNBOOK_WORDS: &[&str] = &[
    "name",
    "summary",
    "description",
    "params",
    "params.cluster",
    "params.n",
    "type",
    "default",
    "help",
    "min",
    "max",
    "steps",
    "steps.with",
    "id",
    "action",
    "targets",
    "waves",
    "canary",
    "max_failures",
    "revert_after",
    "revert_after_limits",
    "timeout",
    "command",
    "ports",
    "allow",
    "confirm",
    "cluster",
    "on_failure",
    "when",
];

const INVENTORY_WORDS: &[&str] = &[
    "defaults",
    "user",
    "port",
    "identity_files",
    "known_hosts",
    "connect_timeout",
    "command_timeout",
    "clusters.lab",
    "api_endpoints",
    "etcd_endpoints",
    "tls_server_name",
    "groups",
    "hosts",
    "name",
    "address",
    "cluster",
    "labels",
    "jump",
    "host_key",
    "sudo",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn runbooks_never_panic(text in "\\PC{0,300}") {
        let _ = Runbook::parse(&text, "proptest.toml");
    }

    #[test]
    fn runbook_like_toml_never_panics(text in tomlish(RUNBOOK_WORDS)) {
        let _ = Runbook::parse(&text, "proptest.toml");
    }

    #[test]
    fn inventories_never_panic(text in "\\PC{0,300}") {
        let path = Path::new("/nonexistent/proptest.toml");
        let _ = Inventory::from_str(&text, path, Format::Toml);
        let _ = Inventory::from_str(&text, path, Format::Json);
    }

    #[test]
    fn inventory_like_toml_never_panics(text in tomlish(INVENTORY_WORDS)) {
        let _ = Inventory::from_str(&text, Path::new("/nonexistent/proptest.toml"), Format::Toml);
    }

    #[test]
    fn durations_and_sizes_never_panic(text in "\\PC{0,40}") {
        let _ = duration::parse(&text);
        let _ = crate::cli::parse_duration(&text);
        let _ = crate::cli::parse_size(&text);
    }

    /// Any number of any unit, at every magnitude: what is accepted is a duration that a
    /// deadline (`Instant::now() + d`) or a multiple (`wait.healthy`'s `3 * max_latency`) holds
    /// without overflowing, which would panic after changes started.
    #[test]
    fn accepted_durations_make_deadlines_and_sizes_never_panic(
        n in (0u32..20).prop_flat_map(|digits| 0..10u64.saturating_pow(digits).max(1)),
        unit in "(ns|us|ms|s|m|h|d|w|M|y|k|KiB|MiB|GiB|b|)",
    ) {
        let text = format!("{n}{unit}");
        for d in [duration::parse(&text), crate::cli::parse_duration(&text), crate::duration::parse(&text)]
            .into_iter()
            .flatten()
        {
            let later = d.checked_mul(1000).and_then(|d| Instant::now().checked_add(d));
            prop_assert!(later.is_some(), "{} reads as {:?}, too long for a deadline", text, d);
        }
        let _ = crate::cli::parse_size(&text);
    }

    /// What a runbook or the journal writes of a duration reads back as the same duration.
    #[test]
    fn a_formatted_duration_parses_back(secs in 0..crate::duration::MAX.as_secs(), nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        let text = humantime::format_duration(d).to_string();
        prop_assert_eq!(duration::parse(&text), Ok(d), "{}", text);
    }

    #[test]
    fn selectors_never_panic(text in "\\PC{0,120}") {
        let _ = Selector::parse(&text);
    }

    #[test]
    fn selector_like_text_never_panics(
        text in "([a-z=!,@*?\\[\\]0-9 -]|except |role=|in \\(|\\)){0,40}",
    ) {
        let _ = Selector::parse(&text);
        let _ = hostset::expand(&text);
    }

    #[test]
    fn host_sets_never_panic(text in "\\PC{0,80}") {
        let _ = hostset::expand(&text);
    }

    /// `expand(fold(names))` is the set of names: output folding never loses or invents a host.
    #[test]
    fn folded_names_expand_to_the_same_set(
        names in prop::collection::btree_set("[a-c]{1,2}[0-9]{0,3}(-[a-c][0-9]{1,2})?", 1..40),
    ) {
        let folded = hostset::fold(&names);
        let expanded = hostset::expand(&folded);
        prop_assert!(expanded.is_ok(), "fold gave {:?}: {:?}", folded, expanded);
        let back: std::collections::BTreeSet<String> =
            expanded.unwrap_or_default().into_iter().collect();
        prop_assert_eq!(back, names, "folded as {}", folded);
    }

    #[test]
    fn confirm_answers_never_panic(text in "(@@bg:confirm@@\n)?([a-z0-9-]{0,8} (cancelled|already|fired|superseded|x) ?[0-9a-z/ ]{0,24}\n){0,6}") {
        let _ = crate::actions::firewall::confirm_results(&text);
    }

    #[test]
    fn crictl_pods_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = crate::actions::workload::parse_pods(&bytes);
    }

    #[test]
    fn crictl_like_json_never_panics(
        id in "\\PC{0,20}",
        name in prop::option::of("\\PC{0,10}"),
        state in prop::option::of(any::<i64>()),
    ) {
        let item = serde_json::json!({"id": id, "metadata": {"name": name}, "state": state});
        let text = serde_json::json!({"items": [item, {"id": 5}, [], null]}).to_string();
        let _ = crate::actions::workload::parse_pods(text.as_bytes());
    }
}
