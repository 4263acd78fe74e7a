// Evaluation task files (JSONL, one item a line): their schema, validation with errors naming the
// line and field, prompt templates and the seeded choice of few-shot examples.
import { HalfbyteError } from './errors.js';
import type { JsonSchema } from './json-schema.js';

/** The kinds of evaluation items. */
export type EvalKind = 'multiple-choice' | 'classification' | 'generation' | 'sql';

/** Fields every item may have. */
export interface EvalItemBase {
  kind: EvalKind;
  /** Unique within the file; the key `--resume` matches on. Default: the line number, as a string. */
  id?: string | number;
  /** The task the item belongs to: metrics and few-shot examples are per task. Default: the kind. */
  task?: string;
  /** 'train' items are only few-shot examples; 'test' items (the default) are evaluated. */
  split?: 'train' | 'test';
  /**
   * The item's prompt, with `{field}` replaced by the item's field (`{{` and `}}` are braces).
   * Default per kind: `{context}`, `{text}`, `{prompt}`, and for sql
   * `{schema}\n-- Question: {question}\n-- SQL:`. Few-shot examples are formatted with it too.
   */
  template?: string;
}

/** Scored by the log-probability of each choice after the context. */
export interface MultipleChoiceItem extends EvalItemBase {
  kind: 'multiple-choice';
  context: string;
  /** At least 2. Each is scored as `context + " " + choice`. */
  choices: string[];
  /** Index of the right choice. */
  answer: number;
}

/** A text to label: by scoring each label, or by generating under a grammar that allows only the labels. */
export interface ClassificationItem extends EvalItemBase {
  kind: 'classification';
  text: string;
  /** At least 2 distinct labels. */
  labels: string[];
  /** The right label (one of labels). */
  answer: string;
  /** 'score' (default: the run's classificationMode) or 'generate'. */
  mode?: 'score' | 'generate';
}

/** Free generation, scored against reference answers. */
export interface GenerationItem extends EvalItemBase {
  kind: 'generation';
  prompt: string;
  /** Accepted answers (with match 'regex', JavaScript regular expressions tested against the output). */
  answers: string[];
  /** Generation ends before any of these. Default "\n". */
  stop?: string | string[];
  /** 'exact' (after trimming whitespace), 'normalized' (default) or 'regex'. */
  match?: 'exact' | 'normalized' | 'regex';
  /** Constrain the output to JSON valid against this schema. */
  jsonSchema?: JsonSchema;
  /** Constrain the output to this GBNF grammar. */
  grammar?: string;
  /** Default: the run's maxTokens. */
  maxTokens?: number;
}

/** Text-to-SQL, scored by execution accuracy on an in-memory SQLite database. */
export interface SqlItem extends EvalItemBase {
  kind: 'sql';
  /** SQL that builds the database: CREATE TABLE statements and the rows (INSERT). */
  schema: string;
  question: string;
  /** The reference query. */
  answer: string;
  /** Generation ends before any of these. Default [";", "\n\n"]. */
  stop?: string | string[];
  /** Constrain the query to this GBNF grammar (e.g. a SQL grammar). */
  grammar?: string;
  maxTokens?: number;
}

export type EvalItem = MultipleChoiceItem | ClassificationItem | GenerationItem | SqlItem;

/** A validated item with where it came from. */
export interface ParsedItem {
  /** 1-based line in the task file. */
  line: number;
  id: string;
  task: string;
  split: 'train' | 'test';
  item: EvalItem;
}

const str = { type: 'string' };
const strs = (min: number) => ({ type: 'array', items: str, minItems: min });
const stop = { oneOf: [{ type: 'string', minLength: 1 }, { type: 'array', items: { type: 'string', minLength: 1 } }] };
const common = {
  kind: str,
  id: { type: ['string', 'integer'] },
  task: { type: 'string', minLength: 1 },
  split: { enum: ['train', 'test'] },
  template: str,
};
const maxTokens = { type: 'integer', minimum: 1, maximum: 65536 };

/**
 * JSON Schema (draft 2020-12) of one line of a task file. runEvaluation checks lines against
 * the same rules (plus what a schema cannot say: an answer index within the choices, a label
 * among the labels, a template naming existing fields, a regex that compiles).
 */
export const evalItemSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'halfbyte evaluation item',
  oneOf: [
    {
      type: 'object',
      required: ['kind', 'context', 'choices', 'answer'],
      additionalProperties: false,
      properties: { ...common, kind: { const: 'multiple-choice' }, context: str, choices: strs(2), answer: { type: 'integer', minimum: 0 } },
    },
    {
      type: 'object',
      required: ['kind', 'text', 'labels', 'answer'],
      additionalProperties: false,
      properties: { ...common, kind: { const: 'classification' }, text: str, labels: strs(2), answer: str, mode: { enum: ['score', 'generate'] } },
    },
    {
      type: 'object',
      required: ['kind', 'prompt', 'answers'],
      additionalProperties: false,
      properties: {
        ...common,
        kind: { const: 'generation' },
        prompt: str,
        answers: strs(1),
        stop,
        match: { enum: ['exact', 'normalized', 'regex'] },
        jsonSchema: { type: ['object', 'boolean'] },
        grammar: str,
        maxTokens,
      },
    },
    {
      type: 'object',
      required: ['kind', 'schema', 'question', 'answer'],
      additionalProperties: false,
      properties: { ...common, kind: { const: 'sql' }, schema: str, question: str, answer: str, stop, grammar: str, maxTokens },
    },
  ],
} as const;

