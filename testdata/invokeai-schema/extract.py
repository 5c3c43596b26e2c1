#!/usr/bin/env python3
"""Keep the node part of an InvokeAI /openapi.json: every invocation and output schema and the components they
reference, so that tests can compare invokego's node schemas with InvokeAI's without the whole document.

usage: extract.py invokeai-openapi.json > invokeai-6.12-nodes.json
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
schemas = doc["components"]["schemas"]
keep = {n for n, s in schemas.items() if s.get("class") in ("invocation", "output")}
todo = list(keep)
while todo:
    for ref in json.dumps(schemas[todo.pop()]).split('"#/components/schemas/')[1:]:
        name = ref.split('"', 1)[0]
        if name not in keep:
            keep.add(name)
            todo.append(name)
out = {"openapi": doc["openapi"], "info": doc["info"],
       "components": {"schemas": {n: schemas[n] for n in sorted(keep)}}}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
