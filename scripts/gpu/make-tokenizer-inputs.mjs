// One-off: picks real STS sentences (every 97th, plus every non-ASCII one up to 150) and hand-made
// edge cases, for the tokenizer fixture whose expected ids come from Hugging Face `tokenizers`.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
const root = process.argv[2] ?? '/work/shared/data/sts';
const sents = [];
for (const y of ['2012', '2013', '2014', '2015', '2016']) {
  for (const f of readdirSync(`${root}/${y}`).sort()) {
    if (!f.endsWith('.tsv')) continue;
    for (const line of readFileSync(`${root}/${y}/${f}`, 'utf8').split('\n')) {
      const p = line.split('\t');
      if (p.length >= 3) sents.push(p[1], p[2]);
    }
  }
}
const picked = sents.filter((_, i) => i % 97 === 0);
const nonAscii = sents.filter((s) => /[^\x20-\x7e]/.test(s)).slice(0, 150);
const edge = [
  '', ' ', 'Hello, World!', 'naïve café résumé', 'ÀÉÎÕÜ ÅÆØ', 'İstanbul ΟΔΟΣ Σίσυφος', 'straße ﬁne ﬂow',
  '中文字符测试 and English', '日本語のテキスト', '한국어 텍스트', 'emoji 😀👍🏽 test', 'tab\tnew\nline\r\nend',
  'zero\u200bwidth\u200djoiner', 'nbsp\u00a0here', 'control\u0007\u0000chars\ufffd', '[CLS] literal [SEP] tokens [MASK]',
  '[cls] lowercase specials', 'x'.repeat(150), 'supercalifragilisticexpialidocious antidisestablishmentarianism',
  "don't won't can't it's", '$12.50 + 3% = ?', 'e-mail@example.com http://a.b/c?d=e', '((nested)) [brackets] {braces}',
  '\u0301combining first', 'Ǆ ǅ ǆ Ａ１２ ｆｕｌｌｗｉｄｔｈ', 'ℌ ℍ ℎ ™ ©', 'a\u0301\u0302\u0303', 'ไทย ภาษา', 'العربية نص', 'עברית',
  'हिन्दी पाठ यातु', '\ud83d lone surrogate', 'ends with surrogate \udc00',
];
const singles = [...picked, ...nonAscii, ...edge];
const pairs = [];
for (let i = 0; i + 1 < picked.length; i += 2) pairs.push([picked[i], picked[i + 1]]);
pairs.push(['short', 'x '.repeat(60)], ['a '.repeat(40), 'b '.repeat(40)], ['a '.repeat(40), 'tiny'], ['', 'only second'], ['only first', '']);
writeFileSync(process.argv[3] ?? 'test/fixtures/tokenizer/inputs.json', JSON.stringify({ source: 'SemEval STS 2012-2016 test sentences + edge cases', pairMaxLength: 32, singles, pairs }, null, 1));
console.log(singles.length, 'singles', pairs.length, 'pairs');