const FIELDS: Record<EvalKind, Record<string, string>> = {
  'multiple-choice': { context: 'string', choices: 'strings', answer: 'index' },
  classification: { text: 'string', labels: 'strings', answer: 'string', mode: 'mode?' },
  generation: {
    prompt: 'string',
    answers: 'strings',
    stop: 'stop?',
    match: 'match?',
    jsonSchema: 'schema?',
    grammar: 'string?',
    maxTokens: 'maxTokens?',
  },
  sql: { schema: 'string', question: 'string', answer: 'string', stop: 'stop?', grammar: 'string?', maxTokens: 'maxTokens?' },
};
const COMMON_FIELDS = ['kind', 'id', 'task', 'split', 'template'];
const KINDS = Object.keys(FIELDS) as EvalKind[];

/** Default templates (the item's own fields). */
export const defaultTemplates: Readonly<Record<EvalKind, string>> = Object.freeze({
  'multiple-choice': '{context}',
  classification: '{text}',
  generation: '{prompt}',
  sql: '{schema}\n-- Question: {question}\n-- SQL:',
});

/** Text used as is in "but received …". */
class Said {
  constructor(readonly text: string) {}
}

function describe(value: unknown): string {
  if (value instanceof Said) return value.text;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function taskError(where: string, line: number, field: string, expected: string, value: unknown): HalfbyteError {
  return new HalfbyteError('INVALID_TASK', `Expected ${expected} for ${field} at ${where} line ${line} but received ${describe(value)}`);
}

/** The `{field}` names of a template; throws on a lone brace. */
function templateFields(t: string): string[] | string {
  const names: string[] = [];
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if ((c === '{' || c === '}') && t[i + 1] === c) {
      i++;
      continue;
    }
    if (c === '}') return `a lone "}" at offset ${i}`;
    if (c === '{') {
      const end = t.indexOf('}', i);
      if (end < 0) return `an unclosed "{" at offset ${i}`;
      names.push(t.slice(i + 1, end));
      i = end;
    }
  }
  return names;
}

/** Fills a template with the item's fields (strings as they are, other values as JSON). */
export function fillTemplate(t: string, item: EvalItem): string {
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if ((c === '{' || c === '}') && t[i + 1] === c) {
      out += c;
      i++;
    } else if (c === '{') {
      const end = t.indexOf('}', i);
      const value = (item as unknown as Record<string, unknown>)[t.slice(i + 1, end)];
      out += typeof value === 'string' ? value : JSON.stringify(value);
      i = end;
    } else out += c;
  }
  return out;
}

