"""Expected token ids for test/fixtures/tokenizer/inputs.json from Hugging Face `tokenizers` and
`transformers` (run where they are installed, e.g. the GPU machine):

    python3 scripts/gpu/tokenizer_fixture.py MODEL_DIR inputs.json expected.json
"""
import json
import sys

import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

model_dir, inputs_path, out_path = sys.argv[1:4]
inp = json.load(open(inputs_path, encoding="utf-8"))
fast = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
fast.no_truncation()
auto = AutoTokenizer.from_pretrained(model_dir)
max_len = inp["pairMaxLength"]


def encodable(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates: Python strings can hold them, Rust cannot
        return False


singles = []
for s in inp["singles"]:
    if not encodable(s):
        singles.append(None)
        continue
    ids = fast.encode(s).ids
    assert ids == auto(s)["input_ids"], (s, ids)
    singles.append(ids)

fast.enable_truncation(max_length=max_len, strategy="longest_first")
pairs = []
transformers_differs = []
for i, (a, b) in enumerate(inp["pairs"]):
    e = fast.encode(a, b)
    t = auto(a, b, truncation="longest_first", max_length=max_len)
    if e.ids != t["input_ids"] or e.type_ids != t["token_type_ids"]:
        # transformers treats an empty second text as no pair at all; `tokenizers` encodes it.
        transformers_differs.append(i)
    pairs.append({"ids": e.ids, "typeIds": e.type_ids})

json.dump(
    {
        "generator": f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}",
        "singles": singles,
        "pairs": pairs,
        "transformersDiffersOnPairs": transformers_differs,
    },
    open(out_path, "w"),
)
print(f"tokenizer fixture: {len(singles)} singles, {len(pairs)} pairs ->", out_path)
