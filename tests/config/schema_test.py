"""The shipped configs validate against the published JSON Schema (conf/sluice.schema.json),
and a typo is caught by it, as an editor using the schema would show it."""
import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as sluice reads them: only true/false. PyYAML follows YAML 1.1,
    where `on` (the guardrail rules' field) and yes/no/off would be booleans."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load(text):
    return yaml.load(text, Loader=Yaml12Loader)


root = Path(__file__).resolve().parents[2]
schema = json.loads((root / "conf/sluice.schema.json").read_text())
validator = jsonschema.Draft202012Validator(schema)
for name in ["conf/sluice.yaml", "conf/demo.yaml"]:
    errors = list(validator.iter_errors(load((root / name).read_text())))
    if errors:
        sys.exit(f"{name}: {[(list(e.path), e.message) for e in errors]}")
typo = load("providers: {p: {kind: openai, endpionts: []}}\nmodels: []\n")
if not list(validator.iter_errors(typo)):
    sys.exit("the schema let an unknown field through")
print("schema ok: conf/sluice.yaml, conf/demo.yaml")