/** Checks one parsed line; returns the item or throws INVALID_TASK naming line and field. */
export function checkItem(value: unknown, line: number, where: string): ParsedItem {
  const fail = (field: string, expected: string, v: unknown) => taskError(where, line, field, expected, v);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('the line', 'a JSON object', value);
  const o = value as Record<string, unknown>;
  if (!KINDS.includes(o.kind as EvalKind)) throw fail('kind', `one of ${KINDS.map((k) => `"${k}"`).join(', ')}`, o.kind);
  const kind = o.kind as EvalKind;
  const fields = FIELDS[kind];
  for (const key of Object.keys(o))
    if (!COMMON_FIELDS.includes(key) && !(key in fields)) throw fail(`"${key}"`, `a field of a ${kind} item (${[...COMMON_FIELDS, ...Object.keys(fields)].join(', ')})`, new Said('an unknown field'));
  if (o.id !== undefined && typeof o.id !== 'string' && !Number.isInteger(o.id)) throw fail('id', 'a string or an integer', o.id);
  if (o.task !== undefined && (typeof o.task !== 'string' || o.task.length === 0)) throw fail('task', 'a non-empty string', o.task);
  if (o.split !== undefined && o.split !== 'train' && o.split !== 'test') throw fail('split', '"train" or "test"', o.split);
  if (o.template !== undefined && typeof o.template !== 'string') throw fail('template', 'a string', o.template);
  for (const [name, type] of Object.entries(fields)) {
    const x = o[name];
    if (type.endsWith('?') && x === undefined) continue;
    const ok = (() => {
      switch (type.replace('?', '')) {
        case 'string':
          return typeof x === 'string';
        case 'strings':
          return Array.isArray(x) && x.every((s) => typeof s === 'string') && x.length >= (name === 'answers' ? 1 : 2);
        case 'index':
          return Number.isInteger(x) && (x as number) >= 0;
        case 'mode':
          return x === 'score' || x === 'generate';
        case 'match':
          return x === 'exact' || x === 'normalized' || x === 'regex';
        case 'stop':
          return (typeof x === 'string' && x.length > 0) || (Array.isArray(x) && x.every((s) => typeof s === 'string' && s.length > 0));
        case 'schema':
          return (typeof x === 'object' && x !== null && !Array.isArray(x)) || typeof x === 'boolean';
        case 'maxTokens':
          return Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 65536;
      }
      return false;
    })();
    if (!ok) {
      const expected: Record<string, string> = {
        string: 'a string',
        strings: name === 'answers' ? 'a non-empty array of strings' : 'an array of at least 2 strings',
        index: 'a choice index (an integer from 0)',
        mode: '"score" or "generate"',
        match: '"exact", "normalized" or "regex"',
        stop: 'a non-empty string or an array of non-empty strings',
        schema: 'a JSON Schema (an object or a boolean)',
        maxTokens: 'an integer from 1 to 65536',
      };
      throw fail(name, expected[type.replace('?', '')]!, x);
    }
  }
  const item = o as unknown as EvalItem;
  if (item.kind === 'multiple-choice') {
    if (item.answer >= item.choices.length) throw fail('answer', `a choice index below ${item.choices.length}`, item.answer);
    const empty = item.choices.findIndex((c) => c.length === 0);
    if (empty >= 0) throw fail(`choices[${empty}]`, 'a non-empty string', '');
  }
  if (item.kind === 'classification') {
    if (new Set(item.labels).size !== item.labels.length) throw fail('labels', 'distinct labels', item.labels);
    const empty = item.labels.findIndex((c) => c.length === 0);
    if (empty >= 0) throw fail(`labels[${empty}]`, 'a non-empty string', '');
    if (!item.labels.includes(item.answer)) throw fail('answer', `one of the labels (${item.labels.join(', ')})`, item.answer);
  }
  if (item.kind === 'generation') {
    if (item.jsonSchema !== undefined && item.grammar !== undefined) throw fail('grammar', 'either grammar or jsonSchema, not both', item.grammar);
    if (item.match === 'regex')
      item.answers.forEach((a, i) => {
        try {
          new RegExp(a, 'u');
        } catch (err) {
          throw fail(`answers[${i}]`, `a regular expression (${(err as Error).message})`, a);
        }
      });
  }
  if (item.template !== undefined) {
    const names = templateFields(item.template);
    if (typeof names === 'string') throw fail('template', `a template without ${names}`, item.template);
    for (const n of names)
      if (!(n in o) || n === 'template') throw fail('template', `{field} names of this item's fields`, `{${n}}`);
  }
  const id = item.id === undefined ? String(line) : String(item.id);
  return { line, id, task: item.task ?? kind, split: item.split ?? 'test', item };
}

/**
 * Parses a task file's text: one JSON object a line; blank lines and lines starting with `//`
 * are skipped. Throws INVALID_TASK naming the first bad line and field, or a repeated id.
 */
export function parseTasks(text: string, where = 'the task file'): ParsedItem[] {
  const out: ParsedItem[] = [];
  const ids = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw.length === 0 || raw.startsWith('//')) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new HalfbyteError('INVALID_TASK', `Expected a JSON object at ${where} line ${i + 1} but received text that does not parse: ${(err as Error).message}`);
    }
    const p = checkItem(value, i + 1, where);
    const seen = ids.get(p.id);
    if (seen !== undefined) throw taskError(where, i + 1, 'id', `an id not used before (line ${seen} has it)`, p.id);
    ids.set(p.id, i + 1);
    out.push(p);
  }
  return out;
}

/** mulberry32: a small seeded PRNG (32-bit state), for the choice of few-shot examples. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, to give each task its own PRNG stream from one seed. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The few-shot examples of a task: `shots` of its train items, in an order fixed by the seed
 * (a seeded Fisher-Yates shuffle of the train items in file order). The same for every item of
 * the task, so the few-shot block is one shared prefix.
 */
export function chooseShots(train: ParsedItem[], shots: number, seed: number, task: string): ParsedItem[] {
  if (shots === 0) return [];
  if (train.length < shots)
    throw new HalfbyteError('INVALID_ARGUMENT', `Expected at least ${shots} train items for shots in task "${task}" but received ${train.length}`);
  const rand = mulberry32((seed ^ hashString(task)) >>> 0);
  const order = train.slice();
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, shots);
}

/** The text a solved example adds after its prompt (joined with one space). */
export function exampleAnswer(item: EvalItem): string {
  switch (item.kind) {
    case 'multiple-choice':
      return item.choices[item.answer]!;
    case 'classification':
      return item.answer;
    case 'generation':
      return item.answers[0]!;
    case 'sql':
      return item.answer;
  }
}

/** The prompt of an item (without the few-shot block). */
export function itemPrompt(item: EvalItem): string {
  return fillTemplate(item.template ?? defaultTemplates[item.kind], item);
}

/** The few-shot block: each example as prompt + " " + answer, each followed by a blank line. */
export function shotBlock(shots: ParsedItem[], template: string | undefined): string {
  return shots.map((s) => fillTemplate(template ?? defaultTemplates[s.item.kind], s.item) + ' ' + exampleAnswer(s.item) + '\n\n').join('');
}
