//! The IRC message parser and writer against the public test vectors of
//! PyPI `irc-parser-tests` (CC0), vendored in tests/data/irc-parser-tests/.

use chatty::irc::message::Message;
use serde_json::Value;

fn vectors(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/data/irc-parser-tests/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("vendored vectors");
    let data: Value = serde_json::from_str(&text).expect("json");
    data["tests"].as_array().expect("tests").clone()
}

/// The atoms of a vector as a Message.
fn atoms(atoms: &Value) -> Message {
    let tags = atoms["tags"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    Message {
        tags,
        source: atoms["source"].as_str().map(str::to_string),
        command: atoms["verb"].as_str().expect("verb").to_string(),
        params: atoms["params"]
            .as_array()
            .map(|p| p.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
    }
}

#[test]
fn every_split_vector_parses_to_its_atoms() {
    let tests = vectors("msg-split");
    assert!(tests.len() > 30);
    for test in tests {
        let input = test["input"].as_str().unwrap();
        let got = Message::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e:?}"));
        let mut want = atoms(&test["atoms"]);
        // Tags compare as a map (the vectors give them as one).
        let mut got_tags = got.tags.clone();
        got_tags.sort();
        want.tags.sort();
        assert_eq!(got_tags, want.tags, "tags of {input:?}");
        assert_eq!(got.source, want.source, "source of {input:?}");
        assert_eq!(got.command, want.command, "verb of {input:?}");
        assert_eq!(got.params, want.params, "params of {input:?}");
    }
}

#[test]
fn every_join_vector_writes_one_of_its_matches() {
    let tests = vectors("msg-join");
    assert!(tests.len() > 10);
    for test in tests {
        let msg = atoms(&test["atoms"]);
        let matches: Vec<&str> = test["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let written = msg.write(false);
        assert!(
            matches.contains(&written.as_str()),
            "{}: wrote {written:?}, expected one of {matches:?}",
            test["desc"]
        );
        // And what is written parses back to the same atoms.
        assert_eq!(
            Message::parse(&written).unwrap(),
            msg,
            "round trip of {written:?}"
        );
    }
}
