//! Raw records: a page whose records are kept as the JSON text they came in, for a caller
//! that only writes them out again (`connector run --all-pages`). The rest of the page is
//! parsed as usual, so the paginators still read cursors and totals from it; the records are
//! never built into `serde_json::Value` trees.

use std::fmt;

use connector_spec::Pagination;
use connector_spec::path::Segment;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The key path of a listing's records when they can be kept raw: keys only (no index, no
/// wildcard), and neither the cursor nor the total read from inside them. `Some(&[])` when
/// the body itself is the array of records.
pub fn raw_records_path(pg: &Pagination) -> Option<Vec<&str>> {
    let keys: Vec<&str> = match &pg.records {
        None => Vec::new(),
        Some(path) => path
            .segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                _ => None,
            })
            .collect::<Option<_>>()?,
    };
    let inside = |p: &connector_spec::path::JsonPath| {
        p.segments.len() > keys.len()
            && p.segments[..keys.len()]
                .iter()
                .zip(&keys)
                .all(|(s, k)| matches!(s, Segment::Key(x) if x == k))
    };
    let reads_inside = [
        &pg.cursor_path,
        &pg.total_path,
        &pg.has_more_path,
        &pg.next_url_path,
    ]
    .into_iter()
    .flatten()
    .any(|p| keys.is_empty() || inside(p));
    (!reads_inside).then_some(keys)
}

/// Parse a JSON page, keeping the value at `path` as raw records: an array gives its
/// elements, null or a missing key none, any other value one record. The returned body has
/// null where the records were.
pub fn split_records(
    bytes: &[u8],
    path: &[&str],
) -> Result<(Value, Vec<Box<RawValue>>), serde_json::Error> {
    let mut records = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let body = Split {
        path,
        records: &mut records,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((body, records.unwrap_or_default()))
}

/// The records of one raw value: the elements of an array, nothing for null, else itself.
fn records_of(raw: Box<RawValue>) -> Result<Vec<Box<RawValue>>, serde_json::Error> {
    match raw.get().as_bytes().first() {
        Some(b'[') => serde_json::from_str(raw.get()),
        Some(b'n') => Ok(Vec::new()),
        _ => Ok(vec![raw]),
    }
}

/// Builds the value at one level of the path; the records land in `records`.
struct Split<'p, 'r> {
    path: &'p [&'p str],
    records: &'r mut Option<Vec<Box<RawValue>>>,
}

impl<'de> DeserializeSeed<'de> for Split<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.path.is_empty() {
            let raw = <Box<RawValue> as serde::Deserialize>::deserialize(d)?;
            *self.records = Some(records_of(raw).map_err(serde::de::Error::custom)?);
            return Ok(Value::Null);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Split<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object holding the records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if key == self.path[0] && self.records.is_none() {
                map.next_value_seed(Split {
                    path: &self.path[1..],
                    records: self.records,
                })?
            } else {
                map.next_value::<Value>()?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // Any other JSON value has no records under it: it is kept as it is.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(records: &[Box<RawValue>]) -> Vec<&str> {
        records.iter().map(|r| r.get()).collect()
    }

    #[test]
    fn records_at_a_key_path_stay_text_and_the_rest_is_parsed() {
        let page = br#"{"meta":{"next":"c2","items":[9]},"data":{"items":[{"id":1, "n":"a\"b"},{"id":2}],"total":7}}"#;
        let (body, records) = split_records(page, &["data", "items"]).unwrap();
        assert_eq!(texts(&records), [r#"{"id":1, "n":"a\"b"}"#, r#"{"id":2}"#]);
        assert_eq!(
            body,
            json!({"meta": {"next": "c2", "items": [9]}, "data": {"items": null, "total": 7}})
        );
    }

    #[test]
    fn a_body_that_is_the_array_a_missing_key_null_and_one_object() {
        let (body, records) = split_records(br#" [1, "x", {"a": []}] "#, &[]).unwrap();
        assert_eq!(
            (body, texts(&records)),
            (Value::Null, vec!["1", r#""x""#, r#"{"a": []}"#])
        );
        let (_, none) = split_records(br#"{"other": 1}"#, &["items"]).unwrap();
        assert!(none.is_empty());
        let (_, null) = split_records(br#"{"items": null}"#, &["items"]).unwrap();
        assert!(null.is_empty());
        let (_, one) = split_records(br#"{"items": {"id": 1}}"#, &["items"]).unwrap();
        assert_eq!(texts(&one), [r#"{"id": 1}"#]);
    }

    #[test]
    fn a_next_url_read_from_inside_the_records_keeps_them_parsed() {
        let pg = |next: &str| -> Pagination {
            serde_json::from_value(json!({
                "style": "next_url", "records": "$.value", "nextUrlPath": next
            }))
            .unwrap()
        };
        assert_eq!(
            raw_records_path(&pg("$['@odata.nextLink']")),
            Some(vec!["value"])
        );
        assert_eq!(raw_records_path(&pg("$.value[0].next")), None);
    }

    #[test]
    fn malformed_json_is_an_error_anywhere() {
        for bad in [
            &br#"{"items": [1, }"#[..],
            br#"{"items": [1]} x"#,
            br#"{"a": tru}"#,
        ] {
            assert!(
                split_records(bad, &["items"]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
