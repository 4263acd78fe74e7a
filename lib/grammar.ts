// Grammars for constrained output: GBNF text parsed once by the engine (model.createGrammar),
// reusable across generations, sessions and concurrent sequences (each keeps its own state).
import type { NativeGrammar } from './addon.js';
import { addon } from './addon.js';
import { native } from './errors.js';
import * as v from './validate.js';

/** A parsed GBNF grammar (llama.cpp's format). Create it with `model.createGrammar(gbnf)`. */
export class Grammar {
  /** @internal */
  readonly handle: NativeGrammar;
  /** The GBNF text. */
  readonly source: string;

  /** @internal Parses; throws a HalfbyteError GRAMMAR_SYNTAX naming the line and column. */
  constructor(gbnf: string) {
    this.source = v.string(gbnf, 'grammar');
    this.handle = native(() => new (addon().GrammarHandle)(gbnf));
  }

  /** How many rules the text defines. */
  get ruleCount(): number {
    return this.handle.ruleCount();
  }
}

/** A grammar option (GBNF text or a parsed Grammar) as a Grammar, or undefined. */
export function toGrammar(value: unknown, what = 'grammar'): Grammar | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Grammar) return value;
  if (typeof value === 'string') return new Grammar(value);
  throw v.invalid('GBNF text or a Grammar from model.createGrammar()', what, value);
}
