//! What a Kubernetes object stored in etcd is, read from its value without the API server: a
//! JSON object (`--storage-media-type=application/json`), or the protobuf envelope a real API
//! server writes by default: the magic `k8s\0`, then a `runtime.Unknown` message
//! (k8s.io/apimachinery/pkg/runtime/generated.proto: `typeMeta = 1` { `apiVersion = 1`,
//! `kind = 2` }, `raw = 2`, `contentEncoding = 3`, `contentType = 4`), whose `raw` is the object,
//! whose field 1 is its `ObjectMeta` (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto:
//! `name = 1`, `namespace = 3`, `uid = 5`).
//!
//! Only those few fields are read, with prost's wire-format primitives; the value itself is never
//! interpreted further or re-encoded. Used by `plan`, the journal and messages to say what a key
//! holds.

use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint};
use serde::{Deserialize, Serialize};

/// The protobuf envelope's magic prefix.
pub const PROTOBUF_MAGIC: &[u8] = b"k8s\0";

/// What an etcd value holds, as far as an operator needs to know before deleting it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `json` or `protobuf`.
    pub encoding: String,
    /// The value's size in bytes.
    pub size: usize,
}

impl ObjectSummary {
    /// `apps/v1 DaemonSet monitoring/telemetry-agent (uid 1234-..., 2.1 KiB protobuf)`.
    pub fn describe(&self) -> String {
        let name = if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        };
        format!(
            "{} {} {name} (uid {}, {} bytes {})",
            self.api_version, self.kind, self.uid, self.size, self.encoding
        )
    }
}

/// Reads what `value` holds. Err says why it is neither form.
pub fn summarize(value: &[u8]) -> Result<ObjectSummary, String> {
    if let Some(envelope) = value.strip_prefix(PROTOBUF_MAGIC) {
        return protobuf(envelope).map(|mut s| {
            s.size = value.len();
            s
        });
    }
    let v: serde_json::Value = serde_json::from_slice(value)
        .map_err(|e| format!("neither a JSON object nor a protobuf envelope (k8s\\0): {e}"))?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let meta = &v["metadata"];
    Ok(ObjectSummary {
        api_version: text(&v["apiVersion"]),
        kind: text(&v["kind"]),
        namespace: text(&meta["namespace"]),
        name: text(&meta["name"]),
        uid: text(&meta["uid"]),
        encoding: "json".into(),
        size: value.len(),
    })
}

fn protobuf(envelope: &[u8]) -> Result<ObjectSummary, String> {
    let mut s = ObjectSummary {
        encoding: "protobuf".into(),
        ..ObjectSummary::default()
    };
    for (tag, field) in fields(envelope)? {
        match (tag, field) {
            (1, Field::Bytes(type_meta)) => {
                for (tag, f) in fields(type_meta)? {
                    match (tag, f) {
                        (1, Field::Bytes(b)) => s.api_version = utf8(b)?,
                        (2, Field::Bytes(b)) => s.kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(raw)) => {
                for (tag, f) in fields(raw)? {
                    if let (1, Field::Bytes(meta)) = (tag, f) {
                        for (tag, f) in fields(meta)? {
                            match (tag, f) {
                                (1, Field::Bytes(b)) => s.name = utf8(b)?,
                                (3, Field::Bytes(b)) => s.namespace = utf8(b)?,
                                (5, Field::Bytes(b)) => s.uid = utf8(b)?,
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if s.kind.is_empty() {
        return Err("a protobuf envelope without a kind".into());
    }
    Ok(s)
}

enum Field<'a> {
    Bytes(&'a [u8]),
    Other,
}

/// The fields of one protobuf message, in order (tag and length-delimited bytes; the rest
/// skipped). Err on a truncated or malformed message.
fn fields(mut buf: &[u8]) -> Result<Vec<(u32, Field<'_>)>, String> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let (tag, wire) = decode_key(&mut buf).map_err(|e| format!("protobuf: {e}"))?;
        match wire {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|e| format!("protobuf: {e}"))?;
                out.push((tag, Field::Other));
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
                if buf.remaining() < n {
                    return Err("protobuf: truncated fixed-size field".into());
                }
                buf.advance(n);
                out.push((tag, Field::Other));
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|e| format!("protobuf: {e}"))?;
                let len = usize::try_from(len).map_err(|_| "protobuf: length overflows")?;
                if buf.remaining() < len {
                    return Err("protobuf: truncated length-delimited field".into());
                }
                let (field, rest) = buf.split_at(len);
                out.push((tag, Field::Bytes(field)));
                buf = rest;
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err("protobuf: groups are not used by Kubernetes objects".into());
            }
        }
    }
    Ok(out)
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| format!("protobuf: a string is not UTF-8: {e}"))
}

/// Encodes an object the way a kube-apiserver stores it (for tests and the lab): the envelope
/// with `typeMeta`, and `raw` holding an object whose `ObjectMeta` has name, namespace and uid.
pub fn encode_protobuf(
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Vec<u8> {
    use prost::encoding::{bytes, string};
    let mut type_meta = Vec::new();
    string::encode(1, &api_version.to_owned(), &mut type_meta);
    string::encode(2, &kind.to_owned(), &mut type_meta);
    let mut meta = Vec::new();
    string::encode(1, &name.to_owned(), &mut meta);
    string::encode(3, &namespace.to_owned(), &mut meta);
    string::encode(5, &uid.to_owned(), &mut meta);
    let mut object = Vec::new();
    bytes::encode(1, &meta, &mut object);
    let mut envelope = PROTOBUF_MAGIC.to_vec();
    bytes::encode(1, &type_meta, &mut envelope);
    bytes::encode(2, &object, &mut envelope);
    string::encode(
        4,
        &"application/vnd.kubernetes.protobuf".to_owned(),
        &mut envelope,
    );
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_storage_forms_say_what_they_hold() {
        let json = br#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"telemetry-agent","namespace":"monitoring","uid":"u-1"},"spec":{}}"#;
        let j = summarize(json).expect("json");
        assert_eq!(
            (
                j.api_version.as_str(),
                j.kind.as_str(),
                j.namespace.as_str(),
                j.name.as_str(),
                j.uid.as_str(),
                j.encoding.as_str()
            ),
            (
                "apps/v1",
                "DaemonSet",
                "monitoring",
                "telemetry-agent",
                "u-1",
                "json"
            )
        );
        let pb = encode_protobuf(
            "apps/v1",
            "DaemonSet",
            "monitoring",
            "telemetry-agent",
            "u-1",
        );
        let p = summarize(&pb).expect("protobuf");
        assert_eq!(
            p,
            ObjectSummary {
                encoding: "protobuf".into(),
                size: pb.len(),
                ..j.clone()
            }
        );
        assert_eq!(
            p.describe(),
            format!(
                "apps/v1 DaemonSet monitoring/telemetry-agent (uid u-1, {} bytes protobuf)",
                pb.len()
            )
        );
    }

    #[test]
    fn anything_else_is_an_error_never_a_panic() {
        assert!(summarize(b"").is_err());
        assert!(summarize(b"k8s\0").is_err());
        assert!(summarize(b"k8s\0\x0a\xff\xff\xff").is_err());
        let pb = encode_protobuf("v1", "Pod", "ns", "p", "u");
        for cut in 4..pb.len() {
            let _ = summarize(&pb[..cut]);
        }
    }
}
