// JSON Schema to GBNF, following llama.cpp's json-schema-to-grammar: the same primitive rules
// (whitespace, numbers, strings with escapes), objects with their properties in schema order,
// arrays with items / prefixItems and length bounds, enum / const, local $ref, anyOf / oneOf,
// allOf of objects, string length bounds, formats date, time, date-time and uuid, integer
// bounds, and anchored patterns in a regex subset. A keyword it cannot enforce is an error that
// lists every such keyword: it never accepts a schema and ignores part of it. Where a schema
// allows more than the grammar produces (additional properties next to declared ones), the
// grammar keeps to a subset, so every output still validates.
import { HalfbyteError } from './errors.js';

export type JsonSchema = boolean | { [keyword: string]: unknown };

const ANNOTATIONS = new Set([
  '$schema', '$id', '$comment', 'title', 'description', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly',
  '$defs', 'definitions',
]);

const TYPE_KEYWORDS: Record<string, Set<string>> = {
  object: new Set(['properties', 'required', 'additionalProperties']),
  array: new Set(['items', 'prefixItems', 'minItems', 'maxItems']),
  string: new Set(['minLength', 'maxLength', 'format', 'pattern']),
  integer: new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']),
  number: new Set<string>(),
  boolean: new Set<string>(),
  null: new Set<string>(),
};

const PRIMITIVES: Record<string, string> = {
  space: '| " " | "\\n"{1,2} [ \\t]{0,20}',
  boolean: '("true" | "false") space',
  null: '"null" space',
  'integral-part': '[0] | [1-9] [0-9]{0,15}',
  'decimal-part': '[0-9]{1,16}',
  number: '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space',
  integer: '("-"? integral-part) space',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  // one code point for length-bounded strings: no \u escapes of surrogates (a pair would be two
  // escapes but one character)
  'bounded-char': '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))',
  string: '"\\"" char* "\\"" space',
  value: 'object | array | string | number | boolean | null',
  object: '"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space',
  array: '"[" space ( value ("," space value)* )? "]" space',
  // days that exist in each month (29 February left out: not every year has it)
  'date-part':
    '[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )',
  'time-part':
    '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )',
  date: '"\\"" date-part "\\"" space',
  time: '"\\"" time-part "\\"" space',
  'date-time': '"\\"" date-part "T" time-part "\\"" space',
  uuid: '"\\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\\"" space',
};
const DEPENDS: Record<string, string[]> = {
  boolean: ['space'],
  null: ['space'],
  number: ['integral-part', 'decimal-part', 'space'],
  integer: ['integral-part', 'space'],
  string: ['char', 'space'],
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'],
  object: ['string', 'value', 'space'],
  array: ['value', 'space'],
  date: ['date-part', 'space'],
  time: ['time-part', 'space'],
  'date-time': ['date-part', 'time-part', 'space'],
  uuid: ['space'],
};

