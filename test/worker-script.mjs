// Run by workers.test.ts in its own process: halfbyte in worker_threads, each worker with its own
// copy of the addon. argv: the package's ESM entry, the model. Prints one JSON line.
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const [lib, modelFile] = isMainThread ? process.argv.slice(2) : workerData.args;
const { load } = await import(pathToFileURL(lib).href);

async function greedy(maxTokens) {
  const model = await load(modelFile, { threads: 1 });
  let text = '';
  for await (const c of model.generate('Once upon a time', { maxTokens, temperature: 0 })) text += c.text;
  return { model, text };
}

if (isMainThread) {
  const { model, text: expected } = await greedy(40);
  model.dispose();
  const run = (mode) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { mode, args: [lib, modelFile] } });
      let message;
      worker.on('message', (m) => {
        message = m;
        if (mode.startsWith('terminate') && m === 'started') void worker.terminate();
      });
      worker.on('error', reject);
      worker.on('exit', (code) => resolve({ mode, code, sameText: message === expected, message }));
    });
  const modes = ['generate', 'generate', 'undisposed', 'terminate', 'terminate', 'terminate', 'terminate-load', 'terminate-load'];
  const workers = await Promise.all(modes.map(run));
  const after = await greedy(40); // the main thread's addon is untouched by the workers' teardown
  after.model.dispose();
  console.log(JSON.stringify({ expected, workers, afterSame: after.text === expected }));
} else if (workerData.mode === 'generate') {
  const { model, text } = await greedy(40);
  model.dispose();
  parentPort.postMessage(text);
} else if (workerData.mode === 'undisposed') {
  // Exits with the model and its context still open: the environment cleanup frees them.
  const { text } = await greedy(40);
  parentPort.postMessage(text);
  process.exit(0);
} else if (workerData.mode === 'terminate-load') {
  // Terminated while the model loads on the addon's thread (or, if loading wins the race, with
  // the loaded model still open): it stays alive until terminated either way.
  setInterval(() => {}, 1000);
  const loading = load(modelFile, { threads: 1 });
  parentPort.postMessage('started');
  await loading;
} else {
  // Terminated while a generation is running on the addon's thread.
  const model = await load(modelFile, { threads: 1 });
  let started = false;
  for await (const _ of model.generate('Once upon a time', { maxTokens: 200, temperature: 0 })) {
    if (!started) parentPort.postMessage('started');
    started = true;
  }
  parentPort.postMessage('finished before terminate');
}
