// JSON Schema to grammar: 200+ schemas (hand-written for every keyword, and generated from a
// seed), each generated under with several seeds on a random-weight model; every output must
// JSON.parse and validate with ajv. Keywords a grammar cannot enforce are refused by name.
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, jsonSchemaToGrammar, load } from '../lib/index.js';
import type { JsonSchema } from '../lib/index.js';
import { GbnfRecognizer } from './gbnf-recognizer.js';
import { modelPath } from './helpers.js';

const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: false, allErrors: true });
(addFormats as unknown as typeof addFormats.default)(ajv);
const model = await load(modelPath('stories260K.gguf'), { threads: 2 });
// A nudge towards closing quotes, brackets and braces keeps random-weight strings, arrays and
// maps short; it changes nothing the grammar allows.
const closers: { token: number; bias: number }[] = [];
for (let id = 0; id < model.info.vocabSize; id++)
  if (['"', ']', '}'].includes(new TextDecoder().decode(model.tokenBytes(id)))) closers.push({ token: id, bias: 6 });

const handWritten: JsonSchema[] = [
  { type: 'string', maxLength: 6 },
  { type: 'string', minLength: 2, maxLength: 4 },
  { type: 'string' },
  { type: 'integer' },
  { type: 'number' },
  { type: 'boolean' },
  { type: 'null' },
  { type: 'integer', minimum: 0, maximum: 9 },
  { type: 'integer', minimum: -50, maximum: 1234 },
  { type: 'integer', minimum: 100 },
  { type: 'integer', maximum: -7 },
  { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 },
  { enum: ['red', 'green', 'blue'] },
  { enum: [1, 'two', null, true, { a: 1 }, [1, 2]] },
  { const: 'fixed' },
  { const: { nested: [1, { x: 'y' }] } },
  { type: ['string', 'null'], maxLength: 3 },
  { type: ['integer', 'boolean'], minimum: 5, maximum: 6 },
  { type: 'string', format: 'date' },
  { type: 'string', format: 'time' },
  { type: 'string', format: 'date-time' },
  { type: 'string', format: 'uuid' },
  { type: 'string', pattern: '^[A-Z]{2}-\\d{3}$' },
  { type: 'string', pattern: '^(cat|dog)s?$' },
  { type: 'string', pattern: '^\\w{1,8}@\\w{1,8}\\.(com|org)$' },
  { type: 'string', pattern: '^[^a-z"]{1,4}\\.x?$' },
  { type: 'array', items: { type: 'integer' }, maxItems: 4 },
  { type: 'array', items: { type: 'string', maxLength: 3 }, minItems: 2, maxItems: 3 },
  { type: 'array', items: { type: 'boolean' }, minItems: 1 },
  { type: 'array', prefixItems: [{ type: 'string', maxLength: 2 }, { type: 'integer' }, { const: 'end' }] },
  { type: 'array', maxItems: 2 },
  { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'string', maxLength: 4 } }, required: ['a', 'b'] },
  { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' }, c: { type: 'null' } } },
  { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' } }, required: ['b'] },
  { type: 'object', properties: { x: { type: 'number' } }, required: ['x', 'y'] },
  { type: 'object', additionalProperties: { type: 'integer' } },
  { type: 'object', additionalProperties: false },
  { type: 'object', properties: { z: { const: 1 } } },
  { type: 'object', properties: { k: { type: 'string', maxLength: 2 } }, additionalProperties: true, required: ['k'] },
  {
    type: 'object',
    properties: {
      user: { type: 'object', properties: { name: { type: 'string', maxLength: 5 }, age: { type: 'integer', minimum: 0, maximum: 130 } }, required: ['name'] },
      tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, maxItems: 3 },
    },
    required: ['user', 'tags'],
  },
  { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 3 }] },
  { oneOf: [{ type: 'boolean' }, { type: 'null' }, { type: 'string', format: 'date' }] },
  {
    allOf: [
      { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] },
      { properties: { b: { type: 'boolean' } }, required: ['b'] },
    ],
  },
  {
    $defs: { point: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } }, required: ['x', 'y'] } },
    type: 'array',
    items: { $ref: '#/$defs/point' },
    maxItems: 2,
  },
  {
    definitions: { leaf: { type: 'string', maxLength: 2 } },
    type: 'object',
    properties: { l: { $ref: '#/definitions/leaf' } },
    required: ['l'],
  },
  {
    // a recursive definition
    $defs: {
      node: {
        type: 'object',
        properties: { v: { type: 'integer', minimum: 0, maximum: 9 }, next: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/node' }] } },
        required: ['v', 'next'],
      },
    },
    $ref: '#/$defs/node',
  },
  { title: 'annotations are fine', description: 'x', examples: [1], type: 'integer', default: 3 },
  true,
];