/** A GBNF literal for a string. */
function literal(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

class Converter {
  private rules = new Map<string, string>();
  private unsupported = new Set<string>();
  private refs = new Map<string, string>(); // $ref -> rule name
  private counter = 0;

  constructor(private root: JsonSchema) {}

  convert(): string {
    this.rules.set('root', this.visit(this.root, 'root', ''));
    if (this.unsupported.size > 0)
      throw new HalfbyteError(
        'UNSUPPORTED_SCHEMA',
        `This JSON Schema uses keywords halfbyte cannot enforce in a grammar: ${[...this.unsupported].sort().join(', ')}`,
      );
    const lines = [`root ::= ${this.rules.get('root')}`];
    for (const [name, body] of this.rules) if (name !== 'root') lines.push(`${name} ::= ${body}`);
    return lines.join('\n') + '\n';
  }

  private primitive(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]);
      for (const d of DEPENDS[name] ?? []) this.primitive(d);
    }
    return name;
  }

  private fresh(hint: string, body: string): string {
    const base = hint.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'rule';
    let name = base;
    while (this.rules.has(name) || PRIMITIVES[name]) name = `${base}-${++this.counter}`;
    this.rules.set(name, body);
    return name;
  }

  private note(path: string, keyword: string) {
    this.unsupported.add(path ? `${keyword} (at ${path})` : keyword);
  }

  /** The body of a rule for `schema` (a GBNF expression). */
  private visit(schema: JsonSchema, hint: string, path: string): string {
    if (schema === true || (typeof schema === 'object' && schema !== null && Object.keys(schema).every((k) => ANNOTATIONS.has(k))))
      return this.primitive('value');
    if (schema === false) {
      this.note(path, 'false (a schema nothing matches)');
      return this.primitive('value');
    }
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      throw new HalfbyteError('INVALID_ARGUMENT', `Expected a JSON Schema (an object or boolean) at ${path || 'the root'} but received ${JSON.stringify(schema)}`);
    const s = schema as Record<string, unknown>;
    const known = new Set<string>(ANNOTATIONS);
    const use = (...ks: string[]) => ks.forEach((k) => known.add(k));
    let body: string;

    if ('$ref' in s) {
      use('$ref');
      body = this.ref(String(s.$ref), path);
    } else if ('const' in s) {
      use('const', 'type');
      body = this.jsonLiteral(s.const);
    } else if ('enum' in s) {
      use('enum', 'type');
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new HalfbyteError('INVALID_ARGUMENT', `Expected a non-empty array for enum at ${path || 'the root'}`);
      body = s.enum.map((e) => this.jsonLiteral(e)).join(' | ');
    } else if ('anyOf' in s || 'oneOf' in s) {
      const key = 'anyOf' in s ? 'anyOf' : 'oneOf';
      use(key);
      const alts = s[key];
      if (!Array.isArray(alts) || alts.length === 0) throw new HalfbyteError('INVALID_ARGUMENT', `Expected a non-empty array for ${key} at ${path || 'the root'}`);
      body = alts.map((a, i) => this.fresh(`${hint}-${i}`, this.visit(a as JsonSchema, `${hint}-${i}`, `${path}/${key}/${i}`))).join(' | ');
    } else if ('allOf' in s) {
      use('allOf');
      body = this.allOf(s, hint, path);
    } else if (Array.isArray(s.type)) {
      // One branch per type, each with the keywords that apply to it (the others do not, by the
      // JSON Schema rules); a keyword that applies to none of them is reported.
      use('type');
      const types = s.type as unknown[];
      const alts = types.map((t, i) => {
        const applies = TYPE_KEYWORDS[String(t)] ?? new Set<string>();
        const branch: Record<string, unknown> = { type: t };
        for (const [k, val] of Object.entries(s)) if (applies.has(k) || ANNOTATIONS.has(k)) branch[k] = val;
        return this.fresh(`${hint}-${String(t)}`, this.visit(branch, `${hint}-${i}`, path));
      });
      body = alts.join(' | ');
      for (const k of Object.keys(s)) if (types.some((t) => TYPE_KEYWORDS[String(t)]?.has(k))) known.add(k);
    } else {
      const type = s.type ?? (s.properties || s.additionalProperties !== undefined ? 'object' : s.items || s.prefixItems ? 'array' : undefined);
      use('type');
      switch (type) {
        case 'object':
          use('properties', 'required', 'additionalProperties');
          body = this.object(s, hint, path);
          break;
        case 'array':
          use('items', 'prefixItems', 'minItems', 'maxItems');
          body = this.array(s, hint, path);
          break;
        case 'string':
          use('minLength', 'maxLength', 'format', 'pattern');
          body = this.string(s, path);
          break;
        case 'integer':
          use('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum');
          body = this.integer(s, path);
          break;
        case 'number':
          body = this.primitive('number');
          break;
        case 'boolean':
          body = this.primitive('boolean');
          break;
        case 'null':
          body = this.primitive('null');
          break;
        case undefined:
          body = this.primitive('value');
          break;
        default:
          throw new HalfbyteError('INVALID_ARGUMENT', `Expected a JSON Schema type at ${path || 'the root'} but received ${JSON.stringify(type)}`);
      }
    }
    for (const k of Object.keys(s)) if (!known.has(k)) this.note(path, k);
    return body;
  }

  private jsonLiteral(v: unknown): string {
    return `${literal(JSON.stringify(v))} ${this.primitive('space')}`;
  }

  private ref(ref: string, path: string): string {
    const cached = this.refs.get(ref);
    if (cached) return cached;
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m) {
      this.note(path, `$ref ${ref} (only local #/$defs/... and #/definitions/... references)`);
      return this.primitive('value');
    }
    const defs = (typeof this.root === 'object' ? (this.root as Record<string, unknown>)[m[1]] : undefined) as Record<string, JsonSchema> | undefined;
    const target = defs?.[decodeURIComponent(m[2]).replace(/~1/g, '/').replace(/~0/g, '~')];
    if (target === undefined) throw new HalfbyteError('INVALID_ARGUMENT', `Expected a definition for $ref ${ref} but the schema has none`);
    const name = this.fresh(`ref-${m[2]}`, 'null'); // placeholder first: references may recurse
    this.refs.set(ref, name);
    this.rules.set(name, this.visit(target, name, ref.slice(1)));
    return name;
  }

  private allOf(s: Record<string, unknown>, hint: string, path: string): string {
    const parts = s.allOf as unknown[];
    if (!Array.isArray(parts)) throw new HalfbyteError('INVALID_ARGUMENT', `Expected an array for allOf at ${path || 'the root'}`);
    // Objects merge: their properties and required lists together.
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    const resolve = (x: unknown): Record<string, unknown> => {
      const r = x as Record<string, unknown>;
      if (r && typeof r.$ref === 'string') {
        const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(r.$ref);
        const defs = m && typeof this.root === 'object' ? ((this.root as Record<string, unknown>)[m[1]] as Record<string, unknown>) : undefined;
        return (defs?.[m![2]] as Record<string, unknown>) ?? {};
      }
      return r ?? {};
    };
    for (const [i, part] of parts.entries()) {
      const p = resolve(part);
      const extra = Object.keys(p).filter((k) => !['type', 'properties', 'required', 'additionalProperties'].includes(k) && !ANNOTATIONS.has(k));
      if ((p.type !== undefined && p.type !== 'object') || extra.length > 0) {
        this.note(`${path}/allOf/${i}`, 'allOf of schemas other than objects');
        continue;
      }
      Object.assign(properties, p.properties ?? {});
      for (const r of (p.required as string[]) ?? []) if (!required.includes(r)) required.push(r);
    }
    return this.object({ type: 'object', properties, required }, hint, path);
  }

  private object(s: Record<string, unknown>, hint: string, path: string): string {
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((s.required as string[] | undefined) ?? []);
    const names = Object.keys(props);
    for (const r of required) if (!names.includes(r)) names.push(r); // required but undeclared: any value
    const space = this.primitive('space');
    if (names.length === 0) {
      const extra = s.additionalProperties;
      if (extra === false) return `"{" ${space} "}" ${space}`;
      // a map: any keys, values per additionalProperties (absent or true: any value)
      const value = extra === undefined || extra === true ? this.primitive('value') : this.fresh(`${hint}-value`, this.visit(extra as JsonSchema, `${hint}-value`, `${path}/additionalProperties`));
      const kv = this.fresh(`${hint}-kv`, `${this.primitive('string')} ":" ${space} ${value}`);
      return `"{" ${space} ( ${kv} ( "," ${space} ${kv} )* )? "}" ${space}`;
    }
    // Declared properties in schema order, the optional ones skippable: rule tail_i_c is what
    // may follow once properties before i were placed (c: one already written, so a comma).
    const kvs = names.map((n) => {
      const value = props[n] === undefined ? this.primitive('value') : this.fresh(`${hint}-${n}`, this.visit(props[n], `${hint}-${n}`, `${path}/properties/${n}`));
      return this.fresh(`${hint}-${n}-kv`, `${literal(JSON.stringify(n))} ${space} ":" ${space} ${value}`);
    });
    const tails: string[][] = names.map(() => ['', '']);
    for (let i = names.length - 1; i >= 0; i--) {
      for (const c of [0, 1]) {
        const next = i + 1 < names.length ? ` ${tails[i + 1][1]}` : '';
        const lead = c ? `"," ${space} ` : '';
        const with_ = `${lead}${kvs[i]}${next}`;
        let body: string;
        if (required.has(names[i])) body = with_;
        else {
          const skip = i + 1 < names.length ? tails[i + 1][c] : '';
          body = skip ? `${with_} | ${skip}` : `(${with_})?`;
        }
        tails[i][c] = this.fresh(`${hint}-tail-${i}-${c}`, body);
      }
    }
    return `"{" ${space} ${tails[0][0]} "}" ${space}`;
  }

  private array(s: Record<string, unknown>, hint: string, path: string): string {
    const space = this.primitive('space');
    const min = s.minItems === undefined ? 0 : Number(s.minItems);
    const max = s.maxItems === undefined ? Infinity : Number(s.maxItems);
    if (!Number.isInteger(min) || min < 0 || !(max >= min)) throw new HalfbyteError('INVALID_ARGUMENT', `Expected 0 <= minItems <= maxItems at ${path || 'the root'}`);
    if (Array.isArray(s.prefixItems)) {
      const items = s.prefixItems.map((x, i) => this.fresh(`${hint}-${i}`, this.visit(x as JsonSchema, `${hint}-${i}`, `${path}/prefixItems/${i}`)));
      if (s.items !== undefined && s.items !== false) this.note(path, 'items after prefixItems');
      if (min < items.length && s.minItems !== undefined) this.note(path, 'minItems below the prefixItems count');
      // all the prefix items, in order (a subset of what the schema allows when minItems is absent)
      return `"[" ${space} ${items.join(` "," ${space} `)} "]" ${space}`;
    }
    const item = s.items === undefined || s.items === true ? this.primitive('value') : this.fresh(`${hint}-item`, this.visit(s.items as JsonSchema, `${hint}-item`, `${path}/items`));
    if (max === 0) return `"[" ${space} "]" ${space}`;
    const more = `( "," ${space} ${item} )${max === Infinity ? (min > 1 ? `{${min - 1},}` : '*') : `{${Math.max(min - 1, 0)},${max - 1}}`}`;
    const list = `${item} ${more}`;
    return min === 0 ? `"[" ${space} ( ${list} )? "]" ${space}` : `"[" ${space} ${list} "]" ${space}`;
  }

  private string(s: Record<string, unknown>, path: string): string {
    const space = this.primitive('space');
    if (s.format !== undefined) {
      const f = String(s.format);
      if (!['date', 'time', 'date-time', 'uuid'].includes(f)) {
        this.note(path, `format ${f}`);
        return this.primitive('string');
      }
      if (s.minLength !== undefined || s.maxLength !== undefined || s.pattern !== undefined) this.note(path, 'format together with minLength, maxLength or pattern');
      return this.primitive(f);
    }
    if (s.pattern !== undefined) {
      if (s.minLength !== undefined || s.maxLength !== undefined) this.note(path, 'pattern together with minLength or maxLength');
      return `"\\"" ${this.pattern(String(s.pattern), path)} "\\"" ${space}`;
    }
    if (s.minLength === undefined && s.maxLength === undefined) return this.primitive('string');
    const min = s.minLength === undefined ? 0 : Number(s.minLength);
    const max = s.maxLength === undefined ? Infinity : Number(s.maxLength);
    if (!Number.isInteger(min) || min < 0 || !(max >= min)) throw new HalfbyteError('INVALID_ARGUMENT', `Expected 0 <= minLength <= maxLength at ${path || 'the root'}`);
    this.primitive('bounded-char');
    return `"\\"" bounded-char{${min},${max === Infinity ? '' : max}} "\\"" ${space}`;
  }

  private integer(s: Record<string, unknown>, path: string): string {
    let min = s.minimum === undefined ? -Infinity : Math.ceil(Number(s.minimum));
    let max = s.maximum === undefined ? Infinity : Math.floor(Number(s.maximum));
    if (s.exclusiveMinimum !== undefined) min = Math.max(min, Math.floor(Number(s.exclusiveMinimum)) + 1);
    if (s.exclusiveMaximum !== undefined) max = Math.min(max, Math.ceil(Number(s.exclusiveMaximum)) - 1);
    if (min === -Infinity && max === Infinity) return this.primitive('integer');
    if (min > max) throw new HalfbyteError('INVALID_ARGUMENT', `Expected an integer range with minimum <= maximum at ${path || 'the root'}`);
    const lim = 1e15;
    if (Math.abs(min) > lim && min !== -Infinity) this.note(path, 'minimum beyond 1e15');
    if (Math.abs(max) > lim && max !== Infinity) this.note(path, 'maximum beyond 1e15');
    return `(${intRange(min, max)}) ${this.primitive('space')}`;
  }

  // A regex subset, anchored with ^ and $: literals, escapes (\d \w \s and punctuation), classes,
  // ., groups, alternation, quantifiers * + ? {m} {m,} {m,n}.
  private pattern(src: string, path: string): string {
    if (!src.startsWith('^') || !src.endsWith('$') || src.endsWith('\\$')) {
      this.note(path, 'pattern not anchored with ^ and $');
      return 'char*';
    }
    const re = src.slice(1, -1);
    let i = 0;
    const fail = (why: string): never => {
      throw new HalfbyteError('UNSUPPORTED_SCHEMA', `This JSON Schema's pattern ${JSON.stringify(src)} uses ${why}, which halfbyte cannot turn into a grammar`);
    };
    const classEscape = (c: string) =>
      ({ d: '0-9', w: 'a-zA-Z0-9_', s: ' \\t\\n\\r' } as Record<string, string>)[c];
    const alternation = (): string => {
      const alts = [sequence()];
      while (re[i] === '|') {
        i++;
        alts.push(sequence());
      }
      return alts.length === 1 ? alts[0] : `(${alts.join(' | ')})`;
    };
    const sequence = (): string => {
      const items: string[] = [];
      while (i < re.length && re[i] !== '|' && re[i] !== ')') {
        let atom = "";
        const c = re[i];
        if (c === '(') {
          i++;
          if (re[i] === '?') {
            if (re[i + 1] === ':') i += 2;
            else fail('a group modifier (?...)');
          }
          atom = `(${alternation()})`;
          if (re[i] !== ')') fail('an unclosed group');
          i++;
        } else if (c === '[') {
          // The class as code point ranges, then without what a JSON string cannot hold raw
          // (quote, backslash, control characters): those are never produced, a subset.
          let j = i + 1;
          let negated = false;
          if (re[j] === '^') (negated = true), j++;
          const ranges: [number, number][] = [];
          const one = (): number => {
            if (re[j] === '\\') {
              const e = re[j + 1];
              j += 2;
              const simple: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11 };
              if (e in simple) return simple[e];
              if (e !== undefined && /[\\\]\[^\-.\/|(){}*+?$]/.test(e)) return e.codePointAt(0)!;
              fail(`the escape \\${e} in a class`);
            }
            const cp = re.codePointAt(j)!;
            j += cp > 0xffff ? 2 : 1;
            return cp;
          };
          while (j < re.length && re[j] !== ']') {
            if (re[j] === '\\' && classEscape(re[j + 1])) {
              for (const [a, b] of CLASS_RANGES[re[j + 1]]) ranges.push([a, b]);
              j += 2;
              continue;
            }
            const lo = one();
            let hi = lo;
            if (re[j] === '-' && re[j + 1] !== ']' && j + 1 < re.length) {
              j++;
              hi = one();
            }
            if (hi < lo) fail('a class range whose end comes before its start');
            ranges.push([lo, hi]);
          }
          if (re[j] !== ']') fail('an unclosed character class');
          i = j + 1;
          atom = charClass(ranges, negated);
                } else if (c === '.') {
          atom = charClass([[10, 10], [13, 13], [0x2028, 0x2029]], true);
          i++;
        } else if (c === '\\') {
          const e = re[i + 1];
          if (classEscape(e)) atom = charClass(CLASS_RANGES[e], false);
          else if (e === 'D' || e === 'W' || e === 'S') atom = charClass(CLASS_RANGES[e.toLowerCase()], true);
          else if (e !== undefined && /[\\^$.|?*+()[\]{}\/-]/.test(e)) atom = jsonLiteral(e);
          else fail(`the escape \\${e}`);
          i += 2;
        } else if ('*+?{'.includes(c)) {
          fail('a quantifier with nothing before it');
          atom = '';
        } else if (c === '^' || c === '$') {
          fail('an anchor inside the pattern');
          atom = '';
        } else {
          const cp = re.codePointAt(i)!;
          atom = jsonLiteral(String.fromCodePoint(cp));
          i += cp > 0xffff ? 2 : 1;
        }
        const q = re[i];
        if (q === '*' || q === '+' || q === '?') {
          atom += q;
          i++;
        } else if (q === '{') {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(re.slice(i));
          if (!m) fail('a malformed {m,n}');
          atom += m![0];
          i += m![0].length;
        }
        if (re[i] === '?' || re[i] === '+') fail('a lazy or possessive quantifier');
        items.push(atom);
      }
      return items.length ? items.join(' ') : '""';
    };
    const out = alternation();
    if (i !== re.length) fail('an unbalanced )');
    return `(${out})`;
  }
}

