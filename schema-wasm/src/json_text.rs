//! JSON as text.

/// Removes the whitespace between tokens of valid JSON, keeping everything else byte for byte, so
/// that published data is stored and sent as published, on one line (an SSE `data:` line). JSON
/// strings cannot hold a raw line break, so the result has none.
///
/// Written by hand: it is a dozen lines, and re-serializing through a parsed value would change
/// what was published (number spelling, key order).
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn pretty_json_minifies_to_compact_json(v in json_value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            prop_assert_eq!(minify(&pretty), serde_json::to_string(&v).unwrap());
        }
    }

    #[test]
    fn strings_keep_their_spaces_and_escapes() {
        assert_eq!(
            minify("{ \"a b\" : \"c \\\" d\\\\\" , \"e\": [ 1 , 2 ] }"),
            "{\"a b\":\"c \\\" d\\\\\",\"e\":[1,2]}"
        );
    }
}
