#!/usr/bin/env python3
"""One-off conversion: uap-core's regexes.yaml (OS section) -> JSON.

synprint only needs the OS parsers of the uap-core regex set; a JSON copy of
that section lets it load them with serde_json instead of a YAML parser. The
conversion keeps every field of every entry unchanged and in order.

Usage: scripts/uap-os-regexes-to-json.py PATH/TO/regexes.yaml > data/uap-os-regexes.json
"""
import json
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.safe_load(f)
json.dump({"os_parsers": doc["os_parsers"]}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
