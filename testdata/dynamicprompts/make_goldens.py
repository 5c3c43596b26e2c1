"""Expected expansions for internal/prompts/dynamic, computed with the dynamicprompts library.

Run with the library's source on the path, e.g.
    PYTHONPATH=/path/to/dynamicprompts/src python3 make_goldens.py > goldens.json
(dynamicprompts 0.31.0, the commit "Become 0.31.0" of its repository; pyparsing 3.3.2; CPython 3.11.7). Each case is expanded
as InvokeAI's /api/v1/utilities/dynamicprompts route does: the combinatorial generator with max_prompts, and
the random generator seeded with each of SEEDS. A ParseException is recorded as "error"; other exceptions by
their type name.
"""
import json
import sys

from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
from pyparsing import ParseException

SEEDS = [0, 1, 42, -5, 123456789012]
MAX_COMBINATORIAL = 40
RANDOM_COUNT = 8

CASES = [
    "a {red|blue} fox",
    "{a|b|c}",
    "{a|b}{1|2}{x|y}",
    "{a|{b|c}} and {1|2}",
    "{2$$a|b|c}",
    "{2$$ and $$a|b|c}",
    "{2$$ | $$a|b|c}",
    "{1-2$$a|b|c}",
    "{-2$$a|b|c}",
    "{2-$$a|b|c}",
    "{3-1$$a|b|c}",
    "{0$$a|b}",
    "{0-2$$a|b}",
    "{9$$a|b|c}",
    "{2$$a|{a|b}}",
    "{2$$a|a|b}",
    "{a|a|b}",
    "{2::a|b}",
    "{0.5::a|2::b|.25::c}",
    "{2.::x|3::y}",
    "{1::a|5::a|b}",
    "{3$$1::a|2::b|1::c|4::d}",
    "{ a | b }x",
    "{  a|b  }",
    "{a|}",
    "{}",
    "{|}",
    "{a|b} } | stray",
    "x #c {a|b}\n{d|e}",
    "{a|b}  # c\nd",
    "{a|b}// note\n{c|d}",
    "keep // this {a|b}",
    "{a|b} /* gone */ {c|d}",
    "{a#c\n|b}",
    "${c={red|blue}} ${c} ${c}",
    "${c=!{red|blue}} ${c} ${c}",
    "${c=red} ${c?=blue} ${c}",
    "${c={x|y}} {${c}|z}",
    "{${s:small}|big} thing",
    "%{a ... b$$ {x|y}}",
    "%{{[|(}…{]|)}$${x|y}}",
    "{@a|b|c} {x|y}",
    "{@a|{b|c}}",
    "{@2$$a|b|c}",
    "{!a|b} {c|d}",
    "{~a|b}",
    "plain prompt, no syntax",
    "photo of a {cat|dog} on a {red|green|blue} {sofa|chair}, {2$$ and $$sunny|rainy|foggy} weather",
    "{a|b",
    "a|b}",
    "{a|b}}",
    "{{a|b}",
    "{a|b|{c|d}",
    "{2$$a|b$$c}",
    "${=x}",
    "${c=x",
    "{${c=x}|y}",
    "${undefined}",
    "%{x$$y",
    "{1-$$a|b}",
    "{ ~a|b|c}",
    "{~2$$a|b|c}",
    "naïve {café|thé} ✓",
    "{a\n|b\n}",
]


def run(fn):
    try:
        return {"prompts": fn()}
    except ParseException as e:
        return {"error": "ParseException"}
    except Exception as e:  # noqa: BLE001 - the type is what the test compares
        return {"error": type(e).__name__}


def main():
    out = []
    for case in CASES:
        row = {"prompt": case}
        row["combinatorial"] = run(lambda: CombinatorialPromptGenerator().generate(case, max_prompts=MAX_COMBINATORIAL))
        row["random"] = {
            str(seed): run(lambda: RandomPromptGenerator(seed=seed).generate(case, num_images=RANDOM_COUNT))
            for seed in SEEDS
        }
        out.append(row)
    json.dump({"max_combinatorial": MAX_COMBINATORIAL, "random_count": RANDOM_COUNT, "cases": out}, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
