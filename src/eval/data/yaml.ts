// YAML of Hugging Face dataset cards (the front matter of README.md), read with the `yaml`
// package: full YAML 1.2 (flow collections over several lines, anchors and aliases, block
// scalars, quoting) plus the `<<` merge keys PyYAML, which huggingface_hub reads cards with, also
// honours. Core schema: `no`/`yes` stay strings (a Norwegian config is "no", not false).
import { parse, YAMLParseError } from 'yaml';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [k: string]: YamlValue };

/**
 * Parses one YAML document. Throws Error "YAML line L, column C: …" on malformed input. Repeated
 * keys keep the last value, as PyYAML does.
 */
export function parseYaml(text: string): YamlValue {
  try {
    const v = parse(text, { merge: true, uniqueKeys: false, maxAliasCount: 10_000 }) as YamlValue | undefined;
    return v === undefined ? null : v;
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const at = e.linePos?.[0];
      throw new Error(`YAML${at ? ` line ${at.line}, column ${at.col}` : ''}: ${e.message.split('\n')[0]}`);
    }
    throw e;
  }
}

/** The YAML front matter of a markdown file (between the leading `---` lines), parsed; null if none. */
export function readFrontMatter(markdown: string): YamlValue {
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(markdown);
  if (!m) return null;
  return parseYaml(m[1]);
}
