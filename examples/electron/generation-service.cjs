// The part of the example that does the work, kept apart from Electron so it runs (and is tested:
// test/electron-example.test.ts) under plain Node. One model in the main process; each request
// streams its text to the window that asked, and can be stopped. halfbyte runs the engine on its
// own threads, so the main process (and every window) stays responsive while it generates.
'use strict';

class GenerationService {
  /** @param {import('halfbyte').Model} model */
  constructor(model) {
    this.model = model;
    /** @type {Map<string, AbortController>} */
    this.running = new Map();
  }

  /**
   * Streams one generation: send('chunk', { id, text }) per piece, then send('done', { id, tokens })
   * or send('error', { id, code, message }). Returns when the generation ends.
   * @param {string} id @param {string} prompt @param {object} options
   * @param {(channel: string, payload: object) => void} send
   */
  async start(id, prompt, options, send) {
    if (this.running.has(id)) throw new Error(`generation ${id} is already running`);
    const controller = new AbortController();
    this.running.set(id, controller);
    let tokens = 0;
    try {
      for await (const chunk of this.model.generate(prompt, { ...options, signal: controller.signal })) {
        tokens++;
        send('chunk', { id, text: chunk.text });
      }
      send('done', { id, tokens });
    } catch (err) {
      // HalfbyteError carries a code (ABORTED when stop() was called); errors cross IPC as data.
      send('error', { id, code: err && err.code ? err.code : 'UNKNOWN', message: String(err && err.message) });
    } finally {
      this.running.delete(id);
    }
  }

  stop(id) {
    const c = this.running.get(id);
    if (c) c.abort();
    return Boolean(c);
  }

  dispose() {
    for (const c of this.running.values()) c.abort();
    this.model.dispose();
  }
}

module.exports = { GenerationService };
