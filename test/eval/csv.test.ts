// CSV/TSV data files through csv-parse with the quoting pandas.read_csv (the `datasets` csv
// builder) applies (issue 9 item 5). Expected values come from biosses.test.jsonl, the same
// BIOSSES pairs as the Hugging Face loader produced them, not from this reader.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRows } from '../../src/eval/data/files.js';
import { FIXTURES } from './helpers/fixtures.js';
import { sharedData } from '../shared-data.js';

const SHARED_BIOSSES = sharedData('biosses');

describe('eval/data/files: CSV and TSV with quoting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedrank-csv-'));

  it('a quoted TSV field keeps its TAB (BIOSSES all.tsv row 27)', async () => {
    const rows = await readRows(join(FIXTURES, 'biosses', 'all-rows-26-28.tsv'));
    expect(rows).to.have.length(3);
    expect(Object.keys(rows[0])).to.deep.equal(['index', 'genre', 'filename', 'year', 'old_index', 'source1', 'source2', 'sentence1', 'sentence2', 'score']);
    const r = rows[1];
    expect(r.index).to.equal('27');
    expect(r.sentence1).to.equal('In lung tumors, TRAF6 levels can become elevated by several mechanisms:');
    // biosses.test.jsonl line 28 (the loader's output): "... Adeno-Cre virus \tGATA2 loss ..."
    expect(r.sentence2).to.equal('GATA2lox/lox \u00a0\u00a0Sporadic infection of lung cells with Adeno-Cre virus \tGATA2 loss induces regression of established tumors');
    expect(Number(r.score)).to.equal(1.4);
  });

  it('every pair of the real BIOSSES all.tsv equals biosses.test.jsonl', async function () {
    if (!existsSync(join(SHARED_BIOSSES, 'all.tsv'))) this.skip();
    const rows = await readRows(join(SHARED_BIOSSES, 'all.tsv'));
    const want = readFileSync(join(SHARED_BIOSSES, 'biosses.test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { sentence1: string; sentence2: string; score: number });
    expect(rows).to.have.length(100);
    rows.forEach((r, i) => {
      expect({ sentence1: r.sentence1, sentence2: r.sentence2, score: Number(r.score) }, `row ${i}`).to.deep.equal(want[i]);
    });
  });

  it('CSV: "" escapes, a quoted line break and comma, CRLF line ends, a BOM; a literal quote inside an unquoted field', async () => {
    const p = join(dir, 'x.csv');
    writeFileSync(p, '\uFEFFid,text\r\n1,"say ""hi"", then\r\nleave"\r\n2,6" tall\r\n');
    expect(await readRows(p)).to.deep.equal([
      { id: '1', text: 'say "hi", then\r\nleave' },
      { id: '2', text: '6" tall' },
    ]);
  });

  it('a row with the wrong number of fields is an error naming the file and line', async () => {
    const p = join(dir, 'qrels.tsv');
    writeFileSync(p, 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\n');
    let err: Error | null = null;
    try {
      await readRows(p);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/qrels\.tsv: .*line 3/);
  });
});