const CLASS_RANGES: Record<string, [number, number][]> = {
  d: [[48, 57]],
  w: [[48, 57], [65, 90], [95, 95], [97, 122]],
  s: [[9, 13], [32, 32]],
};

/** A pattern's literal character as it appears inside a JSON string (escaped where JSON needs it). */
function jsonLiteral(ch: string): string {
  return literal(JSON.stringify(ch).slice(1, -1));
}

/** A GBNF class for code point ranges, leaving out what a JSON string cannot hold unescaped. */
function charClass(ranges: [number, number][], negated: boolean): string {
  const unsafe: [number, number][] = [[0, 0x1f], [0x22, 0x22], [0x5c, 0x5c], [0x7f, 0x7f]];
  const hex = (c: number) => (c > 0xffff ? `\\U${c.toString(16).padStart(8, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`);
  const body = (rs: [number, number][]) => rs.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('');
  if (negated) return `[^${body([...ranges, ...unsafe])}]`;
  let safe: [number, number][] = ranges.map(([a, b]) => [a, b]);
  for (const [ua, ub] of unsafe)
    safe = safe.flatMap(([a, b]): [number, number][] => {
      if (b < ua || a > ub) return [[a, b]];
      const out: [number, number][] = [];
      if (a < ua) out.push([a, ua - 1]);
      if (b > ub) out.push([ub + 1, b]);
      return out;
    });
  if (safe.length === 0) throw new HalfbyteError('UNSUPPORTED_SCHEMA', 'This JSON Schema\'s pattern has a class of only characters a JSON string must escape');
  return `[${body(safe)}]`;
}

