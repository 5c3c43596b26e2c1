#!/usr/bin/python3
"""Random strings through SentencePiece itself (Debian's python3-sentencepiece
0.1.97, the version that trained and ran the fixture's T5 tokenizer), for
invokego's differential test of its own SentencePiece encoder.

Run from the repository root:
    /usr/bin/python3 testdata/flux-tiny/spm-random/make_spm_random.py
Writes testdata/flux-tiny/spm-random/spm_random.json: for every string its
UTF-8 hex, and sp.encode(...) as ids and as pieces. The strings avoid '<'
so that no T5 special token is involved (that layer is covered by
goldens/t5_tokenizer.json)."""
import json
import random

import sentencepiece as spm

MODEL = "testdata/flux-tiny/models/flux-dev-tiny/tokenizer_2/spiece.model"
OUT = "testdata/flux-tiny/spm-random/spm_random.json"

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
    ".,;:!?'\"()[]{}-_/\\@#$%^&*+=|~`>",
    " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2002", "\u2028", "\u0085",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2581",
    "éèêëàâäôöûüçñåøæœß", "e\u0301a\u0300o\u0308", "ＡＢＣａｂｃ１２３，．", "ﬁﬂ①②¹²³™…½",
    "αβγδΓΔ", "привет", "日本語こんにちは", "你好世界", "한국어", "عربى", "🙂🐱🐶🚀✨", "👩\u200d💻👍🏽🇫🇷",
    "“”‘’—–«»", "\x00\x01\x1f\x7f",
]
WORDS = ["a", "photo", "of", "the", "cat", "painting", "lighthouse", "detailed", "software", "License",
         "function", "return", "value", "module", "string", "highly", "golden", "hour"]


def random_string(rng):
    parts = []
    for _ in range(rng.randint(0, 12)):
        if rng.random() < 0.5:
            parts.append(rng.choice(WORDS))
        else:
            alpha = rng.choice(ALPHABETS)
            parts.append("".join(rng.choice(alpha) for _ in range(rng.randint(1, 6))))
        parts.append(rng.choice([" ", " ", " ", "", "  ", "\t", "\n", "\u00a0"]))
    return "".join(parts)


def main():
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    rng = random.Random(20261207)
    cases = []
    for _ in range(1500):
        s = random_string(rng)
        cases.append({
            "text_utf8_hex": s.encode("utf-8").hex(),
            "ids": sp.encode(s),
            "pieces": sp.encode(s, out_type=str),
        })
    with open(OUT, "w") as f:
        json.dump({"generator": "sentencepiece %s, %s" % (spm.__version__, MODEL), "cases": cases}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
