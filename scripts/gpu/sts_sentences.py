"""The SemEval STS sentences in the order of scripts/gpu/prepare.ts stsSentences(): year folders
sorted (names without a dot), their .tsv files sorted, sentence1 then sentence2 of every line whose
both sentences are non-empty. Shared by the GPU-machine scripts that write fixtures and references."""
import os


def sts_sentences(d):
    out = []
    for y in sorted(os.listdir(d)):
        yd = os.path.join(d, y)
        if '.' in y or not os.path.isdir(yd):
            continue
        for f in sorted(os.listdir(yd)):
            if not f.endswith('.tsv'):
                continue
            with open(os.path.join(yd, f), encoding='utf-8', newline='') as fh:
                text = fh.read()
            for line in text.split('\n'):
                p = line.split('\t')
                if len(p) >= 3 and p[1] and p[2]:
                    out += [p[1], p[2]]
    return out
