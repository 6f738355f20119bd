#!/usr/bin/env python3
"""Regenerates tests/data/irc-parser-tests/*.json from the vendored YAML of
PyPI `irc-parser-tests` (CC0), so the Rust test reads them with serde_json.

    pip download irc-parser-tests --no-deps && unzip -o irc_parser_tests-*.whl
    cp parser_tests/data/msg-{split,join}.yaml tests/data/irc-parser-tests/
    python3 scripts/irc-parser-vectors.py        # needs PyYAML
"""
import json
import pathlib

import yaml

here = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "irc-parser-tests"
for name in ("msg-split", "msg-join"):
    data = yaml.safe_load((here / f"{name}.yaml").read_text(encoding="utf-8"))
    (here / f"{name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
