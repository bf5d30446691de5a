#!/usr/bin/env python3
"""One-off conversion: one section of uap-core's regexes.yaml -> JSON.

synprint needs the OS parsers of the uap-core regex set (a User-Agent's OS)
and its device parsers (only to tell declared crawlers, uap-core's `Spider`
device, whose OS tokens are not theirs); a JSON copy of each section lets it
load them with serde_json instead of a YAML parser. The conversion keeps
every field of every entry unchanged and in order.

Usage:
  scripts/uap-regexes-to-json.py PATH/TO/regexes.yaml os_parsers > data/uap-os-regexes.json
  scripts/uap-regexes-to-json.py PATH/TO/regexes.yaml device_parsers > data/uap-device-regexes.json
"""
import json
import sys

import yaml

path, section = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
json.dump({section: doc[section]}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
