// Input files of the CLI (issue 9 item 4): encodings and line ends a user's tools produce.
// Expected values are the texts as written into the fixture bytes here.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import { decodeLines, readTexts } from '../../src/io/inputs.js';

describe('io/inputs: readTexts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedrank-inputs-'));
  const file = (name: string, bytes: Buffer | string): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const noWarn = (m: string): never => {
    throw new Error(`unexpected warning: ${m}`);
  };

  it('splits on LF, CRLF and lone CR (classic Mac) alike; a final line end adds no text', () => {
    for (const [name, body] of [['lf.txt', 'one\ntwo\nthree\n'], ['crlf.txt', 'one\r\ntwo\r\nthree\r\n'], ['cr.txt', 'one\rtwo\rthree\r'], ['mixed.txt', 'one\r\ntwo\rthree']]) {
      expect(readTexts(file(name, body), { onWarning: noWarn }), name).to.deep.equal(['one', 'two', 'three']);
    }
    // Blank lines of a .txt are empty texts: row i of the output stays line i + 1.
    expect(readTexts(file('blank.txt', 'a\n\nb\n'), { onWarning: noWarn })).to.deep.equal(['a', '', 'b']);
  });

  it('skips a UTF-8 byte order mark (txt and JSONL)', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(readTexts(file('bom.txt', Buffer.concat([bom, Buffer.from('Zürich\nb\n')])), { onWarning: noWarn })).to.deep.equal(['Zürich', 'b']);
    expect(readTexts(file('bom.jsonl', Buffer.concat([bom, Buffer.from('{"text": "a"}\n"b"\n')])), { onWarning: noWarn })).to.deep.equal(['a', 'b']);
  });

  it('refuses UTF-16 and UTF-32 files by their byte order mark, naming the encoding', () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello\n', 'utf16le')]);
    const be = Buffer.from([0xfe, 0xff, 0x00, 0x68, 0x00, 0x0a]);
    expect(() => readTexts(file('le.txt', le))).to.throw(InputError, /le\.txt is UTF-16 \(little-endian\).*convert it/);
    expect(() => readTexts(file('be.jsonl', be))).to.throw(InputError, /be\.jsonl is UTF-16 \(big-endian\)/);
    expect(() => readTexts(file('u32.txt', Buffer.from([0xff, 0xfe, 0, 0, 0x68, 0, 0, 0])))).to.throw(InputError, /UTF-32 \(little-endian\)/);
  });

  it('warns once with the line numbers of invalid UTF-8 and keeps the line (bad bytes → U+FFFD)', () => {
    const warnings: string[] = [];
    // line 2: Latin-1 "é" (0xE9) alone; line 4: a truncated 3-byte sequence
    const bytes = Buffer.concat([Buffer.from('ok\ncaf'), Buffer.from([0xe9]), Buffer.from('\nfine\nx'), Buffer.from([0xe2, 0x82]), Buffer.from('\n')]);
    const texts = readTexts(file('latin1.txt', bytes), { onWarning: (m) => warnings.push(m) });
    expect(texts).to.deep.equal(['ok', 'caf\uFFFD', 'fine', 'x\uFFFD']);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/latin1\.txt: invalid UTF-8 on line 2, 4;/);
  });

  it('JSON Lines: skips blank lines, keeps line numbers in errors', () => {
    expect(readTexts(file('blank.jsonl', '\n{"text": "a"}\n\n   \n{"body": "b", "text": "c"}\n'), { onWarning: noWarn })).to.deep.equal(['a', 'c']);
    expect(() => readTexts(file('bad.jsonl', '"a"\n\n{"text": 1}\n'))).to.throw(InputError, /bad\.jsonl:3: expected a JSON string or an object with a string "text" field/);
    expect(() => readTexts(file('broken.jsonl', '"a"\r{oops\r'))).to.throw(InputError, /broken\.jsonl:2: not valid JSON/);
  });

  it('reads "-" from stdin: one text per line, or JSON Lines when the first line is a JSON object (or --format says so)', () => {
    const stdin = (s: string) => () => Buffer.from(s);
    expect(readTexts('-', { readStdin: stdin('a\r\nb\n'), onWarning: noWarn })).to.deep.equal(['a', 'b']);
    expect(readTexts('-', { readStdin: stdin('{"q": "x"}\n{"q": "y"}\n'), field: 'q', onWarning: noWarn })).to.deep.equal(['x', 'y']);
    expect(readTexts('-', { readStdin: stdin('{not json\n'), onWarning: noWarn })).to.deep.equal(['{not json']);
    expect(readTexts('-', { readStdin: stdin('"x"\n'), format: 'jsonl', onWarning: noWarn })).to.deep.equal(['x']);
    expect(readTexts(file('forced.txt', '"x"\n'), { format: 'jsonl', onWarning: noWarn })).to.deep.equal(['x']);
  });

  it('a .json file may hold one JSON array of strings or objects (json.dump of a list), else JSON Lines', () => {
    expect(readTexts(file('list.json', '[\n  "a",\n  "b"\n]\n'), { onWarning: noWarn })).to.deep.equal(['a', 'b']);
    expect(readTexts(file('objs.json', '[{"text": "a"}, {"text": "b"}]'), { onWarning: noWarn })).to.deep.equal(['a', 'b']);
    expect(readTexts(file('lines.json', '"a"\n{"text": "b"}\n'), { onWarning: noWarn })).to.deep.equal(['a', 'b']);
    expect(() => readTexts(file('bad-list.json', '["a", 3]'))).to.throw(InputError, /bad-list\.json: item 1: expected a JSON string/);
  });

  it('a missing file or a folder is an InputError naming it', () => {
    expect(() => readTexts(join(dir, 'nope.txt'))).to.throw(InputError, /cannot read .*nope\.txt: no such file/);
    expect(() => readTexts(dir)).to.throw(InputError, /it is a folder/);
  });

  it('decodeLines: an empty input has no lines', () => {
    expect(decodeLines(Buffer.alloc(0), 'x', noWarn)).to.deep.equal([]);
    expect(decodeLines(Buffer.from([0xef, 0xbb, 0xbf]), 'x', noWarn)).to.deep.equal([]);
  });
});
