//! One journal record and its byte-exact line format.
//!
//! The hash covers the bytes as written, not a re-serialization: JSON has many spellings of the
//! same value (key order, escapes, number formats), and a verifier that re-serialized would tie
//! the journal to one `serde_json` version. So a line is `B` without its final `}`, then
//! `,"hash":"<hex>"}` and a newline, where `B` is the record serialized without `hash` and
//! `hex = SHA-256(B)`. Verifying splits at the last `,"hash":"` (it cannot occur later: the hex
//! has no quotes) and rebuilds `B` from the line itself.
//!
//! Records appended together (one write, one fsync: `Journal::append_batch`) form a group; the
//! first record of a group of more than one carries `"batch":K`, its size, so that `verify`
//! can tell the records of a group cut short by a kill (written, not yet counted in `head`)
//! from records added later.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The record format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;

/// `prev` of the first record, and `head.hash` of a journal without records.
pub(crate) const ZERO_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_KEY: &str = ",\"hash\":\"";

/// One journaled event with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Record format version (1).
    pub v: u32,
    /// 0 for the first record, then +1 per record.
    pub seq: u64,
    /// When it was appended: RFC 3339, UTC, microseconds.
    pub time: String,
    /// `user@host` of the process that appended it.
    pub operator: String,
    /// The engine's event, stored as given.
    pub event: Value,
    /// `hash` of the previous record, or 64 zeros for the first.
    pub prev: String,
    /// On the first record of a group appended with one write, the group's size (absent for a
    /// record appended alone, and on the others of a group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// SHA-256 (lowercase hex) of this record's line without the hash field.
    pub hash: String,
}

/// Field order here is the order on disk.
#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    time: &'a str,
    operator: &'a str,
    event: &'a Value,
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<u64>,
}

/// The line to append (newline included) and the record's hash.
#[cfg(test)]
pub(crate) fn encode(
    seq: u64,
    time: &str,
    operator: &str,
    event: &Value,
    prev: &str,
) -> Result<(String, String), serde_json::Error> {
    encode_in_batch(seq, time, operator, event, prev, None)
}

/// [`encode`] with `batch` set: `Some(K)` on the first record of a group of K > 1.
pub(crate) fn encode_in_batch(
    seq: u64,
    time: &str,
    operator: &str,
    event: &Value,
    prev: &str,
    batch: Option<u64>,
) -> Result<(String, String), serde_json::Error> {
    let body = serde_json::to_string(&Body {
        v: VERSION,
        seq,
        time,
        operator,
        event,
        prev,
        batch,
    })?;
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    // A struct always serializes to an object, so `body` ends with `}`.
    let open = body.strip_suffix('}').unwrap_or(&body);
    let mut line = String::with_capacity(body.len() + HASH_KEY.len() + 68);
    line.push_str(open);
    line.push_str(HASH_KEY);
    line.push_str(&hash);
    line.push_str("\"}\n");
    Ok((line, hash))
}

/// Parses and checks one line (without its newline). The error is a reason for a human, without
/// the line number.
pub(crate) fn decode(line: &[u8]) -> Result<Record, String> {
    if line.is_empty() {
        return Err("empty line: a record was removed or the file was edited".to_owned());
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| "not UTF-8: the record was damaged or edited".to_owned())?;
    let Some(at) = text.rfind(HASH_KEY) else {
        return Err(not_a_record(text, "it has no hash field"));
    };
    let Some(hex) = text[at + HASH_KEY.len()..].strip_suffix("\"}") else {
        return Err(not_a_record(text, "it does not end with its hash field"));
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(not_a_record(
            text,
            "its hash is not 64 lowercase hex digits",
        ));
    }
    let mut hasher = Sha256::new();
    hasher.update(&text.as_bytes()[..at]);
    hasher.update(b"}");
    if hex::encode(hasher.finalize()) != hex {
        return Err(version_problem(text)
            .unwrap_or_else(|| "hash mismatch: the record was edited".to_owned()));
    }
    let record: Record =
        serde_json::from_str(text).map_err(|e| not_a_record(text, &e.to_string()))?;
    if record.v != VERSION {
        return Err(unsupported(record.v));
    }
    Ok(record)
}

