"""The shipped configs validate against the published JSON Schema (conf/sluice.schema.json),
and a typo is caught by it, as an editor using the schema would show it."""
import json
import sys
from pathlib import Path

import jsonschema
import yaml

root = Path(__file__).resolve().parents[2]
schema = json.loads((root / "conf/sluice.schema.json").read_text())
validator = jsonschema.Draft202012Validator(schema)
for name in ["conf/sluice.yaml", "conf/demo.yaml"]:
    errors = list(validator.iter_errors(yaml.safe_load((root / name).read_text())))
    if errors:
        sys.exit(f"{name}: {[(list(e.path), e.message) for e in errors]}")
typo = yaml.safe_load("providers: {p: {kind: openai, endpionts: []}}\nmodels: []\n")
if not list(validator.iter_errors(typo)):
    sys.exit("the schema let an unknown field through")
print("schema ok: conf/sluice.yaml, conf/demo.yaml")
