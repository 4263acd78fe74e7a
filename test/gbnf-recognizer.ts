// An independent GBNF recognizer for tests: its own parser and an Earley recognizer over code
// points, sharing no code with the engine's grammar matcher, so generations under a grammar can
// be checked by something that did not produce them.

type Item = { kind: 'chars'; test: (c: number) => boolean } | { kind: 'rule'; name: string };
type Rules = Map<string, Item[][]>;

export class GbnfRecognizer {
  private rules: Rules = new Map();
  private counter = 0;
  private nullable = new Set<string>();

  constructor(text: string) {
    this.parse(text);
    for (let changed = true; changed; ) {
      changed = false;
      for (const [name, alts] of this.rules)
        if (!this.nullable.has(name) && alts.some((a) => a.every((i) => i.kind === 'rule' && this.nullable.has(i.name)))) {
          this.nullable.add(name);
          changed = true;
        }
    }
  }

  /** 'complete' if the text is a sentence, 'prefix' if it can still become one, 'no' otherwise. */
  check(text: string): 'complete' | 'prefix' | 'no' {
    const cps = Array.from(text, (ch) => ch.codePointAt(0)!);
    type State = { rule: string; alt: number; dot: number; origin: number };
    const key = (s: State) => `${s.rule}|${s.alt}|${s.dot}|${s.origin}`;
    const sets: State[][] = [];
    const seen: Set<string>[] = [];
    const add = (i: number, s: State) => {
      if (seen[i].has(key(s))) return;
      seen[i].add(key(s));
      sets[i].push(s);
    };
    for (let i = 0; i <= cps.length; i++) {
      sets.push([]);
      seen.push(new Set());
    }
    this.rules.get('root')!.forEach((_, a) => add(0, { rule: 'root', alt: a, dot: 0, origin: 0 }));
    for (let i = 0; i <= cps.length; i++) {
      for (let k = 0; k < sets[i].length; k++) {
        const s = sets[i][k];
        const seq = this.rules.get(s.rule)![s.alt];
        if (s.dot === seq.length) {
          // complete: advance every state at its origin waiting for this rule
          for (const w of sets[s.origin]) {
            const ws = this.rules.get(w.rule)![w.alt];
            const next = ws[w.dot];
            if (next && next.kind === 'rule' && next.name === s.rule) add(i, { ...w, dot: w.dot + 1 });
          }
          continue;
        }
        const item = seq[s.dot];
        if (item.kind === 'rule') {
          this.rules.get(item.name)!.forEach((_, a) => add(i, { rule: item.name, alt: a, dot: 0, origin: i }));
          if (this.nullable.has(item.name)) add(i, { ...s, dot: s.dot + 1 });
        } else if (i < cps.length && item.test(cps[i])) {
          add(i + 1, { ...s, dot: s.dot + 1 });
        }
      }
      if (i < cps.length && sets[i + 1].length === 0) return 'no';
    }
    const done = sets[cps.length].some((s) => s.rule === 'root' && s.origin === 0 && s.dot === this.rules.get('root')![s.alt].length);
    return done ? 'complete' : 'prefix';
  }

  // --- parsing (GBNF: rules, alternatives, groups, literals, classes, ., * + ? {m,n}) ---
  private s = '';
  private p = 0;

  private parse(text: string) {
    this.s = text;
    this.p = 0;
    this.ws(true);
    while (this.p < this.s.length) {
      const name = this.name();
      this.ws(false);
      if (!this.s.startsWith('::=', this.p)) throw new Error(`expected ::= at ${this.p}`);
      this.p += 3;
      this.ws(true);
      this.rules.set(name, this.alternates(false));
      this.ws(true);
    }
  }

  private ws(newlines: boolean) {
    while (this.p < this.s.length) {
      const c = this.s[this.p];
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) this.p++;
      else if (c === '#') while (this.p < this.s.length && this.s[this.p] !== '\n') this.p++;
      else break;
    }
  }

  private name(): string {
    const m = /^[A-Za-z0-9_-]+/.exec(this.s.slice(this.p));
    if (!m) throw new Error(`expected a name at ${this.p}`);
    this.p += m[0].length;
    return m[0];
  }

  private fresh(alts: Item[][]): Item {
    const name = `$${this.counter++}`;
    this.rules.set(name, alts);
    return { kind: 'rule', name };
  }

  private alternates(nested: boolean): Item[][] {
    const alts = [this.sequence(nested)];
    while (this.s[this.p] === '|') {
      this.p++;
      this.ws(true);
      alts.push(this.sequence(nested));
    }
    return alts;
  }

  private char(): number {
    if (this.s[this.p] !== '\\') {
      const cp = this.s.codePointAt(this.p)!;
      this.p += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.s[this.p + 1];
    this.p += 2;
    const hex = (n: number) => {
      const v = parseInt(this.s.slice(this.p, this.p + n), 16);
      this.p += n;
      return v;
    };
    if (e === 'x') return hex(2);
    if (e === 'u') return hex(4);
    if (e === 'U') return hex(8);
    return ({ n: 10, r: 13, t: 9 } as Record<string, number>)[e] ?? e.codePointAt(0)!;
  }

  private sequence(nested: boolean): Item[] {
    const seq: Item[] = [];
    for (;;) {
      const c = this.s[this.p];
      let item: Item | undefined;
      if (c === '"') {
        this.p++;
        const chars: Item[] = [];
        while (this.s[this.p] !== '"') {
          const cp = this.char();
          chars.push({ kind: 'chars', test: (x) => x === cp });
        }
        this.p++;
        item = this.fresh([chars]);
      } else if (c === '[') {
        this.p++;
        const neg = this.s[this.p] === '^';
        if (neg) this.p++;
        const ranges: [number, number][] = [];
        while (this.s[this.p] !== ']') {
          const lo = this.char();
          let hi = lo;
          if (this.s[this.p] === '-' && this.s[this.p + 1] !== ']') {
            this.p++;
            hi = this.char();
          }
          ranges.push([lo, hi]);
        }
        this.p++;
        item = { kind: 'chars', test: (x) => ranges.some(([a, b]) => x >= a && x <= b) !== neg };
      } else if (c === '.') {
        this.p++;
        item = { kind: 'chars', test: () => true };
      } else if (c === '(') {
        this.p++;
        this.ws(true);
        const alts = this.alternates(true);
        this.p++; // )
        item = this.fresh(alts);
      } else if (c !== undefined && /[A-Za-z0-9_-]/.test(c)) {
        const at = this.p;
        const name = this.name();
        const save = this.p;
        this.ws(false);
        if (!nested && this.s.startsWith('::=', this.p)) {
          this.p = at;
          return seq;
        }
        this.p = save;
        item = { kind: 'rule', name };
      } else {
        return seq;
      }
      this.ws(nested);
      // repetition
      const r = this.s[this.p];
      if (r === '*' || r === '+' || r === '?' || r === '{') {
        let min = 0;
        let max = Infinity;
        if (r === '*') this.p++;
        else if (r === '+') (min = 1), this.p++;
        else if (r === '?') (max = 1), this.p++;
        else {
          const m = /^\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}/.exec(this.s.slice(this.p))!;
          this.p += m[0].length;
          min = Number(m[1]);
          max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        }
        const one = item;
        for (let i = 0; i < min; i++) seq.push(one);
        if (max === Infinity) {
          const name = `$${this.counter++}`;
          this.rules.set(name, [[one, { kind: 'rule', name }], []]);
          seq.push({ kind: 'rule', name });
        } else for (let i = min; i < max; i++) seq.push(this.fresh([[one], []]));
        this.ws(nested);
      } else seq.push(item);
    }
  }
}