// Seeded random schemas: every kind of node, nested up to depth 3, strings and arrays bounded.
function generated(count: number, seed: number): JsonSchema[] {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1));
  const patterns = ['^[a-f0-9]{2,6}$', '^(yes|no|maybe)$', '^\\d{3}-\\d{2}$', '^[A-Z][a-z]{0,5}$', '^x+y?z*$'];
  const leaf = (): Record<string, unknown> => {
    const k = pick(['string', 'fstring', 'pstring', 'integer', 'rint', 'number', 'boolean', 'null', 'enum', 'const']);
    switch (k) {
      case 'string': {
        const min = int(0, 3);
        return { type: 'string', minLength: min, maxLength: min + int(0, 6) };
      }
      case 'fstring':
        return { type: 'string', format: pick(['date', 'time', 'date-time', 'uuid']) };
      case 'pstring':
        return { type: 'string', pattern: pick(patterns) };
      case 'rint': {
        const lo = int(-500, 500);
        return { type: 'integer', minimum: lo, maximum: lo + int(0, 2000) };
      }
      case 'enum':
        return { enum: [pick(['a', 'b c', 'é']), int(0, 99), pick([true, false, null])] };
      case 'const':
        return { const: pick(['k', 42, null, { z: [1] }]) };
      default:
        return { type: k };
    }
  };
  const node = (depth: number): Record<string, unknown> => {
    if (depth <= 0 || rnd() < 0.35) return leaf();
    const k = pick(['object', 'object', 'array', 'tuple', 'anyOf', 'oneOf', 'nullable']);
    if (k === 'object') {
      const n = int(1, 4);
      const properties: Record<string, unknown> = {};
      const required: string[] = [];
      for (let i = 0; i < n; i++) {
        const name = pick(['id', 'name', 'value', 'list', 'ok', 'meta', 'x']) + i;
        properties[name] = node(depth - 1);
        if (rnd() < 0.5) required.push(name);
      }
      return { type: 'object', properties, required };
    }
    if (k === 'array') {
      const min = int(0, 2);
      return { type: 'array', items: node(depth - 1), minItems: min, maxItems: min + int(0, 2) };
    }
    if (k === 'tuple') return { type: 'array', prefixItems: Array.from({ length: int(1, 3) }, () => node(depth - 1)) };
    if (k === 'anyOf') return { anyOf: [node(depth - 1), node(depth - 1)] };
    if (k === 'oneOf') return { oneOf: [{ type: 'boolean' }, { type: 'string', maxLength: 4 }, { type: 'null' }].slice(0, int(2, 3)) };
    const inner = leaf();
    return typeof inner.type === 'string' && inner.type !== 'null' && !('format' in inner) && !('pattern' in inner) ? { ...inner, type: [inner.type, 'null'] } : inner;
  };
  const out: JsonSchema[] = [];
  for (let i = 0; i < count; i++) {
    const root = node(3);
    if (i % 5 === 0) out.push({ $defs: { item: root }, type: 'object', properties: { first: { $ref: '#/$defs/item' } }, required: ['first'] });
    else out.push(root);
  }
  return out;
}

const schemas = [...handWritten, ...generated(170, 20261201)];

