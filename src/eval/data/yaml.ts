// A small YAML reader for the front matter of Hugging Face dataset cards (README.md): block
// mappings and sequences (including sequences at their key's indentation), flow lists and maps,
// quoted and plain scalars, block scalars. Enough for `configs:` / `dataset_info:`; not general YAML.

export type YamlValue = string | number | boolean | null | YamlValue[] | { [k: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  no: number;
}

function stripComment(s: string): string {
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i).trimEnd();
  }
  return s.trimEnd();
}

function splitFlow(s: string): string[] {
  const parts: string[] = [];
  let depth = 0, q: string | null = null, cur = '';
  for (const c of s) {
    if (q) {
      if (c === q) q = null;
      cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      cur += c;
    } else if (c === '[' || c === '{') {
      depth++;
      cur += c;
    } else if (c === ']' || c === '}') {
      depth--;
      cur += c;
    } else if (c === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** Index of the ':' that separates a mapping key from its value, or -1. */
function keyColon(s: string): number {
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
    } else if ((c === '"' || c === "'") && i === 0) q = c;
    else if (c === ':' && (i + 1 === s.length || s[i + 1] === ' ')) return i;
    else if ((c === '[' || c === '{') && i === 0) return -1;
  }
  return -1;
}

export function parseScalar(raw: string): YamlValue {
  const s = raw.trim();
  if (s === '' || s === '~' || s === 'null') return null;
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return s.slice(1, -1);
    }
  }
  if (s.startsWith("'") && s.endsWith("'") && s.length >= 2) return s.slice(1, -1).replace(/''/g, "'");
  if (s.startsWith('[') && s.endsWith(']')) return splitFlow(s.slice(1, -1)).map(parseScalar);
  if (s.startsWith('{') && s.endsWith('}')) {
    const o: Record<string, YamlValue> = {};
    for (const part of splitFlow(s.slice(1, -1))) {
      const i = keyColon(part);
      if (i < 0) continue;
      o[String(parseScalar(part.slice(0, i)))] = parseScalar(part.slice(i + 1));
    }
    return o;
  }
  if (s === 'true' || s === 'True') return true;
  if (s === 'false' || s === 'False') return false;
  if (/^[-+]?\d+$/.test(s)) return Number(s);
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  return s;
}

class Parser {
  private i = 0;
  constructor(private readonly lines: Line[]) {}

  parse(): YamlValue {
    if (!this.lines.length) return null;
    return this.block(this.lines[0].indent);
  }

  private block(indent: number): YamlValue {
    const l = this.lines[this.i];
    if (!l || l.indent < indent) return null;
    if (l.text === '-' || l.text.startsWith('- ')) return this.seq(l.indent);
    if (keyColon(l.text) >= 0) return this.map(l.indent);
    this.i++;
    return parseScalar(l.text);
  }

  private seq(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (this.i < this.lines.length) {
      const l = this.lines[this.i];
      if (l.indent !== indent || !(l.text === '-' || l.text.startsWith('- '))) break;
      const rest = l.text.slice(1).trimStart();
      if (rest === '') {
        this.i++;
        const next = this.lines[this.i];
        out.push(next && next.indent > indent ? this.block(next.indent) : null);
      } else if (keyColon(rest) >= 0 || rest === '-' || rest.startsWith('- ')) {
        // "- key: value" opens a mapping (or nested sequence) at the column of "key"
        const col = indent + (l.text.length - rest.length);
        this.lines[this.i] = { indent: col, text: rest, no: l.no };
        out.push(this.block(col));
      } else {
        this.i++;
        out.push(parseScalar(rest));
      }
    }
    return out;
  }

  private map(indent: number): Record<string, YamlValue> {
    const out: Record<string, YamlValue> = {};
    while (this.i < this.lines.length) {
      const l = this.lines[this.i];
      if (l.indent !== indent || l.text === '-' || l.text.startsWith('- ')) break;
      const c = keyColon(l.text);
      if (c < 0) throw new Error(`YAML line ${l.no}: expected "key: value", got "${l.text}"`);
      const key = String(parseScalar(l.text.slice(0, c)));
      const rest = l.text.slice(c + 1).trim();
      this.i++;
      if (rest === '|' || rest === '>' || /^[|>][-+]?\d*$/.test(rest)) {
        const parts: string[] = [];
        while (this.i < this.lines.length && this.lines[this.i].indent > indent) parts.push(this.lines[this.i++].text);
        out[key] = parts.join(rest.startsWith('|') ? '\n' : ' ');
      } else if (rest !== '') {
        out[key] = parseScalar(rest);
      } else {
        const next = this.lines[this.i];
        if (next && (next.indent > indent || (next.indent === indent && (next.text === '-' || next.text.startsWith('- '))))) {
          out[key] = this.block(next.indent);
        } else out[key] = null;
      }
    }
    return out;
  }
}

/** Parses a YAML document (the supported subset). */
export function parseYaml(text: string): YamlValue {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, no) => {
    if (/^\s*(#|$)/.test(raw)) return;
    const expanded = raw.replace(/\t/g, '  ');
    const text = stripComment(expanded.trimStart());
    if (!text) return;
    lines.push({ indent: expanded.length - expanded.trimStart().length, text, no: no + 1 });
  });
  return new Parser(lines).parse();
}

/** The YAML front matter of a markdown file (between the leading `---` lines), parsed; null if none. */
export function readFrontMatter(markdown: string): YamlValue {
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(markdown);
  if (!m) return null;
  return parseYaml(m[1]);
}