/// A record from a newer breakglass may hash or parse differently: say so rather than "edited".
fn version_problem(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    match serde_json::from_str::<Version>(text) {
        Ok(Version { v }) if v != VERSION => Some(unsupported(v)),
        _ => None,
    }
}

fn unsupported(v: u32) -> String {
    format!(
        "record version {v} is not supported by this breakglass (it reads version {VERSION}); \
         use the breakglass release that wrote the run"
    )
}

fn not_a_record(text: &str, why: &str) -> String {
    version_problem(text)
        .unwrap_or_else(|| format!("not a journal record ({why}): the line was damaged or edited"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(event: &Value) -> (String, String) {
        encode(
            3,
            "2026-11-25T11:58:01.123456Z",
            "alice@laptop",
            event,
            ZERO_HASH,
        )
        .expect("encode")
    }

    #[test]
    fn line_is_the_documented_format() {
        let (line, hash) = line(&json!({"type": "run_begin"}));
        let body = format!(
            "{{\"v\":1,\"seq\":3,\"time\":\"2026-11-25T11:58:01.123456Z\",\
             \"operator\":\"alice@laptop\",\"event\":{{\"type\":\"run_begin\"}},\
             \"prev\":\"{ZERO_HASH}\"}}"
        );
        assert_eq!(hash, hex::encode(Sha256::digest(body.as_bytes())));
        let expected = format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]);
        assert_eq!(line, expected);
    }

    #[test]
    fn decode_round_trips_and_tolerates_hash_like_text_in_events() {
        // A key named "hash" inside the event must not confuse the split.
        let event = json!({"hash": "x", "s": ",\"hash\":\"", "nl": "a\nb", "u": "é"});
        let (text, hash) = line(&event);
        let record = decode(text.trim_end_matches('\n').as_bytes()).expect("decode");
        assert_eq!(record.event, event);
        assert_eq!(record.hash, hash);
        assert_eq!(record.seq, 3);
        assert!(!text.trim_end_matches('\n').contains('\n'));
    }

    #[test]
    fn decode_rejects_an_edited_byte() {
        let (text, _) = line(&json!({"replicas": 3}));
        let edited = text.trim_end_matches('\n').replace("3}", "4}");
        let err = decode(edited.as_bytes()).expect_err("edited");
        assert_eq!(err, "hash mismatch: the record was edited");
    }

    #[test]
    fn decode_names_a_newer_version() {
        let (text, _) = line(&json!({}));
        let newer = text
            .trim_end_matches('\n')
            .replace("{\"v\":1,", "{\"v\":2,");
        let err = decode(newer.as_bytes()).expect_err("newer");
        assert!(err.contains("record version 2 is not supported"), "{err}");
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(decode(b"").expect_err("empty").contains("empty line"));
        assert!(
            decode(b"{\"v\":1}")
                .expect_err("short")
                .contains("not a journal record")
        );
        assert!(
            decode(b"\xff\xfe")
                .expect_err("binary")
                .contains("not UTF-8")
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: a journal line, however damaged, is an error and never a panic.
        #[test]
        fn any_line_decodes_or_is_refused(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode(&line);
        }

        /// A real record with bytes changed, cut or added: refused, never a panic; unchanged
        /// it decodes to itself.
        #[test]
        fn damaged_records_are_refused(
            at in 0usize..400,
            byte in proptest::prelude::any::<u8>(),
            cut in proptest::prelude::any::<bool>(),
            text in "\\PC{0,40}",
        ) {
            let event = serde_json::json!({"type": "notice", "message": text});
            let (line, _) = encode(7, "2026-01-01T00:00:00Z", "op@host", &event, "00")
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let mut bytes = line.trim_end_matches('\n').as_bytes().to_vec();
            proptest::prop_assert!(decode(&bytes).is_ok());
            let at = at % (bytes.len() + 1);
            if cut {
                bytes.truncate(at);
            } else {
                bytes.insert(at, byte);
            }
            let _ = decode(&bytes);
        }
    }
}