describe('JSON Schema to grammar', () => {
  it('covers at least 200 schemas', () => {
    expect(schemas.length).toBeGreaterThanOrEqual(200);
  });

  it('every output of every schema parses and validates with ajv, for 3 seeds each', async () => {
    let outputs = 0;
    const failures: string[] = [];
    for (const [i, schema] of schemas.entries()) {
      const validate = ajv.compile(schema as object);
      const grammar = model.createGrammar(jsonSchemaToGrammar(schema));
      for (const seed of [1, 2, 3]) {
        let text = '';
        for await (const c of model.generate('Once upon a time', { grammar, seed, temperature: 1, maxTokens: 600, logitBias: closers }))
          text += c.text;
        outputs++;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          failures.push(`schema ${i} seed ${seed}: does not parse: ${JSON.stringify(text).slice(0, 200)}`);
          continue;
        }
        if (!validate(value)) failures.push(`schema ${i} seed ${seed}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(outputs).toBe(schemas.length * 3);
  }, 300_000);

  it('generateJson resolves to the parsed value', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['n'] } as const;
    const v = (await model.generateJson('Once upon a time', schema, { seed: 1 })) as { n: number };
    expect([1, 2, 3]).toContain(v.n);
    await expect(model.generateJson('Once', { type: 'string' }, { maxTokens: 1, seed: 1 })).rejects.toMatchObject({ code: 'GRAMMAR_INCOMPLETE' });
    expect(() => model.generate('x', { jsonSchema: { type: 'integer' }, grammar: 'root ::= "1"' })).toThrow(/either grammar or jsonSchema/);
  });

  it('the grammar of a schema accepts exactly its JSON (independent recognizer)', () => {
    const g = new GbnfRecognizer(
      jsonSchemaToGrammar({ type: 'object', properties: { a: { type: 'integer', minimum: 3, maximum: 12 }, b: { enum: ['x'] } }, required: ['a'] }),
    );
    expect(g.check('{"a": 3}')).toBe('complete');
    expect(g.check('{"a":12,"b":"x"}')).toBe('complete');
    expect(g.check('{"a": 13}')).toBe('no');
    expect(g.check('{"a": 2}')).toBe('no');
    expect(g.check('{"b":"x"}')).toBe('no'); // a is required
    expect(g.check('{"b":"x","a":4}')).toBe('no'); // schema order
    // Any object (too open-ended for a random-weight model to finish quickly, so checked here).
    const anyObject = new GbnfRecognizer(jsonSchemaToGrammar({ type: 'object' }));
    expect(anyObject.check('{}')).toBe('complete');
    expect(anyObject.check('{"a": [1, {"b": null}], "c": "\\u00e9"}')).toBe('complete');
    expect(anyObject.check('[]')).toBe('no');
  });

  it('refuses what a grammar cannot enforce, naming every keyword', () => {
    const err = (schema: JsonSchema) => {
      try {
        jsonSchemaToGrammar(schema);
      } catch (e) {
        expect(e).toBeInstanceOf(HalfbyteError);
        return `${(e as HalfbyteError).code}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    const msg = err({
      type: 'object',
      properties: { n: { type: 'number', minimum: 0, multipleOf: 2 }, s: { type: 'string', format: 'email' }, t: { not: { type: 'null' } } },
      minProperties: 1,
      patternProperties: { '^x': {} },
    });
    expect(msg).toMatch(/^UNSUPPORTED_SCHEMA: /);
    for (const k of ['minimum (at /properties/n)', 'multipleOf (at /properties/n)', 'format email (at /properties/s)', 'not (at /properties/t)', 'minProperties', 'patternProperties'])
      expect(msg).toContain(k);
    expect(err({ type: 'array', items: { type: 'integer' }, uniqueItems: true })).toContain('uniqueItems');
    expect(err({ type: 'string', pattern: 'abc' })).toContain('pattern not anchored');
    expect(err({ type: 'string', pattern: '^a(?=b)$' })).toMatch(/group modifier/);
    expect(err({ if: { type: 'string' }, then: { maxLength: 2 } })).toMatch(/if.*then|then.*if/);
    expect(err({ $ref: 'https://example.com/schema' })).toContain('only local');
    expect(err({ type: 'integer', minimum: 5, maximum: 1 })).toMatch(/^INVALID_ARGUMENT/);
    expect(err({ type: 'banana' } as JsonSchema)).toMatch(/^INVALID_ARGUMENT/);
    expect(() => model.generate('x', { jsonSchema: { type: 'string', format: 'email' } })).toThrow(HalfbyteError);
  });
});