/** GBNF alternatives for the decimal integers in [min, max] (either end may be infinite). */
function intRange(min: number, max: number): string {
  const alts: string[] = [];
  if (min < 0) {
    // negatives: "-" then the magnitudes in [max(1, -max), -min]
    const lo = max < 0 ? -max : 1;
    alts.push(`"-" (${natRange(lo, -min)})`);
    if (max >= 0) alts.push(natRange(0, max));
  } else alts.push(natRange(min, max));
  return alts.join(' | ');
}

/** Digit patterns for the naturals in [lo, hi] (hi may be Infinity), without leading zeros. */
function natRange(lo: number, hi: number): string {
  if (hi === Infinity) {
    const digits = String(lo).length;
    const alts = [natRange(lo, 10 ** digits - 1)];
    alts.push(`[1-9] [0-9]{${digits},15}`);
    return alts.join(' | ');
  }
  const out: string[] = [];
  // split by digit count
  for (let d = String(lo).length; d <= String(hi).length; d++) {
    const a = Math.max(lo, d === 1 ? 0 : 10 ** (d - 1));
    const b = Math.min(hi, 10 ** d - 1);
    if (a <= b) out.push(...sameLength(String(a), String(b)));
  }
  return out.join(' | ');
}

/** Patterns for the numbers between a and b, both of the same number of digits. */
function sameLength(a: string, b: string): string[] {
  if (a.length === 0) return ['""'];
  if (a === b) return [literal(a)];
  if (a[0] === b[0]) return sameLength(a.slice(1), b.slice(1)).map((r) => `${literal(a[0])} (${r})`);
  const rest = a.length - 1;
  const out: string[] = [];
  const lowAll = /^0*$/.test(a.slice(1));
  const highAll = /^9*$/.test(b.slice(1));
  const d0 = Number(a[0]);
  const d1 = Number(b[0]);
  const any = rest > 0 ? ` [0-9]{${rest}}` : '';
  if (lowAll && highAll) return [`[${d0}-${d1}]${any}`];
  let from = d0;
  let to = d1;
  if (!lowAll) {
    out.push(...sameLength(a.slice(1), '9'.repeat(rest)).map((r) => `${literal(a[0])} (${r})`));
    from = d0 + 1;
  }
  if (!highAll) to = d1 - 1;
  if (from <= to) out.push(`[${from}-${to}]${any}`);
  if (!highAll) out.push(...sameLength('0'.repeat(rest), b.slice(1)).map((r) => `${literal(b[0])} (${r})`));
  return out;
}

/**
 * A GBNF grammar whose sentences are JSON texts valid against `schema` (whitespace as llama.cpp's
 * grammars allow it). Throws UNSUPPORTED_SCHEMA listing the keywords it cannot enforce, and
 * INVALID_ARGUMENT for a malformed schema.
 */
export function jsonSchemaToGrammar(schema: JsonSchema): string {
  return new Converter(schema).convert();
}
