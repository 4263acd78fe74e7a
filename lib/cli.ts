// The halfbyte command: `halfbyte generate "Once upon a time"` runs the bundled model.
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getCpuInfo, measureReadBandwidth } from './cpu.js';
import { addEvalCommand } from './eval-cli.js';
import { readGgufInfo } from './inspect.js';
import { HalfbyteError } from './errors.js';
import type { Grammar } from './grammar.js';
import { jsonSchemaToGrammar, type JsonSchema } from './json-schema.js';
import { load, type Model } from './model.js';
import { pull, resolveModel } from './pull.js';
import { packageRequire, packageRoot } from './root.js';
import { quantize, quantizationTypes, type QuantizationType } from './quantize.js';

/** The model bundled with the package: stories260K (MIT, karpathy/tinyllamas), 1.2 MB. */
export const defaultModelPath = join(packageRoot, 'models', 'stories260K.gguf');

/** For models without a chat template (the bundled story model among them). */
const SIMPLE_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n{% elif m.role == 'user' %}User: {{ m.content }}\n{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

function int(what: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`Expected an integer for ${what} but received ${value}`);
    return n;
  };
}
function num(what: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number for ${what} but received ${value}`);
    return n;
  };
}

async function openModel(ref: string, threads: number | undefined, contextSize?: number): Promise<Model> {
  const path = resolveModel(ref); // hf: and URL references from the cache (no network)
  if (!existsSync(path)) throw new HalfbyteError('FILE_NOT_FOUND', `No such model file: ${path}`);
  const task = load(path, { threads, contextSize });
  // A progress bar only for files big enough to take a while to page in.
  if (process.stderr.isTTY) {
    const { SingleBar, Presets } = packageRequire('cli-progress') as typeof import('cli-progress');
    let bar: InstanceType<typeof SingleBar> | undefined;
    for await (const p of task) {
      if (p.totalBytes < 64 << 20) continue;
      if (!bar) {
        bar = new SingleBar({ format: 'loading [{bar}] {percentage}% {value}/{total} MB', stream: process.stderr }, Presets.shades_classic);
        bar.start(Math.ceil(p.totalBytes / 1e6), 0);
      }
      bar.update(Math.floor(p.loadedBytes / 1e6));
    }
    bar?.stop();
  }
  return task;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name('halfbyte').description('Run LLaMA-family GGUF models locally').showHelpAfterError();

  program
    .command('generate')
    .description('Generate text after a prompt, streaming it to stdout')
    .argument('[prompt]', 'the prompt', 'Once upon a time')
    .option('-m, --model <file>', 'GGUF model file (default: the bundled stories260K)')
    .option('-n, --max-tokens <n>', 'most tokens to generate', int('--max-tokens'), 200)
    .option('-t, --threads <n>', 'worker threads (default: physical cores)', int('--threads'))
    .option('-c, --context-size <n>', 'context size in tokens', int('--context-size'))
    .option('--temperature <x>', 'sampling temperature, 0 for greedy', num('--temperature'), 0.8)
    .option('--top-k <n>', 'top-k (0: off)', int('--top-k'), 40)
    .option('--top-p <x>', 'top-p (1: off)', num('--top-p'), 0.95)
    .option('--min-p <x>', 'min-p (0: off)', num('--min-p'), 0.05)
    .option('--repeat-penalty <x>', 'repetition penalty (1: off)', num('--repeat-penalty'), 1)
    .option('--presence-penalty <x>', 'presence penalty (0: off)', num('--presence-penalty'), 0)
    .option('--frequency-penalty <x>', 'frequency penalty (0: off)', num('--frequency-penalty'), 0)
    .option('--typical-p <x>', 'typical-p (1: off)', num('--typical-p'), 1)
    .option('--dry-multiplier <x>', 'DRY repetition penalty multiplier (0: off)', num('--dry-multiplier'), 0)
    .option('--xtc-probability <x>', 'XTC: chance of removing the top choices (0: off)', num('--xtc-probability'), 0)
    .option('--xtc-threshold <x>', 'XTC probability threshold', num('--xtc-threshold'), 0.1)
    .option('--mirostat', 'mirostat v2 sampling')
    .option('--grammar <file>', 'constrain the output to a GBNF grammar file')
    .option('--json-schema <file>', 'constrain the output to JSON valid against a JSON Schema file')
    .option('--seed <n>', 'random seed', int('--seed'))
    .option('--stop <text...>', 'stop strings')
    .action(async (prompt: string, o) => {
      const model = await openModel(o.model ?? defaultModelPath, o.threads, o.contextSize);
      const readText = (file: string, what: string) => {
        try {
          return readFileSync(file, 'utf8');
        } catch (err) {
          throw new HalfbyteError('FILE_NOT_FOUND', `Cannot read the ${what} file ${file}: ${(err as Error).message}`);
        }
      };
      if (o.grammar !== undefined && o.jsonSchema !== undefined)
        throw new HalfbyteError('INVALID_ARGUMENT', 'Expected --grammar or --json-schema but received both');
      let grammar: Grammar | undefined;
      if (o.grammar !== undefined) grammar = model.createGrammar(readText(o.grammar, 'grammar'));
      if (o.jsonSchema !== undefined) {
        let schema: JsonSchema;
        try {
          schema = JSON.parse(readText(o.jsonSchema, 'JSON Schema'));
        } catch (err) {
          if (err instanceof HalfbyteError) throw err;
          throw new HalfbyteError('INVALID_ARGUMENT', `Expected JSON in ${o.jsonSchema} but it does not parse: ${(err as Error).message}`);
        }
        grammar = model.createGrammar(jsonSchemaToGrammar(schema));
      }
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      try {
        process.stdout.write(prompt);
        const start = performance.now();
        let count = 0;
        for await (const chunk of model.generate(prompt, {
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          topK: o.topK,
          topP: o.topP,
          minP: o.minP,
          repeatPenalty: o.repeatPenalty,
          presencePenalty: o.presencePenalty,
          frequencyPenalty: o.frequencyPenalty,
          typicalP: o.typicalP,
          dryMultiplier: o.dryMultiplier,
          xtcProbability: o.xtcProbability,
          xtcThreshold: o.xtcThreshold,
          mirostat: o.mirostat ? 2 : 0,
          grammar,
          seed: o.seed,
          stop: o.stop,
          signal: controller.signal,
        })) {
          process.stdout.write(chunk.text);
          count++;
        }
        const seconds = (performance.now() - start) / 1000;
        process.stdout.write('\n');
        process.stderr.write(
          `\n${count} tokens in ${seconds.toFixed(2)} s: ${(count / seconds).toFixed(1)} tokens/s ` +
            `(${model.info.threads} threads, ${getCpuInfo().activeIsa} kernels)\n`,
        );
      } finally {
        model.dispose();
      }
    });

  program
    .command('chat')
    .description('Chat with a model in the terminal (one message per line when stdin is not a terminal)')
    .option('-m, --model <file>', 'GGUF model file (default: the bundled stories260K, with a simple template)')
    .option('-s, --system <text>', 'system prompt')
    .option('-t, --threads <n>', 'worker threads (default: physical cores)', int('--threads'))
    .option('-c, --context-size <n>', 'context size in tokens', int('--context-size'))
    .option('-n, --max-tokens <n>', 'most tokens per answer', int('--max-tokens'), 256)
    .option('--temperature <x>', 'sampling temperature, 0 for greedy', num('--temperature'), 0.8)
    .option('--seed <n>', 'random seed', int('--seed'))
    .action(async (o) => {
      const model = await openModel(o.model ?? defaultModelPath, o.threads, o.contextSize);
      let template: string | undefined;
      if (!model.info.chatTemplate) {
        template = SIMPLE_TEMPLATE;
        process.stderr.write(
          `${o.model ? 'This model file has no chat template' : 'The bundled stories260K model is a story writer, not a chat model'}: ` +
            'using a simple built-in one (User:/Assistant: lines).\n',
        );
      }
      const newChat = () => model.createChatSession({ systemPrompt: o.system, template, contextSize: o.contextSize });
      let chat = newChat();
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, prompt: interactive ? '> ' : '' });
      let answering: AbortController | undefined;
      // Ctrl-C stops the answer being written, not the program; at the prompt it clears the line.
      rl.on('SIGINT', () => {
        if (answering) answering.abort();
        else {
          rl.write('', { ctrl: true, name: 'u' });
          process.stdout.write('\n');
          rl.prompt();
        }
      });
      const help = '/reset, /save FILE, /load FILE, /exit (Ctrl-D also exits; Ctrl-C stops an answer)';
      if (interactive) process.stdout.write(`halfbyte chat: ${help}\n`);
      rl.prompt();
      try {
        for await (const line of rl) {
          const text = line.trim();
          if (text === '') {
            rl.prompt();
            continue;
          }
          if (text.startsWith('/')) {
            const [cmd, ...args] = text.split(/\s+/);
            try {
              if (cmd === '/exit' || cmd === '/quit') break;
              else if (cmd === '/reset') {
                chat.dispose();
                chat = newChat();
                process.stdout.write('(conversation cleared)\n');
              } else if (cmd === '/save' && args[0]) {
                await chat.save(args[0]);
                process.stdout.write(`(saved to ${args[0]})\n`);
              } else if (cmd === '/load' && args[0]) {
                await chat.load(args[0]);
                process.stdout.write(`(loaded ${chat.history.length} messages from ${args[0]})\n`);
              } else process.stdout.write(`Commands: ${help}\n`);
            } catch (err) {
              process.stderr.write(`${(err as Error).message}\n`);
            }
            rl.prompt();
            continue;
          }
          answering = new AbortController();
          try {
            for await (const e of chat.prompt(text, { maxTokens: o.maxTokens, temperature: o.temperature, seed: o.seed, signal: answering.signal }))
              if (e.kind === 'answer' || e.kind === 'reasoning') process.stdout.write(e.text);
          } catch (err) {
            if ((err as HalfbyteError).code === 'ABORTED') process.stdout.write(' [stopped]');
            else process.stderr.write(`\n${(err as Error).message}`);
          } finally {
            answering = undefined;
          }
          process.stdout.write('\n');
          rl.prompt();
        }
      } finally {
        rl.close();
        chat.dispose();
        model.dispose();
      }
    });

  program
    .command('pull')
    .description('Download a GGUF file into the cache: an https URL, hf:owner/repo:QUANT or hf:owner/repo/file.gguf')
    .argument('<ref>', 'what to download')
    .action(async (ref: string) => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      let bar: InstanceType<typeof import('cli-progress').SingleBar> | undefined;
      const t0 = performance.now();
      const r = await pull(ref, {
        signal: controller.signal,
        onProgress: (p) => {
          if (!process.stderr.isTTY) return;
          if (!bar) {
            const { SingleBar, Presets } = packageRequire('cli-progress') as typeof import('cli-progress');
            bar = new SingleBar({ format: 'pulling [{bar}] {percentage}% {value}/{total} MB  {speed} MB/s  ETA {eta}s', stream: process.stderr }, Presets.shades_classic);
            bar.start(Math.ceil((p.totalBytes ?? p.receivedBytes) / 1e6), 0, { speed: '0.0' });
          }
          const seconds = (performance.now() - t0) / 1000;
          bar.update(Math.floor(p.receivedBytes / 1e6), { speed: (p.receivedBytes / 1e6 / Math.max(seconds, 1e-3)).toFixed(1) });
        },
      }).finally(() => bar?.stop());
      process.stderr.write(`${r.path}: ${(r.bytes / 2 ** 20).toFixed(1)} MiB${r.resumedBytes ? `, resumed after ${(r.resumedBytes / 2 ** 20).toFixed(1)} MiB` : ''}${r.sha256 ? ', sha256 verified' : ''}\n`);
      console.log(r.path);
    });

  program
    .command('bench')
    .description('Prefill and generation speed on this machine, with the memory bandwidth they imply')
    .argument('[file]', 'GGUF model file (default: the bundled model)')
    .option('-t, --threads <n>', 'worker threads (default: physical cores)', int('--threads'))
    .option('-p, --prompt <n>', 'prompt tokens for prefill', int('--prompt'), 128)
    .option('-g, --gen <n>', 'tokens to generate', int('--gen'), 64)
    .option('-r, --reps <n>', 'repetitions (medians are reported)', int('--reps'), 3)
    .option('--json', 'print the figures as one line of JSON')
    .action(async (file: string | undefined, o: { threads?: number; prompt: number; gen: number; reps: number; json?: boolean }) => {
      const path = resolveModel(file ?? defaultModelPath);
      const model = await openModel(path, o.threads, Math.max(o.prompt + o.gen + 8, 256));
      try {
        const { tensors, metadata } = await readGgufInfo(path);
        const arch = String(metadata['general.architecture']);
        const experts = Number(metadata[`${arch}.expert_count`] ?? 0);
        const used = Number(metadata[`${arch}.expert_used_count`] ?? 0);
        const tied = !tensors.some((t) => t.name === 'output.weight');
        // weights read per generated token: all but the embedding table (one row), used experts only
        const bytesPerToken = tensors.reduce(
          (sum, t) => sum + (t.name === 'token_embd.weight' && !tied ? 0 : t.bytes * (experts > 0 && t.name.endsWith('_exps.weight') ? used / experts : 1)),
          0,
        );
        const prompt = Int32Array.from({ length: o.prompt }, (_, i) => 1 + ((i * 7919) % (model.info.vocabSize - 1)));
        const pp: number[] = [];
        const tg: number[] = [];
        for (let r = 0; r < o.reps; r++) {
          let t0 = performance.now();
          await model.evaluate(prompt);
          pp.push(o.prompt / ((performance.now() - t0) / 1000));
          t0 = performance.now();
          let n = 0;
          for await (const _ of model.generate(prompt.subarray(0, 1), { temperature: 0, maxTokens: o.gen })) n++;
          tg.push(n / ((performance.now() - t0) / 1000));
        }
        const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];
        const bandwidth = await measureReadBandwidth({ threads: model.info.threads });
        const result = {
          model: path,
          cpu: getCpuInfo().activeIsa,
          threads: model.info.threads,
          prompt: o.prompt,
          gen: o.gen,
          prefillTokensPerSecond: +median(pp).toFixed(2),
          generationTokensPerSecond: +median(tg).toFixed(2),
          bytesPerToken,
          generationGBps: +((median(tg) * bytesPerToken) / 1e9).toFixed(2),
          readBandwidthGBps: +bandwidth.medianGBps.toFixed(2),
        };
        if (o.json) console.log(JSON.stringify(result));
        else
          console.log(
            `${path} (${result.cpu}, ${result.threads} threads): prefill ${result.prefillTokensPerSecond} tok/s (${o.prompt} tokens), ` +
              `generation ${result.generationTokensPerSecond} tok/s = ${result.generationGBps} GB/s of weights ` +
              `(${((100 * result.generationGBps) / result.readBandwidthGBps).toFixed(0)}% of the ${result.readBandwidthGBps} GB/s this machine reads)`,
          );
      } finally {
        model.dispose();
      }
    });

  program
    .command('tokenize')
    .description('Print the token ids (and pieces) of a text')
    .argument('<file>', 'GGUF model or vocabulary file')
    .argument('<text>', 'the text')
    .option('--no-special', 'do not add BOS/EOS')
    .option('--json', 'print { ids, pieces } as JSON')
    .action(async (file: string, text: string, o: { special: boolean; json?: boolean }) => {
      const model = await load(file, { vocabOnly: true });
      const ids = model.tokenize(text, { addSpecial: o.special });
      const pieces = Array.from(ids, (id) => new TextDecoder().decode(model.tokenBytes(id)));
      if (o.json) console.log(JSON.stringify({ ids: Array.from(ids), pieces }));
      else console.log(Array.from(ids, (id, i) => `${id} ${JSON.stringify(pieces[i])}`).join('\n'));
      model.dispose();
    });

  program
    .command('info')
    .description('Print what a model file holds (architecture, sizes, tokenizer, tensor types)')
    .argument('[file]', 'GGUF file (default: the bundled model)')
    .action(async (file: string | undefined) => {
      const model = await load(file ?? defaultModelPath, { vocabOnly: false });
      console.log(JSON.stringify(model.info, null, 2));
      model.dispose();
    });

  program
    .command('inspect')
    .description("Print a GGUF file's metadata and tensor table without loading its weights")
    .argument('<file>', 'GGUF file')
    .option('--json', 'print everything as JSON (arrays in full)')
    .action(async (file: string, o: { json?: boolean }) => {
      const info = await readGgufInfo(file);
      if (o.json) {
        console.log(JSON.stringify(info, (_k, value) => (typeof value === 'bigint' ? value.toString() : value), 2));
        return;
      }
      console.log(`GGUF v${info.version}, ${(info.fileSize / 2 ** 20).toFixed(1)} MiB, ${info.tensors.length} tensors, alignment ${info.alignment}`);
      console.log('\nmetadata:');
      for (const [key, value] of Object.entries(info.metadata)) {
        const shown = Array.isArray(value)
          ? `[${value.slice(0, 6).map((x) => JSON.stringify(x)).join(', ')}${value.length > 6 ? `, … ${value.length} items` : ''}]`
          : typeof value === 'string'
            ? JSON.stringify(value.length > 120 ? value.slice(0, 120) + '…' : value)
            : info.metadataTypes[key] === 'float32'
              ? String(Number((value as number).toPrecision(7)))
              : String(value);
        console.log(`  ${key} (${info.metadataTypes[key]}) = ${shown}`);
      }
      console.log('\ntensors:');
      const width = Math.max(...info.tensors.map((t) => t.name.length), 4);
      const byType: Record<string, number> = {};
      for (const t of info.tensors) {
        byType[t.type] = (byType[t.type] ?? 0) + 1;
        const shape = `[${t.shape.join(', ')}]`;
        console.log(`  ${t.name.padEnd(width)}  ${t.type.padEnd(7)} ${shape.padEnd(18)} ${t.bytes.toLocaleString('en-US').padStart(14)} B${t.inFile ? '' : '  (past end of file)'}`);
      }
      console.log(`\ntensor types: ${Object.entries(byType).map(([t, n]) => `${t} x${n}`).join(', ')}`);
    });

  program
    .command('cpu')
    .description('Print the CPU features found and the kernels in use')
    .option('--json', 'print as one line of JSON')
    .action((o: { json?: boolean }) => {
      console.log(JSON.stringify(getCpuInfo(), null, o.json ? 0 : 2));
    });

  program
    .command('quantize')
    .description('Quantize a GGUF model (F32, F16 or BF16) to a smaller type, as llama-quantize does')
    .argument('<input>', 'source GGUF file')
    .argument('<output>', 'GGUF file to write')
    .option('--type <type>', `one of ${quantizationTypes.join(', ')}`, 'Q4_K_M')
    .option('--pure', 'every matrix in the one type (no mixture)')
    .option('--allow-requantize', 'accept already-quantized source tensors (loses quality)')
    .option('-t, --threads <n>', 'worker threads (default: physical cores)', int('--threads'))
    .action(async (input: string, output: string, o: { type: string; pure?: boolean; allowRequantize?: boolean; threads?: number }) => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      let bar: InstanceType<typeof import('cli-progress').SingleBar> | undefined;
      if (process.stderr.isTTY) {
        const { SingleBar, Presets } = packageRequire('cli-progress') as typeof import('cli-progress');
        bar = new SingleBar(
          { format: 'quantizing [{bar}] {percentage}% {doneMb}/{totalMb} MB  {tensor}', stream: process.stderr, hideCursor: true },
          Presets.shades_classic,
        );
      }
      try {
        const r = await quantize(input, output, {
          type: o.type as QuantizationType,
          pure: o.pure ?? false,
          allowRequantize: o.allowRequantize ?? false,
          threads: o.threads,
          signal: controller.signal,
          onProgress: (p) => {
            if (!bar) return;
            const payload = { tensor: p.tensor, doneMb: (p.bytesDone / 1e6).toFixed(0), totalMb: (p.bytesTotal / 1e6).toFixed(0) };
            if (p.index === 0 && p.bytesDone === 0) bar.start(p.bytesTotal, 0, payload);
            bar.update(p.bytesDone, payload);
          },
        });
        bar?.stop();
        const mib = (n: number) => (n / 2 ** 20).toFixed(1);
        process.stderr.write(
          `${output}: ${o.type}${o.pure ? ' (pure)' : ''}, ${r.tensors} tensors, ${mib(r.inputBytes)} MiB -> ${mib(r.outputBytes)} MiB ` +
            `in ${r.seconds.toFixed(1)} s\n`,
        );
      } catch (err) {
        bar?.stop();
        throw err;
      }
    });

  addEvalCommand(program, (ref, threads) => openModel(ref, threads), defaultModelPath);

  await program.parseAsync(argv);
}
