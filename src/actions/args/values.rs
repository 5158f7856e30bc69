//! How argument values are read from a runbook: durations as humantime strings, CIDRs,
//! `apiservers.tune` flag values written as numbers or booleans, and the field names of an
//! argument struct (so the accepted names cannot drift from the struct).

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// Durations as humantime strings ("90s", "5m", "1h 30m"), the way runbooks and the journal
/// write them. Use with `#[serde(with = "duration")]`.
pub mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    /// Parse a duration the way every runbook field does, with an error that shows the syntax.
    pub fn parse(text: &str) -> Result<Duration, String> {
        crate::duration::parse(text.trim()).map_err(|e| {
            format!("`{text}` is not a duration ({e}); write e.g. \"90s\", \"5m\", \"1h30m\"")
        })
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"5m\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
    }

    /// `revert_after_limits`: an optional pair of durations, `["1m", "1d"]`.
    pub mod limits {
        use std::time::Duration;

        use serde::de::Error as _;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[allow(clippy::ref_option)] // serde's `with` hands the field by reference
        pub fn serialize<S: Serializer>(
            value: &Option<(Duration, Duration)>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let text = |d: &Duration| humantime::format_duration(*d).to_string();
            value.map(|(a, b)| [text(&a), text(&b)]).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<(Duration, Duration)>, D::Error> {
            let Some(words) = Option::<Vec<String>>::deserialize(d)? else {
                return Ok(None);
            };
            let [min, max] = words.as_slice() else {
                return Err(D::Error::custom(
                    "write two durations, the lower bound first, e.g. [\"30s\", \"3d\"]",
                ));
            };
            Ok(Some((
                super::parse(min).map_err(D::Error::custom)?,
                super::parse(max).map_err(D::Error::custom)?,
            )))
        }
    }

    /// `Option<Duration>` in the same form.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] Duration);
            Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(v)| v))
        }
    }
}

/// A CIDR (`10.0.0.0/8`) or a bare address (one host). Host bits are cleared, so
/// `10.1.2.3/8` means `10.0.0.0/8`, which is what a firewall rule would match anyway; an
/// IPv4-mapped IPv6 network is its IPv4 network; and an address or network no peer connects
/// from (`0.0.0.0`, broadcast, multicast) is refused ([`crate::address::source_network`]).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => text
            .parse::<std::net::IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{text}` is not a CIDR such as 10.0.0.0/8 or an IP address"))?,
    };
    crate::address::source_network(net).map_err(|e| format!("`{text}`: {e}"))
}

pub(super) fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_cidr(s).map_err(de::Error::custom))
        .collect()
}

pub(super) fn cidr_list_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<IpNet>>, D::Error> {
    cidr_list(d).map(Some)
}

/// `set` values: a flag's value is text in the manifest, but a runbook may write `1200` or
/// `true` (or substitute an integer parameter) without quoting it.
pub(super) fn flag_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct FlagValue(String);

    impl<'de> Deserialize<'de> for FlagValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FlagValueVisitor).map(FlagValue)
        }
    }

    struct FlagValueVisitor;

    impl Visitor<'_> for FlagValueVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a flag value (string, integer or boolean)")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    let map = BTreeMap::<String, FlagValue>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, FlagValue(v))| (k, v)).collect())
}

/// The field names a derived `Deserialize` struct accepts. Serde passes them to
/// `deserialize_struct`; this deserializer only records them, so the list is the struct's own.
pub(super) fn struct_fields<T: de::DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Found(&'static [&'static str]);

    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "fields {:?}", self.0)
        }
    }

    impl std::error::Error for Found {}

    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Self(&[])
        }
    }

    struct Probe;

    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}
